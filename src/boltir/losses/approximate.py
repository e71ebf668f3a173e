"""Losses built on differentiable approximate ranks ``r_i = 1 + sum_{j != i} sigmoid((s_j - s_i) / T)``."""

from __future__ import annotations

import torch
from torch import nn

from boltir.losses._lists import ListLoss, approx_ranks, dcg_gains, ideal_dcg, pair_mask, target_ranks


class ApproxNDCG(ListLoss):
    """``1 - sum_i g(t_i) / log2(1 + r_i) / IDCG`` (Qin et al., 2010); gains ``2^t - 1`` (or ``t``)."""

    def __init__(self, temperature: float = 1.0, exponential_gain: bool = True):
        super().__init__(temperature)
        self.exponential_gain = exponential_gain

    def loss(self, scores: torch.Tensor, targets: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """1 - nDCG computed with approximate (sigmoid-smoothed) ranks."""
        ranks = approx_ranks(scores, m, self.temperature)
        gains = dcg_gains(targets, self.exponential_gain).masked_fill(~m, 0.0)
        dcg = (gains / torch.log2(1.0 + ranks)).sum(-1)
        idcg = ideal_dcg(gains, m)
        keep = idcg > 0
        return (1.0 - dcg[keep] / idcg[keep]).mean() if keep.any() else scores.sum() * 0.0


class ApproxMRR(ListLoss):
    """``1 - mean_{i relevant} 1 / r_i``; relevant = the entries with the list's highest positive target."""

    def loss(self, scores: torch.Tensor, targets: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """1 - the reciprocal of the best item's approximate rank."""
        ranks = approx_ranks(scores, m, self.temperature)
        top = targets.masked_fill(~m, float("-inf")).amax(-1, keepdim=True)
        rel = m & (targets == top) & (targets > 0)
        keep = rel.any(-1)
        rr = ((1.0 / ranks) * rel).sum(-1) / rel.sum(-1).clamp(min=1)
        return (1.0 - rr[keep]).mean() if keep.any() else scores.sum() * 0.0


class ADRMSE(ListLoss):
    """Approximate discounted rank MSE (Rank-DistiLLM): ``mean_i (r_i - R_i)^2 / log2(R_i + 1)`` with
    ``R_i`` the teacher's rank (1 = highest target) and ``r_i`` the approximate rank of the scores."""

    def loss(self, scores: torch.Tensor, targets: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """(approximate rank - teacher rank)^2 / log2(teacher rank + 1), averaged over the items."""
        ranks = approx_ranks(scores, m, self.temperature)
        teacher = target_ranks(targets, m)
        per_item = (ranks - teacher) ** 2 / torch.log2(teacher + 1.0)
        return (per_item * m).sum() / m.sum()


class LambdaLoss(ListLoss):
    """NDCG-weighted pair-wise logistic loss (the LambdaRank weighting in the LambdaLoss framework, Wang et al.
    2018): ``sum_{t_i > t_j} |delta NDCG_ij| * log(1 + exp(-(s_i - s_j) / T))`` per query, averaged, where
    ``delta NDCG_ij`` is the NDCG change from swapping i and j in the current score order."""

    def __init__(self, temperature: float = 1.0, exponential_gain: bool = True, k: int | None = None):
        super().__init__(temperature)
        self.exponential_gain, self.k = exponential_gain, k

    def loss(self, scores: torch.Tensor, targets: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """RankNet weighted by each pair's change in NDCG (LambdaLoss, NDCG-Loss2++)."""
        gains = dcg_gains(targets, self.exponential_gain).masked_fill(~m, 0.0)
        idcg = ideal_dcg(gains, m, self.k).clamp(min=1e-12)
        with torch.no_grad():
            ranks = target_ranks(scores.detach(), m)  # current positions by score
            disc = 1.0 / torch.log2(ranks + 1.0)
            if self.k is not None:
                disc = disc * (ranks <= self.k)
            delta = ((gains.unsqueeze(-1) - gains.unsqueeze(-2)) * (disc.unsqueeze(-1) - disc.unsqueeze(-2))).abs()
            delta = delta / idcg[:, None, None]
        pairs = pair_mask(targets, m)
        diff = (scores.unsqueeze(-1) - scores.unsqueeze(-2)) / self.temperature
        per_query = (delta * nn.functional.softplus(-diff) * pairs).sum((-1, -2))
        return per_query.mean()
