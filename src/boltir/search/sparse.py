"""Search a learned-sparse inverted index with sparse query vectors: exact (every posting of every query term)
or pruned (the ``budget`` highest-weight postings of each term, read from the impact-ordered lists). The postings
act as a scipy CSR matrix [terms, documents], so a batch of queries is one sparse product; with ``threads`` the
documents are split into that many contiguous parts searched at once (scipy's sparse products release the GIL)
and their top ``k`` merged, with the same result as one part."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from boltir.data.runs import Run
from boltir.index.sparse import load_postings
from boltir.pipeline import as_queries
from boltir.search.base import IndexSearcher, check_threads
from boltir.utils.progress import progress_bar


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
            out.append(top_k(cand[live], vals[live], k))
        return out

    def search_matrix(self, q_mat, k: int, budget: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """Top ``k`` (doc positions, scores) for each row of a CSR matrix of query term weights; equal scores are
        ordered by document position."""
        q_mat = q_mat.astype(np.float32)
        if self.threads == 1:
            return self._search_part(q_mat, self.postings_matrix(budget), 0, k)
        parts = self.in_threads(lambda p: self._search_part(q_mat, p[1], p[0], k), self.document_parts(budget))
        return [
            top_k(np.concatenate([p[i][0] for p in parts]), np.concatenate([p[i][1] for p in parts]), k)
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


def top_k(cand: np.ndarray, vals: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
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
