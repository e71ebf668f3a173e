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
    whole_backbone = True  # the backbone is called whole (so it can run exported: models.backends)

    def logits(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.head(encoder_states(self.encoder, input_ids, attention_mask, token_type_ids)[:, 0])

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        buckets: list[dict[str, torch.Tensor]] | None = None,
        order: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Scores [B] of a padded batch of pairs, or of length ``buckets`` (each padded to its own longest pair)
        put back in input order (``order``: the input position of each bucketed pair)."""
        if buckets is not None and order is not None:
            scores = torch.cat(
                [self.forward(b["input_ids"], b["attention_mask"], b.get("token_type_ids")) for b in buckets]
            )
            return torch.empty_like(scores).index_copy_(0, order, scores)
        assert input_ids is not None and attention_mask is not None
        return logits_to_scores(self.logits(input_ids, attention_mask, token_type_ids), self.config.two_logit_score)

    def list_inputs(self, tokenizer: Any, bucket_size: int = 16) -> Any:
        """Every (query, document) pair of the lists, in buckets of ``bucket_size`` pairs of similar length, so a
        short passage is not padded to the longest of its list (scores do not depend on the padding)."""
        from boltir.data.pair_tokenizer import PairTokenizer

        pt = PairTokenizer(tokenizer, self.config.query_length, self.config.doc_length)

        def pairs(queries, docs):
            flat_q = [q for q, ds in zip(queries, docs) for _ in ds]
            flat_d = [d for ds in docs for d in ds]
            order = sorted(range(len(flat_d)), key=lambda i: len(flat_q[i]) + len(flat_d[i]))
            chunks = [order[i : i + bucket_size] for i in range(0, len(order), bucket_size)]
            buckets = [pt([flat_q[i] for i in c], [flat_d[i] for i in c]) for c in chunks]
            return {"buckets": buckets, "order": torch.tensor(order, dtype=torch.long)}

        return pairs


from boltir.models.hf_auto import register_all  # noqa: E402

register_all(__name__)  # see boltir.models.hf_auto: registration waits for the last model module to finish
