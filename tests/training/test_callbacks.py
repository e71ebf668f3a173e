"""The best checkpoint is read as weights only: a checkpoint carrying pickled code cannot run it."""

import pytest
import torch


class Payload:
    def __reduce__(self):
        return (print, ("pickled code ran",))


def test_export_reads_the_best_checkpoint_as_weights_only(tmp_path, capsys):
    from types import SimpleNamespace

    from lightning.pytorch.callbacks import ModelCheckpoint

    from boltir.training.callbacks import ExportBestModel

    ckpt = tmp_path / "best.ckpt"
    torch.save({"state_dict": {}, "payload": Payload()}, ckpt)
    cb = ModelCheckpoint()
    cb.best_model_path = str(ckpt)
    trainer = SimpleNamespace(checkpoint_callbacks=[cb], is_global_zero=False, world_size=1)
    with pytest.raises(Exception, match="Weights only load failed|Unsupported global"):
        ExportBestModel(str(tmp_path / "out")).on_fit_end(trainer, None)
    assert "pickled code ran" not in capsys.readouterr().out


def test_progress_bar_total_counts_the_steps_a_max_steps_run_takes(tmp_path):
    """With max_steps 3 over 64 batches the bar's total is 3 (Lightning's own shows 64 and an ETA for 64)."""
    import lightning as L
    from lightning.pytorch.demos.boring_classes import BoringModel

    from boltir.training.callbacks import StepBoundProgressBar

    totals = []

    class Watch(StepBoundProgressBar):
        def on_train_epoch_start(self, trainer, *args):
            super().on_train_epoch_start(trainer, *args)
            totals.append((self.train_progress_bar.total, trainer.num_training_batches))

    for max_steps, accumulate in ((3, 1), (3, 2), (-1, 1)):
        trainer = L.Trainer(
            max_steps=max_steps,
            max_epochs=1,
            accumulate_grad_batches=accumulate,
            callbacks=[Watch()],
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            default_root_dir=tmp_path,
            limit_val_batches=0,
        )
        trainer.fit(BoringModel())
    assert totals == [(3, 64), (6, 64), (64, 64)]
