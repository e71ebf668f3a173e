"""Every list loss against a hand computation in plain Python (math module, explicit loops)."""

import math

import pytest
import torch

from boltir.losses import (
    ADRMSE,
    ApproxMRR,
    ApproxNDCG,
    InfoNCE,
    KLDivergence,
    LambdaLoss,
    ListMLE,
    ListNet,
    MarginMSE,
    RankNet,
)

S = [[2.0, 0.5, 1.0, -1.0], [0.3, 0.1, -0.2, 0.9]]
T = [[3.0, 0.0, 1.0, 0.0], [0.0, 2.0, 1.0, 0.0]]
scores, targets = torch.tensor(S), torch.tensor(T)
sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
softplus = lambda x: math.log1p(math.exp(x))  # noqa: E731


def pairs(t):
    return [(i, j) for i in range(len(t)) for j in range(len(t)) if t[i] > t[j]]


def approx_rank(s, i, temp):
    return 1 + sum(sig((s[j] - s[i]) / temp) for j in range(len(s)) if j != i)


def test_ranknet():
    terms = [softplus(-(s[i] - s[j]) / 2.0) for s, t in zip(S, T) for i, j in pairs(t)]
    assert RankNet(temperature=2.0)(scores, targets).item() == pytest.approx(sum(terms) / len(terms), rel=1e-6)


def test_margin_mse_teacher_and_constant():
    teacher = [((s[i] - s[j]) - (t[i] - t[j])) ** 2 for s, t in zip(S, T) for i, j in pairs(t)]
    assert MarginMSE()(scores, targets).item() == pytest.approx(sum(teacher) / len(teacher), rel=1e-6)
    const = [((s[i] - s[j]) - 1.0) ** 2 for s, t in zip(S, T) for i, j in pairs(t)]
    assert MarginMSE(margin=1.0)(scores, targets).item() == pytest.approx(sum(const) / len(const), rel=1e-6)


def softmax(x):
    z = sum(math.exp(v) for v in x)
    return [math.exp(v) / z for v in x]


def test_kl_and_listnet():
    kl = ce = 0.0
    for s, t in zip(S, T):
        p, q = softmax([v / 0.5 for v in t]), softmax(s)
        kl += sum(pi * (math.log(pi) - math.log(qi)) for pi, qi in zip(p, q))
        ce += -sum(pi * math.log(qi) for pi, qi in zip(p, q))
    assert KLDivergence(temperature=0.5)(scores, targets).item() == pytest.approx(kl / 2, rel=1e-5)
    assert ListNet(temperature=0.5)(scores, targets).item() == pytest.approx(ce / 2, rel=1e-5)


def test_listmle():
    total = 0.0
    for s, t in zip(S, T):
        order = sorted(range(len(t)), key=lambda i: (-t[i], i))
        for pos, i in enumerate(order):
            rest = order[pos:]
            total += math.log(sum(math.exp(s[k]) for k in rest)) - s[i]
    assert ListMLE()(scores, targets).item() == pytest.approx(total / 2, rel=1e-6)


def test_infonce():
    total = 0.0
    for s, t in zip(S, T):
        pos = max(range(len(t)), key=lambda i: t[i])
        total += -math.log(softmax([v / 0.1 for v in s])[pos])
    assert InfoNCE(temperature=0.1)(scores, targets).item() == pytest.approx(total / 2, rel=1e-5)


def test_approx_ndcg():
    total = 0.0
    for s, t in zip(S, T):
        dcg = sum((2 ** t[i] - 1) / math.log2(1 + approx_rank(s, i, 0.5)) for i in range(len(s)))
        ideal = sorted((2**v - 1 for v in t), reverse=True)
        idcg = sum(g / math.log2(r + 2) for r, g in enumerate(ideal))
        total += 1 - dcg / idcg
    assert ApproxNDCG(temperature=0.5)(scores, targets).item() == pytest.approx(total / 2, rel=1e-5)


def test_approx_mrr():
    total = 0.0
    for s, t in zip(S, T):
        best = max(range(len(t)), key=lambda i: t[i])
        total += 1 - 1 / approx_rank(s, best, 0.5)
    assert ApproxMRR(temperature=0.5)(scores, targets).item() == pytest.approx(total / 2, rel=1e-5)


def test_adr_mse():
    total, n = 0.0, 0
    for s, t in zip(S, T):
        order = sorted(range(len(t)), key=lambda i: (-t[i], i))
        teacher_rank = {i: r + 1 for r, i in enumerate(order)}
        for i in range(len(s)):
            total += (approx_rank(s, i, 1.0) - teacher_rank[i]) ** 2 / math.log2(teacher_rank[i] + 1)
            n += 1
    assert ADRMSE()(scores, targets).item() == pytest.approx(total / n, rel=1e-5)


def test_lambda_loss():
    total = 0.0
    for s, t in zip(S, T):
        gains = [2**v - 1 for v in t]
        pos = {i: r + 1 for r, i in enumerate(sorted(range(len(s)), key=lambda i: (-s[i], i)))}
        disc = {i: 1 / math.log2(pos[i] + 1) for i in pos}
        idcg = sum(g / math.log2(r + 2) for r, g in enumerate(sorted(gains, reverse=True)))
        for i, j in pairs(t):
            delta = abs((gains[i] - gains[j]) * (disc[i] - disc[j])) / idcg
            total += delta * softplus(-(s[i] - s[j]))
    assert LambdaLoss()(scores, targets).item() == pytest.approx(total / 2, rel=1e-5)


@pytest.mark.parametrize(
    "loss",
    [
        RankNet(),
        MarginMSE(),
        KLDivergence(),
        ListNet(),
        ListMLE(),
        InfoNCE(),
        ApproxNDCG(),
        ApproxMRR(),
        ADRMSE(),
        LambdaLoss(),
    ],
)
def test_padding_is_ignored(loss):
    """A padded list gives the same loss as the unpadded one, and the padding gets no gradient."""
    s = torch.tensor([[2.0, 0.5, 1.0]], requires_grad=True)
    t = torch.tensor([[3.0, 0.0, 1.0]])
    padded = torch.cat([s, torch.tensor([[7.0, -3.0]])], -1)
    padded.retain_grad()
    mask = torch.tensor([[True, True, True, False, False]])
    full = loss(s, t)
    part = loss(padded, torch.cat([t, torch.tensor([[5.0, 0.0]])], -1), mask)
    assert part.item() == pytest.approx(full.item(), rel=1e-5, abs=1e-6)
    part.backward()
    assert torch.all(padded.grad[0, 3:] == 0)


def test_losses_decrease_when_scores_follow_targets():
    good, bad = torch.tensor([[3.0, 0.0, 1.0, 0.5]]), torch.tensor([[0.0, 3.0, 0.5, 1.0]])
    t = torch.tensor([[3.0, 0.0, 1.0, 0.5]])
    for loss in [RankNet(), ListMLE(), ApproxNDCG(), ADRMSE(), LambdaLoss(), KLDivergence()]:
        assert loss(good, t) < loss(bad, t), type(loss).__name__
