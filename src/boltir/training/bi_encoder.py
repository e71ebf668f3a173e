"""Lightning module for fine-tuning a single-vector bi-encoder with in-batch + hard-negative cross-entropy."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from boltir.losses.in_batch import InBatchCrossEntropy


class BiEncoderModule(L.LightningModule):
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
        self._val_scores: dict[str, dict[str, float]] = {}

    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        if dm is not None and hasattr(dm, "attach_tokenizer"):
            dm.attach_tokenizer(self.tokenizer, self.model.config)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        q = self.model(**batch["queries"])
        d = self.model(**batch["docs"])
        loss = self.loss(q, d, batch["docs_per_query"])
        self.log("train/loss", loss, prog_bar=True, batch_size=q.shape[0])
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val_scores = {}

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        q = self.model(**batch["queries"])
        d = self.model(**batch["docs"])
        scores = (q * d).sum(-1).float().cpu().tolist()
        for qid, did, s in zip(batch["query_ids"], batch["doc_ids"], scores):
            self._val_scores.setdefault(qid, {})[did] = s

    def on_validation_epoch_end(self) -> None:
        from boltir.evaluate.measures import evaluate

        scores = self._val_scores
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            gathered: list[Any] = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(gathered, scores)
            scores = {}
            for part in gathered:
                for q, ds in part.items():
                    scores.setdefault(q, {}).update(ds)
        qrels = self.trainer.datamodule.val_qrels
        if not scores or qrels is None:
            return
        value = evaluate(scores, qrels, [self.hparams.val_metric]).aggregate[self.hparams.val_metric]
        if self.trainer.sanity_checking:
            # Lightning drops values logged in the sanity check; with num_sanity_val_steps=-1 this is the
            # whole validation run before any training, i.e. the starting point of the model
            if self.trainer.is_global_zero:
                print(f"before training: val/{self.hparams.val_metric} = {value:.4f}")
            return
        if self.trainer.is_global_zero:
            print(f"step {self.global_step}: val/{self.hparams.val_metric} = {value:.4f}")
        self.log(f"val/{self.hparams.val_metric}", value, prog_bar=True, sync_dist=False)

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": self.hparams.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=self.hparams.lr)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warm = self.hparams.warmup_steps

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            return max(0.0, (total - step) / max(1, total - warm))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
