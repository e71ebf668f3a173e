"""MVR-style multi-view document representation: ``views`` special tokens ([unused2], [unused3], ... where the
vocabulary has them) follow the document's [CLS]; each view token's output is one document vector. A query is its
[CLS] vector; the score is the best dot product over the document's views."""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedConfig, PreTrainedModel
from transformers.configuration_utils import SubConfigSpec


class MvrConfig(PreTrainedConfig):
    model_type = "boltir-mvr"
    sub_configs_defaults = {"encoder": SubConfigSpec(config_class=AutoConfig, model_type="bert")}

    encoder: PreTrainedConfig | dict | None = None
    view_token_ids: list[int] | None = None
    projection_dim: int | None = None
    query_length: int = 32
    doc_length: int = 256
    query_prefix: str = ""
    doc_prefix: str = ""

    @property
    def embedding_dim(self) -> int:
        return self.projection_dim or self.encoder.hidden_size


class MvrModel(PreTrainedModel):
    """``forward(..., kind="query")`` -> [B, dim]; ``kind="doc"`` -> [B, views, dim]."""

    config_class = MvrConfig
    base_model_prefix = "mvr"

    def __init__(self, config: MvrConfig):
        if not config.view_token_ids:
            raise ValueError("MVR needs view_token_ids (set from the tokenizer at load time)")
        super().__init__(config)
        self.encoder = AutoModel.from_config(config.encoder)
        if getattr(self.encoder, "pooler", None) is not None:
            self.encoder.pooler = None
        self.projection = (nn.Linear(config.encoder.hidden_size, config.projection_dim)
                           if config.projection_dim else None)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if module is self.projection:
            nn.init.normal_(module.weight, std=getattr(self.config.encoder, "initializer_range", 0.02))
            nn.init.zeros_(module.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None, kind: str = "doc") -> torch.Tensor:
        views = len(self.config.view_token_ids) if kind == "doc" else 0
        if views:
            extra = torch.tensor(self.config.view_token_ids, device=input_ids.device).expand(input_ids.shape[0], -1)
            input_ids = torch.cat([input_ids[:, :1], extra, input_ids[:, 1:]], 1)
            attention_mask = torch.cat([attention_mask[:, :1], torch.ones_like(extra), attention_mask[:, 1:]], 1)
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        out = hidden[:, 1:1 + views] if views else hidden[:, 0]
        return self.projection(out) if self.projection is not None else out

    @staticmethod
    def score(query_emb: torch.Tensor, doc_views: torch.Tensor) -> torch.Tensor:
        """All-pairs scores [Q, D]: best view per document."""
        return torch.einsum("qh,dvh->qdv", query_emb, doc_views).amax(-1)


from boltir.models.registry import register_all  # noqa: E402

register_all()  # see boltir.models.registry: registration waits for the last model module to finish
