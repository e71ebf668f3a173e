"""What an index consists of, and whether it is still that: every file of a generation (shard files and derived
structures) is listed in the manifest with its size and a blake2b checksum. Opening an index compares sizes
(cheap, catches truncated and replaced files); ``boltir index --verify`` recomputes every checksum; adding
documents verifies the files it builds on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from boltir.errors import InvalidIndexError
from boltir.utils.provenance import file_fingerprint


def file_record(path: Path) -> dict[str, Any]:
    """A file's size and checksum, as a manifest records them."""
    return {"bytes": path.stat().st_size, "checksum": file_fingerprint(path)}


def shard_files(shard: dict[str, Any]) -> list[str]:
    """The files of one shard, relative to the index folder."""
    rels = [shard[k] for k in ("vectors", "matrix", "offsets", "ids") if k in shard]
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


def check_checksums(folder: Path, manifest: dict[str, Any], rels: list[str]) -> None:
    """The files ``rels`` (those a searcher reads whole anyway) still have their recorded checksums."""
    files = manifest.get("files") or {}
    for rel in rels:
        if rel in files and file_fingerprint(folder / rel) != files[rel]["checksum"]:
            raise InvalidIndexError(
                f"{folder / rel}: its checksum differs from the manifest's (modified or "
                f"corrupted; boltir index --verify {folder} checks every file)"
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
