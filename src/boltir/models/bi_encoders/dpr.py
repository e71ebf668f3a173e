"""DPR-style single-vector bi-encoder: any encoder backbone, pooling, optional projection and L2 norm."""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedConfig, PreTrainedModel
from transformers.configuration_utils import SubConfigSpec

from boltir.models.bi_encoders.pooling import POOLINGS, pool

SIMILARITIES = ("dot", "cosine")


class DprConfig(PreTrainedConfig):
    """Configuration of a single-vector bi-encoder; ``encoder`` holds the backbone's own config."""

    model_type = "boltir-dpr"
    sub_configs_defaults = {"encoder": SubConfigSpec(config_class=AutoConfig, model_type="bert")}

    encoder: PreTrainedConfig | dict | None = None
    pooling: str = "mean"
    projection_dim: int | None = None
    projection_bias: bool = True
    normalize: bool = False
    similarity: str = "dot"
    query_length: int = 32
    doc_length: int = 256
    query_prefix: str = ""
    doc_prefix: str = ""

    @property
    def embedding_dim(self) -> int:
        return self.projection_dim or self.encoder.hidden_size

    @property
    def normalizes(self) -> bool:
        """Whether embeddings leave the model L2-normalised (explicitly, or because similarity is cosine)."""
        return self.normalize or self.similarity == "cosine"


def check_config(config: DprConfig) -> None:
    if config.pooling not in POOLINGS:
        raise ValueError(f"pooling={config.pooling!r}: choose one of {', '.join(POOLINGS)}")
    if config.similarity not in SIMILARITIES:
        raise ValueError(f"similarity={config.similarity!r}: choose one of {', '.join(SIMILARITIES)}")
    if config.projection_dim is not None and config.projection_dim <= 0:
        raise ValueError(f"projection_dim={config.projection_dim}: must be positive or null")


class DprModel(PreTrainedModel):
    """Encodes a batch of token ids to one embedding per sequence; score = dot product of embeddings."""

    config_class = DprConfig
    base_model_prefix = "dpr"
    _supports_sdpa = True

    def __init__(self, config: DprConfig):
        check_config(config)
        super().__init__(config)
        self.encoder = AutoModel.from_config(config.encoder)
        if getattr(self.encoder, "pooler", None) is not None:
            self.encoder.pooler = None  # unused: saves compute and keeps DDP free of unused parameters
        hidden = config.encoder.hidden_size
        self.projection = (nn.Linear(hidden, config.projection_dim, bias=config.projection_bias)
                           if config.projection_dim else None)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if module is self.projection:
            std = getattr(self.config.encoder, "initializer_range", 0.02)
            nn.init.normal_(module.weight, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Embeddings [B, D] of a tokenised batch."""
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**kwargs).last_hidden_state
        emb = pool(hidden, attention_mask, self.config.pooling)
        if self.projection is not None:
            emb = self.projection(emb)
        if self.config.normalizes:
            emb = nn.functional.normalize(emb, dim=-1)
        return emb

    @staticmethod
    def score(query_emb: torch.Tensor, doc_emb: torch.Tensor) -> torch.Tensor:
        """All-pairs scores [Q, D] (cosine models are normalised already, so this is their cosine)."""
        return query_emb @ doc_emb.T


from boltir.models.registry import register_all  # noqa: E402

register_all()  # see boltir.models.registry: registration waits for the last model module to finish
