"""Callbacks: export the best checkpoint as a Hugging Face model folder when training ends; a progress bar whose
total and ETA count the steps a ``max_steps`` run will take."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint, TQDMProgressBar

from boltir.models.adapters import has_lora, merge_lora, save_adapter
from boltir.utils.log import log


class ExportBestModel(L.Callback):
    """At the end of ``fit``, load the best checkpoint (or keep the last weights when nothing was monitored)
    and save model + tokenizer + model card to ``dirpath`` atomically. A model trained with LoRA is saved merged
    (a plain model of its family) to ``dirpath`` and as an adapter to ``adapter_dirpath`` (default
    ``<dirpath>-adapter``)."""

    def __init__(self, dirpath: str = "model", adapter_dirpath: str | None = None):
        super().__init__()
        self.dirpath = dirpath
        self.adapter_dirpath = adapter_dirpath

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Write the best model (by the validation metric, else the last) as a Hugging Face folder."""
        from boltir.models.base import save_model_folder
        from boltir.utils.provenance import provenance

        best = None
        for cb in trainer.checkpoint_callbacks:
            if isinstance(cb, ModelCheckpoint) and cb.best_model_path:
                best = cb.best_model_path
                score = cb.best_model_score
                break
        if best:
            state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]  # no pickled code runs
            pl_module.load_state_dict(state)
        if trainer.is_global_zero:
            datamodule = getattr(trainer, "datamodule", None)
            info = provenance(
                hparams=dict(pl_module.hparams),
                data=dict(datamodule.hparams) if datamodule is not None and hasattr(datamodule, "hparams") else {},
                checkpoint=best,
                best_score=float(score) if best and score is not None else None,
                global_step=trainer.global_step,
            )
            model: Any = pl_module.model
            if has_lora(model):
                adapter = Path(self.adapter_dirpath or f"{str(self.dirpath).rstrip('/')}-adapter")
                base = dict(pl_module.hparams).get("model", model.config.name_or_path)
                save_adapter(model, pl_module.tokenizer, adapter, base)
                log.info(f"exported the LoRA adapter to {adapter}")
                model = merge_lora(copy.deepcopy(model))
            out = save_model_folder(model, pl_module.tokenizer, Path(self.dirpath), info)
            log.info(f"exported model to {out}" + (f" (best checkpoint {best})" if best else ""))
        if trainer.world_size > 1:
            trainer.strategy.barrier()


class StepBoundProgressBar(TQDMProgressBar):
    """Lightning's progress bar, except that with ``max_steps`` its total (and so its ETA) counts the batches the
    run will still take, not the whole epoch: ``max_steps: 50`` over 1,000 batches shows 50, not 1,000.
    ``boltir fit`` uses it unless the config names a progress bar or turns it off."""

    @property
    def total_train_batches(self) -> int | float:
        """Batches this epoch will run: the epoch's, capped by the optimizer steps left times the accumulation."""
        total = super().total_train_batches
        trainer = self.trainer
        if trainer.max_steps is None or trainer.max_steps < 0:
            return total
        left = max(0, trainer.max_steps - trainer.global_step) * trainer.accumulate_grad_batches
        return min(total, left)
