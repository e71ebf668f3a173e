"""Pooling token states into one vector per sequence."""

from __future__ import annotations

import torch

from boltir.errors import ConfigError

POOLINGS = ("mean", "first", "max", "sum")


def pool(hidden: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """Pool ``hidden`` [B, L, H] over the positions where ``mask`` [B, L] is 1."""
    if how == "first":
        return hidden[:, 0]
    m = mask.unsqueeze(-1).to(hidden.dtype)
    if how == "mean":
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    if how == "sum":
        return (hidden * m).sum(1)
    if how == "max":
        return hidden.masked_fill(m == 0, torch.finfo(hidden.dtype).min).amax(1)
    raise ConfigError(f"unknown pooling {how!r}; choose one of {', '.join(POOLINGS)}")
