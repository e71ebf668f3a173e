"""Multi-vector (ColBERT) search in the PLAID style: each query token probes its ``nprobe`` nearest centroids;
the documents listed under them are the candidates; optionally only the ``ncandidates`` best by centroid
interaction (MaxSim with every document token replaced by its centroid) go on; those are scored by MaxSim over
their stored token embeddings (exact), or over tokens decompressed from centroid + quantised residual when the
index was built with ``nbits``. ``nprobe`` = all centroids and ``ncandidates`` = None is exhaustive search."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from boltir.data.runs import Run
from boltir.errors import InvalidIndexError
from boltir.index.multivector import (
    CENTROIDS_FILE,
    CODES_FILE,
    LISTS_FILE,
    RESIDUALS_FILE,
    decompress_residuals,
    load_buckets,
)
from boltir.index.storage import derived_name
from boltir.pipeline import as_queries
from boltir.search.base import IndexSearcher, check_threads
from boltir.utils.progress import progress_bar


def maxsim_rows(sims: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Per document, the sum over query tokens of the best document token: ``sims`` [tokens of the documents, one
    after the other, Lq] (token rows: the reduction runs along contiguous rows)."""
    return np.maximum.reduceat(sims, np.r_[0, np.cumsum(lengths)[:-1]], axis=0).sum(1)


def token_rows(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The rows of documents' tokens, one document after the other: ``lengths`` rows from each of ``starts``."""
    return np.repeat(starts - np.cumsum(np.r_[0, lengths[:-1]]), lengths) + np.arange(lengths.sum())


class MultiVectorSearcher(IndexSearcher):
    """``nprobe``: centroids probed per query token; ``ncandidates``: candidates kept by centroid interaction for
    exact MaxSim (None: all); ``threads``: shards whose candidates are scored at once (centroid interaction and
    exact MaxSim)."""

    kind = "multivector"
    check_shards = True

    def __init__(
        self, index_dir: str | Path, nprobe: int = 4, ncandidates: int | None = 1024, threads: int = 1, **common: Any
    ):
        self.nprobe, self.ncandidates, self.threads = nprobe, ncandidates, check_threads(threads)
        super().__init__(index_dir, **common)

    def open(self) -> None:
        g = self.manifest.get("generation", 0)
        try:
            self.centroids = np.load(self.index_dir / derived_name(CENTROIDS_FILE, g))
            self.codes = np.load(self.index_dir / derived_name(CODES_FILE, g))
            with np.load(self.index_dir / derived_name(LISTS_FILE, g)) as z:
                self.list_ptr, self.list_docs = z["indptr"], z["docs"]
            self.nbits = self.manifest["centroids"].get("nbits")
            if self.nbits:
                self.residuals = np.load(self.index_dir / derived_name(RESIDUALS_FILE, g))
                _, _, self.bucket_values = load_buckets(self.index_dir, g)
        except (OSError, ValueError, KeyError, EOFError) as e:
            raise InvalidIndexError(
                f"{self.index_dir}: centroid or residual files missing or unreadable ({e})"
            ) from None
        if (
            len(self.codes) != self.manifest["centroids"]["tokens"]
            or len(self.centroids) != len(self.list_ptr) - 1
            or (self.nbits and len(self.residuals) != len(self.codes))
        ):
            raise InvalidIndexError(f"{self.index_dir}: centroid or residual files do not match the manifest")
        self.tokens, starts, ends, shard_of = [], [], [], []
        for i, s in enumerate(self.manifest["shards"]):
            self.tokens.append(np.load(self.index_dir / s["vectors"], mmap_mode="r"))
            off = np.load(self.index_dir / s["offsets"])
            starts.append(off[:-1])
            ends.append(off[1:])
            shard_of.append(np.full(s["count"], i))
        self.doc_start, self.doc_end = np.concatenate(starts), np.concatenate(ends)
        self.doc_shard = np.concatenate(shard_of)
        shard_base = np.cumsum([0] + [s["tokens"] for s in self.manifest["shards"]])[:-1]
        self.global_start = shard_base[self.doc_shard] + self.doc_start  # into the concatenated codes

    def candidates(self, q: np.ndarray, nprobe: int) -> np.ndarray:
        sims = q @ self.centroids.T
        nprobe = min(nprobe, sims.shape[1])
        probe = np.unique(np.argpartition(-sims, nprobe - 1, axis=1)[:, :nprobe])
        return np.unique(np.concatenate([self.list_docs[self.list_ptr[c] : self.list_ptr[c + 1]] for c in probe]))

    def centroid_scores(self, q: np.ndarray, docs: np.ndarray) -> np.ndarray:
        """MaxSim with each document token replaced by its centroid, for ``docs`` (all with >= 1 token)."""
        sims = np.ascontiguousarray(self.centroids @ q.T)  # [C, Lq]: a token's row is its centroid's

        def score(d: np.ndarray, shard: int) -> np.ndarray:
            lengths = self.doc_end[d] - self.doc_start[d]
            return maxsim_rows(sims[self.codes[token_rows(self.global_start[d], lengths)]], lengths)

        return self.by_shard(docs, score)

    def exact_scores(self, q: np.ndarray, docs: np.ndarray) -> np.ndarray:
        """MaxSim of ``docs`` (all with >= 1 token) over their stored tokens (compressed indexes: decompressed)."""

        def score(d: np.ndarray, shard: int) -> np.ndarray:
            lengths = self.doc_end[d] - self.doc_start[d]
            if self.nbits:
                rows = token_rows(self.global_start[d], lengths)
                vecs = decompress_residuals(
                    self.residuals[rows], self.codes[rows], self.centroids, self.bucket_values, self.nbits
                )
            else:
                vecs = np.asarray(self.tokens[shard][token_rows(self.doc_start[d], lengths)])
            sims = q @ vecs.T  # [Lq, tokens]: the product is faster this way round, the reduction along rows
            return np.maximum.reduceat(sims, np.r_[0, np.cumsum(lengths)[:-1]], axis=1).sum(0)

        return self.by_shard(docs, score)

    def by_shard(self, docs: np.ndarray, score: Any) -> np.ndarray:
        """``score(docs of one shard, shard)`` for every shard ``docs`` reach, ``threads`` shards at once (the
        scores do not depend on it), in ``docs`` order."""
        out = np.empty(len(docs), dtype=np.float32)
        shard_of = self.doc_shard[docs]

        def run(shard: int) -> None:  # each shard writes its own positions of ``out``
            here = np.nonzero(shard_of == shard)[0]
            out[here] = score(docs[here], shard)

        self.in_threads(run, np.unique(shard_of).tolist())
        return out

    def search_tokens(
        self, q: np.ndarray, k: int, nprobe: int | None = None, ncandidates: int | None = -1
    ) -> tuple[np.ndarray, np.ndarray]:
        nprobe = nprobe or self.nprobe
        ncandidates = self.ncandidates if ncandidates == -1 else ncandidates
        docs = self.candidates(q, nprobe)
        docs = docs[~self.deleted[docs]]
        if ncandidates is not None and len(docs) > ncandidates:
            approx = self.centroid_scores(q, docs)
            docs = docs[np.argpartition(-approx, ncandidates - 1)[:ncandidates]]
        scores = self.exact_scores(q, docs)
        order = np.lexsort((docs, -scores))[:k]
        return docs[order], scores[order]

    def search(self, queries: Any, k: int = 100) -> Run:
        queries = as_queries(queries)
        qids = list(queries)
        q_emb = self.encode_queries([queries[q] for q in qids])
        run: Run = {}
        with progress_bar(total=len(qids), desc="search", unit="query", disable=not self.show_progress) as bar:
            for qid, q in zip(qids, q_emb):
                idx, vals = self.search_tokens(q, k)
                run[qid] = dict(zip(self.doc_ids[idx].tolist(), vals.tolist()))
                bar.update(1)
        return run
