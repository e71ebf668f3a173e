"""Lightning module for fine-tuning a point-wise cross-encoder with any list loss; each query's whole list is
scored in the same forward pass."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from boltir.training.base import RankingModule


class CrossEncoderModule(RankingModule):
    """Fine-tune a mono cross-encoder.

    Args:
        model: a short name, a folder (boltir mono, ``*ForSequenceClassification`` or plain backbone) or Hub id.
        loss: any boltir list loss, e.g. ``{class_path: boltir.losses.RankNet}``; default InfoNCE (T = 1).
        head_activation, query_length, doc_length: MonoConfig settings for a new model.
        lr, weight_decay, warmup_steps, val_metric, seed: as for the bi-encoder module.
    """

    def __init__(self, model: str = "minilm-l6", loss: nn.Module | None = None, head_activation: str | None = None,
                 query_length: int | None = None, doc_length: int | None = None, lr: float = 2e-5,
                 weight_decay: float = 0.01, warmup_steps: int = 0, val_metric: str = "nDCG@10", seed: int = 0):
        super().__init__()
        self.save_hyperparameters(ignore=["loss"])
        from boltir.losses import InfoNCE
        from boltir.models.loading import load_cross_encoder

        self.model, self.tokenizer = load_cross_encoder(model, seed=seed, head_activation=head_activation,
                                                        query_length=query_length, doc_length=doc_length)
        self.model.train()
        self.loss = loss if loss is not None else InfoNCE()

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        scores = self.model(**batch["pairs"]).view(batch["targets"].shape)
        loss = self.loss(scores, batch["targets"], batch["mask"])
        self.log("train/loss", loss, prog_bar=True, batch_size=scores.shape[0])
        return loss

    def validation_scores(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.model(**batch["pairs"])
