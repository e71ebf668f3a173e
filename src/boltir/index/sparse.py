"""Learned-sparse indexing: stream documents, encode term weights in length-sorted batches, write CSR shards, then
an inverted index over term ids (``postings-{indptr,docs,weights}.npy``: per term, the documents and weights sorted
by weight, highest first, so a search can read each term's best postings only). The postings are built from the
shards in three streamed passes (term counts, a scatter per shard, one sort per block of terms), without holding
the collection in memory. Interrupted builds resume after the last shard.

Search a learned-sparse inverted index with sparse query vectors: exact (every posting of every query term)
or pruned (the ``budget`` highest-weight postings of each term, read from the impact-ordered lists). With numba
installed (the ``fast`` extra), each query is one compiled term-at-a-time pass (:mod:`boltir.index.postings_kernel`)
and ``threads`` search that many queries at once; without it, the postings act as a scipy CSR matrix [terms,
documents], a batch of queries is one sparse product, and ``threads`` split the documents into contiguous parts
searched at once. Both paths return the same positions and scores, bit for bit."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from boltir.data.records import Doc
from boltir.data.runs import Run
from boltir.errors import InvalidIndexError
from boltir.index.kinds import Generation, IndexKindBase
from boltir.index.postings_kernel import Scratch, compiled_search, search_postings
from boltir.index.searcher import IndexSearcher, check_threads
from boltir.index.storage import derived_name, iter_sparse_shards, sparse_shard_term_ids
from boltir.models.scoring import RerankJob, encode_candidates_once
from boltir.pipeline import as_queries
from boltir.utils.atomic import atomic_open, atomic_path
from boltir.utils.progress import progress_bar

POSTINGS_FILES = ("postings-indptr.npy", "postings-docs.npy", "postings-weights.npy")


class SparseKind(IndexKindBase):
    """CSR shards of term weights, then term-major impact-ordered postings over all of them."""

    name = "sparse"
    empty_documents = "they have no term, so sparse search never returns them"
    derived_files = POSTINGS_FILES
    read_whole = (POSTINGS_FILES[0],)  # the term pointers; documents and weights are memory-mapped

    def searcher_class(self) -> type:
        return SparseSearcher

    def rerank(self, job: RerankJob) -> Run:
        return rerank_sparse(job)

    def to_json(self, encoded: Any, row: int) -> dict[str, float]:
        """A document's or query's term weights as ``{term id: weight}``."""
        r = encoded.getrow(row)
        return {str(int(c)): float(v) for c, v in zip(r.indices, r.data)}

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
    import scipy.sparse as sp

    counts = np.zeros(vocab, dtype=np.int64)
    for shard in manifest_like["shards"]:  # the term ids only: a shard's weights are decompressed once, below
        counts += np.bincount(sparse_shard_term_ids(output, shard), minlength=vocab)[:vocab]
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    total = int(indptr[-1])
    names = {k: derived_name(f"postings-{k}.npy", generation) for k in ("indptr", "docs", "weights")}
    with atomic_path(output / names["docs"]) as docs_tmp, atomic_path(output / names["weights"]) as w_tmp:
        docs_mm = np.lib.format.open_memmap(docs_tmp, mode="w+", dtype=np.int32, shape=(total,))
        w_mm = np.lib.format.open_memmap(w_tmp, mode="w+", dtype=np.float32, shape=(total,))
        cursor = indptr[:-1].copy()
        base = 0
        for m, _ in iter_sparse_shards(output, manifest_like):  # a shard's postings, term-major, to their places
            if m.shape[1] != vocab:
                m = sp.csr_matrix((m.data, m.indices, m.indptr), shape=(m.shape[0], vocab))
            csc = m.tocsc()  # per term, the shard's documents in ascending order
            shard_counts = np.diff(csc.indptr)
            pos = np.repeat(cursor - csc.indptr[:-1], shard_counts) + np.arange(csc.nnz)
            docs_mm[pos] = base + csc.indices
            w_mm[pos] = csc.data
            cursor += shard_counts
            base += m.shape[0]
            del csc, pos
        blocks, t0 = [], 0
        while t0 < vocab:  # impact order inside each term, a block of terms at a time
            t1 = int(np.searchsorted(indptr, indptr[t0] + block_postings, side="right")) - 1
            t1 = min(max(t1, t0 + 1), vocab)
            blocks.append((t0, t1))
            t0 = t1

        def impact_order(block: tuple[int, int], docs_mm=docs_mm, w_mm=w_mm) -> None:
            t0, t1 = block
            lo, hi = indptr[t0], indptr[t1]
            if hi > lo:
                d, w = np.array(docs_mm[lo:hi]), np.array(w_mm[lo:hi])
                term = np.repeat(np.arange(t1 - t0, dtype=np.uint64), counts[t0:t1])
                # one stable sort on (term, weight descending); documents are ascending within a term already
                order = np.argsort((term << np.uint64(32)) | descending_key(w), kind="stable")
                docs_mm[lo:hi], w_mm[lo:hi] = d[order], w[order]

        with ThreadPoolExecutor(min(2, os.cpu_count() or 1)) as pool:  # numpy sorts release the GIL
            list(pool.map(impact_order, blocks))
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


def descending_key(w: np.ndarray) -> np.ndarray:
    """uint64 keys (below 2**32) whose ascending order is the float32 weights' descending order: the IEEE bits,
    flipped so that integers compare as the floats do, then inverted."""
    bits = np.ascontiguousarray(w, dtype=np.float32).view(np.uint32)
    ascending = np.where(bits >> np.uint32(31), ~bits, bits | np.uint32(0x80000000))
    return (~ascending).astype(np.uint64)


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


class SparseSearcher(IndexSearcher):
    """``budget``: read only this many highest-weight postings per query term (pruned search); None reads every
    posting (exact)."""

    kind = "sparse"

    def __init__(self, index_dir: str | Path, budget: int | None = None, threads: int = 1, **common: Any):
        self.budget, self.threads = budget, check_threads(threads)
        super().__init__(index_dir, **common)

    def open(self) -> None:
        self.indptr, self.docs, self.weights = load_postings(self.index_dir, self.manifest)
        self._matrices: dict[int | None, Any] = {}
        self._parts: dict[int | None, list[tuple[int, Any]]] = {}
        self._kernel = compiled_search()
        self._scratch = Scratch(self.manifest["count"])

    def postings_matrix(self, budget: int | None = None):
        """The postings as a scipy CSR [vocab, documents] (built once per budget): with a budget, each term keeps
        its ``budget`` highest-weight postings (the lists are impact-ordered)."""
        import scipy.sparse as sp

        if budget not in self._matrices:
            n_terms, n_docs = len(self.indptr) - 1, self.manifest["count"]
            if budget is None:
                indptr, docs, weights = self.indptr, self.docs, self.weights
            else:
                keep = np.minimum(np.diff(self.indptr), budget)
                indptr = np.concatenate([[0], np.cumsum(keep)])
                take = np.repeat(self.indptr[:-1] - indptr[:-1], keep) + np.arange(indptr[-1])
                docs, weights = np.asarray(self.docs[take]), np.asarray(self.weights[take])
            self._matrices[budget] = sp.csr_matrix((weights, docs, indptr), shape=(n_terms, n_docs), copy=False)
        return self._matrices[budget]

    def document_parts(self, budget: int | None = None) -> list[tuple[int, Any]]:
        """The postings matrix split by documents into ``threads`` contiguous parts: (first position, CSR part)."""
        if budget not in self._parts:
            full, n_docs = self.postings_matrix(budget), self.manifest["count"]
            bounds = np.linspace(0, n_docs, self.threads + 1).astype(int)
            self._parts[budget] = [(int(lo), full[:, lo:hi].tocsr()) for lo, hi in zip(bounds[:-1], bounds[1:])]
            if budget is not None:  # a pruned matrix is a copy the parts replace (the exact one maps the files)
                del self._matrices[budget]
        return self._parts[budget]

    def _search_part(self, q_mat, part: Any, first: int, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
        scores = (q_mat @ part).tocsr()
        out = []
        for i in range(scores.shape[0]):
            lo, hi = scores.indptr[i], scores.indptr[i + 1]
            cand, vals = scores.indices[lo:hi].astype(np.int64) + first, scores.data[lo:hi]
            live = ~self.deleted[cand]
            out.append(top_positions(cand[live], vals[live], k))
        return out

    def search_matrix(self, q_mat, k: int, budget: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Top ``k`` (doc positions, scores) for each row of a CSR matrix of query term weights; equal scores are
        ordered by document position. With numba installed, each query runs through the compiled kernel
        (:mod:`boltir.index.postings_kernel`; ``threads`` search that many queries at once); without it, through
        scipy's sparse product (``threads`` search that many document parts at once). Both return the same
        positions and scores bit for bit."""
        q_mat = q_mat.astype(np.float32).tocsr()
        if self._kernel is not None:  # queries split into ``threads`` contiguous batches, one per thread
            postings = (self.indptr, np.asarray(self.docs), np.asarray(self.weights))
            bounds = np.linspace(0, q_mat.shape[0], min(self.threads, q_mat.shape[0]) + 1).astype(int)
            batches = [q_mat[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]
            return [
                found
                for part in self.in_threads(
                    lambda b: search_postings(self._kernel, postings, b, k, budget, self.deleted, self._scratch),
                    batches,
                )
                for found in part
            ]
        if self.threads == 1:
            return self._search_part(q_mat, self.postings_matrix(budget), 0, k)
        parts = self.in_threads(lambda p: self._search_part(q_mat, p[1], p[0], k), self.document_parts(budget))
        return [
            top_positions(np.concatenate([p[i][0] for p in parts]), np.concatenate([p[i][1] for p in parts]), k)
            for i in range(q_mat.shape[0])
        ]

    def search_vector(
        self, terms: np.ndarray, values: np.ndarray, k: int, budget: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (doc positions, scores) for one query given as term ids and weights."""
        import scipy.sparse as sp

        q = sp.csr_matrix(
            (np.asarray(values, np.float32), np.asarray(terms), [0, len(terms)]), shape=(1, len(self.indptr) - 1)
        )
        return self.search_matrix(q, k, budget)[0]

    def search(self, queries: Any, k: int = 100) -> Run:
        """``{qid: {docid: score}}``; a query whose vector is all zeros gets an empty ranking and is named in a
        warning."""
        import warnings

        queries = as_queries(queries)
        qids = list(queries)
        q_mat = self.encode_queries([queries[q] for q in qids])
        empty = [qids[i] for i in np.nonzero(q_mat.getnnz(axis=1) == 0)[0]]
        if empty:
            warnings.warn(
                f"{len(empty)} of {len(qids)} queries have no term with a non-zero weight and get empty "
                f"rankings: {', '.join(empty[:10])}{' ...' if len(empty) > 10 else ''}",
                stacklevel=2,
            )
        run: Run = {}
        with progress_bar(total=len(qids), desc="search", unit="query", disable=not self.show_progress) as bar:
            for start in range(0, len(qids), self.batch_size):
                part = qids[start : start + self.batch_size]
                rows = q_mat[start : start + len(part)]
                for qid, (idx, vals) in zip(part, self.search_matrix(rows, k, self.budget)):
                    run[qid] = dict(zip(self.doc_ids[idx].tolist(), vals.tolist()))
                bar.update(len(part))
        return run


def top_positions(cand: np.ndarray, vals: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best (positions, scores), best first; among equal scores the lower position wins, also at the
    cut-off, so a search split over document parts returns what one part returns."""
    if len(cand) > k:
        kth = np.partition(-vals, k - 1)[k - 1]  # minus the k-th best score
        above = -vals < kth
        tied = np.nonzero(-vals == kth)[0]
        keep = np.concatenate([np.nonzero(above)[0], tied[np.argsort(cand[tied], kind="stable")][: k - above.sum()]])
        cand, vals = cand[keep], vals[keep]
    order = np.lexsort((cand, -vals))
    return cand[order].astype(np.int64), vals[order]


def rerank_sparse(job: RerankJob) -> Run:
    """Learned-sparse bi-encoders: sparse dot products of term weights."""
    position, d_mat, qids, q_mat = encode_candidates_once(job)
    out = {}
    for i, q in enumerate(qids):
        rows = [position[d] for d in job.lists[q]]
        scores = (d_mat[rows] @ q_mat[i].T).toarray().ravel()
        out[q] = {d: float(s) for d, s in zip(job.lists[q], scores)}
    return out
