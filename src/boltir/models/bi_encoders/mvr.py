"""MVR-style multi-view document representation: ``views`` special tokens ([unused2], [unused3], ... where the
vocabulary has them) follow the document's [CLS]; each view token's output is one document vector. A query is its
[CLS] vector; the score is the best dot product over the document's views."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from boltir.errors import ConfigError
from boltir.models.bi_encoders.base import BiEncoderConfig, BiEncoderModel, BiEncoderOutput
from boltir.models.bi_encoders.inference import encode_views
from boltir.models.building import around_backbone


class MvrConfig(BiEncoderConfig):
    """MVR settings: the view tokens prepended to documents and the projection."""

    model_type = "boltir-mvr"

    view_token_ids: list[int] | None = None
    projection_dim: int | None = None

    @property
    def embedding_dim(self) -> int:
        return self.projection_dim or self.encoder.hidden_size


class MvrModel(BiEncoderModel):
    """``forward(..., kind="query")`` -> embeddings [B, dim]; ``kind="doc"`` -> [B, views, dim]."""

    config_class = MvrConfig
    base_model_prefix = "mvr"
    heads = ("projection",)
    batch_encoder = staticmethod(encode_views)

    def build_heads(self, config: MvrConfig) -> None:
        if not config.view_token_ids:
            raise ConfigError("MVR needs view_token_ids (set from the tokenizer at load time)")
        self.projection = (
            nn.Linear(config.encoder.hidden_size, config.projection_dim) if config.projection_dim else None
        )

    def represent(self, input_ids: Tensor, attention_mask: Tensor, types: Tensor | None, kind: str) -> BiEncoderOutput:
        views = len(self.config.view_token_ids) if kind == "doc" else 0
        if views:
            extra = torch.tensor(self.config.view_token_ids, device=input_ids.device).expand(input_ids.shape[0], -1)
            input_ids = torch.cat([input_ids[:, :1], extra, input_ids[:, 1:]], 1)
            attention_mask = torch.cat([attention_mask[:, :1], torch.ones_like(extra), attention_mask[:, 1:]], 1)
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        out = hidden[:, 1 : 1 + views] if views else hidden[:, 0]
        return BiEncoderOutput(embeddings=self.projection(out) if self.projection is not None else out)

    @staticmethod
    def score(query: BiEncoderOutput, doc: BiEncoderOutput) -> torch.Tensor:
        """All-pairs scores [Q, D]: best view per document."""
        return torch.einsum("qh,dvh->qdv", query.embeddings, doc.embeddings).amax(-1)


def build_mvr(path: str, name: str, tokenizer: Any, seed: int, settings: dict[str, Any]):
    """``views`` (default 4) view tokens taken from the vocabulary's ``[unused2]``, ``[unused3]``, ..."""

    settings = dict(settings)
    views = settings.pop("views", None) or 4
    vocab = tokenizer.get_vocab()
    ids = [vocab[f"[unused{i}]"] for i in range(2, 2 + views) if f"[unused{i}]" in vocab]
    if len(ids) < views:
        raise ConfigError(f"{name}: the vocabulary lacks {views} [unusedN] tokens for MVR views")
    return around_backbone(MvrModel, MvrConfig, path, name, seed, {"view_token_ids": ids, **settings}), tokenizer
