"""COIL indexing: per shard the documents' [CLS] vectors and their matchable token vectors with vocabulary ids
(multi-vector shard format plus per-document and per-token arrays), then one inverted file over vocabulary ids:
for every id the global rows of the tokens that carry it. Exact search reads only the lists of the query's
token ids. Interrupted builds resume after the last shard.

Exact COIL search: every document's [CLS] score, plus for each query token the best dot product with the
document tokens of the same vocabulary id, read from that id's inverted list (documents without a match add
nothing for that token)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from boltir.data.records import Doc
from boltir.data.runs import Run
from boltir.errors import InvalidIndexError
from boltir.index.kinds import Generation, IndexKindBase
from boltir.index.searcher import IndexSearcher
from boltir.index.storage import derived_name
from boltir.models.scoring import RerankJob, rerank_scored
from boltir.pipeline import as_queries
from boltir.utils.atomic import atomic_open
from boltir.utils.progress import progress_bar

POSTINGS_FILE = "coil-postings.npz"


class CoilKind(IndexKindBase):
    """Per shard the documents' [CLS] vectors and matchable token vectors with vocabulary ids, then one inverted
    file over vocabulary ids."""

    name = "coil"
    empty_documents = "their [CLS] vector still scores, so search can return them"
    derived_files = (POSTINGS_FILE,)
    read_whole = (POSTINGS_FILE,)

    def searcher_class(self) -> type:
        return CoilSearcher

    def rerank(self, job: RerankJob) -> Run:
        return rerank_scored(job)

    def to_json(self, encoded: Any, row: int) -> dict[str, Any]:
        """A text's [CLS] vector and token vectors."""
        return {"cls": encoded[0][row].tolist(), "tokens": np.asarray(encoded[1][row]).tolist()}

    def encode_shard(self, writer: Any, model: Any, chunk: list[Doc], encode: Callable[[list[str]], Any]) -> None:
        cls, tokens, ids = encode([d.text for d in chunk])
        offsets = np.concatenate([[0], np.cumsum([len(t) for t in tokens])])
        dim = model.config.token_dim
        writer.add_multivector_shard(
            np.concatenate(tokens) if offsets[-1] else np.zeros((0, dim), np.float32),
            offsets,
            [d.doc_id for d in chunk],
            doc_arrays={"cls": cls},
            token_arrays={"term_ids": np.concatenate(ids) if offsets[-1] else np.zeros(0, np.int32)},
        )

    def write_derived(self, g: Generation, record: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
        cls_dim = int(np.load(g.folder / g.shards[0]["doc_arrays"]["cls"], mmap_mode="r").shape[1])
        return {
            "backend": "term-inverted token vectors",
            "dim": record["embedding_dim"],
            "cls_dim": cls_dim,
            "postings": write_postings(g.folder, g.shards, g.vocab_size, g.number),
        }

    def extend_derived(self, g: Generation, manifest: dict[str, Any], first_new: int) -> dict[str, Any]:
        return {"postings": write_postings(g.folder, g.shards, g.vocab_size, g.number)}


def write_postings(output: Path, shards: list[dict[str, Any]], vocab_size: int, generation: int) -> dict[str, Any]:
    """Per vocabulary id, the global token rows (shards concatenated) that carry it, in row order."""
    term_ids = np.concatenate([np.load(output / s["token_arrays"]["term_ids"]) for s in shards]).astype(np.int64)
    if len(term_ids) and (term_ids.min() < 0 or term_ids.max() >= vocab_size):
        raise InvalidIndexError(f"{output}: token ids outside the vocabulary (0..{vocab_size - 1})")
    rows = np.argsort(term_ids, kind="stable").astype(np.int64)
    indptr = np.searchsorted(term_ids[rows], np.arange(vocab_size + 1)).astype(np.int64)
    with atomic_open(output / derived_name(POSTINGS_FILE, generation), "wb") as f:
        np.savez(f, indptr=indptr, rows=rows)
    lengths = np.diff(indptr)
    return {"tokens": int(len(term_ids)), "terms_used": int((lengths > 0).sum()), "longest_list": int(lengths.max())}


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
