"""uniCOIL-style learned-sparse bi-encoder: a linear layer + ReLU gives each token one weight; a term's weight is
its largest weight in the text (special tokens excluded). The output has SPLADE's shape ([B, vocab] term weights,
dot-product scores), so the same inverted index, sparse search and re-ranking serve both."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from boltir.errors import ConfigError
from boltir.models.bi_encoders.base import BiEncoderOutput
from boltir.models.bi_encoders.splade import SparseConfig, SparseModel
from boltir.models.building import around_backbone


class UniCoilConfig(SparseConfig):
    """``repeated_terms``: a term that occurs several times weighs its largest weight ("max") or the weight at
    its last occurrence ("last": what Lightning IR's uniCOIL models were trained with)."""

    model_type = "boltir-unicoil"

    repeated_terms: str = "max"


class UniCoilModel(SparseModel):
    """``forward(input_ids, attention_mask, ..., kind)`` -> term weights [B, vocab]."""

    config_class = UniCoilConfig
    base_model_prefix = "unicoil"
    heads = ("weight_head",)

    def build_heads(self, config: UniCoilConfig) -> None:
        self.weight_head = nn.Linear(config.encoder.hidden_size, 1)

    def represent(self, input_ids: Tensor, attention_mask: Tensor, types: Tensor | None, kind: str) -> BiEncoderOutput:
        hidden = self.hidden_states(input_ids, attention_mask, types)
        w = torch.relu(self.weight_head(hidden)).squeeze(-1).float() * attention_mask  # [B, L]
        if self.config.skip_ids:
            w = w.masked_fill(torch.isin(input_ids, torch.tensor(self.config.skip_ids, device=w.device)), 0.0)
        if self.config.repeated_terms == "last":  # keep each term's last occurrence only
            same = input_ids[:, :, None] == input_ids[:, None, :]  # [B, L, L]
            later = torch.ones_like(same[0]).triu(1)
            w = w.masked_fill((same & later).any(-1), 0.0)
        elif self.config.repeated_terms != "max":
            raise ConfigError(f"repeated_terms={self.config.repeated_terms!r}: choose max or last")
        out = torch.zeros(input_ids.shape[0], self.config.embedding_dim, device=w.device, dtype=w.dtype)
        out = out.scatter_reduce(1, input_ids, w, reduce="amax", include_self=True)
        return BiEncoderOutput(embeddings=self.prune(out, self.config.pruning(kind)))


def build_unicoil(path: str, name: str, tokenizer: Any, seed: int, settings: dict[str, Any]):
    """A new uniCOIL model around a backbone (special tokens get no weight)."""
    settings = {"skip_ids": list(tokenizer.all_special_ids), **settings}
    return around_backbone(UniCoilModel, UniCoilConfig, path, name, seed, settings), tokenizer
