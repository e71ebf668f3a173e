"""Pair-wise losses over every pair of a list whose targets differ."""

from __future__ import annotations

import torch
from torch import nn

from boltir.losses._lists import ListLoss, pair_mask


class RankNet(ListLoss):
    """``mean over pairs (i, j) with t_i > t_j of log(1 + exp(-(s_i - s_j) / T))`` (Burges et al., 2005).

    Args: temperature T. Input: scores, targets [B, N]; optional mask [B, N] of real entries.
    """

    def loss(self, scores: torch.Tensor, targets: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """Logistic loss of every pair whose targets differ, the better one meant to score higher."""
        pairs = pair_mask(targets, m)
        diff = (scores.unsqueeze(-1) - scores.unsqueeze(-2)) / self.temperature
        return nn.functional.softplus(-diff[pairs]).mean()


class MarginMSE(ListLoss):
    """``mean over pairs (i, j) with t_i > t_j of ((s_i - s_j) - m_ij)^2`` (Hofstätter et al., 2020).

    ``margin=None`` takes the teacher's margin ``m_ij = t_i - t_j`` (targets are teacher scores); a number
    uses that constant margin for every pair.
    """

    def __init__(self, margin: float | None = None):
        super().__init__()
        self.margin = margin

    def loss(self, scores: torch.Tensor, targets: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """Squared error between the model's and the targets' score margins of every pair."""
        pairs = pair_mask(targets, m)
        diff = scores.unsqueeze(-1) - scores.unsqueeze(-2)
        if self.margin is None:
            margin = (targets.unsqueeze(-1) - targets.unsqueeze(-2))[pairs]
        else:
            margin = torch.full_like(diff[pairs], self.margin)
        return nn.functional.mse_loss(diff[pairs], margin)
