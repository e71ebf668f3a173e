"""Sparsity regularisers for learned-sparse models, added to the ranking loss with a weight that a
``boltir.training.ValueScheduler`` can warm up (SPLADE's FLOPS weight grows quadratically over the first steps)."""

from __future__ import annotations

import torch
from torch import nn


class FLOPS(nn.Module):
    """``weight * sum_j (mean_i |w_ij|)^2`` over a batch of term-weight vectors [B, vocab]: penalises terms that
    are non-zero in many vectors, which is what costs time in an inverted index."""

    def __init__(self, weight: float = 1e-3):
        super().__init__()
        self.weight = weight

    def forward(self, weights: torch.Tensor) -> torch.Tensor:
        """``weight * sum over terms of (mean |weight| over the batch)^2``: the FLOPS regulariser."""
        return self.weight * weights.abs().mean(0).pow(2).sum()


class L1(nn.Module):
    """``weight * mean_i sum_j |w_ij|``."""

    def __init__(self, weight: float = 1e-3):
        super().__init__()
        self.weight = weight

    def forward(self, weights: torch.Tensor) -> torch.Tensor:
        """``weight * mean over the batch of sum |weight|``: the L1 regulariser."""
        return self.weight * weights.abs().sum(1).mean()
