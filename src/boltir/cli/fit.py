"""``boltir fit --config fit.yaml``: LightningCLI; the YAML names the module and data module by class path
(``boltir.training.BiEncoderModule`` + ``TupleDataModule``, ``boltir.training.CrossEncoderModule`` +
``ListDataModule``)."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    import lightning as L
    from lightning.pytorch.cli import LightningCLI

    import boltir.training  # noqa: F401  (makes the short class paths importable)

    saved, sys.argv = sys.argv, [sys.argv[0]]  # arguments go in through `args`, not the process argv
    try:
        LightningCLI(
            L.LightningModule,
            L.LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            args=["fit", *argv],
            save_config_kwargs={"overwrite": True},
            auto_configure_optimizers=False,
        )
    finally:
        sys.argv = saved
    return 0
