"""DPR-style single-vector bi-encoder: any encoder backbone, pooling, optional projection and L2 norm."""

from __future__ import annotations

import json
from typing import Any

from torch import Tensor, nn

from boltir.errors import ConfigError
from boltir.models.bi_encoders.base import BiEncoderConfig, BiEncoderModel, BiEncoderOutput, dot_scores
from boltir.models.bi_encoders.pooling import POOLINGS, pool
from boltir.models.building import around_backbone
from boltir.models.sources import optional_file

SIMILARITIES = ("dot", "cosine")


class DprConfig(BiEncoderConfig):
    """Configuration of a single-vector bi-encoder."""

    model_type = "boltir-dpr"

    pooling: str = "mean"
    projection_dim: int | None = None
    projection_bias: bool = True
    normalize: bool = False
    similarity: str = "dot"

    @property
    def embedding_dim(self) -> int:
        return self.projection_dim or self.encoder.hidden_size

    @property
    def normalizes(self) -> bool:
        """Whether embeddings leave the model L2-normalised (explicitly, or because similarity is cosine)."""
        return self.normalize or self.similarity == "cosine"


def check_config(config: DprConfig) -> None:
    """Refuse a DPR config with an unknown pooling or similarity or a non-positive projection.

    Raises:
        ConfigError: naming the setting and what is allowed.
    """
    if config.pooling not in POOLINGS:
        raise ConfigError(f"pooling={config.pooling!r}: choose one of {', '.join(POOLINGS)}")
    if config.similarity not in SIMILARITIES:
        raise ConfigError(f"similarity={config.similarity!r}: choose one of {', '.join(SIMILARITIES)}")
    if config.projection_dim is not None and config.projection_dim <= 0:
        raise ConfigError(f"projection_dim={config.projection_dim}: must be positive or null")


class DprModel(BiEncoderModel):
    """One embedding per sequence; score = dot product of embeddings (cosine when normalised)."""

    config_class = DprConfig
    base_model_prefix = "dpr"
    _supports_sdpa = True
    heads = ("projection",)

    def build_heads(self, config: DprConfig) -> None:
        check_config(config)
        self.projection = (
            nn.Linear(config.encoder.hidden_size, config.projection_dim, bias=config.projection_bias)
            if config.projection_dim
            else None
        )

    def represent(self, input_ids: Tensor, attention_mask: Tensor, types: Tensor | None, kind: str) -> BiEncoderOutput:
        emb = pool(self.hidden_states(input_ids, attention_mask, types), attention_mask, self.config.pooling)
        if self.projection is not None:
            emb = self.projection(emb)
        if self.config.normalizes:
            emb = nn.functional.normalize(emb, dim=-1)
        return BiEncoderOutput(embeddings=emb)

    score = staticmethod(dot_scores)


def sentence_transformers_settings(name_or_path: str) -> dict[str, Any]:
    """DprConfig settings read from a sentence-transformers folder (pooling, normalisation, dense layer)."""
    modules_file = optional_file(name_or_path, "modules.json")
    if modules_file is None:
        return {}
    settings: dict[str, Any] = {}
    for module in json.loads(modules_file.read_text()):
        kind = module["type"].rsplit(".", 1)[-1]
        if kind == "Pooling":
            cfg_file = optional_file(name_or_path, f"{module['path']}/config.json")
            cfg = json.loads(cfg_file.read_text()) if cfg_file else {}
            if cfg.get("pooling_mode_cls_token"):
                settings["pooling"] = "first"
            elif cfg.get("pooling_mode_max_tokens"):
                settings["pooling"] = "max"
            elif cfg.get("pooling_mode_mean_tokens", True):
                settings["pooling"] = "mean"
            else:
                raise ConfigError(f"{name_or_path}: unsupported sentence-transformers pooling {cfg}")
        elif kind == "Normalize":
            settings["normalize"] = True
            settings["similarity"] = "cosine"
        elif kind == "Dense":
            raise ConfigError(f"{name_or_path}: sentence-transformers Dense modules are not supported yet")
    return settings


def build_dpr(path: str, name: str, tokenizer: Any, seed: int, settings: dict[str, Any]):
    """A new DPR model around a backbone; a sentence-transformers folder's pooling and normalisation are kept."""
    settings = {**sentence_transformers_settings(path), **settings}
    return around_backbone(DprModel, DprConfig, path, name, seed, settings), tokenizer
