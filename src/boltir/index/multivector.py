"""Multi-vector (ColBERT) indexing: token embeddings in shards with document offsets, then PLAID-style
candidate generation structures: k-means centroids over a sample of token embeddings, every token's centroid
code, and per centroid the documents holding a token of it. Interrupted builds resume after the last shard."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from boltir.index.dense import new_chunks, start_build
from boltir.index.storage import IndexError_, check_shard, derived_name, read_manifest
from boltir.utils.atomic import atomic_path
from boltir.utils.progress import progress_bar
from boltir.utils.provenance import provenance

CENTROIDS_FILE = "centroids.npy"
CODES_FILE = "codes.npy"
LISTS_FILE = "centroid_docs.npz"


def default_centroids(num_tokens: int) -> int:
    """PLAID's rule of thumb: a power of two near 16 * sqrt(tokens), at most the number of tokens."""
    return max(1, min(num_tokens, 2 ** int(math.floor(math.log2(16 * math.sqrt(max(num_tokens, 1)))))))


def build_multivector_index(model: Any, tokenizer: Any, docs: str, output: str | Path, *, model_source: str,
                            batch_size: int = 32, shard_size: int = 16384, num_centroids: int | None = None,
                            train_size: int = 262_144, kmeans_iterations: int = 20, seed: int = 0,
                            overwrite: bool = False, max_shards: int | None = None,
                            show_progress: bool = True, fresh_heads: bool = False) -> dict[str, Any] | None:
    """Index ``docs`` with a ColBERT model into ``output``; None when ``max_shards`` stopped the build early."""
    from boltir.data.sources import count_docs
    from boltir.models.bi_encoders.inference import encode_multi

    output = Path(output)
    record, docs_record, writer = start_build("multivector", model, tokenizer, docs, output, model_source,
                                              shard_size, overwrite, fresh_heads)
    started = time.perf_counter()
    with progress_bar(total=count_docs(docs), desc=f"index {docs}", unit="doc", disable=not show_progress,
                      initial=writer.done_count) as bar:
        for chunk in new_chunks(docs, writer, output, shard_size, max_shards):
            if chunk is None:
                return None
            embs = encode_multi(model, tokenizer, [d.text for d in chunk], "doc", batch_size, progress=bar)
            offsets = np.concatenate([[0], np.cumsum([len(e) for e in embs])])
            tokens = np.concatenate(embs) if offsets[-1] else np.zeros((0, record["embedding_dim"]), np.float32)
            writer.add_multivector_shard(tokens, offsets, [d.doc_id for d in chunk])
    if writer.done_count == 0:
        raise IndexError_(f"{docs}: the corpus is empty; nothing to index")
    encode_seconds = time.perf_counter() - started
    stats = _write_centroids(output, writer.shards, record["embedding_dim"], num_centroids, train_size,
                             kmeans_iterations, seed)
    return writer.finish({
        "kind": "multivector", "backend": "plaid-centroids", "dim": record["embedding_dim"], "model": record,
        "docs": docs_record, "centroids": stats,
        "build": {"batch_size": batch_size, "shard_size": shard_size,
                  "encode_seconds_this_run": round(encode_seconds, 3)},
        "provenance": provenance(),
    })


def _write_centroids(output: Path, shards: list[dict[str, Any]], dim: int, num_centroids: int | None,
                     train_size: int, iterations: int, seed: int) -> dict[str, Any]:
    import faiss

    tokens = [np.load(output / s["vectors"], mmap_mode="r") for s in shards]
    total = sum(len(t) for t in tokens)
    if total == 0:
        raise IndexError_(f"{output}: the documents hold no token to index")
    k = num_centroids or default_centroids(total)
    rng = np.random.default_rng(seed)
    take = np.sort(rng.choice(total, size=min(train_size, total), replace=False))
    flat_starts = np.cumsum([0] + [len(t) for t in tokens])
    sample = np.concatenate([np.asarray(t[take[(take >= a) & (take < b)] - a])
                             for t, a, b in zip(tokens, flat_starts[:-1], flat_starts[1:])])
    if len(sample) < k:
        raise IndexError_(f"{output}: {len(sample)} sampled tokens for {k} centroids; lower num_centroids")
    km = faiss.Kmeans(dim, k, niter=iterations, seed=seed, spherical=True, verbose=False)
    km.train(np.ascontiguousarray(sample, dtype=np.float32))
    stats = assign_tokens(output, shards, km.centroids.astype(np.float32), 0)
    return {**stats, "sampled_tokens": int(len(sample))}


def assign_tokens(output: Path, shards: list[dict[str, Any]], centroids: np.ndarray, generation: int) -> dict[str, Any]:
    """Every token's nearest centroid and per centroid the documents holding one; written for ``generation``."""
    import faiss

    k, dim = centroids.shape
    tokens = [np.load(output / s["vectors"], mmap_mode="r") for s in shards]
    total = sum(len(t) for t in tokens)
    quantizer = faiss.IndexFlatIP(dim)
    quantizer.add(centroids)
    codes, doc_of_token = [], []
    doc_base = 0
    for s, t in zip(shards, tokens):
        _, c = quantizer.search(np.ascontiguousarray(t, dtype=np.float32), 1) if len(t) else (None, np.zeros((0, 1)))
        codes.append(c[:, 0].astype(np.int32))
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
    return {"num_centroids": k, "tokens": int(total), "mean_docs_per_centroid": float(len(list_docs) / k)}


def open_multivector_index(folder: str | Path) -> dict[str, Any]:
    manifest = read_manifest(folder)
    if manifest.get("kind") != "multivector":
        raise IndexError_(f"{folder}: a {manifest.get('kind')!r} index, not a multi-vector one")
    for s in manifest["shards"]:
        check_shard(Path(folder), s)
    return manifest
