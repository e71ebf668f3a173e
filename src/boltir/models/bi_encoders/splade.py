"""SPLADE-style learned-sparse bi-encoder: the masked-LM head of any MLM backbone gives per-token vocabulary
logits; ``log(1 + ReLU(logits))`` pooled over tokens (max, or sum) is one weight per vocabulary term. Score = dot
product of the two sparse vectors. Optional top-k pruning per vector; the inference-free variant encodes only
documents and weights a query's terms by a static per-term table (``query_weights``, default 1)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from boltir.errors import CheckpointError, ConfigError
from boltir.models.base import seeded
from boltir.models.bi_encoders.base import BiEncoderConfig, BiEncoderModel, BiEncoderOutput, dot_scores
from boltir.models.bi_encoders.inference import encode_sparse

SPLADE_POOLINGS = ("max", "sum")


class SparseConfig(BiEncoderConfig):
    """What the learned-sparse families share. ``query_top_k`` / ``doc_top_k``: keep only the k largest weights
    (None = all); ``skip_ids`` (the tokenizer's special tokens) never count."""

    query_top_k: int | None = None
    doc_top_k: int | None = None
    skip_ids: list[int] | None = None

    @property
    def embedding_dim(self) -> int:
        return self.encoder.vocab_size

    def pruning(self, kind: str) -> int | None:
        """How many top terms queries (``kind=query``) or documents keep (None: all)."""
        return self.query_top_k if kind == "query" else self.doc_top_k


class SparseModel(BiEncoderModel):
    """Base of the learned-sparse families: [B, vocab] term weights, dot-product scores, top-k pruning."""

    batch_encoder = staticmethod(encode_sparse)
    term_weights = True

    @staticmethod
    def prune(weights: torch.Tensor, k: int | None) -> torch.Tensor:
        """Term weights with all but each row's ``k`` largest set to 0 (``k`` None: unchanged)."""
        if not k or k >= weights.shape[1]:
            return weights
        top = weights.topk(k, dim=1)
        return torch.zeros_like(weights).scatter_(1, top.indices, top.values)

    score = staticmethod(dot_scores)


class SpladeConfig(SparseConfig):
    """``encoder``: the backbone's masked-LM config. ``inference_free``: queries are bags of their token ids
    weighted by ``query_weights`` (a learned [vocab] vector), no transformer pass."""

    model_type = "boltir-splade"

    pooling: str = "max"
    inference_free: bool = False


class SpladeModel(SparseModel):
    """``forward(input_ids, attention_mask, ..., kind="doc")`` -> term weights [B, vocab] (dense tensor, mostly
    zeros); :meth:`encode` gives scipy sparse matrices."""

    config_class = SpladeConfig
    base_model_prefix = "splade"
    backbone_auto = "AutoModelForMaskedLM"

    def build_heads(self, config: SpladeConfig) -> None:
        if config.pooling not in SPLADE_POOLINGS:
            raise ConfigError(f"pooling={config.pooling!r}: choose one of {', '.join(SPLADE_POOLINGS)}")
        self.query_weights = nn.Parameter(torch.ones(config.encoder.vocab_size)) if config.inference_free else None

    def represent(self, input_ids: Tensor, attention_mask: Tensor, types: Tensor | None, kind: str) -> BiEncoderOutput:
        if kind == "query" and self.query_weights is not None:
            bag = torch.zeros(input_ids.shape[0], self.config.embedding_dim, device=input_ids.device)
            bag.scatter_(1, input_ids, attention_mask.to(bag.dtype))
            if self.config.skip_ids:
                bag[:, self.config.skip_ids] = 0.0
            return BiEncoderOutput(
                embeddings=self.prune(bag.clamp(max=1.0) * self.query_weights.relu(), self.config.query_top_k)
            )
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if types is not None:
            kwargs["token_type_ids"] = types
        logits = self.encoder(**kwargs).logits  # [B, L, vocab]: the largest tensor; no full-size copies below
        pad = attention_mask.unsqueeze(-1) == 0
        if self.config.pooling == "max":  # log(1 + ReLU) is monotonic: pool first, then transform [B, vocab]
            logits = logits.masked_fill_(pad, 0.0) if not torch.is_grad_enabled() else logits.masked_fill(pad, 0.0)
            pooled = torch.log1p(torch.relu(logits.amax(1).float()))
        else:
            pooled = (torch.log1p(torch.relu(logits.float())) * (~pad)).sum(1)
        return BiEncoderOutput(embeddings=self.prune(pooled, self.config.pruning(kind)))


def build_splade(path: str, name: str, tokenizer: Any, seed: int, settings: dict[str, Any]):
    """From any masked-LM checkpoint (e.g. ``splade-tiny``): its MLM head becomes the vocabulary projection (from a
    backbone without one, the head is drawn from ``seed``)."""
    from transformers import AutoModelForMaskedLM

    with seeded(seed):
        backbone = AutoModelForMaskedLM.from_pretrained(path)
    model = SpladeModel(
        SpladeConfig(encoder=backbone.config.to_dict(), **{"skip_ids": list(tokenizer.all_special_ids), **settings})
    )
    missing, unexpected = model.encoder.load_state_dict(backbone.state_dict(), strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"{name}: masked-LM weights do not fit (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    model.config.name_or_path = str(name)
    return model, tokenizer
