"""COIL-style contextualised exact lexical match: a dense ``[CLS]`` vector plus a small vector per token; the score
is the [CLS] dot product plus, for every query token, its best dot product with a document token of the SAME
vocabulary id (query tokens without a match add nothing). Special tokens and document punctuation do not match."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from boltir.models.bi_encoders.base import BiEncoderConfig, BiEncoderModel, BiEncoderOutput
from boltir.models.bi_encoders.inference import encode_coil
from boltir.models.building import around_backbone, punctuation_ids


class CoilConfig(BiEncoderConfig):
    """``match_floor``: a query token's lexical score is at least this (Lightning IR's COIL: 0, since its
    non-matching document tokens score 0 in the maximum); None: the best match, however low."""

    model_type = "boltir-coil"

    cls_dim: int = 768
    token_dim: int = 32
    skip_ids: list[int] | None = None
    match_floor: float | None = None

    @property
    def embedding_dim(self) -> int:
        """Size of the stored per-token vectors (what an index records)."""
        return self.token_dim


class CoilModel(BiEncoderModel):
    """``forward(input_ids, attention_mask, kind)`` -> ``cls`` [B, cls_dim], token ``embeddings`` [B, L, token_dim]
    and ``token_ids`` [B, L] (-1 where a token never matches; ``mask`` marks the others)."""

    config_class = CoilConfig
    base_model_prefix = "coil"
    heads = ("cls_projection", "token_projection")
    batch_encoder = staticmethod(encode_coil)

    def build_heads(self, config: CoilConfig) -> None:
        hidden = config.encoder.hidden_size
        self.cls_projection = nn.Linear(hidden, config.cls_dim)
        self.token_projection = nn.Linear(hidden, config.token_dim)

    def represent(self, input_ids: Tensor, attention_mask: Tensor, types: Tensor | None, kind: str) -> BiEncoderOutput:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        ids = input_ids.masked_fill(attention_mask == 0, -1)
        if self.config.skip_ids:
            ids = ids.masked_fill(torch.isin(input_ids, torch.tensor(self.config.skip_ids, device=ids.device)), -1)
        return BiEncoderOutput(
            embeddings=self.token_projection(hidden),
            mask=ids >= 0,
            cls=self.cls_projection(hidden[:, 0]),
            token_ids=ids,
        )

    def score(self, query: BiEncoderOutput, doc: BiEncoderOutput) -> torch.Tensor:
        """All-pairs scores [Q, D]: [CLS] dot product plus each query token's best same-id document token (at
        least ``match_floor`` where set)."""
        q_ids, d_ids = query.token_ids, doc.token_ids
        sim = torch.einsum("qih,djh->qdij", query.embeddings, doc.embeddings)
        match = (q_ids[:, None, :, None] == d_ids[None, :, None, :]) & (q_ids[:, None, :, None] >= 0)
        best = sim.masked_fill(~match, float("-inf")).amax(-1)
        if self.config.match_floor is not None:
            best = best.clamp(min=self.config.match_floor)
        lexical = torch.where(torch.isinf(best), torch.zeros_like(best), best).sum(-1)
        return query.cls @ doc.cls.T + lexical


def build_coil(path: str, name: str, tokenizer: Any, seed: int, settings: dict[str, Any]):
    """A new COIL model around a backbone (special tokens and punctuation never match)."""
    settings = {"skip_ids": sorted(set(tokenizer.all_special_ids) | set(punctuation_ids(tokenizer))), **settings}
    return around_backbone(CoilModel, CoilConfig, path, name, seed, settings), tokenizer
