"""Lightning module for fine-tuning cross-encoders (mono, Set-Encoder, sparse) with any list loss; each query's
whole candidate list is scored in the same forward pass."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from boltir.training.base import RankingModule

KINDS = ("mono", "set-encoder", "sparse")


def load_for_kind(kind: str, model: str, seed: int, window: int | None, **config: Any):
    from boltir.models.loading import load_cross_encoder, load_set_encoder, load_sparse_cross_encoder

    if kind == "mono":
        return load_cross_encoder(model, seed=seed, **config)
    if kind == "set-encoder":
        return load_set_encoder(model, seed=seed, **config)
    if kind == "sparse":
        from boltir.attention.patterns import SparsePattern
        from boltir.models.loading import _config_json, resolve_model

        saved = _config_json(resolve_model(model)).get("model_type") == "boltir-sparse-ce"
        return load_sparse_cross_encoder(model, seed=seed, pattern=None if saved else SparsePattern(window=window),
                                         **config)
    raise ValueError(f"kind={kind!r}: choose one of {', '.join(KINDS)}")


class CrossEncoderModule(RankingModule):
    """Fine-tune a cross-encoder.

    Args:
        model: a short name, a folder (boltir model, ``*ForSequenceClassification`` checkpoint or plain backbone)
            or a Hub id.
        kind: ``mono`` (point-wise), ``set-encoder`` (list-wise, inter-passage attention) or ``sparse``
            (windowed attention, ``window`` tokens each side; published pattern).
        loss: any boltir list loss, e.g. ``{class_path: boltir.losses.RankNet}``; default InfoNCE (T = 1).
        head_activation, query_length, doc_length: settings for a new model.
        lr, weight_decay, warmup_steps, val_metric, seed: as for the bi-encoder module.
    """

    def __init__(self, model: str = "minilm-l6", kind: str = "mono", loss: nn.Module | None = None,
                 head_activation: str | None = None, query_length: int | None = None,
                 doc_length: int | None = None, window: int | None = 4, lr: float = 2e-5,
                 weight_decay: float = 0.01, warmup_steps: int = 0, val_metric: str = "nDCG@10", seed: int = 0):
        super().__init__()
        self.save_hyperparameters(ignore=["loss"])
        from boltir.losses import InfoNCE

        cfg = {"head_activation": head_activation, "query_length": query_length, "doc_length": doc_length}
        self.model, self.tokenizer = load_for_kind(kind, model, seed, window, **cfg)
        self.model.train()
        self.loss = loss if loss is not None else InfoNCE()

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        scores = self.model(**batch["inputs"]).view(batch["targets"].shape)
        loss = self.loss(scores, batch["targets"], batch["mask"])
        self.log("train/loss", loss, prog_bar=True, batch_size=scores.shape[0])
        return loss

    def validation_scores(self, batch: dict[str, Any]) -> torch.Tensor:
        return self.model(**batch["inputs"])
