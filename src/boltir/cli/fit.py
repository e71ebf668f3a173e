"""``boltir fit --config fit.yaml``: LightningCLI; the YAML names the module and data module by class path
(``boltir.training.BiEncoderModule`` + ``TupleDataModule``, ``boltir.training.CrossEncoderModule`` +
``ListDataModule``). ``boltir fit --help`` is answered without importing Lightning; ``--full-help`` (or ``--help``
after ``--config``) lists every option of the classes the config names."""

from __future__ import annotations

import sys

HELP = """usage: boltir fit --config CONFIG [--config MORE] [--section.key VALUE ...] [--print_config] [--full-help]

Fine-tune a model with Lightning from a YAML config (LightningCLI). The config has three sections:
  trainer:  lightning.Trainer arguments (max_epochs, max_steps, accelerator, devices, precision, callbacks:
            boltir.training.ExportBestModel writes the best model as a Hugging Face folder)
  model:    class_path boltir.training.BiEncoderModule ({bi}) or
            boltir.training.CrossEncoderModule ({cross}), with init_args: model
            (short name, folder or Hub id), family, loss, lengths, lr, warmup_steps, seed, and
            peft: {{r: 8, alpha: 16, target_modules: [query, value]}} to train a LoRA adapter
  data:     class_path boltir.training.TupleDataModule (training tuples) or boltir.training.ListDataModule
            (candidate lists from a run, targets from qrels or a teacher), with validation by re-ranking
            (val_run; never trec-dl-2019, the test set)

options:
  -h, --help         show this help and exit
  --full-help        every option of the classes the config names (after --config: of those classes)
  --config CONFIG    YAML file (repeat to merge several; later ones win)
  --print_config     print the merged configuration and exit
  --a.b.c VALUE      override one value, e.g. --trainer.max_epochs 1 --model.init_args.lr 3e-5

example configs (in {configs}):
{examples}
"""


def short_help() -> str:
    """``boltir fit --help``, written without importing Lightning (families listed from the registry)."""
    from boltir.data.sources import config_root

    root = config_root()
    names = sorted(p.name for p in root.glob("*.yaml")) if root.is_dir() else []
    from boltir.registry import families

    return HELP.format(
        configs=root,
        examples="\n".join(f"  {n}" for n in names) or "  (none found)",
        bi=", ".join(f.name for f in families("bi-encoder")),
        cross=", ".join(f.name for f in families("cross-encoder")),
    )


def main(argv: list[str]) -> int:
    """Run ``boltir fit``: LightningCLI over the YAML config's trainer, model and data sections."""
    if argv in (["--help"], ["-h"]):
        print(short_help(), end="")
        return 0
    argv = ["--help" if a == "--full-help" else a for a in argv]
    import lightning as L
    from lightning.pytorch.callbacks import ProgressBar
    from lightning.pytorch.cli import LightningCLI

    import boltir.training  # noqa: F401  (makes the short class paths importable)
    from boltir.training.callbacks import StepBoundProgressBar

    class BoltirCLI(LightningCLI):
        """LightningCLI with a progress bar that counts a ``max_steps`` run's steps (unless the config names one)."""

        def _instantiate_trainer(self, config: dict, callbacks: list) -> L.Trainer:
            given = [*(config.get("callbacks") or []), *callbacks]
            if config.get("enable_progress_bar", True) is not False and not any(
                isinstance(c, ProgressBar) for c in given
            ):
                callbacks = [*callbacks, StepBoundProgressBar()]
            return super()._instantiate_trainer(config, callbacks)

    saved, sys.argv = sys.argv, [sys.argv[0]]  # arguments go in through `args`, not the process argv
    try:
        BoltirCLI(
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
