"""Dense retrieval: encode queries with the index's model and search its FAISS index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from boltir.index.dense import load_faiss, open_index
from boltir.index.storage import IndexError_, read_doc_ids
from boltir.utils.progress import progress_bar


class DenseSearcher:
    """Search a dense index; the model must be the one that built it (checked by weights fingerprint)."""

    def __init__(self, index_dir: str | Path, model: str | None = None, loaded: tuple[Any, Any] | None = None,
                 search_params: str | None = None):
        from boltir.index.dense import model_record
        from boltir.models.loading import load_bi_encoder

        self.index_dir = Path(index_dir)
        self.manifest = open_index(self.index_dir)
        rec = self.manifest["model"]
        if loaded is not None:
            self.model, self.tokenizer = loaded
        else:
            source = model or (str(self.index_dir / rec["saved_copy"]) if rec.get("saved_copy") else rec["source"])
            self.model, self.tokenizer = load_bi_encoder(source)
        got = model_record(self.model, "")["fingerprint"]
        if got != rec["fingerprint"]:
            raise IndexError_(f"{self.index_dir} was built with model {rec['source']!r} (weights {rec['fingerprint']}); "
                              f"the given model has different weights ({got})")
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
        """Top ``k`` (scores, positions) per query, deleted documents skipped (-1 where fewer exist)."""
        n_deleted = self.n_deleted
        if not n_deleted:  # the common case: nothing between the caller and FAISS
            return self.index.search(np.ascontiguousarray(query_vectors, dtype=np.float32), min(k, self.index.ntotal))
        fetch = min(k + n_deleted, self.index.ntotal)
        scores, idx = self.index.search(np.ascontiguousarray(query_vectors, dtype=np.float32), fetch)
        if n_deleted:
            keep = (idx >= 0) & ~self.deleted[np.maximum(idx, 0)]
            scores = np.array([np.r_[s[m], np.full(fetch - m.sum(), -np.inf)][:k] for s, m in zip(scores, keep)])
            idx = np.array([np.r_[i[m], np.full(fetch - m.sum(), -1)][:k] for i, m in zip(idx, keep)])
        return scores[:, :k], idx[:, :k]

    def search(self, queries: dict[str, str], k: int = 100, batch_size: int = 32,
               show_progress: bool = False) -> dict[str, dict[str, float]]:
        """``{qid: {docid: score}}`` with the top ``k`` documents of each query."""
        from boltir.models.bi_encoders.inference import encode_texts

        qids = list(queries)
        run: dict[str, dict[str, float]] = {}
        with progress_bar(total=len(qids), desc="search", unit="query", disable=not show_progress) as bar:
            for start in range(0, len(qids), batch_size):
                batch = qids[start:start + batch_size]
                vecs = encode_texts(self.model, self.tokenizer, [queries[q] for q in batch], "query", batch_size)
                scores, idx = self.search_vectors(vecs, k)
                for qid, s_row, i_row in zip(batch, scores, idx):
                    keep = i_row >= 0
                    run[qid] = dict(zip(self.doc_ids[i_row[keep]].tolist(), s_row[keep].tolist()))
                bar.update(len(batch))
        return run
