"""What an index consists of, and whether it is still that: every file of a generation (shard files and derived
structures) is listed in the manifest with its size and a blake2b checksum, and a large file also with a
checksum of sampled blocks. Opening an index (every search) checks every file's size, the whole checksum of every
small file (ids, offsets, small postings: at most ``SMALL_FILE`` bytes) and of the files a searcher reads whole,
and the sampled checksum of every large, memory-mapped file; ``boltir index --verify`` recomputes every checksum;
adding documents verifies the files it builds on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from boltir.errors import InvalidIndexError
from boltir.utils.provenance import file_fingerprint, sampled_fingerprint

SMALL_FILE = 4 << 20  # files up to this size are hashed whole on every open; larger ones by sampled blocks


def file_record(path: Path) -> dict[str, Any]:
    """A file's size and checksum, as a manifest records them (a large file also its sampled checksum)."""
    size = path.stat().st_size
    record: dict[str, Any] = {"bytes": size, "checksum": file_fingerprint(path)}
    if size > SMALL_FILE:
        record["sampled"] = sampled_fingerprint(path)
    return record


def dropped(shard: dict[str, Any], key: str) -> bool:
    """Whether a shard record says its ``key`` file was dropped (a compact multi-vector index drops ``vectors``)."""
    return key in shard.get("dropped", ())


def shard_files(shard: dict[str, Any]) -> list[str]:
    """The files of one shard, relative to the index folder (not those its ``dropped`` keys name: a compact
    multi-vector index removes its float token vectors once its compressed ones are written)."""
    rels = [shard[k] for k in ("vectors", "matrix", "offsets", "ids") if k in shard and not dropped(shard, k)]
    for group in ("doc_arrays", "token_arrays"):
        rels += list(shard.get(group, {}).values())
    return rels


def records(folder: Path, rels: list[str]) -> dict[str, dict[str, Any]]:
    """The records of files of a folder, by relative path."""
    return {rel: file_record(folder / rel) for rel in rels}


def index_files(folder: Path, shards: list[dict[str, Any]], derived: list[str]) -> dict[str, dict[str, Any]]:
    """Size and checksum of every file of the index: the shards' (recorded when each was written) and the
    ``derived`` files of the current generation (those that exist)."""
    out: dict[str, dict[str, Any]] = {}
    for s in shards:
        out.update(s.get("files") or records(folder, shard_files(s)))
    out.update(records(folder, [d for d in derived if (folder / d).is_file()]))
    return out


def check_sizes(folder: Path, manifest: dict[str, Any]) -> None:
    """Every listed file is there with its recorded size (indexes from before these records pass)."""
    for rel, rec in (manifest.get("files") or {}).items():
        path = folder / rel
        if not path.is_file():
            raise InvalidIndexError(f"{path}: index file missing (boltir index --verify {folder} checks them all)")
        size = path.stat().st_size
        if size != rec["bytes"]:
            raise InvalidIndexError(
                f"{path}: {size} bytes, the manifest says {rec['bytes']} (truncated or replaced; "
                f"boltir index --verify {folder} checks every file)"
            )


def check_contents(folder: Path, manifest: dict[str, Any], whole: list[str]) -> None:
    """What an open checks: every small file's whole checksum, the whole checksum of the files ``whole`` (a
    searcher reads them completely anyway), and every other large file's sampled checksum.

    Raises:
        InvalidIndexError: a file's content is not what the manifest records (naming the file).
    """
    files = manifest.get("files") or {}
    for rel, rec in files.items():
        path = folder / rel
        if rec["bytes"] <= SMALL_FILE or rel in whole:
            same = file_fingerprint(path) == rec["checksum"]
        elif "sampled" in rec:
            same = sampled_fingerprint(path) == rec["sampled"]
        else:  # a large file recorded before sampled checksums: its size was checked
            continue
        if not same:
            raise InvalidIndexError(
                f"{path}: its content differs from the manifest's checksum (modified or corrupted; "
                f"boltir index --verify {folder} checks every file)"
            )


def verify(folder: Path, manifest: dict[str, Any]) -> list[str]:
    """Problems found by recomputing every listed file's checksum (empty: the index is intact)."""
    problems = []
    files = manifest.get("files")
    if not files:
        return ["the manifest lists no file checksums (an index built before boltir 0.2): nothing to verify"]
    for rel, rec in files.items():
        path = folder / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
        elif path.stat().st_size != rec["bytes"]:
            problems.append(f"{rel}: {path.stat().st_size} bytes, expected {rec['bytes']}")
        elif file_fingerprint(path) != rec["checksum"]:
            problems.append(f"{rel}: checksum differs (the file was modified or corrupted)")
    return problems
