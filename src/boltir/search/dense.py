"""Dense retrieval: encode queries with the index's model and search its FAISS index (one vector per document,
or several views per document for MVR, each document scored by its best view)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from boltir.index.dense import load_faiss, open_index
from boltir.index.storage import read_doc_ids
from boltir.utils.progress import progress_bar


class DenseSearcher:
    """Search a dense index; the model must be the one that built it (checked by weights fingerprint)."""

    def __init__(self, index_dir: str | Path, model: str | None = None, loaded: tuple[Any, Any] | None = None,
                 search_params: str | None = None):
        from boltir.index.dense import index_model
        from boltir.models.loading import load_bi_encoder, load_mvr

        self.index_dir = Path(index_dir)
        self.manifest = open_index(self.index_dir)
        self.views = self.manifest.get("views", 0)
        self.model, self.tokenizer = index_model(self.index_dir, self.manifest,
                                                 load_mvr if self.views else load_bi_encoder, model, loaded)
        self.index = load_faiss(self.index_dir, self.manifest)
        self.search_params = search_params
        if search_params:
            self.set_search_params(search_params)
        self.doc_ids = np.array(read_doc_ids(self.index_dir, self.manifest), dtype=object)
        from boltir.index.update import deleted_positions

        self.deleted = deleted_positions(self.manifest, self.doc_ids)
        self.n_deleted = int(self.deleted.sum())

    def set_search_params(self, params: str) -> None:
        """FAISS search-time parameters, e.g. ``nprobe=32`` (IVF) or ``efSearch=128`` (HNSW), comma-separated."""
        import faiss

        try:
            faiss.ParameterSpace().set_index_parameters(self.index, params)
        except RuntimeError as e:
            raise ValueError(f"search parameters {params!r} for a {self.manifest['factory']} index: "
                             f"{str(e).splitlines()[0]}") from None

    def search_vectors(self, query_vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (scores, document positions) per query, deleted documents skipped (-1 where fewer exist)."""
        q = np.ascontiguousarray(query_vectors, dtype=np.float32)
        if not self.n_deleted and not self.views:  # the common case: nothing between the caller and FAISS
            return self.index.search(q, min(k, self.index.ntotal))
        per_doc = self.views or 1
        scores, rows = self.index.search(q, min((k + self.n_deleted) * per_doc, self.index.ntotal))
        out_s, out_i = np.full((len(q), k), -np.inf, dtype=np.float32), np.full((len(q), k), -1, dtype=np.int64)
        for r, (s_row, i_row) in enumerate(zip(scores, rows)):
            found = i_row >= 0
            docs, s_row = i_row[found] // per_doc, s_row[found]
            _, first = np.unique(docs, return_index=True)  # rows come best first: a document's first is its best
            first = np.sort(first)
            first = first[~self.deleted[docs[first]]][:k]
            out_s[r, :len(first)], out_i[r, :len(first)] = s_row[first], docs[first]
        return out_s, out_i

    def encode_queries(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        from boltir.models.bi_encoders.inference import encode_texts, encode_views

        if self.views:
            return encode_views(self.model, self.tokenizer, texts, "query", batch_size)
        return encode_texts(self.model, self.tokenizer, texts, "query", batch_size)

    def search(self, queries: dict[str, str], k: int = 100, batch_size: int = 32,
               show_progress: bool = False) -> dict[str, dict[str, float]]:
        """``{qid: {docid: score}}`` with the top ``k`` documents of each query."""
        qids = list(queries)
        run: dict[str, dict[str, float]] = {}
        with progress_bar(total=len(qids), desc="search", unit="query", disable=not show_progress) as bar:
            for start in range(0, len(qids), batch_size):
                batch = qids[start:start + batch_size]
                vecs = self.encode_queries([queries[q] for q in batch], batch_size)
                scores, idx = self.search_vectors(vecs, k)
                for qid, s_row, i_row in zip(batch, scores, idx):
                    keep = i_row >= 0
                    run[qid] = dict(zip(self.doc_ids[i_row[keep]].tolist(), s_row[keep].tolist()))
                bar.update(len(batch))
        return run
