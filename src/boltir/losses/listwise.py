"""List-wise losses: the whole candidate list of a query in one softmax or permutation likelihood."""

from __future__ import annotations

import torch
from torch import nn

from boltir.losses._lists import ListLoss

NEG = -1e9


class KLDivergence(ListLoss):
    """``KL(softmax(t / T) || softmax(s))`` per query, averaged: distillation from teacher scores."""

    def loss(self, scores: torch.Tensor, targets: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """KL(teacher softmax || model softmax) over each list."""
        log_q = torch.log_softmax(scores.masked_fill(~m, NEG), -1)
        log_p = torch.log_softmax((targets / self.temperature).masked_fill(~m, NEG), -1)
        return (log_p.exp() * (log_p - log_q)).masked_fill(~m, 0.0).sum(-1).mean()


class ListNet(ListLoss):
    """Cross-entropy between ``softmax(t / T)`` and ``softmax(s)`` (Cao et al., 2007); KL plus a constant."""

    def loss(self, scores: torch.Tensor, targets: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """Cross-entropy between the targets' and the scores' softmax over each list."""
        log_q = torch.log_softmax(scores.masked_fill(~m, NEG), -1)
        p = torch.softmax((targets / self.temperature).masked_fill(~m, NEG), -1)
        return -(p * log_q).masked_fill(~m, 0.0).sum(-1).mean()


class ListMLE(ListLoss):
    """Negative log-likelihood of the target order under the Plackett-Luce model of the scores
    (Xia et al., 2008): ``sum_i [logsumexp_{k >= i} s_pi(k) - s_pi(i)]``, pi sorting targets descending."""

    def loss(self, scores: torch.Tensor, targets: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """The negative log-likelihood of the targets' order under the Plackett-Luce model of the scores."""
        order = torch.sort(targets.masked_fill(~m, float("-inf")), dim=-1, descending=True, stable=True).indices
        s = scores.gather(-1, order)
        mm = m.gather(-1, order)
        s = s.masked_fill(~mm, NEG)
        # logsumexp over the suffix k >= i: flip, cumulative logsumexp, flip back
        suffix = torch.logcumsumexp(s.flip(-1), dim=-1).flip(-1)
        return ((suffix - s) * mm).sum(-1).mean()


class InfoNCE(ListLoss):
    """``CE(s / T, argmax t)``: the entry with the highest target (the positive) against all others."""

    def loss(self, scores: torch.Tensor, targets: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the best-labelled item against the rest of its list (scores divided by the temperature)."""
        positive = targets.masked_fill(~m, float("-inf")).argmax(-1)
        return nn.functional.cross_entropy((scores / self.temperature).masked_fill(~m, NEG), positive)
