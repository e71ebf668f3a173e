"""Faster CPU inference, opt-in: int8 dynamic quantization of the linear layers (weights stored in int8 with a
scale per output channel, activations quantized on the fly per batch), for any family's bi-encoder or
cross-encoder. The first transformer layer stays in fp32: it reads the raw embeddings, whose outlier dimensions
quantize worst (on DL19 with MiniLM-L6 every layer in int8 lost 0.008 nDCG@10; with the first in fp32, none).
benchmarks/bench_cpu_backend.py measures throughput and DL19 effectiveness beside fp32."""

from __future__ import annotations

import re
import warnings
from typing import Any

QUANTIZATIONS = ("int8",)
FIRST_LAYER = re.compile(r"(^|\.)(layer|layers|block)\.0\.")  # BERT/ELECTRA, ModernBERT-style, T5


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
        spec = {
            name: per_channel_dynamic_qconfig
            for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and not FIRST_LAYER.search(name)
        }
        quantize_dynamic(model.eval(), spec, dtype=torch.qint8, inplace=True)
    model.quantized = how
    return model
