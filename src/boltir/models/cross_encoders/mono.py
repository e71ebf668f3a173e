"""Point-wise (mono) cross-encoder: ``[CLS] q [SEP] d [SEP]`` -> first token -> optional dense layer -> score."""

from __future__ import annotations

from typing import Any

import torch

from boltir.errors import ConfigError
from boltir.models.base import encoder_states
from boltir.models.building import around_backbone, is_classifier
from boltir.models.cross_encoders.base import CrossEncoderConfig, CrossEncoderModel, logits_to_scores


class MonoConfig(CrossEncoderConfig):
    """Mono cross-encoder settings: lengths, head activation, outputs and bias."""

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
        """The head's logits [pairs, outputs] of tokenised (query, document) pairs."""
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


def classification_head(clf: Any) -> tuple[str | None, Any, Any]:
    """``(activation, dense, out)`` of a transformers sequence-classification model's head."""
    from torch import nn

    head = getattr(clf, "classifier", None)
    base = getattr(clf, clf.base_model_prefix)
    if isinstance(head, nn.Linear):
        pooler = getattr(base, "pooler", None)
        if pooler is not None and isinstance(getattr(pooler, "dense", None), nn.Linear):
            return "tanh", pooler.dense, head  # BERT: pooler (dense + tanh) then classifier
        return None, None, head
    if head is not None and isinstance(getattr(head, "dense", None), nn.Linear) and hasattr(head, "out_proj"):
        act = "gelu" if clf.config.model_type == "electra" else "tanh"
        return act, head.dense, head.out_proj
    raise ConfigError(f"{type(clf).__name__}: unsupported classification head {type(head).__name__}")


def build_mono(path: str, name: str, tokenizer: Any, seed: int, settings: dict[str, Any]):
    """From a ``*ForSequenceClassification`` checkpoint (same logits), or around a plain backbone."""
    import torch
    from transformers import AutoModelForSequenceClassification

    if not is_classifier(path):
        return around_backbone(MonoModel, MonoConfig, path, name, seed, settings), tokenizer
    clf = AutoModelForSequenceClassification.from_pretrained(path).eval()
    activation, dense, out = classification_head(clf)
    base = getattr(clf, clf.base_model_prefix)
    model = MonoModel(
        MonoConfig(
            encoder=base.config.to_dict(),
            head_activation=activation,
            num_outputs=clf.config.num_labels,
            head_bias=out.bias is not None,
            **settings,
        )
    )
    state = {k: v for k, v in base.state_dict().items() if not k.startswith("pooler.")}
    model.encoder.load_state_dict(state, strict=True)
    with torch.no_grad():
        if dense is not None and model.head.dense is not None:
            model.head.dense.load_state_dict(dense.state_dict())
        model.head.out.load_state_dict(out.state_dict())
    model.config.name_or_path = str(name)
    return model, tokenizer
