"""The one output type of every bi-encoder's ``forward``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers.utils import ModelOutput


@dataclass
class BiEncoderOutput(ModelOutput):
    """The one output of every bi-encoder. ``embeddings``: [B, D] (one vector, or term weights), [B, V, D]
    (views) or [B, L, D] (tokens, with ``mask`` [B, L] of the tokens that score); COIL adds ``cls`` [B, C] and
    ``token_ids`` [B, L] (-1 where a token never matches)."""

    # a field is None where a family does not produce it (typed as a tensor for the families that do)
    embeddings: torch.Tensor = None  # type: ignore[assignment]
    mask: torch.Tensor = None  # type: ignore[assignment]
    cls: torch.Tensor = None  # type: ignore[assignment]
    token_ids: torch.Tensor = None  # type: ignore[assignment]

    def rows(self, start: int, end: int) -> BiEncoderOutput:
        """The outputs of sequences ``start:end``."""
        return BiEncoderOutput(**{k: v[start:end] for k, v in self.items()})

    @property
    def num_rows(self) -> int:
        """The number of sequences the output holds."""
        return 0 if self.embeddings is None else int(self.embeddings.shape[0])
