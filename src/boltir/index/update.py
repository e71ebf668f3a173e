"""Change a complete index: add documents (encoded with the index's own model, appended as new shards, derived
structures rebuilt as a new generation), delete documents by id (tombstones the searchers skip) and compress a
multi-vector index's tokens (residuals, a new generation). Every change holds the folder's write lock; new files
are written first and the manifest is swapped last, so an interrupted update leaves the old index intact and a
rerun is safe. The previous generation's files are kept until the next update, so a search that read the old
manifest a moment before the swap still finds its files. The manifest's ``updates`` list records every change."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from boltir.errors import InvalidIndexError
from boltir.index.lock import writer_lock
from boltir.index.storage import ShardedVectorWriter, derived_name, read_doc_ids, read_manifest
from boltir.utils.atomic import atomic_write_json
from boltir.utils.progress import progress_bar


def now() -> str:
    """The current UTC time, as an update record writes it."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


KEEP_GENERATIONS = 2  # the current one and the one before it


def publish(folder: Path, manifest: dict[str, Any], derived: list[str]) -> None:
    """Record the files of the new generation, swap the manifest in, then remove the derived files of generations
    older than the previous one (no reader can still be on its way to them)."""
    from boltir.index.integrity import index_files

    g = manifest["generation"]
    manifest["files"] = index_files(folder, manifest["shards"], [derived_name(n, g) for n in derived])
    atomic_write_json(folder / "manifest.json", manifest)
    (folder / "progress.json").unlink(missing_ok=True)
    for old in range(0, g - KEEP_GENERATIONS + 1):
        for name in derived:
            (folder / derived_name(name, old)).unlink(missing_ok=True)


def verified(folder: Path) -> dict[str, Any]:
    """The manifest of an index whose files all still have their recorded checksums (what an update builds on)."""
    from boltir.index.integrity import verify

    manifest = read_manifest(folder)
    problems = [p for p in verify(folder, manifest) if "lists no file checksums" not in p]
    if problems:
        raise InvalidIndexError(f"{folder}: cannot update a damaged index: {'; '.join(problems[:5])}")
    return manifest


def add_documents(
    index_dir: str | Path,
    model: Any,
    tokenizer: Any,
    docs: str,
    batch_size: int = 32,
    shard_size: int = 16384,
    show_progress: bool = True,
    batch_tokens: int | None = None,
) -> dict[str, Any]:
    """Append ``docs`` to the index in ``index_dir`` (any kind); the model must have the index's weights."""
    from boltir.data.sources import load_docs
    from boltir.index.build import chunks, document_encoder
    from boltir.index.kinds import Generation
    from boltir.index.open import check_model
    from boltir.registry import get_index_kind

    folder = Path(index_dir)
    with writer_lock(folder, "add documents"):
        manifest = verified(folder)
        kind = get_index_kind(manifest["kind"]).impl()
        check_model(folder, manifest["model"], model, tokenizer)
        existing = set(read_doc_ids(folder, manifest))
        writer = ShardedVectorWriter.appending(folder, manifest)
        first_new = len(writer.shards)
        added = 0
        with progress_bar(desc=f"add {docs}", unit="doc", disable=not show_progress) as bar:
            for chunk in chunks(load_docs(docs), shard_size):
                for doc in chunk:
                    if doc.doc_id in existing:
                        raise InvalidIndexError(
                            f"{docs}: document {doc.doc_id!r} is already in {folder} (delete it "
                            "first to replace it); the index is unchanged"
                        )
                    existing.add(doc.doc_id)
                encode = document_encoder(model, tokenizer, batch_size, bar, batch_tokens=batch_tokens)
                kind.encode_shard(writer, model, chunk, encode)
                added += len(chunk)
        if not added:
            raise InvalidIndexError(f"{docs}: no documents to add")
        g = manifest.get("generation", 0) + 1
        fields = kind.extend_derived(Generation(folder, writer.shards, g, len(tokenizer)), manifest, first_new)
        new = {**manifest, **fields, "generation": g, "shards": writer.shards, "count": writer.done_count}
        update = {"time": now(), "added": added, "source": docs, "generation": g}
        new["updates"] = manifest.get("updates", []) + [update]
        publish(folder, new, list(kind.derived_files))
        kind.published(folder, new)
    return new


def delete_documents(index_dir: str | Path, doc_ids: list[str]) -> dict[str, Any]:
    """Mark ``doc_ids`` deleted: searches skip them from now on. Unknown or already deleted ids are an error."""
    folder = Path(index_dir)
    with writer_lock(folder, "delete documents"):
        manifest = read_manifest(folder)
        known = set(read_doc_ids(folder, manifest))
        deleted = set(manifest.get("deleted", []))
        for doc_id in doc_ids:
            if doc_id not in known:
                raise InvalidIndexError(f"{folder}: no document {doc_id!r} to delete; the index is unchanged")
            if doc_id in deleted:
                raise InvalidIndexError(f"{folder}: document {doc_id!r} is already deleted; the index is unchanged")
        new = dict(manifest, deleted=sorted(deleted | set(doc_ids)))
        new["updates"] = manifest.get("updates", []) + [{"time": now(), "deleted": len(set(doc_ids))}]
        atomic_write_json(folder / "manifest.json", new)
    return new
