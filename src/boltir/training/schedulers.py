"""Value schedules for any attribute of the training module, addressed by dotted path from YAML, e.g. the FLOPS
weight of a SPLADE model::

    trainer:
      callbacks:
        - class_path: boltir.training.ValueScheduler
          init_args: {target: doc_regularizer.weight, end_value: 0.008, warmup_steps: 5000, shape: quadratic}
"""

from __future__ import annotations

from typing import Any

import lightning as L

from boltir.errors import ConfigError

SHAPES = ("linear", "quadratic", "constant")


def resolve_attribute(root: Any, dotted: str) -> tuple[Any, str]:
    """The object holding the last part of ``dotted`` and that part's name; a clear error for a wrong path."""
    parts = dotted.split(".")
    obj = root
    for i, part in enumerate(parts[:-1]):
        if not hasattr(obj, part):
            raise ConfigError(
                f"ValueScheduler target {dotted!r}: {'.'.join(parts[:i]) or 'the module'} has no attribute {part!r}"
            )
        obj = getattr(obj, part)
    if not hasattr(obj, parts[-1]):
        raise ConfigError(f"ValueScheduler target {dotted!r}: no attribute {parts[-1]!r}")
    return obj, parts[-1]


class ValueScheduler(L.Callback):
    """Set ``target`` (dotted path from the LightningModule) before every training step: ``start_value`` until
    ``delay_steps``, then ``linear`` / ``quadratic`` growth to ``end_value`` over ``warmup_steps``, then
    ``end_value``."""

    def __init__(
        self,
        target: str,
        end_value: float,
        start_value: float = 0.0,
        warmup_steps: int = 0,
        delay_steps: int = 0,
        shape: str = "quadratic",
    ):
        if shape not in SHAPES:
            raise ConfigError(f"shape={shape!r}: choose one of {', '.join(SHAPES)}")
        self.target, self.start_value, self.end_value = target, start_value, end_value
        self.warmup_steps, self.delay_steps, self.shape = warmup_steps, delay_steps, shape

    def value(self, step: int) -> float:
        """The target's value at a step (linear or quadratic from ``start_value`` to ``end_value``)."""
        if self.shape == "constant":
            return self.end_value
        if step < self.delay_steps:
            return self.start_value
        if self.warmup_steps <= 0 or step - self.delay_steps >= self.warmup_steps:
            return self.end_value
        frac = (step - self.delay_steps) / self.warmup_steps
        if self.shape == "quadratic":
            frac = frac**2
        return self.start_value + (self.end_value - self.start_value) * frac

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        """Check that the target exists on the module."""
        resolve_attribute(pl_module, self.target)  # fail before training, not at the first step

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        """Set the target to this step's value."""
        obj, name = resolve_attribute(pl_module, self.target)
        v = self.value(trainer.global_step)
        setattr(obj, name, v)
        pl_module.log(f"schedule/{self.target}", v, on_step=True, on_epoch=False)
