"""COIL-style contextualised exact lexical match: a dense ``[CLS]`` vector plus a small vector per token; the score
is the [CLS] dot product plus, for every query token, its best dot product with a document token of the SAME
vocabulary id (query tokens without a match add nothing). Special tokens and document punctuation do not match."""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedConfig, PreTrainedModel
from transformers.configuration_utils import SubConfigSpec


class CoilConfig(PreTrainedConfig):
    model_type = "boltir-coil"
    sub_configs_defaults = {"encoder": SubConfigSpec(config_class=AutoConfig, model_type="bert")}

    encoder: PreTrainedConfig | dict | None = None
    cls_dim: int = 768
    token_dim: int = 32
    query_length: int = 32
    doc_length: int = 256
    query_prefix: str = ""
    doc_prefix: str = ""
    skip_ids: list[int] | None = None

    @property
    def embedding_dim(self) -> int:
        """Size of the stored per-token vectors (what an index records)."""
        return self.token_dim


class CoilModel(PreTrainedModel):
    """``forward(input_ids, attention_mask, kind)`` -> (cls [B, cls_dim], tokens [B, L, token_dim], ids [B, L]
    with -1 where a token never matches)."""

    config_class = CoilConfig
    base_model_prefix = "coil"

    def __init__(self, config: CoilConfig):
        super().__init__(config)
        self.encoder = AutoModel.from_config(config.encoder)
        if getattr(self.encoder, "pooler", None) is not None:
            self.encoder.pooler = None
        hidden = config.encoder.hidden_size
        self.cls_projection = nn.Linear(hidden, config.cls_dim)
        self.token_projection = nn.Linear(hidden, config.token_dim)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if module is self.cls_projection or module is self.token_projection:
            nn.init.normal_(module.weight, std=getattr(self.config.encoder, "initializer_range", 0.02))
            nn.init.zeros_(module.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None, kind: str = "doc"):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        ids = input_ids.masked_fill(attention_mask == 0, -1)
        if self.config.skip_ids:
            ids = ids.masked_fill(torch.isin(input_ids, torch.tensor(self.config.skip_ids, device=ids.device)), -1)
        return self.cls_projection(hidden[:, 0]), self.token_projection(hidden), ids

    @staticmethod
    def score(query, doc) -> torch.Tensor:
        """All-pairs scores [Q, D] of ``forward`` outputs for queries and documents."""
        q_cls, q_tok, q_ids = query
        d_cls, d_tok, d_ids = doc
        sim = torch.einsum("qih,djh->qdij", q_tok, d_tok)
        match = (q_ids[:, None, :, None] == d_ids[None, :, None, :]) & (q_ids[:, None, :, None] >= 0)
        best = sim.masked_fill(~match, float("-inf")).amax(-1)
        lexical = torch.where(torch.isinf(best), torch.zeros_like(best), best).sum(-1)
        return q_cls @ d_cls.T + lexical


from boltir.models.registry import register_all  # noqa: E402

register_all()  # see boltir.models.registry: registration waits for the last model module to finish
