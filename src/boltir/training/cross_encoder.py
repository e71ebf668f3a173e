"""Lightning module for fine-tuning cross-encoders (mono, Set-Encoder, sparse, or any registered cross-encoder
family) with any list loss; each query's whole candidate list is scored in the same forward pass."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

from boltir.models.adapters import LoraSettings, attach_lora
from boltir.training.base import RankingModule


class CrossEncoderModule(RankingModule):
    """Fine-tune a cross-encoder.

    Args:
        model: a short name, a folder (boltir model, ``*ForSequenceClassification`` checkpoint or plain backbone)
            or a Hub id.
        family: a cross-encoder family: ``mono`` (point-wise), ``set-encoder`` (list-wise, inter-passage
            attention), ``sparse-ce`` (windowed attention, ``window`` tokens each side; published pattern) or any
            registered one; ``auto`` takes a saved folder's own family (``kind`` is the old name of this argument).
        loss: any boltir list loss, e.g. ``{class_path: boltir.losses.RankNet}``; default InfoNCE (T = 1).
        head_activation, query_length, doc_length, window: settings for a new model.
        lr, weight_decay, warmup_steps, val_metric, seed, peft: as for the bi-encoder module.
    """

    def __init__(
        self,
        model: str = "minilm-l6",
        family: str = "mono",
        loss: nn.Module | None = None,
        head_activation: str | None = None,
        query_length: int | None = None,
        doc_length: int | None = None,
        window: int | None = None,
        lr: float = 2e-5,
        weight_decay: float = 0.01,
        warmup_steps: int = 0,
        val_metric: str = "nDCG@10",
        seed: int = 0,
        kind: str | None = None,
        peft: LoraSettings | None = None,
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["loss"])
        from boltir.losses import InfoNCE
        from boltir.models.loading import family_for, load_module

        if kind is not None:
            warnings.warn(
                "CrossEncoderModule(kind=...) is deprecated; use family=...", DeprecationWarning, stacklevel=2
            )
            family = kind
        fam = family_for(model, family, "cross-encoder")
        self.model, self.tokenizer = load_module(
            model,
            fam.name,
            seed,
            head_activation=head_activation,
            query_length=query_length,
            doc_length=doc_length,
            window=window,
        )
        if peft is not None:
            attach_lora(self.model, peft)
        self.model.train()
        self.loss = loss if loss is not None else InfoNCE()

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        """The list loss of one batch of candidate lists."""
        scores = self.model(**batch["inputs"]).view(batch["targets"].shape)
        loss = self.loss(scores, batch["targets"], batch["mask"])
        self.log("train/loss", loss, prog_bar=True, batch_size=scores.shape[0])
        return loss

    def validation_scores(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.model(**batch["inputs"])
