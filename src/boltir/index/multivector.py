"""Multi-vector (ColBERT) indexing: token embeddings in shards with document offsets, then PLAID-style
candidate generation structures: k-means centroids over a sample of token embeddings, every token's centroid
code, and per centroid the documents holding a token of it. Optionally (``nbits``) ColBERTv2-style residual
compression: each token is stored for search as its centroid code plus its residual quantised to ``nbits`` per
dimension (bucket cut-offs at quantiles of sampled residuals), ``dim * nbits / 8`` bytes instead of ``4 * dim``;
the float shards stay as the source for resuming and adding documents. Interrupted builds resume after the last
shard."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from boltir.index.dense import encode_shards, start_build
from boltir.index.storage import IndexError_, derived_name, open_index_of_kind
from boltir.utils.atomic import atomic_path
from boltir.utils.provenance import provenance

CENTROIDS_FILE = "centroids.npy"
CODES_FILE = "codes.npy"
LISTS_FILE = "centroid_docs.npz"
RESIDUALS_FILE = "residuals.npy"
BUCKETS_FILE = "buckets.npz"
NBITS = (1, 2, 4, 8)


def fit_buckets(residuals: np.ndarray, nbits: int) -> tuple[np.ndarray, np.ndarray]:
    """``(cut-offs [2**nbits - 1], bucket values [2**nbits])`` at equal-mass quantiles of residual values."""
    n = 2 ** nbits
    flat = np.asarray(residuals, dtype=np.float32).ravel()
    return (np.quantile(flat, np.arange(1, n) / n).astype(np.float32),
            np.quantile(flat, (np.arange(n) + 0.5) / n).astype(np.float32))


def compress_residuals(tokens: np.ndarray, codes: np.ndarray, centroids: np.ndarray, cutoffs: np.ndarray,
                       nbits: int) -> np.ndarray:
    """Bucket ids of ``tokens - centroids[codes]`` packed ``8 // nbits`` per byte: uint8 [tokens, dim * nbits / 8]."""
    buckets = np.searchsorted(cutoffs, np.asarray(tokens, np.float32) - centroids[codes]).astype(np.uint8)
    per_byte = 8 // nbits
    grouped = buckets.reshape(len(buckets), -1, per_byte)
    shifts = (np.arange(per_byte, dtype=np.uint8) * nbits).astype(np.uint8)
    return np.bitwise_or.reduce(grouped << shifts, axis=2).astype(np.uint8)


def decompress_residuals(packed: np.ndarray, codes: np.ndarray, centroids: np.ndarray, values: np.ndarray,
                         nbits: int) -> np.ndarray:
    """Approximate token embeddings [tokens, dim]: centroid + bucket values, L2-normalised as the model's are.
    Each byte maps to its ``8 // nbits`` bucket values through a 256-row lookup table (one gather per byte)."""
    per_byte = 8 // nbits
    table = values[(np.arange(256)[:, None] >> (np.arange(per_byte) * nbits)) & (2 ** nbits - 1)].astype(np.float32)
    vecs = np.take(table, packed, axis=0).reshape(len(packed), -1)
    vecs += np.take(centroids, codes, axis=0)
    vecs *= (1.0 / np.sqrt(np.maximum(np.einsum("ij,ij->i", vecs, vecs), 1e-24)))[:, None]
    return vecs


def default_centroids(num_tokens: int) -> int:
    """PLAID's rule of thumb: a power of two near 16 * sqrt(tokens), at most the number of tokens."""
    return max(1, min(num_tokens, 2 ** int(math.floor(math.log2(16 * math.sqrt(max(num_tokens, 1)))))))


def build_multivector_index(model: Any, tokenizer: Any, docs: str, output: str | Path, *, model_source: str,
                            batch_size: int = 32, shard_size: int = 16384, num_centroids: int | None = None,
                            train_size: int = 262_144, kmeans_iterations: int = 20, seed: int = 0,
                            nbits: int | None = None, overwrite: bool = False, max_shards: int | None = None,
                            show_progress: bool = True, fresh_heads: bool = False) -> dict[str, Any] | None:
    """Index ``docs`` with a ColBERT model into ``output``; None when ``max_shards`` stopped the build early.
    ``nbits`` (1, 2, 4 or 8) adds residual compression, which search then uses instead of the float tokens."""
    if nbits is not None and nbits not in NBITS:
        raise ValueError(f"nbits={nbits}: residual compression uses 1, 2, 4 or 8 bits per dimension")
    from boltir.models.bi_encoders.inference import encode_multi

    output = Path(output)
    record, docs_record, writer = start_build("multivector", model, tokenizer, docs, output, model_source,
                                              shard_size, overwrite, fresh_heads)

    def add_chunk(chunk, bar):
        embs = encode_multi(model, tokenizer, [d.text for d in chunk], "doc", batch_size, progress=bar)
        offsets = np.concatenate([[0], np.cumsum([len(e) for e in embs])])
        tokens = np.concatenate(embs) if offsets[-1] else np.zeros((0, record["embedding_dim"]), np.float32)
        writer.add_multivector_shard(tokens, offsets, [d.doc_id for d in chunk])

    encode_seconds = encode_shards(writer, docs, output, shard_size, max_shards, show_progress, add_chunk)
    if encode_seconds is None:
        return None
    if nbits is not None and record["embedding_dim"] * nbits % 8:
        raise ValueError(f"nbits={nbits} packs whole bytes only when embedding_dim * nbits is a multiple of 8")
    stats = _write_centroids(output, writer.shards, record["embedding_dim"], num_centroids, train_size,
                             kmeans_iterations, seed, nbits)
    return writer.finish({
        "kind": "multivector", "backend": "plaid-centroids", "dim": record["embedding_dim"], "model": record,
        "docs": docs_record, "centroids": stats,
        "build": {"batch_size": batch_size, "shard_size": shard_size,
                  "encode_seconds_this_run": round(encode_seconds, 3)},
        "provenance": provenance(),
    })


def sample_tokens(output: Path, shards: list[dict[str, Any]], size: int, seed: int) -> np.ndarray:
    """Up to ``size`` token embeddings drawn uniformly from all shards (float32, in index order)."""
    tokens = [np.load(output / s["vectors"], mmap_mode="r") for s in shards]
    total = sum(len(t) for t in tokens)
    if total == 0:
        raise IndexError_(f"{output}: the documents hold no token to index")
    take = np.sort(np.random.default_rng(seed).choice(total, size=min(size, total), replace=False))
    starts = np.cumsum([0] + [len(t) for t in tokens])
    return np.ascontiguousarray(np.concatenate([np.asarray(t[take[(take >= a) & (take < b)] - a])
                                                for t, a, b in zip(tokens, starts[:-1], starts[1:])]), np.float32)


def residual_buckets(sample: np.ndarray, centroids: np.ndarray, nbits: int) -> tuple[int, np.ndarray, np.ndarray]:
    """``(nbits, cut-offs, values)`` fitted to the residuals of ``sample`` from their nearest centroids."""
    import faiss

    quantizer = faiss.IndexFlatIP(centroids.shape[1])
    quantizer.add(centroids)
    _, nearest = quantizer.search(sample, 1)
    return (nbits, *fit_buckets(sample - centroids[nearest[:, 0]], nbits))


def _write_centroids(output: Path, shards: list[dict[str, Any]], dim: int, num_centroids: int | None,
                     train_size: int, iterations: int, seed: int, nbits: int | None) -> dict[str, Any]:
    import faiss

    sample = sample_tokens(output, shards, train_size, seed)
    k = num_centroids or default_centroids(sum(s["tokens"] for s in shards))
    if len(sample) < k:
        raise IndexError_(f"{output}: {len(sample)} sampled tokens for {k} centroids; lower num_centroids")
    km = faiss.Kmeans(dim, k, niter=iterations, seed=seed, spherical=True, verbose=False)
    km.train(sample)
    centroids = km.centroids.astype(np.float32)
    buckets = residual_buckets(sample, centroids, nbits) if nbits is not None else None
    stats = assign_tokens(output, shards, centroids, 0, buckets)
    return {**stats, "sampled_tokens": int(len(sample))}


def assign_tokens(output: Path, shards: list[dict[str, Any]], centroids: np.ndarray, generation: int,
                  buckets: tuple[int, np.ndarray, np.ndarray] | None = None) -> dict[str, Any]:
    """Every token's nearest centroid and per centroid the documents holding one; with ``buckets`` =
    ``(nbits, cut-offs, values)`` also the compressed residuals; written for ``generation``."""
    import faiss

    k, dim = centroids.shape
    tokens = [np.load(output / s["vectors"], mmap_mode="r") for s in shards]
    total = sum(len(t) for t in tokens)
    quantizer = faiss.IndexFlatIP(dim)
    quantizer.add(centroids)
    codes, doc_of_token, residuals = [], [], []
    doc_base = 0
    for s, t in zip(shards, tokens):
        _, c = quantizer.search(np.ascontiguousarray(t, dtype=np.float32), 1) if len(t) else (None, np.zeros((0, 1)))
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
        with atomic_path(output / derived_name(name, generation)) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, arr)
    with atomic_path(output / derived_name(LISTS_FILE, generation)) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, indptr=indptr, docs=list_docs)
    stats = {"num_centroids": k, "tokens": int(total), "mean_docs_per_centroid": float(len(list_docs) / k)}
    if buckets is not None:
        nbits, cutoffs, values = buckets
        with atomic_path(output / derived_name(RESIDUALS_FILE, generation)) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, np.concatenate(residuals) if residuals else np.zeros((0, dim * nbits // 8), np.uint8))
        with atomic_path(output / derived_name(BUCKETS_FILE, generation)) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, nbits=nbits, cutoffs=cutoffs, values=values)
        stats["nbits"] = nbits
    return stats


def load_buckets(folder: Path, generation: int) -> tuple[int, np.ndarray, np.ndarray]:
    """``(nbits, cut-offs, values)`` of a compressed multi-vector index generation."""
    with np.load(folder / derived_name(BUCKETS_FILE, generation)) as z:
        return int(z["nbits"]), z["cutoffs"], z["values"]


def open_multivector_index(folder: str | Path) -> dict[str, Any]:
    return open_index_of_kind(folder, "multivector", check_shards=True)
