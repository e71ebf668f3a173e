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
