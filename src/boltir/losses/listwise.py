"""List-wise losses: the whole candidate list of a query in one softmax or permutation likelihood."""

from __future__ import annotations

import torch
from torch import nn

from boltir.losses._lists import valid_mask

NEG = -1e9


class KLDivergence(nn.Module):
    """``KL(softmax(t / T) || softmax(s))`` per query, averaged: distillation from teacher scores."""

    def __init__(self, temperature: float = 1.0):
        super().__init__()
        self.temperature = temperature

    def forward(
        self, scores: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        m = valid_mask(scores, mask)
        log_q = torch.log_softmax(scores.masked_fill(~m, NEG), -1)
        log_p = torch.log_softmax((targets / self.temperature).masked_fill(~m, NEG), -1)
        return (log_p.exp() * (log_p - log_q)).masked_fill(~m, 0.0).sum(-1).mean()


class ListNet(nn.Module):
    """Cross-entropy between ``softmax(t / T)`` and ``softmax(s)`` (Cao et al., 2007); KL plus a constant."""

    def __init__(self, temperature: float = 1.0):
        super().__init__()
        self.temperature = temperature

    def forward(
        self, scores: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        m = valid_mask(scores, mask)
        log_q = torch.log_softmax(scores.masked_fill(~m, NEG), -1)
        p = torch.softmax((targets / self.temperature).masked_fill(~m, NEG), -1)
        return -(p * log_q).masked_fill(~m, 0.0).sum(-1).mean()


class ListMLE(nn.Module):
    """Negative log-likelihood of the target order under the Plackett-Luce model of the scores
    (Xia et al., 2008): ``sum_i [logsumexp_{k >= i} s_pi(k) - s_pi(i)]``, pi sorting targets descending."""

    def forward(
        self, scores: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        m = valid_mask(scores, mask)
        order = torch.sort(
            targets.masked_fill(~m, float("-inf")), dim=-1, descending=True, stable=True
        ).indices
        s = scores.gather(-1, order)
        mm = m.gather(-1, order)
        s = s.masked_fill(~mm, NEG)
        # logsumexp over the suffix k >= i: flip, cumulative logsumexp, flip back
        suffix = torch.logcumsumexp(s.flip(-1), dim=-1).flip(-1)
        return ((suffix - s) * mm).sum(-1).mean()


class InfoNCE(nn.Module):
    """``CE(s / T, argmax t)``: the entry with the highest target (the positive) against all others."""

    def __init__(self, temperature: float = 1.0):
        super().__init__()
        self.temperature = temperature

    def forward(
        self, scores: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        m = valid_mask(scores, mask)
        positive = targets.masked_fill(~m, float("-inf")).argmax(-1)
        return nn.functional.cross_entropy((scores / self.temperature).masked_fill(~m, NEG), positive)
