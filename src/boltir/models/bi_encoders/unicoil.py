"""uniCOIL-style learned-sparse bi-encoder: a linear layer + ReLU gives each token one weight; a term's weight is
its largest weight in the text (special tokens excluded). The output has SPLADE's shape ([B, vocab] term weights,
dot-product scores), so the same inverted index, sparse search and re-ranking serve both."""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedConfig, PreTrainedModel
from transformers.configuration_utils import SubConfigSpec


class UniCoilConfig(PreTrainedConfig):
    model_type = "boltir-unicoil"
    sub_configs_defaults = {"encoder": SubConfigSpec(config_class=AutoConfig, model_type="bert")}

    encoder: PreTrainedConfig | dict | None = None
    query_length: int = 32
    doc_length: int = 256
    query_prefix: str = ""
    doc_prefix: str = ""
    query_top_k: int | None = None
    doc_top_k: int | None = None
    skip_ids: list[int] | None = None

    @property
    def embedding_dim(self) -> int:
        return self.encoder.vocab_size


class UniCoilModel(PreTrainedModel):
    """``forward(input_ids, attention_mask, ..., kind)`` -> term weights [B, vocab]."""

    config_class = UniCoilConfig
    base_model_prefix = "unicoil"

    def __init__(self, config: UniCoilConfig):
        super().__init__(config)
        self.encoder = AutoModel.from_config(config.encoder)
        if getattr(self.encoder, "pooler", None) is not None:
            self.encoder.pooler = None
        self.weight_head = nn.Linear(config.encoder.hidden_size, 1)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if module is self.weight_head:
            nn.init.normal_(module.weight, std=getattr(self.config.encoder, "initializer_range", 0.02))
            nn.init.zeros_(module.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None, kind: str = "doc") -> torch.Tensor:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**kwargs).last_hidden_state
        w = torch.relu(self.weight_head(hidden)).squeeze(-1).float() * attention_mask  # [B, L]
        if self.config.skip_ids:
            w = w.masked_fill(torch.isin(input_ids, torch.tensor(self.config.skip_ids, device=w.device)), 0.0)
        out = torch.zeros(input_ids.shape[0], self.config.embedding_dim, device=w.device, dtype=w.dtype)
        out = out.scatter_reduce(1, input_ids, w, reduce="amax", include_self=True)
        k = self.config.query_top_k if kind == "query" else self.config.doc_top_k
        if k and k < out.shape[1]:
            top = out.topk(k, dim=1)
            out = torch.zeros_like(out).scatter_(1, top.indices, top.values)
        return out

    @staticmethod
    def score(query_emb: torch.Tensor, doc_emb: torch.Tensor) -> torch.Tensor:
        return query_emb @ doc_emb.T


from boltir.models.registry import register_all  # noqa: E402

register_all()  # see boltir.models.registry: registration waits for the last model module to finish
