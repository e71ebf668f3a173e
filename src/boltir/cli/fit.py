"""``boltir fit --config fit.yaml``: LightningCLI over boltir's module and data module."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from lightning.pytorch.cli import LightningCLI

    from boltir.training.bi_encoder import BiEncoderModule
    from boltir.training.data import TupleDataModule

    saved, sys.argv = sys.argv, [sys.argv[0]]  # arguments go in through `args`, not the process argv
    try:
        LightningCLI(BiEncoderModule, TupleDataModule, args=["fit", *argv],
                     save_config_kwargs={"overwrite": True}, auto_configure_optimizers=False)
    finally:
        sys.argv = saved
    return 0
