"""Duplicate-aware RankNet (novelty-aware Set-Encoder): within each cluster of near-duplicate passages only the
one the model currently scores highest keeps its target; the others become non-relevant, so a list-wise model
learns to rank one copy and push the rest down."""

from __future__ import annotations

import torch
from torch import nn

from boltir.losses.pairwise import RankNet


def novelty_targets(scores: torch.Tensor, targets: torch.Tensor, clusters: torch.Tensor) -> torch.Tensor:
    """Targets where, per list and cluster id (``clusters`` [B, N], -1 = no cluster), every member but the
    highest-scored keeps 0 (ties: the first in the list)."""
    out = targets.clone()
    s = scores.detach()
    for b in range(scores.shape[0]):
        for c in clusters[b].unique():
            if c < 0:
                continue
            members = (clusters[b] == c).nonzero().flatten()
            if len(members) < 2:
                continue
            keep = members[s[b, members].argmax()]
            drop = members[members != keep]
            out[b, drop] = 0.0
    return out


class DuplicateAwareRankNet(nn.Module):
    """RankNet on :func:`novelty_targets`. Call with ``clusters`` [B, N] of cluster ids (-1 for none)."""

    def __init__(self, temperature: float = 1.0):
        super().__init__()
        self.ranknet = RankNet(temperature)

    def forward(
        self,
        scores: torch.Tensor,
        targets: torch.Tensor,
        mask: torch.Tensor | None = None,
        clusters: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """RankNet where, within each cluster of near-duplicates, only the member the model scores highest keeps
        its target (the others get the lowest).

        Args:
            scores: [queries, list size] model scores.
            targets: [queries, list size] labels.
            mask: valid items.
            clusters: [queries, list size] cluster ids (-1: no cluster).
        """
        if clusters is not None:
            targets = novelty_targets(scores, targets, clusters)
        return self.ranknet(scores, targets, mask)
