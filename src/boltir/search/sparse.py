"""Search a learned-sparse inverted index with sparse query vectors: exact (every posting of every query term)
or pruned (the ``budget`` highest-weight postings of each term, read from the impact-ordered lists)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from boltir.index.sparse import load_postings, open_sparse_index, sparse_model_record
from boltir.index.storage import IndexError_, read_doc_ids
from boltir.utils.progress import progress_bar


def top_k_scores(scores: np.ndarray, touched: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices and scores of the ``k`` best touched documents, best first (ties: lower index first)."""
    cand = np.unique(touched)
    if len(cand) > k:
        cand = cand[np.argpartition(-scores[cand], k - 1)[:k]]
    order = np.lexsort((cand, -scores[cand]))
    return cand[order], scores[cand[order]]


class SparseSearcher:
    """The model must be the one that built the index (checked by weights fingerprint)."""

    def __init__(self, index_dir: str | Path, model: str | None = None, loaded: tuple[Any, Any] | None = None):
        from boltir.models.loading import load_splade

        self.index_dir = Path(index_dir)
        self.manifest = open_sparse_index(self.index_dir)
        rec = self.manifest["model"]
        self.model, self.tokenizer = loaded if loaded is not None else load_splade(model or rec["source"])
        got = sparse_model_record(self.model, "")["fingerprint"]
        if got != rec["fingerprint"]:
            raise IndexError_(f"{self.index_dir} was built with model {rec['source']!r} (weights {rec['fingerprint']}); "
                              f"the given model has different weights ({got})")
        self.indptr, self.docs, self.weights = load_postings(self.index_dir, self.manifest)
        self.doc_ids = np.array(read_doc_ids(self.index_dir, self.manifest), dtype=object)
        self._scores = np.zeros(self.manifest["count"], dtype=np.float32)
        from boltir.index.update import deleted_positions

        self.deleted = deleted_positions(self.manifest, self.doc_ids)

    def search_vector(self, terms: np.ndarray, values: np.ndarray, k: int,
                      budget: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (doc positions, scores) for one query given as term ids and weights."""
        scores = self._scores
        touched = []
        for t, w in zip(terms, values):
            lo, hi = self.indptr[t], self.indptr[t + 1]
            if budget is not None:
                hi = min(hi, lo + budget)
            if hi > lo:
                d = self.docs[lo:hi]
                scores[d] += w * self.weights[lo:hi]  # a term lists each document once: no repeated indices
                touched.append(d)
        if not touched:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        touched_all = np.concatenate(touched)
        live = touched_all[~self.deleted[touched_all]]
        idx, vals = top_k_scores(scores, live, k) if len(live) else (np.empty(0, np.int64), np.empty(0, np.float32))
        scores[touched_all] = 0.0
        return idx, vals

    def search(self, queries: dict[str, str], k: int = 100, budget: int | None = None, batch_size: int = 32,
               show_progress: bool = False) -> dict[str, dict[str, float]]:
        """``{qid: {docid: score}}``; a query whose vector is all zeros gets an empty ranking."""
        from boltir.models.bi_encoders.inference import encode_sparse

        qids = list(queries)
        q_mat = encode_sparse(self.model, self.tokenizer, [queries[q] for q in qids], "query", batch_size)
        run: dict[str, dict[str, float]] = {}
        with progress_bar(total=len(qids), desc="search", unit="query", disable=not show_progress) as bar:
            for i, qid in enumerate(qids):
                row = q_mat.getrow(i)
                idx, vals = self.search_vector(row.indices, row.data, k, budget)
                run[qid] = dict(zip(self.doc_ids[idx].tolist(), vals.tolist()))
                bar.update(1)
        return run
