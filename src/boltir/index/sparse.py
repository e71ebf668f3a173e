"""Learned-sparse indexing: stream documents, encode term weights in length-sorted batches, write CSR shards, then
an inverted index over term ids (``postings.npz``: per term, the documents and weights sorted by weight, highest
first, so a search can read each term's best postings only). Interrupted builds resume after the last shard."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from boltir.index.dense import _chunks
from boltir.index.storage import IndexError_, ShardedVectorWriter, derived_name, iter_sparse_shards, read_manifest
from boltir.utils.atomic import atomic_path
from boltir.utils.progress import progress_bar
from boltir.utils.provenance import input_fingerprint, provenance

POSTINGS_FILE = "postings.npz"


def sparse_model_record(model: Any, source: str) -> dict[str, Any]:
    from boltir.models.base import weights_fingerprint

    cfg = model.config
    return {"source": source, "model_type": cfg.model_type, "fingerprint": weights_fingerprint(model),
            "vocab_size": cfg.embedding_dim, "doc_length": cfg.doc_length, "query_length": cfg.query_length,
            "doc_top_k": cfg.doc_top_k}


def build_sparse_index(model: Any, tokenizer: Any, docs: str, output: str | Path, *, model_source: str,
                       batch_size: int = 32, shard_size: int = 16384, overwrite: bool = False,
                       max_shards: int | None = None, show_progress: bool = True) -> dict[str, Any] | None:
    """Index ``docs`` with a SPLADE model into ``output``; None when ``max_shards`` stopped the build early."""
    from boltir.data.sources import count_docs, load_docs
    from boltir.models.bi_encoders.inference import encode_sparse

    output = Path(output)
    record = sparse_model_record(model, model_source)
    docs_record = input_fingerprint(docs)
    build_config = {"kind": "sparse", "model_fingerprint": record["fingerprint"], "docs": docs_record,
                    "shard_size": shard_size, "doc_length": model.config.doc_length,
                    "doc_top_k": model.config.doc_top_k}
    writer = ShardedVectorWriter(output, build_config, overwrite=overwrite)
    skip = writer.done_count
    started = time.perf_counter()
    written = 0
    with progress_bar(total=count_docs(docs), desc=f"index {docs}", unit="doc", disable=not show_progress,
                      initial=skip) as bar:
        stream = load_docs(docs)
        for _ in range(skip):
            if next(stream, None) is None:
                raise IndexError_(f"{docs} has fewer documents than the partial index in {output}")
        for chunk in _chunks(stream, shard_size):
            if max_shards is not None and written >= max_shards:
                return None
            matrix = encode_sparse(model, tokenizer, [d.text for d in chunk], "doc", batch_size, progress=bar)
            writer.add_sparse_shard(matrix, [d.doc_id for d in chunk])
            written += 1
    if writer.done_count == 0:
        raise IndexError_(f"{docs}: the corpus is empty; nothing to index")
    encode_seconds = time.perf_counter() - started
    stats = _write_postings(output, {"shards": writer.shards}, record["vocab_size"])
    return writer.finish({
        "kind": "sparse", "backend": "inverted", "dim": record["vocab_size"], "model": record, "docs": docs_record,
        "postings": stats, "build": {"batch_size": batch_size, "shard_size": shard_size,
                                     "encode_seconds_this_run": round(encode_seconds, 3)},
        "provenance": provenance(),
    })


def _write_postings(output: Path, manifest_like: dict[str, Any], vocab: int, generation: int = 0) -> dict[str, Any]:
    """Term-major postings with each term's entries sorted by weight, highest first."""
    import scipy.sparse as sp

    parts = [m for m, _ in iter_sparse_shards(output, manifest_like)]
    by_term = sp.vstack(parts).tocsc()  # columns = terms; row indices = documents
    indptr, docs, weights = by_term.indptr, by_term.indices.astype(np.int32), by_term.data.astype(np.float32)
    order = np.lexsort((docs, -weights, np.repeat(np.arange(vocab), np.diff(indptr))))
    with atomic_path(output / derived_name(POSTINGS_FILE, generation)) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, indptr=indptr.astype(np.int64), docs=docs[order], weights=weights[order])
    lengths = np.diff(indptr)
    return {"terms_used": int((lengths > 0).sum()), "postings": int(lengths.sum()),
            "longest_list": int(lengths.max(initial=0)),
            "mean_terms_per_doc": float(lengths.sum() / max(by_term.shape[0], 1))}


def load_postings(folder: str | Path, manifest: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    path = Path(folder) / derived_name(POSTINGS_FILE, manifest.get("generation", 0))
    if not path.is_file():
        raise IndexError_(f"{path}: postings file missing")
    try:
        with np.load(path) as z:
            indptr, docs, weights = z["indptr"], z["docs"], z["weights"]
    except (ValueError, OSError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise IndexError_(f"{path}: unreadable postings ({e})") from None
    if len(indptr) != manifest["dim"] + 1 or indptr[-1] != len(docs) or manifest["postings"]["postings"] != len(docs):
        raise IndexError_(f"{path}: {len(docs)} postings over {len(indptr) - 1} terms do not match the manifest")
    if len(docs) and docs.max() >= manifest["count"]:
        raise IndexError_(f"{path}: a posting points past the {manifest['count']} indexed documents")
    return indptr, docs, weights


def open_sparse_index(folder: str | Path) -> dict[str, Any]:
    manifest = read_manifest(folder)
    if manifest.get("kind") != "sparse":
        raise IndexError_(f"{folder}: a {manifest.get('kind')!r} index, not a sparse one")
    return manifest
