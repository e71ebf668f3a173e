"""Dense retrieval: encode queries with the index's model and search its FAISS index (one vector per document,
or several views per document for MVR, each document scored by its best view)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from boltir.data.runs import Run
from boltir.index.dense import load_faiss
from boltir.pipeline import as_queries
from boltir.search.base import IndexSearcher
from boltir.utils.progress import progress_bar


class DenseSearcher(IndexSearcher):
    """``search_params``: FAISS search-time parameters, e.g. ``nprobe=32`` (IVF) or ``efSearch=128`` (HNSW)."""

    kind = "dense"

    def __init__(self, index_dir: str | Path, search_params: str | None = None, mmap: bool = False, **common: Any):
        self.search_params, self.mmap = search_params, mmap
        super().__init__(index_dir, **common)

    def open(self) -> None:
        self.views = self.manifest.get("views", 0)
        self.index = load_faiss(self.index_dir, self.manifest, self.mmap)
        if self.search_params:
            self.set_search_params(self.search_params)
        self.n_deleted = int(self.deleted.sum())

    def set_search_params(self, params: str) -> None:
        """FAISS search-time parameters, comma-separated."""
        import faiss

        try:
            faiss.ParameterSpace().set_index_parameters(self.index, params)  # type: ignore[arg-type]
        except RuntimeError as e:
            raise ValueError(
                f"search parameters {params!r} for a {self.manifest['factory']} index: {str(e).splitlines()[0]}"
            ) from None

    def search_vectors(self, query_vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (scores, document positions) per query, deleted documents skipped (-1 where fewer exist)."""
        q = np.ascontiguousarray(query_vectors, dtype=np.float32)
        if not self.n_deleted and not self.views:  # the common case: nothing between the caller and FAISS
            return self.index.search(q, min(k, self.index.ntotal))
        per_doc = self.views or 1
        scores, rows = self.index.search(q, min((k + self.n_deleted) * per_doc, self.index.ntotal))
        out_s, out_i = (np.full((len(q), k), -np.inf, dtype=np.float32), np.full((len(q), k), -1, dtype=np.int64))
        for r, (s_row, i_row) in enumerate(zip(scores, rows)):
            found = i_row >= 0
            docs, s_row = i_row[found] // per_doc, s_row[found]
            _, first = np.unique(docs, return_index=True)  # rows come best first: a document's first is its best
            first = np.sort(first)
            first = first[~self.deleted[docs[first]]][:k]
            out_s[r, : len(first)], out_i[r, : len(first)] = s_row[first], docs[first]
        return out_s, out_i

    def search(self, queries: Any, k: int = 100) -> Run:
        """``{qid: {docid: score}}`` with the top ``k`` documents of each query."""
        queries = as_queries(queries)
        qids = list(queries)
        run: Run = {}
        with progress_bar(total=len(qids), desc="search", unit="query", disable=not self.show_progress) as bar:
            for start in range(0, len(qids), self.batch_size):
                batch = qids[start : start + self.batch_size]
                scores, idx = self.search_vectors(self.encode_queries([queries[q] for q in batch]), k)
                for qid, s_row, i_row in zip(batch, scores, idx):
                    keep = i_row >= 0
                    run[qid] = dict(zip(self.doc_ids[i_row[keep]].tolist(), s_row[keep].tolist()))
                bar.update(len(batch))
        return run
