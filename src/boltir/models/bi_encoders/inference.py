"""Batched, length-sorted encoding of texts with a bi-encoder, straight into a numpy array."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from boltir.data.collators import TextBatcher, length_sorted_batches


def encode_texts(model: Any, tokenizer: Any, texts: Sequence[str], kind: str = "doc", batch_size: int = 32,
                 sort_by_length: bool = True, num_workers: int = 0, progress: Any = None) -> np.ndarray:
    """Embeddings [len(texts), D] float32 in input order. ``kind`` picks query or document length/prefix."""
    cfg = model.config
    max_length = cfg.query_length if kind == "query" else cfg.doc_length
    prefix = cfg.query_prefix if kind == "query" else cfg.doc_prefix
    out = np.empty((len(texts), cfg.embedding_dim), dtype=np.float32)
    if not len(texts):
        return out
    batches = length_sorted_batches(texts, batch_size, sort_by_length)
    batcher = TextBatcher(tokenizer, texts, batches, max_length, prefix)
    loader = (DataLoader(batcher, batch_size=None, num_workers=num_workers, shuffle=False)
              if num_workers > 0 else batcher)
    device = next(model.parameters()).device
    with torch.inference_mode():
        for idx, enc in loader:
            enc = {k: v.to(device, non_blocking=True) for k, v in enc.items()}
            out[idx] = model(**enc).float().cpu().numpy()
            if progress is not None:
                progress.update(len(idx))
    return out
