"""Lightning module for fine-tuning a single-vector bi-encoder with in-batch + hard-negative cross-entropy."""

from __future__ import annotations

from typing import Any

import torch

from boltir.losses.in_batch import InBatchCrossEntropy
from boltir.training.base import RankingModule


class BiEncoderModule(RankingModule):
    """Fine-tune a DPR-style bi-encoder.

    Args:
        model: a short name (``minilm-l6``), a folder (boltir, sentence-transformers or plain backbone) or a
            Hub id.
        pooling, projection_dim, normalize, similarity, query_length, doc_length: DprConfig settings for a new
            model (None keeps what the folder says).
        temperature: scores are divided by it before the cross-entropy (0.05 suits cosine similarity).
        lr, weight_decay, warmup_steps: AdamW with linear warm-up then linear decay to 0 at the last step.
        val_metric: ir_measures metric computed on the validation run (logged as ``val/<metric>``).
        seed: seed for freshly initialised heads.
    """

    def __init__(self, model: str = "minilm-l6", pooling: str | None = None, projection_dim: int | None = None,
                 normalize: bool | None = None, similarity: str | None = None, query_length: int | None = None,
                 doc_length: int | None = None, temperature: float = 0.05, lr: float = 2e-5,
                 weight_decay: float = 0.01, warmup_steps: int = 0, val_metric: str = "nDCG@10", seed: int = 0):
        super().__init__()
        self.save_hyperparameters()
        from boltir.models.loading import load_bi_encoder

        self.model, self.tokenizer = load_bi_encoder(
            model, seed=seed, pooling=pooling, projection_dim=projection_dim, normalize=normalize,
            similarity=similarity, query_length=query_length, doc_length=doc_length)
        self.model.train()  # loaders return eval-mode models; Lightning keeps the mode it finds
        self.loss = InBatchCrossEntropy(temperature)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        q = self.model(**batch["queries"])
        d = self.model(**batch["docs"])
        loss = self.loss(q, d, batch["docs_per_query"])
        self.log("train/loss", loss, prog_bar=True, batch_size=q.shape[0])
        return loss

    def validation_scores(self, batch: dict[str, Any]) -> torch.Tensor:
        q = self.model(**batch["inputs"]["queries"])  # each query once, not once per candidate
        d = self.model(**batch["inputs"]["docs"]).view(q.shape[0], -1, q.shape[-1])
        return torch.einsum("bh,bnh->bn", q, d)
