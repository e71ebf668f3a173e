"""DPR-style single-vector bi-encoder: any encoder backbone, pooling, optional projection and L2 norm."""

from __future__ import annotations

from torch import Tensor, nn

from boltir.models.bi_encoders.base import BiEncoderConfig, BiEncoderModel, BiEncoderOutput, dot_scores
from boltir.models.bi_encoders.pooling import POOLINGS, pool

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
    if config.pooling not in POOLINGS:
        raise ValueError(f"pooling={config.pooling!r}: choose one of {', '.join(POOLINGS)}")
    if config.similarity not in SIMILARITIES:
        raise ValueError(f"similarity={config.similarity!r}: choose one of {', '.join(SIMILARITIES)}")
    if config.projection_dim is not None and config.projection_dim <= 0:
        raise ValueError(f"projection_dim={config.projection_dim}: must be positive or null")


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


from boltir.models.hf_auto import register_all  # noqa: E402

register_all(__name__)  # see boltir.models.hf_auto: registration waits for the last model module to finish
