"""What every boltir Lightning module shares: AdamW with linear warm-up/decay and validation by re-ranking a
candidate run, evaluated with ir_measures (gathered across processes)."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from boltir.utils.log import log


class RankingModule(L.LightningModule):
    """Base class; subclasses set ``self.model``/``self.tokenizer`` and implement ``validation_scores``."""

    def on_validation_epoch_start(self) -> None:
        """Start collecting the validation run."""
        self._val_scores: dict[str, dict[str, float]] = {}

    def validation_scores(self, batch: dict[str, Any]) -> torch.Tensor:
        """Scores [queries, list size] of a batch of whole candidate lists (padding included)."""
        raise NotImplementedError

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        """Score one batch of validation lists into the validation run."""
        scores = self.validation_scores(batch).view(batch["mask"].shape).float().cpu()
        for b, (qid, doc_ids) in enumerate(zip(batch["query_ids"], batch["doc_ids"])):
            self._val_scores.setdefault(qid, {}).update(zip(doc_ids, scores[b, : len(doc_ids)].tolist()))

    def on_validation_epoch_end(self) -> None:
        """Evaluate the validation run against the validation qrels and log the metrics (``val/<metric>``)."""
        h: Any = self.hparams
        from boltir.evaluation.measures import evaluate

        scores = self._val_scores
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            gathered: list[Any] = [None] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(gathered, scores)
            scores = {}
            for part in gathered:
                for q, ds in part.items():
                    scores.setdefault(q, {}).update(ds)
        qrels = getattr(getattr(self.trainer, "datamodule", None), "val_qrels", None)
        if not scores or qrels is None:
            return
        metric = h.val_metric
        value = evaluate(scores, qrels, [metric]).aggregate[metric]
        if self.trainer.sanity_checking:
            # Lightning drops values logged in the sanity check; with num_sanity_val_steps=-1 this is the
            # whole validation run before any training, i.e. the starting point of the model
            done, whole = self.trainer.num_sanity_val_batches, self.trainer.num_val_batches
            if not self.trainer.is_global_zero:
                return
            if any(d < w for d, w in zip(done, whole)):  # a partial run's value would read as the start: say so
                log.info(
                    f"sanity check: {sum(done)} of {sum(whole)} validation batches, no score "
                    "(num_sanity_val_steps: -1 scores the whole validation run before training)"
                )
            else:
                log.info(f"before training: val/{metric} = {value:.4f}")
            return
        if self.trainer.is_global_zero:
            log.info(f"step {self.global_step}: val/{metric} = {value:.4f}")
        self.log(f"val/{metric}", value, prog_bar=True, sync_dist=False)

    def setup(self, stage: str) -> None:
        """Give the data module the model's tokenizer (its collators tokenise in the workers)."""
        dm = getattr(self.trainer, "datamodule", None)
        if dm is not None and hasattr(dm, "attach_tokenizer"):
            dm.attach_tokenizer(self.tokenizer, self.model)

    def configure_optimizers(self):
        """AdamW (no weight decay on biases and norms) with linear warm-up and decay."""
        h: Any = self.hparams
        params = [p for p in self.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": h.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=h.lr
        )
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warm = h.warmup_steps

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            return max(0.0, (total - step) / max(1, total - warm))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
