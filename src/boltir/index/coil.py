"""COIL indexing: per shard the documents' [CLS] vectors and their matchable token vectors with vocabulary ids
(multi-vector shard format plus per-document and per-token arrays), then one inverted file over vocabulary ids:
for every id the global rows of the tokens that carry it. Exact search reads only the lists of the query's
token ids. Interrupted builds resume after the last shard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from boltir.index.dense import encode_shards, start_build
from boltir.index.storage import IndexError_, ShardedVectorWriter, derived_name, open_index_of_kind
from boltir.utils.atomic import atomic_path
from boltir.utils.provenance import provenance

POSTINGS_FILE = "coil-postings.npz"


def add_coil_shard(writer: ShardedVectorWriter, model: Any, tokenizer: Any, chunk: list, batch_size: int,
                   progress: Any = None) -> None:
    """Encode one chunk of documents with a COIL model and append it as a shard."""
    from boltir.models.bi_encoders.inference import encode_coil

    cls, tokens, ids = encode_coil(model, tokenizer, [d.text for d in chunk], "doc", batch_size, progress=progress)
    offsets = np.concatenate([[0], np.cumsum([len(t) for t in tokens])])
    dim = model.config.token_dim
    writer.add_multivector_shard(np.concatenate(tokens) if offsets[-1] else np.zeros((0, dim), np.float32), offsets,
                                 [d.doc_id for d in chunk], doc_arrays={"cls": cls},
                                 token_arrays={"term_ids": np.concatenate(ids) if offsets[-1] else
                                               np.zeros(0, np.int32)})


def build_coil_index(model: Any, tokenizer: Any, docs: str, output: str | Path, *, model_source: str,
                     batch_size: int = 32, shard_size: int = 16384, overwrite: bool = False,
                     max_shards: int | None = None, show_progress: bool = True,
                     fresh_heads: bool = False) -> dict[str, Any] | None:
    """Index ``docs`` with a COIL model into ``output``; None when ``max_shards`` stopped the build early."""
    output = Path(output)
    record, docs_record, writer = start_build("coil", model, tokenizer, docs, output, model_source, shard_size,
                                              overwrite, fresh_heads)
    encode_seconds = encode_shards(writer, docs, output, shard_size, max_shards, show_progress, lambda chunk, bar:
                                   add_coil_shard(writer, model, tokenizer, chunk, batch_size, bar))
    if encode_seconds is None:
        return None
    stats = write_postings(output, writer.shards, len(tokenizer), 0)
    return writer.finish({
        "kind": "coil", "backend": "term-inverted token vectors", "dim": model.config.token_dim,
        "cls_dim": model.config.cls_dim, "model": record, "docs": docs_record, "postings": stats,
        "build": {"batch_size": batch_size, "shard_size": shard_size,
                  "encode_seconds_this_run": round(encode_seconds, 3)},
        "provenance": provenance(),
    })


def write_postings(output: Path, shards: list[dict[str, Any]], vocab_size: int, generation: int) -> dict[str, Any]:
    """Per vocabulary id, the global token rows (shards concatenated) that carry it, in row order."""
    term_ids = np.concatenate([np.load(output / s["token_arrays"]["term_ids"]) for s in shards]).astype(np.int64)
    if len(term_ids) and (term_ids.min() < 0 or term_ids.max() >= vocab_size):
        raise IndexError_(f"{output}: token ids outside the vocabulary (0..{vocab_size - 1})")
    rows = np.argsort(term_ids, kind="stable").astype(np.int64)
    indptr = np.searchsorted(term_ids[rows], np.arange(vocab_size + 1)).astype(np.int64)
    with atomic_path(output / derived_name(POSTINGS_FILE, generation)) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, indptr=indptr, rows=rows)
    lengths = np.diff(indptr)
    return {"tokens": int(len(term_ids)), "terms_used": int((lengths > 0).sum()), "longest_list": int(lengths.max())}


def open_coil_index(folder: str | Path) -> dict[str, Any]:
    return open_index_of_kind(folder, "coil", check_shards=True)
