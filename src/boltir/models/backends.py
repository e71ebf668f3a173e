"""Faster CPU inference, opt-in: int8 dynamic quantization of every linear layer (weights stored in int8 with a
scale per output channel, activations quantized on the fly per batch), for any family's bi-encoder or
cross-encoder. Scores move slightly
(benchmarks/bench_cpu_backend.py measures throughput and DL19 effectiveness beside fp32)."""

from __future__ import annotations

import warnings
from typing import Any

QUANTIZATIONS = ("int8",)


def quantize(model: Any, how: str | None) -> Any:
    """``model`` with its linear layers quantized in place (``how``: None leaves it as it is, or ``int8``)."""
    if how is None:
        return model
    if how not in QUANTIZATIONS:
        raise ValueError(f"quantize={how!r}: choose one of {', '.join(QUANTIZATIONS)}")
    import torch
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    device = next(model.parameters()).device
    if device.type != "cpu":
        raise ValueError(f"int8 dynamic quantization runs on CPU; the model is on {device}")
    with warnings.catch_warnings():  # torch marks its quantized tensors for a future move to torchao
        warnings.simplefilter("ignore")
        # one scale per output channel: per-tensor scales move MiniLM's cosine scores by up to 0.1
        quantize_dynamic(model.eval(), {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True)
    model.quantized = how
    return model
