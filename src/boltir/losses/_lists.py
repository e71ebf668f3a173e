"""Shared pieces of list-wise losses: padding masks, approximate ranks, teacher ranks, DCG."""

from __future__ import annotations

import torch
from torch import nn


def valid_mask(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Boolean [B, N]: which list entries are real (not padding)."""
    return torch.ones_like(scores, dtype=torch.bool) if mask is None else mask.bool()


def pair_mask(targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Boolean [B, N, N]: pairs (i, j) of real entries with target_i > target_j."""
    both = mask.unsqueeze(-1) & mask.unsqueeze(-2)
    return both & (targets.unsqueeze(-1) > targets.unsqueeze(-2))


def approx_ranks(scores: torch.Tensor, mask: torch.Tensor, temperature: float) -> torch.Tensor:
    """Differentiable ranks: ``1 + sum_{j != i} sigmoid((s_j - s_i) / T)`` over the real entries."""
    diff = (scores.unsqueeze(-2) - scores.unsqueeze(-1)) / temperature  # [b, i, j] = s_j - s_i
    sig = torch.sigmoid(diff) * mask.unsqueeze(-2)
    eye = torch.eye(scores.shape[-1], dtype=torch.bool, device=scores.device)
    sig = sig.masked_fill(eye, 0.0)
    return 1.0 + sig.sum(-1)


def target_ranks(targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Ranks 1..n by descending target among real entries (ties broken by list position)."""
    t = targets.masked_fill(~mask, float("-inf"))
    order = torch.sort(t, dim=-1, descending=True, stable=True).indices
    ranks = torch.empty_like(order)
    ranks.scatter_(-1, order, torch.arange(1, t.shape[-1] + 1, device=t.device).expand_as(order).contiguous())
    return ranks.to(targets.dtype)


def dcg_gains(targets: torch.Tensor, exponential: bool) -> torch.Tensor:
    """DCG gains of graded targets: ``2**t - 1`` (exponential) or ``t``; negative targets gain 0."""
    t = targets.clamp(min=0)
    return torch.pow(2.0, t) - 1.0 if exponential else t


def ideal_dcg(gains: torch.Tensor, mask: torch.Tensor, k: int | None = None) -> torch.Tensor:
    """The ideal DCG (at ``k``) of each list's gains."""
    g = gains.masked_fill(~mask, 0.0).sort(dim=-1, descending=True).values
    disc = 1.0 / torch.log2(torch.arange(2, g.shape[-1] + 2, device=g.device, dtype=g.dtype))
    if k is not None:
        disc[k:] = 0
    return (g * disc).sum(-1)


class ListLoss(nn.Module):
    """Base of the list losses: ``forward(scores, targets, mask=None)`` on [B, N] lists (``mask`` marks the real,
    non-padding entries) calls ``loss(scores, targets, m)`` with the boolean mask filled in. ``temperature``
    scales scores where a loss uses one."""

    def __init__(self, temperature: float = 1.0):
        super().__init__()
        self.temperature = temperature

    def forward(self, scores: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The loss of scored lists.

        Args:
            scores: [queries, list size] model scores.
            targets: [queries, list size] labels or teacher scores (higher is better).
            mask: [queries, list size] True where a list has an item (default: wherever ``targets`` is finite).

        Returns:
            The mean loss over the lists.
        """
        return self.loss(scores, targets, valid_mask(scores, mask))

    def loss(self, scores: torch.Tensor, targets: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        """The loss of scored lists given the valid-item mask ``m`` (what subclasses implement)."""
        raise NotImplementedError
