"""Batched, length-sorted encoding of texts with a bi-encoder into what indexes store: dense embeddings into a
numpy array, learned-sparse term weights into a scipy CSR matrix, multi-vector (ColBERT) tokens, MVR views and
COIL's [CLS] + matchable tokens. Every function has the same signature; a family names its own in
``batch_encoder`` and :meth:`BiEncoderModel.encode` calls it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from boltir.data.collators import TextBatcher, length_sorted_batches, token_budget, token_budget_batches, token_lengths
from boltir.models.bi_encoders.output import BiEncoderOutput


def encoded_batches(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    kind: str,
    batch_size: int = 32,
    sort_by_length: bool = True,
    num_workers: int = 0,
    progress: Any = None,
    batch_tokens: int | None = None,
    ranks: Any = None,
) -> Iterator[tuple[list[int], Any]]:
    """Yield ``(input positions, BiEncoderOutput)`` per length-sorted batch: as many as fit ``batch_tokens`` padded
    tokens (for documents by default ``batch_size`` times the document length: :func:`token_budget`), else
    ``batch_size`` texts (queries by default, or ``batch_tokens=0``). These batching settings are what the
    ``**batching`` of every ``encode_*`` function below passes on."""
    cfg = model.config
    if kind == "doc":
        batch_tokens = token_budget(batch_tokens, batch_size, cfg.text_length(kind))
    if batch_tokens:
        lengths = token_lengths(tokenizer, texts, cfg.text_length(kind), cfg.text_prefix(kind))
        batches = token_budget_batches(lengths, batch_tokens)
    else:
        batches = length_sorted_batches(texts, batch_size, sort_by_length)
    batcher = TextBatcher(tokenizer, texts, batches, cfg.text_length(kind), cfg.text_prefix(kind))
    if ranks is not None and ranks.world > 1:
        yield from _shared_batches(model, batcher, kind, ranks, progress)
        return
    loader: Any = (
        DataLoader(batcher, batch_size=None, num_workers=num_workers, shuffle=False)  # type: ignore[arg-type]
        if num_workers > 0
        else batcher
    )
    device = next(model.parameters()).device
    with torch.inference_mode():
        for idx, enc in loader:
            enc = {k: v.to(device, non_blocking=True) for k, v in enc.items()}
            yield idx, model(**enc, kind=kind)
            if progress is not None:
                progress.update(len(idx))


def _shared_batches(model: Any, batcher: TextBatcher, kind: str, ranks: Any, progress: Any) -> Iterator[tuple]:
    """Several ranks: each runs the batches ``b`` with ``b % world == rank`` of the one batch plan, then every rank
    gets every batch's outputs, in plan order (each text is computed in the very batch a single process uses)."""
    device = next(model.parameters()).device
    mine = {}
    with torch.inference_mode():
        for b in range(len(batcher)):
            if ranks.mine(b):
                idx, enc = batcher[b]
                out = model(**{k: v.to(device) for k, v in enc.items()}, kind=kind)
                mine[b] = (idx, {k: v.cpu() for k, v in out.items() if v is not None})
                if progress is not None:
                    progress.update(len(idx) * ranks.world)
    every: dict[int, Any] = {}
    for part in ranks.gather(mine):
        every.update(part)
    for b in range(len(batcher)):
        idx, fields = every[b]
        yield idx, BiEncoderOutput(**fields)


def encode_dense(model: Any, tokenizer: Any, texts: Sequence[str], kind: str = "doc", **batching: Any) -> np.ndarray:
    """Embeddings [len(texts), D] float32 in input order. ``kind`` picks query or document length/prefix."""
    out = np.empty((len(texts), model.config.embedding_dim), dtype=np.float32)
    for idx, o in encoded_batches(model, tokenizer, texts, kind, **batching):
        out[idx] = o.embeddings.float().cpu().numpy()
    return out


def encode_sparse(model: Any, tokenizer: Any, texts: Sequence[str], kind: str = "doc", **batching: Any) -> Any:
    """Term weights of a learned-sparse model as a scipy CSR matrix [len(texts), vocab] in input order (only
    non-zeros are kept, batch by batch)."""
    import scipy.sparse as sp

    rows, cols, vals = [], [], []
    for idx, o in encoded_batches(model, tokenizer, texts, kind, **batching):
        weights = o.embeddings.float()
        r, c = weights.nonzero(as_tuple=True)
        rows.append(np.asarray(idx)[r.cpu().numpy()])
        cols.append(c.cpu().numpy())
        vals.append(weights[r, c].cpu().numpy())
    if not rows:
        return sp.csr_matrix((len(texts), model.config.embedding_dim), dtype=np.float32)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(texts), model.config.embedding_dim),
        dtype=np.float32,
    )


def encode_multi(
    model: Any, tokenizer: Any, texts: Sequence[str], kind: str = "doc", **batching: Any
) -> list[np.ndarray]:
    """Token embeddings of a multi-vector model: one float32 array [scored tokens, dim] per text, in input order
    (padding, and for documents the skip-list tokens, removed)."""
    out: list[np.ndarray | None] = [None] * len(texts)
    for idx, o in encoded_batches(model, tokenizer, texts, kind, **batching):
        emb, mask = o.embeddings.float().cpu().numpy(), o.mask.cpu().numpy()
        for row, i in enumerate(idx):
            out[i] = emb[row][mask[row]]
    return out  # type: ignore[return-value]


def encode_views(model: Any, tokenizer: Any, texts: Sequence[str], kind: str = "doc", **batching: Any) -> np.ndarray:
    """MVR: documents -> [len(texts), views, dim], queries -> [len(texts), dim], float32 in input order."""
    views = len(model.config.view_token_ids)
    dim = model.config.embedding_dim
    out = np.empty((len(texts), views, dim) if kind == "doc" else (len(texts), dim), dtype=np.float32)
    for idx, o in encoded_batches(model, tokenizer, texts, kind, **batching):
        out[idx] = o.embeddings.float().cpu().numpy()
    return out


Tokens = tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]


def encode_coil(model: Any, tokenizer: Any, texts: Sequence[str], kind: str = "doc", **batching: Any) -> Tokens:
    """COIL: ``([CLS] vectors [len(texts), cls_dim], token vectors per text, vocabulary ids per text)``, keeping
    only the tokens that can match (no padding, special tokens or skip-list punctuation), in input order."""
    cls = np.empty((len(texts), model.config.cls_dim), dtype=np.float32)
    tokens: list[np.ndarray | None] = [None] * len(texts)
    ids: list[np.ndarray | None] = [None] * len(texts)
    for idx, o in encoded_batches(model, tokenizer, texts, kind, **batching):
        cls[idx] = o.cls.float().cpu().numpy()
        tok, tid = o.embeddings.float().cpu().numpy(), o.token_ids.cpu().numpy()
        for row, i in enumerate(idx):
            keep = tid[row] >= 0
            tokens[i], ids[i] = tok[row][keep], tid[row][keep].astype(np.int32)
    return cls, tokens, ids  # type: ignore[return-value]
