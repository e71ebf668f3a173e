"""Batched, length-sorted encoding of texts with a bi-encoder: dense embeddings into a numpy array, learned-sparse
term weights into a scipy CSR matrix, multi-vector (ColBERT) tokens, MVR views and COIL's [CLS] + matchable
tokens."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from boltir.data.collators import TextBatcher, length_sorted_batches


def _encoded_batches(model: Any, tokenizer: Any, texts: Sequence[str], kind: str, batch_size: int,
                     sort_by_length: bool, num_workers: int, progress: Any, forward: dict[str, Any] | None = None):
    """Yield ``(input positions, model outputs)`` per length-sorted batch (outputs as the model returns them)."""
    cfg = model.config
    max_length = cfg.query_length if kind == "query" else cfg.doc_length
    prefix = cfg.query_prefix if kind == "query" else cfg.doc_prefix
    batches = length_sorted_batches(texts, batch_size, sort_by_length)
    batcher = TextBatcher(tokenizer, texts, batches, max_length, prefix)
    loader = (DataLoader(batcher, batch_size=None, num_workers=num_workers, shuffle=False)
              if num_workers > 0 else batcher)
    device = next(model.parameters()).device
    with torch.inference_mode():
        for idx, enc in loader:
            enc = {k: v.to(device, non_blocking=True) for k, v in enc.items()}
            yield idx, model(**enc, **(forward or {}))
            if progress is not None:
                progress.update(len(idx))


def encode_texts(model: Any, tokenizer: Any, texts: Sequence[str], kind: str = "doc", batch_size: int = 32,
                 sort_by_length: bool = True, num_workers: int = 0, progress: Any = None) -> np.ndarray:
    """Embeddings [len(texts), D] float32 in input order. ``kind`` picks query or document length/prefix."""
    out = np.empty((len(texts), model.config.embedding_dim), dtype=np.float32)
    if not len(texts):
        return out
    for idx, emb in _encoded_batches(model, tokenizer, texts, kind, batch_size, sort_by_length, num_workers,
                                     progress):
        out[idx] = emb.float().cpu().numpy()
    return out


def encode_sparse(model: Any, tokenizer: Any, texts: Sequence[str], kind: str = "doc", batch_size: int = 32,
                  sort_by_length: bool = True, num_workers: int = 0, progress: Any = None):
    """Term weights of a learned-sparse model as a scipy CSR matrix [len(texts), vocab] in input order (only
    non-zeros are kept, batch by batch)."""
    import scipy.sparse as sp

    rows, cols, vals = [], [], []
    for idx, weights in _encoded_batches(model, tokenizer, texts, kind, batch_size, sort_by_length, num_workers,
                                         progress, {"kind": kind}):
        weights = weights.float()
        r, c = weights.nonzero(as_tuple=True)
        rows.append(np.asarray(idx)[r.cpu().numpy()])
        cols.append(c.cpu().numpy())
        vals.append(weights[r, c].cpu().numpy())
    if not rows:
        return sp.csr_matrix((len(texts), model.config.embedding_dim), dtype=np.float32)
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(len(texts), model.config.embedding_dim), dtype=np.float32)


def encode_multi(model: Any, tokenizer: Any, texts: Sequence[str], kind: str = "doc", batch_size: int = 32,
                 sort_by_length: bool = True, num_workers: int = 0, progress: Any = None) -> list[np.ndarray]:
    """Token embeddings of a multi-vector model: one float32 array [scored tokens, dim] per text, in input order
    (padding, and for documents the skip-list tokens, removed)."""
    out: list[np.ndarray | None] = [None] * len(texts)
    cfg = model.config
    max_length = cfg.query_length if kind == "query" else cfg.doc_length
    prefix = cfg.query_prefix if kind == "query" else cfg.doc_prefix
    batcher = TextBatcher(tokenizer, texts, length_sorted_batches(texts, batch_size, sort_by_length), max_length, prefix)
    device = next(model.parameters()).device
    with torch.inference_mode():
        for idx, enc in batcher:
            enc = {k: v.to(device) for k, v in enc.items() if k != "token_type_ids"}
            emb, mask = model(**enc, kind=kind)
            emb, mask = emb.float().cpu().numpy(), mask.cpu().numpy()
            for row, i in enumerate(idx):
                out[i] = emb[row][mask[row]]
            if progress is not None:
                progress.update(len(idx))
    return out  # type: ignore[return-value]


def encode_views(model: Any, tokenizer: Any, texts: Sequence[str], kind: str = "doc", batch_size: int = 32,
                 sort_by_length: bool = True, progress: Any = None) -> np.ndarray:
    """MVR: documents -> [len(texts), views, dim], queries -> [len(texts), dim], float32 in input order."""
    views = len(model.config.view_token_ids)
    shape = (len(texts), views, model.config.embedding_dim) if kind == "doc" else (len(texts), model.config.embedding_dim)
    out = np.empty(shape, dtype=np.float32)
    for idx, emb in _encoded_batches(model, tokenizer, texts, kind, batch_size, sort_by_length, 0, progress,
                                     {"kind": kind}):
        out[idx] = emb.float().cpu().numpy()
    return out


def encode_coil(model: Any, tokenizer: Any, texts: Sequence[str], kind: str = "doc", batch_size: int = 32,
                sort_by_length: bool = True, progress: Any = None) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """COIL: ``([CLS] vectors [len(texts), cls_dim], token vectors per text, vocabulary ids per text)``, keeping
    only the tokens that can match (no padding, special tokens or skip-list punctuation), in input order."""
    cls = np.empty((len(texts), model.config.cls_dim), dtype=np.float32)
    tokens: list[np.ndarray | None] = [None] * len(texts)
    ids: list[np.ndarray | None] = [None] * len(texts)
    for idx, (c, tok, tid) in _encoded_batches(model, tokenizer, texts, kind, batch_size, sort_by_length, 0, progress,
                                               {"kind": kind}):
        cls[idx] = c.float().cpu().numpy()
        tok, tid = tok.float().cpu().numpy(), tid.cpu().numpy()
        for row, i in enumerate(idx):
            keep = tid[row] >= 0
            tokens[i], ids[i] = tok[row][keep], tid[row][keep].astype(np.int32)
    return cls, tokens, ids  # type: ignore[return-value]
