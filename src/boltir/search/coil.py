"""Exact COIL search: every document's [CLS] score, plus for each query token the best dot product with the
document tokens of the same vocabulary id, read from that id's inverted list (documents without a match add
nothing for that token)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from boltir.index.coil import POSTINGS_FILE, open_coil_index
from boltir.index.dense import index_model
from boltir.index.storage import IndexError_, derived_name, read_doc_ids
from boltir.utils.progress import progress_bar


class CoilSearcher:
    """The model must be the one that built the index (checked by weights fingerprint)."""

    def __init__(self, index_dir: str | Path, model: str | None = None, loaded: tuple[Any, Any] | None = None):
        from boltir.index.update import deleted_positions
        from boltir.models.loading import load_coil

        self.index_dir = Path(index_dir)
        self.manifest = open_coil_index(self.index_dir)
        self.model, self.tokenizer = index_model(self.index_dir, self.manifest, load_coil, model, loaded)
        shards = self.manifest["shards"]
        self.cls = np.concatenate([np.load(self.index_dir / s["doc_arrays"]["cls"]) for s in shards])
        self.tokens = np.concatenate([np.load(self.index_dir / s["vectors"]) for s in shards])
        counts = [np.diff(np.load(self.index_dir / s["offsets"])) for s in shards]
        self.doc_of_row = np.repeat(np.arange(self.manifest["count"]), np.concatenate(counts))
        path = self.index_dir / derived_name(POSTINGS_FILE, self.manifest.get("generation", 0))
        try:
            with np.load(path) as z:
                self.indptr, self.rows = z["indptr"], z["rows"]
        except (OSError, ValueError, KeyError, EOFError) as e:
            raise IndexError_(f"{path}: postings missing or unreadable ({e})") from None
        if len(self.rows) != len(self.tokens):
            raise IndexError_(f"{path}: {len(self.rows)} postings for {len(self.tokens)} stored tokens")
        self.doc_ids = np.array(read_doc_ids(self.index_dir, self.manifest), dtype=object)
        self.deleted = deleted_positions(self.manifest, self.doc_ids)

    def scores(self, q_cls: np.ndarray, q_tokens: np.ndarray, q_ids: np.ndarray) -> np.ndarray:
        """COIL scores of every indexed document for one query's [CLS] vector and matchable tokens."""
        scores = self.cls @ q_cls
        for vec, term in zip(q_tokens, q_ids):
            rows = self.rows[self.indptr[term]:self.indptr[term + 1]]
            if not len(rows):
                continue
            sims = self.tokens[rows] @ vec
            docs = self.doc_of_row[rows]  # non-decreasing: rows are in index order
            starts = np.r_[0, np.nonzero(np.diff(docs))[0] + 1]
            scores[docs[starts]] += np.maximum.reduceat(sims, starts)
        return scores

    def search(self, queries: dict[str, str], k: int = 100, batch_size: int = 32,
               show_progress: bool = False) -> dict[str, dict[str, float]]:
        from boltir.models.bi_encoders.inference import encode_coil

        qids = list(queries)
        q_cls, q_tok, q_ids = encode_coil(self.model, self.tokenizer, [queries[q] for q in qids], "query", batch_size)
        run: dict[str, dict[str, float]] = {}
        live = np.nonzero(~self.deleted)[0]
        k = min(k, len(live))
        with progress_bar(total=len(qids), desc="search", unit="query", disable=not show_progress) as bar:
            for i, qid in enumerate(qids):
                s = self.scores(q_cls[i], q_tok[i], q_ids[i])[live]
                top = np.argpartition(-s, k - 1)[:k] if k else np.zeros(0, dtype=np.int64)
                top = top[np.lexsort((live[top], -s[top]))]
                run[qid] = dict(zip(self.doc_ids[live[top]].tolist(), s[top].astype(float).tolist()))
                bar.update(1)
        return run
