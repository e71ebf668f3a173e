"""Exact COIL search: every document's [CLS] score, plus for each query token the best dot product with the
document tokens of the same vocabulary id, read from that id's inverted list (documents without a match add
nothing for that token)."""

from __future__ import annotations

from typing import Any

import numpy as np

from boltir.data.runs import Run
from boltir.errors import InvalidIndexError
from boltir.index.coil import POSTINGS_FILE
from boltir.index.storage import derived_name
from boltir.pipeline import as_queries
from boltir.search.base import IndexSearcher
from boltir.utils.progress import progress_bar


class CoilSearcher(IndexSearcher):
    """Exact COIL search over a COIL index (no knobs of its own)."""

    kind = "coil"
    check_shards = True

    def open(self) -> None:
        self.floor = getattr(self.model.config, "match_floor", None)
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
            raise InvalidIndexError(f"{path}: postings missing or unreadable ({e})") from None
        if len(self.rows) != len(self.tokens):
            raise InvalidIndexError(f"{path}: {len(self.rows)} postings for {len(self.tokens)} stored tokens")

    def scores(self, q_cls: np.ndarray, q_tokens: np.ndarray, q_ids: np.ndarray) -> np.ndarray:
        """COIL scores of every indexed document for one query's [CLS] vector and matchable tokens."""
        scores = self.cls @ q_cls
        for vec, term in zip(q_tokens, q_ids):
            rows = self.rows[self.indptr[term] : self.indptr[term + 1]]
            if not len(rows):
                continue
            sims = self.tokens[rows] @ vec
            docs = self.doc_of_row[rows]  # non-decreasing: rows are in index order
            starts = np.r_[0, np.nonzero(np.diff(docs))[0] + 1]
            best = np.maximum.reduceat(sims, starts)
            if self.floor is not None:
                best = np.maximum(best, self.floor)
            scores[docs[starts]] += best
        return scores

    def search(self, queries: Any, k: int = 100) -> Run:
        queries = as_queries(queries)
        qids = list(queries)
        q_cls, q_tok, q_ids = self.encode_queries([queries[q] for q in qids])
        run: Run = {}
        live = np.nonzero(~self.deleted)[0]
        k = min(k, len(live))
        with progress_bar(total=len(qids), desc="search", unit="query", disable=not self.show_progress) as bar:
            for i, qid in enumerate(qids):
                s = self.scores(q_cls[i], q_tok[i], q_ids[i])[live]
                top = np.argpartition(-s, k - 1)[:k] if k else np.zeros(0, dtype=np.int64)
                top = top[np.lexsort((live[top], -s[top]))]
                run[qid] = dict(zip(self.doc_ids[live[top]].tolist(), s[top].astype(float).tolist()))
                bar.update(1)
        return run
