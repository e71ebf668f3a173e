"""Point-wise (mono) cross-encoder: ``[CLS] q [SEP] d [SEP]`` -> first token -> optional dense layer -> score."""

from __future__ import annotations

from typing import Any

import torch

from boltir.models.base import encoder_states
from boltir.models.cross_encoders.base import CrossEncoderConfig, CrossEncoderModel, logits_to_scores


class MonoConfig(CrossEncoderConfig):
    model_type = "boltir-mono"


class MonoModel(CrossEncoderModel):
    """Scores a tokenised batch of query-document pairs; ``logits`` gives the raw head outputs."""

    config_class = MonoConfig
    base_model_prefix = "mono"
    _supports_sdpa = True

    def logits(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.head(encoder_states(self.encoder, input_ids, attention_mask, token_type_ids)[:, 0])

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Scores [B]."""
        return logits_to_scores(self.logits(input_ids, attention_mask, token_type_ids))

    def list_inputs(self, tokenizer: Any) -> Any:
        from boltir.data.pair_tokenizer import PairTokenizer

        pt = PairTokenizer(tokenizer, self.config.query_length, self.config.doc_length)

        def pairs(queries, docs):
            return pt([q for q, ds in zip(queries, docs) for _ in ds], [d for ds in docs for d in ds])

        return pairs


from boltir.models.hf_auto import register_all  # noqa: E402

register_all(__name__)  # see boltir.models.hf_auto: registration waits for the last model module to finish
