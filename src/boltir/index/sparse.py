"""Learned-sparse indexing: stream documents, encode term weights in length-sorted batches, write CSR shards, then
an inverted index over term ids (``postings-{indptr,docs,weights}.npy``: per term, the documents and weights sorted
by weight, highest first, so a search can read each term's best postings only). Interrupted builds resume after
the last shard."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from boltir.data.records import Doc
from boltir.errors import InvalidIndexError
from boltir.index.kinds import Generation, IndexKindBase
from boltir.index.storage import derived_name, iter_sparse_shards
from boltir.utils.atomic import atomic_open, atomic_path

POSTINGS_FILES = ("postings-indptr.npy", "postings-docs.npy", "postings-weights.npy")


class SparseKind(IndexKindBase):
    """CSR shards of term weights, then term-major impact-ordered postings over all of them."""

    name = "sparse"
    derived_files = POSTINGS_FILES
    read_whole = (POSTINGS_FILES[0],)  # the term pointers; documents and weights are memory-mapped
    searcher = "boltir.search.sparse:SparseSearcher"

    def build_config(self, model: Any, options: dict[str, Any]) -> dict[str, Any]:
        return {"doc_top_k": model.config.doc_top_k}

    def encode_shard(self, writer: Any, model: Any, chunk: list[Doc], encode: Callable[[list[str]], Any]) -> None:
        matrix = encode([d.text for d in chunk])
        writer.add_sparse_shard(matrix, [d.doc_id for d in chunk])

    def write_derived(self, g: Generation, record: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
        stats = write_postings(g.folder, {"shards": g.shards}, record["embedding_dim"], g.number)
        return {"backend": "inverted", "dim": record["embedding_dim"], "postings": stats}

    def extend_derived(self, g: Generation, manifest: dict[str, Any], first_new: int) -> dict[str, Any]:
        return {"postings": write_postings(g.folder, {"shards": g.shards}, manifest["dim"], g.number)}


def write_postings(
    output: Path, manifest_like: dict[str, Any], vocab: int, generation: int = 0, block_postings: int = 1_000_000
) -> dict[str, Any]:
    """Term-major postings, each term's entries sorted by weight (highest first), built without holding the
    collection in memory: one pass counts postings per term, one scatters each shard into memory-mapped output
    arrays, one re-orders blocks of terms by weight."""
    counts = np.zeros(vocab, dtype=np.int64)
    for m, _ in iter_sparse_shards(output, manifest_like):
        counts += np.bincount(m.indices, minlength=vocab)[:vocab]
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    total = int(indptr[-1])
    names = {k: derived_name(f"postings-{k}.npy", generation) for k in ("indptr", "docs", "weights")}
    with atomic_path(output / names["docs"]) as docs_tmp, atomic_path(output / names["weights"]) as w_tmp:
        docs_mm = np.lib.format.open_memmap(docs_tmp, mode="w+", dtype=np.int32, shape=(total,))
        w_mm = np.lib.format.open_memmap(w_tmp, mode="w+", dtype=np.float32, shape=(total,))
        cursor = indptr[:-1].copy()
        base = 0
        for m, _ in iter_sparse_shards(output, manifest_like):
            coo = m.tocoo()
            order = np.argsort(coo.col, kind="stable")
            terms = coo.col[order].astype(np.int64)
            first = np.searchsorted(terms, terms, side="left")
            pos = cursor[terms] + (np.arange(len(terms)) - first)
            docs_mm[pos] = base + coo.row[order]
            w_mm[pos] = coo.data[order]
            cursor += np.bincount(coo.col, minlength=vocab)[:vocab]
            base += m.shape[0]
            del coo, order, terms, first, pos
        t0 = 0
        while t0 < vocab:  # impact order inside each term, a block of terms at a time
            t1 = int(np.searchsorted(indptr, indptr[t0] + block_postings, side="right")) - 1
            t1 = min(max(t1, t0 + 1), vocab)
            lo, hi = indptr[t0], indptr[t1]
            if hi > lo:
                d, w = np.array(docs_mm[lo:hi]), np.array(w_mm[lo:hi])
                term = np.repeat(np.arange(t0, t1), counts[t0:t1])
                order = np.lexsort((d, -w, term))
                docs_mm[lo:hi], w_mm[lo:hi] = d[order], w[order]
            t0 = t1
        docs_mm.flush()
        w_mm.flush()
        del docs_mm, w_mm
    with atomic_open(output / names["indptr"], "wb") as f:
        np.save(f, indptr)
    n_docs = sum(s["count"] for s in manifest_like["shards"])
    return {
        "terms_used": int((counts > 0).sum()),
        "postings": total,
        "longest_list": int(counts.max(initial=0)),
        "mean_terms_per_doc": float(total / max(n_docs, 1)),
    }


def load_postings(folder: str | Path, manifest: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``indptr`` in memory, documents and weights memory-mapped (a search reads only its terms' slices)."""
    g = manifest.get("generation", 0)
    paths = [Path(folder) / derived_name(f"postings-{k}.npy", g) for k in ("indptr", "docs", "weights")]
    for path in paths:
        if not path.is_file():
            raise InvalidIndexError(f"{path}: postings file missing")
    try:
        indptr = np.load(paths[0])
        docs, weights = np.load(paths[1], mmap_mode="r"), np.load(paths[2], mmap_mode="r")
    except (ValueError, OSError, EOFError) as e:
        raise InvalidIndexError(f"{paths[0].parent}: unreadable postings ({e})") from None
    if (
        len(indptr) != manifest["dim"] + 1
        or indptr[-1] != len(docs)
        or len(weights) != len(docs)
        or manifest["postings"]["postings"] != len(docs)
    ):
        raise InvalidIndexError(
            f"{paths[0].parent}: {len(docs)} postings over {len(indptr) - 1} terms do not match the manifest"
        )
    return indptr, docs, weights
