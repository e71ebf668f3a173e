"""Multi-vector (ColBERT) indexing: token embeddings in shards with document offsets, then PLAID-style
candidate generation structures: k-means centroids over a sample of token embeddings, every token's centroid
code, and per centroid the documents holding a token of it. Optionally (``nbits``) ColBERTv2-style residual
compression: each token is stored for search as its centroid code plus its residual quantised to ``nbits`` per
dimension (bucket cut-offs at quantiles of sampled residuals), ``dim * nbits / 8`` bytes instead of ``4 * dim``;
the float shards stay as the source for resuming and adding documents. Interrupted builds resume after the last
shard.

Multi-vector (ColBERT) search in the PLAID style: each query token probes its ``nprobe`` nearest centroids;
the documents listed under them are the candidates; optionally only the ``ncandidates`` best by centroid
interaction (MaxSim with every document token replaced by its centroid) go on; those are scored by MaxSim over
their stored token embeddings (exact), or over tokens decompressed from centroid + quantised residual when the
index was built with ``nbits``. ``nprobe`` = all centroids and ``ncandidates`` = None is exhaustive search."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from boltir.data.records import Doc
from boltir.data.runs import Run
from boltir.errors import ConfigError, InvalidIndexError
from boltir.index.integrity import dropped
from boltir.index.kinds import Generation, IndexKindBase
from boltir.index.maxsim_kernel import centroid_maxsim
from boltir.index.searcher import IndexSearcher, check_threads
from boltir.index.storage import derived_name
from boltir.models.scoring import RerankJob, encode_candidates_once
from boltir.pipeline import as_queries
from boltir.utils.atomic import atomic_open
from boltir.utils.progress import progress_bar

CENTROIDS_FILE = "centroids.npy"
CODES_FILE = "codes.npy"
LISTS_FILE = "centroid_docs.npz"
RESIDUALS_FILE = "residuals.npy"
BUCKETS_FILE = "buckets.npz"
NBITS = (1, 2, 4, 8)


def fit_buckets(residuals: np.ndarray, nbits: int) -> tuple[np.ndarray, np.ndarray]:
    """``(cut-offs [2**nbits - 1], bucket values [2**nbits])`` at equal-mass quantiles of residual values."""
    n = 2**nbits
    flat = np.asarray(residuals, dtype=np.float32).ravel()
    return (
        np.quantile(flat, np.arange(1, n) / n).astype(np.float32),
        np.quantile(flat, (np.arange(n) + 0.5) / n).astype(np.float32),
    )


def compress_residuals(
    tokens: np.ndarray, codes: np.ndarray, centroids: np.ndarray, cutoffs: np.ndarray, nbits: int
) -> np.ndarray:
    """Bucket ids of ``tokens - centroids[codes]`` packed ``8 // nbits`` per byte: uint8 [tokens, dim * nbits / 8]."""
    buckets = np.searchsorted(cutoffs, np.asarray(tokens, np.float32) - centroids[codes]).astype(np.uint8)
    per_byte = 8 // nbits
    grouped = buckets.reshape(len(buckets), -1, per_byte)
    shifts = (np.arange(per_byte, dtype=np.uint8) * nbits).astype(np.uint8)
    return np.bitwise_or.reduce(grouped << shifts, axis=2).astype(np.uint8)


def decompress_residuals(
    packed: np.ndarray, codes: np.ndarray, centroids: np.ndarray, values: np.ndarray, nbits: int
) -> np.ndarray:
    """Approximate token embeddings [tokens, dim]: centroid + bucket values, L2-normalised as the model's are.
    Each byte maps to its ``8 // nbits`` bucket values through a 256-row lookup table (one gather per byte)."""
    per_byte = 8 // nbits
    table = values[(np.arange(256)[:, None] >> (np.arange(per_byte) * nbits)) & (2**nbits - 1)].astype(np.float32)
    vecs = np.take(table, packed, axis=0).reshape(len(packed), -1)
    vecs += np.take(centroids, codes, axis=0)
    vecs *= (1.0 / np.sqrt(np.maximum(np.einsum("ij,ij->i", vecs, vecs), 1e-24)))[:, None]
    return vecs


def default_centroids(num_tokens: int) -> int:
    """PLAID's rule of thumb: a power of two near 16 * sqrt(tokens), at most the number of tokens."""
    return max(1, min(num_tokens, 2 ** int(math.floor(math.log2(16 * math.sqrt(max(num_tokens, 1)))))))


class MultiVectorKind(IndexKindBase):
    """Token shards with document offsets, then k-means centroids, every token's centroid code and per centroid
    the documents holding a token of it; ``nbits`` (1, 2, 4 or 8) adds residual compression, which search then
    uses instead of the float tokens. With ``keep_vectors=False`` (compressed indexes only) the float token
    vectors are removed once the compressed ones are written: the folder shrinks to what search reads (about
    ``dim * nbits / 8 + 4`` bytes a token instead of ``4 * dim`` more), and the index can no longer be exported
    to an engine or compressed again."""

    name = "multivector"
    empty_documents = "they keep only the special tokens' vectors, so search can still return them"
    options = {
        "num_centroids": None,
        "train_size": 262_144,
        "kmeans_iterations": 20,
        "seed": 0,
        "nbits": None,
        "keep_vectors": True,
    }
    derived_files = (CENTROIDS_FILE, CODES_FILE, LISTS_FILE, RESIDUALS_FILE, BUCKETS_FILE)
    read_whole = derived_files

    def searcher_class(self) -> type:
        return MultiVectorSearcher

    def rerank(self, job: RerankJob) -> Run:
        return rerank_multivector(job)

    def check_options(self, model: Any, options: dict[str, Any]) -> dict[str, Any]:
        options = super().check_options(model, options)
        nbits = options["nbits"]
        if nbits is not None and nbits not in NBITS:
            raise ConfigError(f"nbits={nbits}: residual compression uses 1, 2, 4 or 8 bits per dimension")
        if nbits is not None and model.config.embedding_dim * nbits % 8:
            raise ConfigError(f"nbits={nbits} packs whole bytes only when embedding_dim * nbits is a multiple of 8")
        if not options["keep_vectors"] and nbits is None:
            raise ConfigError(
                "keep_vectors=false needs nbits: without compressed residuals search scores the float token vectors"
            )
        return options

    def encode_shard(self, writer: Any, model: Any, chunk: list[Doc], encode: Callable[[list[str]], Any]) -> None:
        embs = encode([d.text for d in chunk])
        offsets = np.concatenate([[0], np.cumsum([len(e) for e in embs])])
        tokens = np.concatenate(embs) if offsets[-1] else np.zeros((0, model.config.embedding_dim), np.float32)
        writer.add_multivector_shard(tokens, offsets, [d.doc_id for d in chunk])

    def write_derived(self, g: Generation, record: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
        import faiss

        o = options
        sample = sample_tokens(g.folder, g.shards, o["train_size"], o["seed"])
        k = o["num_centroids"] or default_centroids(sum(s["tokens"] for s in g.shards))
        if len(sample) < k:
            raise InvalidIndexError(f"{g.folder}: {len(sample)} sampled tokens for {k} centroids; lower num_centroids")
        km = faiss.Kmeans(
            record["embedding_dim"], k, niter=o["kmeans_iterations"], seed=o["seed"], spherical=True, verbose=False
        )
        km.train(sample)
        centroids = np.asarray(km.centroids, dtype=np.float32)
        buckets = residual_buckets(sample, centroids, o["nbits"]) if o["nbits"] is not None else None
        stats = assign_tokens(g.folder, g.shards, centroids, g.number, buckets)
        if not o["keep_vectors"]:
            stats["keep_vectors"] = False
            drop_vectors(g.shards)
        return {
            "backend": "plaid-centroids",
            "dim": record["embedding_dim"],
            "centroids": {**stats, "sampled_tokens": int(len(sample))},
        }

    def extend_derived(self, g: Generation, manifest: dict[str, Any], first_new: int) -> dict[str, Any]:
        """New documents use the index's own centroids (and residual buckets when compressed); the tokens already
        indexed keep their codes and residuals (the same centroids give them again), so their float vectors are
        not read."""
        old = manifest.get("generation", 0)
        centroids = np.load(g.folder / derived_name(CENTROIDS_FILE, old))
        buckets = load_buckets(g.folder, old) if manifest["centroids"].get("nbits") else None
        known = (
            np.load(g.folder / derived_name(CODES_FILE, old)),
            np.load(g.folder / derived_name(RESIDUALS_FILE, old)) if buckets is not None else None,
        )
        stats = assign_tokens(g.folder, g.shards, centroids, g.number, buckets, known, first_new)
        if not manifest["centroids"].get("keep_vectors", True):
            drop_vectors(g.shards[first_new:])
        return {"centroids": {**manifest["centroids"], **stats}}


def drop_vectors(shards: list[dict[str, Any]]) -> None:
    """Mark the float token vectors of ``shards`` dropped: no longer listed among the index's files, removed once
    the manifest that says so is in place (:meth:`IndexKindBase.published`)."""
    for s in shards:
        s["dropped"] = ["vectors"]
        (s.get("files") or {}).pop(s["vectors"], None)


def has_vectors(manifest: dict[str, Any]) -> bool:
    """Whether a multi-vector index keeps its float token vectors (built without ``keep_vectors=False``)."""
    return not any(dropped(s, "vectors") for s in manifest["shards"])


def sample_tokens(output: Path, shards: list[dict[str, Any]], size: int, seed: int) -> np.ndarray:
    """Up to ``size`` token embeddings drawn uniformly from all shards (float32, in index order)."""
    tokens = [np.load(output / s["vectors"], mmap_mode="r") for s in shards]
    total = sum(len(t) for t in tokens)
    if total == 0:
        raise InvalidIndexError(f"{output}: the documents hold no token to index")
    take = np.sort(np.random.default_rng(seed).choice(total, size=min(size, total), replace=False))
    starts = np.cumsum([0] + [len(t) for t in tokens])
    return np.ascontiguousarray(
        np.concatenate(
            [np.asarray(t[take[(take >= a) & (take < b)] - a]) for t, a, b in zip(tokens, starts[:-1], starts[1:])]
        ),
        np.float32,
    )


def residual_buckets(sample: np.ndarray, centroids: np.ndarray, nbits: int) -> tuple[int, np.ndarray, np.ndarray]:
    """``(nbits, cut-offs, values)`` fitted to the residuals of ``sample`` from their nearest centroids."""
    import faiss

    quantizer = faiss.IndexFlatIP(centroids.shape[1])
    quantizer.add(centroids)
    _, nearest = quantizer.search(sample, 1)
    return (nbits, *fit_buckets(sample - centroids[nearest[:, 0]], nbits))


def assign_tokens(
    output: Path,
    shards: list[dict[str, Any]],
    centroids: np.ndarray,
    generation: int,
    buckets: tuple[int, np.ndarray, np.ndarray] | None = None,
    known: tuple[np.ndarray, np.ndarray | None] | None = None,
    first_new: int = 0,
) -> dict[str, Any]:
    """Every token's nearest centroid and per centroid the documents holding one; with ``buckets`` =
    ``(nbits, cut-offs, values)`` also the compressed residuals; written for ``generation``. ``known`` = the
    (codes, residuals) of the tokens of ``shards[:first_new]``, taken as they are instead of from their vectors."""
    import faiss

    k, dim = centroids.shape
    quantizer = faiss.IndexFlatIP(dim)
    quantizer.add(centroids)
    codes, doc_of_token, residuals = [], [], []
    doc_base = total = 0
    for i, s in enumerate(shards):
        if i < first_new and known is not None:
            codes.append(known[0][total : total + s["tokens"]])
            if buckets is not None and known[1] is not None:
                residuals.append(known[1][total : total + s["tokens"]])
            total += s["tokens"]
        else:
            t = np.load(output / s["vectors"], mmap_mode="r")
            total += len(t)
            _, c = (
                quantizer.search(np.ascontiguousarray(t, dtype=np.float32), 1) if len(t) else (None, np.zeros((0, 1)))
            )
            codes.append(c[:, 0].astype(np.int32))
            if buckets is not None:
                residuals.append(compress_residuals(t, codes[-1], centroids, buckets[1], buckets[0]))
        offsets = np.load(output / s["offsets"])
        doc_of_token.append(doc_base + np.repeat(np.arange(s["count"]), np.diff(offsets)))
        doc_base += s["count"]
    codes_all, docs_all = np.concatenate(codes), np.concatenate(doc_of_token)
    pairs = np.unique(codes_all.astype(np.int64) * doc_base + docs_all)  # (centroid, doc) once each, sorted
    list_docs = (pairs % doc_base).astype(np.int32)
    indptr = np.searchsorted(pairs // doc_base, np.arange(k + 1)).astype(np.int64)
    for name, arr in ((CENTROIDS_FILE, centroids), (CODES_FILE, codes_all)):
        with atomic_open(output / derived_name(name, generation), "wb") as f:
            np.save(f, arr)
    with atomic_open(output / derived_name(LISTS_FILE, generation), "wb") as f:
        np.savez(f, indptr=indptr, docs=list_docs)
    stats = {"num_centroids": k, "tokens": int(total), "mean_docs_per_centroid": float(len(list_docs) / k)}
    if buckets is not None:
        nbits, cutoffs, values = buckets
        with atomic_open(output / derived_name(RESIDUALS_FILE, generation), "wb") as f:
            np.save(f, np.concatenate(residuals) if residuals else np.zeros((0, dim * nbits // 8), np.uint8))
        with atomic_open(output / derived_name(BUCKETS_FILE, generation), "wb") as f:
            np.savez(f, nbits=nbits, cutoffs=cutoffs, values=values)
        stats["nbits"] = nbits
    return stats


def load_buckets(folder: Path, generation: int) -> tuple[int, np.ndarray, np.ndarray]:
    """``(nbits, cut-offs, values)`` of a compressed multi-vector index generation."""
    with np.load(folder / derived_name(BUCKETS_FILE, generation)) as z:
        return int(z["nbits"]), z["cutoffs"], z["values"]


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
        self.tokens: list[np.ndarray | None] = []  # None: dropped (keep_vectors=False; search reads residuals)
        starts, ends, shard_of = [], [], []
        for i, s in enumerate(self.manifest["shards"]):
            no_vectors = dropped(s, "vectors")  # compressed indexes built with keep_vectors=False
            self.tokens.append(None if no_vectors else np.load(self.index_dir / s["vectors"], mmap_mode="r"))
            off = np.load(self.index_dir / s["offsets"])
            starts.append(off[:-1])
            ends.append(off[1:])
            shard_of.append(np.full(s["count"], i))
        self.doc_start, self.doc_end = np.concatenate(starts), np.concatenate(ends)
        self.doc_shard = np.concatenate(shard_of)
        shard_base = np.cumsum([0] + [s["tokens"] for s in self.manifest["shards"]])[:-1]
        self.global_start = shard_base[self.doc_shard] + self.doc_start  # into the concatenated codes

    def candidates(self, q: np.ndarray, nprobe: int) -> np.ndarray:
        """The documents holding a token of one of the ``nprobe`` centroids nearest each query token."""
        sims = q @ self.centroids.T
        nprobe = min(nprobe, sims.shape[1])
        probe = np.unique(np.argpartition(-sims, nprobe - 1, axis=1)[:, :nprobe])
        return np.unique(np.concatenate([self.list_docs[self.list_ptr[c] : self.list_ptr[c + 1]] for c in probe]))

    def centroid_scores(self, q: np.ndarray, docs: np.ndarray) -> np.ndarray:
        """MaxSim with each document token replaced by its centroid, for ``docs`` (all with >= 1 token)."""
        sims = np.ascontiguousarray(self.centroids @ q.T)  # [C, Lq]: a token's row is its centroid's

        def score(d: np.ndarray, shard: int) -> np.ndarray:
            lengths = self.doc_end[d] - self.doc_start[d]
            compiled = centroid_maxsim(sims, self.codes, self.global_start[d], lengths)
            if compiled is not None:  # the same scores, bit for bit, without gathering a row per token
                return compiled
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
                tokens = self.tokens[shard]
                assert tokens is not None  # an index without float tokens is compressed (check_options)
                vecs = np.asarray(tokens[token_rows(self.doc_start[d], lengths)])
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
        """The top ``k`` (document positions, MaxSim scores) of one query's token vectors ``q`` [Lq, dim].

        ``nprobe`` / ``ncandidates``: this call's probe count and centroid-interaction cut (-1: the searcher's own).
        """
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


def rerank_multivector(job: RerankJob) -> Run:
    """Multi-vector (ColBERT) bi-encoders: MaxSim, per query one matrix product over its candidates' tokens and
    one segmented max (a document without tokens scores 0)."""
    position, d_emb, qids, q_emb = encode_candidates_once(job)
    lengths = np.array([len(e) for e in d_emb])
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    tokens = np.concatenate(d_emb) if lengths.sum() else np.zeros((0, job.model.config.embedding_dim), np.float32)
    out = {}
    for q, qe in zip(qids, q_emb):
        cand = np.array([position[d] for d in job.lists[q]], dtype=np.int64)
        scores = np.zeros(len(cand), dtype=np.float64)
        has = lengths[cand] > 0
        if has.any():
            c, n = cand[has], lengths[cand[has]]
            rows = np.repeat(starts[c] - np.cumsum(np.r_[0, n[:-1]]), n) + np.arange(n.sum())
            scores[has] = np.maximum.reduceat(qe @ tokens[rows].T, np.r_[0, np.cumsum(n)[:-1]], axis=1).sum(0)
        out[q] = dict(zip(job.lists[q], scores.tolist()))
    return out


def compress_multivector(index_dir: str | Path, nbits: int, train_size: int = 262_144, seed: int = 0) -> dict[str, Any]:
    """Add residual compression (``nbits`` per dimension) to a complete multi-vector index, keeping its
    centroids: a new generation of codes, lists, residuals and buckets, then the manifest; search uses it next."""
    from boltir.index.lock import writer_lock
    from boltir.index.open import open_index
    from boltir.index.update import now, publish, verified

    folder = Path(index_dir)
    with writer_lock(folder, "compress"):
        manifest = open_index(folder, "multivector", check_shards=True)
        verified(folder)
        if not has_vectors(manifest):
            raise ConfigError(
                f"{folder}: built with keep_vectors=false, it keeps no float token vectors to compress again; "
                "rebuild it with the nbits wanted"
            )
        if nbits not in NBITS or manifest["dim"] * nbits % 8:
            raise ConfigError(f"nbits={nbits}: 1, 2, 4 or 8 bits per dimension, with dim * nbits a multiple of 8")
        old_g = manifest.get("generation", 0)
        g = old_g + 1
        centroids = np.load(folder / derived_name(CENTROIDS_FILE, old_g))
        buckets = residual_buckets(sample_tokens(folder, manifest["shards"], train_size, seed), centroids, nbits)
        stats = assign_tokens(folder, manifest["shards"], centroids, g, buckets)
        new = dict(manifest, generation=g, centroids={**manifest["centroids"], **stats})
        new["updates"] = manifest.get("updates", []) + [{"time": now(), "compressed": nbits, "generation": g}]
        publish(folder, new, list(MultiVectorKind.derived_files))
    return new
