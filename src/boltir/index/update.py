"""Change a complete index: add documents (encoded with the index's own model, appended as new shards, derived
structures rebuilt as a new generation), delete documents by id (tombstones the searchers skip) and compress a
multi-vector index's tokens (residuals, a new generation). New files
are written first and the manifest is swapped last, so an interrupted update leaves the old index intact and a
rerun is safe. The manifest's ``updates`` list records every change."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import numpy as np

from boltir.index.dense import _chunks
from boltir.index.storage import IndexError_, ShardedVectorWriter, derived_name, read_doc_ids, read_manifest
from boltir.utils.atomic import atomic_write_json
from boltir.utils.progress import progress_bar


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _publish(folder: Path, manifest: dict[str, Any], old_generation: int, stale: list[str]) -> None:
    atomic_write_json(folder / "manifest.json", manifest)
    (folder / "progress.json").unlink(missing_ok=True)
    for name in stale:  # the previous generation's derived files, no longer referenced
        path = folder / derived_name(name, old_generation)
        if path.exists() and derived_name(name, old_generation) != derived_name(name, manifest["generation"]):
            path.unlink()


def add_documents(index_dir: str | Path, model: Any, tokenizer: Any, docs: str, batch_size: int = 32,
                  shard_size: int = 16384, show_progress: bool = True) -> dict[str, Any]:
    """Append ``docs`` to the index in ``index_dir``; the model must have the index's weights."""
    from boltir.data.sources import load_docs
    from boltir.index.dense import check_model

    folder = Path(index_dir)
    manifest = read_manifest(folder)
    kind = manifest["kind"]
    check_model(folder, manifest["model"], model, tokenizer)
    existing = set(read_doc_ids(folder, manifest))
    writer = ShardedVectorWriter.appending(folder, manifest)
    first_new = len(writer.shards)
    added = 0
    with progress_bar(desc=f"add {docs}", unit="doc", disable=not show_progress) as bar:
        for chunk in _chunks(load_docs(docs), shard_size):
            ids = [d.doc_id for d in chunk]
            for doc_id in ids:
                if doc_id in existing:
                    raise IndexError_(f"{docs}: document {doc_id!r} is already in {folder} (delete it first to "
                                      "replace it); the index is unchanged")
                existing.add(doc_id)
            texts = [d.text for d in chunk]
            if kind == "dense":
                from boltir.index.dense import add_encoded_shard

                add_encoded_shard(writer, model, tokenizer, chunk, batch_size, progress=bar)
            elif kind == "sparse":
                from boltir.models.bi_encoders.inference import encode_sparse

                writer.add_sparse_shard(encode_sparse(model, tokenizer, texts, "doc", batch_size, progress=bar), ids)
            elif kind == "multivector":
                from boltir.models.bi_encoders.inference import encode_multi

                embs = encode_multi(model, tokenizer, texts, "doc", batch_size, progress=bar)
                offsets = np.concatenate([[0], np.cumsum([len(e) for e in embs])])
                tokens = np.concatenate(embs) if offsets[-1] else np.zeros((0, manifest["dim"]), np.float32)
                writer.add_multivector_shard(tokens, offsets, ids)
            elif kind == "coil":
                from boltir.index.coil import add_coil_shard

                add_coil_shard(writer, model, tokenizer, chunk, batch_size, bar)
            else:
                raise IndexError_(f"{folder}: cannot add documents to a {kind!r} index")
            added += len(ids)
    if not added:
        raise IndexError_(f"{docs}: no documents to add")
    old_g = manifest.get("generation", 0)
    g = old_g + 1
    new = dict(manifest, generation=g)
    if kind == "dense":
        from boltir.index.dense import FAISS_FILE, load_faiss, write_faiss_file
        from boltir.index.storage import iter_shards

        index = load_faiss(folder, manifest)
        for vecs, _ in iter_shards(folder, {"shards": writer.shards[first_new:]}):
            index.add(np.ascontiguousarray(vecs))
        write_faiss_file(folder, index, g)
        stale = [FAISS_FILE]
    elif kind == "sparse":
        from boltir.index.sparse import POSTINGS_FILES, _write_postings

        new["postings"] = _write_postings(folder, {"shards": writer.shards}, manifest["dim"], g)
        stale = list(POSTINGS_FILES)
    elif kind == "coil":
        from boltir.index.coil import POSTINGS_FILE, write_postings

        new["postings"] = write_postings(folder, writer.shards, len(tokenizer), g)
        stale = [POSTINGS_FILE]
    else:
        from boltir.index.multivector import (BUCKETS_FILE, CENTROIDS_FILE, CODES_FILE, LISTS_FILE, RESIDUALS_FILE,
                                              assign_tokens, load_buckets)

        centroids = np.load(folder / derived_name(CENTROIDS_FILE, old_g))
        buckets = load_buckets(folder, old_g) if manifest["centroids"].get("nbits") else None
        stats = assign_tokens(folder, writer.shards, centroids, g, buckets)
        new["centroids"] = {**manifest["centroids"], **stats}
        stale = [CENTROIDS_FILE, CODES_FILE, LISTS_FILE, RESIDUALS_FILE, BUCKETS_FILE]
    new["shards"], new["count"] = writer.shards, writer.done_count
    new["updates"] = manifest.get("updates", []) + [{"time": _now(), "added": added, "source": docs, "generation": g}]
    _publish(folder, new, old_g, stale)
    return new


def delete_documents(index_dir: str | Path, doc_ids: list[str]) -> dict[str, Any]:
    """Mark ``doc_ids`` deleted: searches skip them from now on. Unknown or already deleted ids are an error."""
    folder = Path(index_dir)
    manifest = read_manifest(folder)
    known = set(read_doc_ids(folder, manifest))
    deleted = set(manifest.get("deleted", []))
    for doc_id in doc_ids:
        if doc_id not in known:
            raise IndexError_(f"{folder}: no document {doc_id!r} to delete; the index is unchanged")
        if doc_id in deleted:
            raise IndexError_(f"{folder}: document {doc_id!r} is already deleted; the index is unchanged")
    new = dict(manifest, deleted=sorted(deleted | set(doc_ids)))
    new["updates"] = manifest.get("updates", []) + [{"time": _now(), "deleted": len(set(doc_ids))}]
    atomic_write_json(folder / "manifest.json", new)
    return new


def deleted_positions(manifest: dict[str, Any], doc_ids: np.ndarray) -> np.ndarray:
    """Boolean mask over index positions of the deleted documents."""
    deleted = set(manifest.get("deleted", []))
    return np.fromiter((d in deleted for d in doc_ids), dtype=bool, count=len(doc_ids))


def compress_multivector(index_dir: str | Path, nbits: int, train_size: int = 262_144, seed: int = 0) -> dict[str, Any]:
    """Add residual compression (``nbits`` per dimension) to a complete multi-vector index, keeping its
    centroids: a new generation of codes, lists, residuals and buckets, then the manifest; search uses it next."""
    from boltir.index.multivector import (BUCKETS_FILE, CENTROIDS_FILE, CODES_FILE, LISTS_FILE, NBITS, RESIDUALS_FILE,
                                          assign_tokens, open_multivector_index, residual_buckets, sample_tokens)

    folder = Path(index_dir)
    manifest = open_multivector_index(folder)
    if nbits not in NBITS or manifest["dim"] * nbits % 8:
        raise ValueError(f"nbits={nbits}: 1, 2, 4 or 8 bits per dimension, with dim * nbits a multiple of 8")
    old_g = manifest.get("generation", 0)
    g = old_g + 1
    centroids = np.load(folder / derived_name(CENTROIDS_FILE, old_g))
    buckets = residual_buckets(sample_tokens(folder, manifest["shards"], train_size, seed), centroids, nbits)
    stats = assign_tokens(folder, manifest["shards"], centroids, g, buckets)
    new = dict(manifest, generation=g, centroids={**manifest["centroids"], **stats})
    new["updates"] = manifest.get("updates", []) + [{"time": _now(), "compressed": nbits, "generation": g}]
    _publish(folder, new, old_g, [CENTROIDS_FILE, CODES_FILE, LISTS_FILE, RESIDUALS_FILE, BUCKETS_FILE])
    return new
