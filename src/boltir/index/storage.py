"""Sharded vector storage: ``shards/vectors-NNNNN.npy`` + ``shards/ids-NNNNN.txt``, a ``progress.json`` while
building and a ``manifest.json`` once complete. Every file is written atomically, shard by shard, so an
interrupted build leaves only whole shards behind and resumes after the last one."""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from boltir.errors import InvalidIndexError
from boltir.index.integrity import dropped
from boltir.index.lock import LOCK_FILE
from boltir.utils.atomic import atomic_open, atomic_write_json

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PROGRESS = "progress.json"


def derived_name(name: str, generation: int) -> str:
    """File name of a derived structure (FAISS index, postings, centroids) for an index generation: updates write
    a new generation beside the old one, then swap the manifest, so a crash never leaves them inconsistent."""
    if not generation:
        return name
    stem, dot, ext = name.partition(".")
    return f"{stem}.g{generation}{dot}{ext}"


def _delay_hook(rank: int) -> None:
    """Test hook: ``BOLTIR_TEST_DELAY="RANK:SECONDS"`` makes rank RANK report its shards late (a slow or busy
    node), so the tests can check that the merge waits for it."""
    import os
    import time

    spec = os.environ.get("BOLTIR_TEST_DELAY")
    if spec:
        who, seconds = spec.split(":")
        if int(who) == rank:
            time.sleep(float(seconds))


def rank_progress(rank: int, world: int) -> str:
    """The progress file of one rank of a ``world``-process build (one process: the plain progress file)."""
    return PROGRESS if world == 1 else f"progress-rank{rank}-of-{world}.json"


class ShardedVectorWriter:
    """Append whole shards of vectors to an index folder, resuming a build that stopped part-way. In a build of
    ``world`` processes each rank writes its own shards (shard ``i`` belongs to rank ``i % world``) and keeps its
    own progress file; :meth:`merge_ranks` puts their shards together in order."""

    def __init__(
        self, folder: str | Path, build_config: dict[str, Any], overwrite: bool = False, rank: int = 0, world: int = 1
    ):
        self.folder = Path(folder)
        self.build_config = build_config
        self.rank, self.world = rank, world
        self.next_index: int | None = None  # the shard number the next add_* writes (None: the next in order)
        if (self.folder / MANIFEST).exists() and not overwrite:
            raise InvalidIndexError(f"{self.folder} already holds a complete index; pass overwrite to rebuild it")
        progress_file = self.folder / rank_progress(rank, world)
        self.shards: list[dict[str, Any]] = []
        self.pending_empty = 0  # documents with empty text in the shard being written (recorded with it)
        if overwrite and rank == 0 and self.folder.exists():
            for entry in self.folder.iterdir():  # the writer's lock file stays: it is held while this runs
                if entry.name != LOCK_FILE:
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        if progress_file.exists():
            progress = json.loads(progress_file.read_text())
            if progress.get("build_config") != build_config:
                diff = sorted(
                    k
                    for k in set(build_config) | set(progress.get("build_config", {}))
                    if build_config.get(k) != progress.get("build_config", {}).get(k)
                )
                raise InvalidIndexError(
                    f"{self.folder} holds a partial build with different settings ({', '.join(diff)}); "
                    "pass overwrite to start again"
                )
            self.shards = progress["shards"]
            for s in self.shards:
                check_shard(self.folder, s)
        (self.folder / "shards").mkdir(parents=True, exist_ok=True)

    @property
    def done_indices(self) -> set[int]:
        """The shard numbers this writer has written (older progress files number them by position)."""
        return {s.get("index", i) for i, s in enumerate(self.shards)}

    def finish_rank(self) -> None:
        """This rank has written every shard it owns: say so in its progress file (written atomically, also when
        the rank owned no shard), which rank 0 waits for before merging."""
        _delay_hook(self.rank)
        progress = {"build_config": self.build_config, "shards": self.shards, "finished": True}
        atomic_write_json(self.folder / rank_progress(self.rank, self.world), progress)

    def merge_ranks(self, timeout: float = 600.0) -> None:
        """Rank 0, after every rank finished: all ranks' shards, in shard order, as this writer's. Each rank's
        finished progress file is waited for (up to ``timeout`` seconds: a shared filesystem may show it late),
        so the merge never depends on how fast the other ranks were.

        Raises:
            InvalidIndexError: a rank's progress never said it finished, or a shard is missing.
        """
        import time

        merged: dict[int, dict[str, Any]] = {}
        for r in range(self.world):
            path = self.folder / rank_progress(r, self.world)
            progress: dict[str, Any] = {"shards": self.shards, "finished": True} if r == self.rank else {}
            deadline = time.monotonic() + timeout
            while not progress.get("finished"):
                if path.is_file():
                    progress = json.loads(path.read_text())
                if progress.get("finished"):
                    break
                if time.monotonic() > deadline:
                    raise InvalidIndexError(
                        f"{path}: rank {r} of {self.world} never reported its shards finished ({timeout:.0f} s)"
                    )
                time.sleep(0.05)
            for s in progress["shards"]:
                merged[s["index"]] = s
        missing = sorted(set(range(len(merged))) ^ set(merged))
        if missing:
            raise InvalidIndexError(f"{self.folder}: shards {missing[:5]} are missing after every rank finished")
        self.shards = [merged[i] for i in range(len(merged))]

    @classmethod
    def appending(cls, folder: str | Path, manifest: dict[str, Any]) -> ShardedVectorWriter:
        """A writer that adds shards after those of a complete index (documents added to it)."""
        writer = cls.__new__(cls)
        writer.folder, writer.build_config = Path(folder), {"append_to": manifest.get("generation", 0)}
        writer.shards = list(manifest["shards"])
        writer.rank, writer.world, writer.next_index = 0, 1, None
        writer.pending_empty = 0
        return writer

    @property
    def done_count(self) -> int:
        """How many documents the complete shards hold."""
        return sum(s["count"] for s in self.shards)

    def _commit(self, entry: dict[str, Any], ids: list[str]) -> None:
        """Write a shard's ids, then record the shard in the progress file: a shard counts only once its data
        files are in place."""
        with atomic_open(self.folder / entry["ids"]) as f:
            f.writelines(i + "\n" for i in ids)
        from boltir.index.integrity import records, shard_files

        entry["files"] = records(self.folder, shard_files(entry))
        if self.pending_empty:
            entry["empty"], self.pending_empty = self.pending_empty, 0
        self.shards.append(entry)
        progress = {"build_config": self.build_config, "shards": self.shards}
        atomic_write_json(self.folder / rank_progress(self.rank, self.world), progress)
        self.next_index = None

    @property
    def _index(self) -> int:
        return len(self.shards) if self.next_index is None else self.next_index

    def _file(self, stem: str, ext: str = "npy") -> str:
        """The path (relative to the folder) of file ``stem`` of the next shard."""
        return f"shards/{stem}-{self._index:05d}.{ext}"

    def _entry(self, ids: list[str], **files: str) -> dict[str, Any]:
        return {**files, "ids": self._file("ids", "txt"), "count": len(ids), "index": self._index}

    def _save(self, rel: str, arr: np.ndarray, dtype: Any = None) -> None:
        with atomic_open(self.folder / rel, "wb") as f:
            np.save(f, np.ascontiguousarray(arr, dtype=dtype))

    def add_shard(self, vectors: np.ndarray, ids: list[str]) -> None:
        """A shard of one vector per document [count, dim] as ``shards/vectors-NNNNN.npy``."""
        assert len(vectors) == len(ids)
        entry = self._entry(ids, vectors=self._file("vectors"))
        self._save(entry["vectors"], vectors, np.float32)
        self._commit(entry, ids)

    def add_sparse_shard(self, matrix: Any, ids: list[str]) -> None:
        """A shard of sparse term weights (scipy CSR [count, vocab]) as ``shards/terms-NNNNN.npz``."""
        import scipy.sparse as sp

        assert matrix.shape[0] == len(ids)
        entry = self._entry(ids, matrix=self._file("terms", "npz"))
        with atomic_open(self.folder / entry["matrix"], "wb") as f:
            sp.save_npz(f, sp.csr_matrix(matrix, dtype=np.float32))
        self._commit(entry, ids)

    def add_multivector_shard(
        self,
        tokens: np.ndarray,
        offsets: np.ndarray,
        ids: list[str],
        doc_arrays: dict[str, np.ndarray] | None = None,
        token_arrays: dict[str, np.ndarray] | None = None,
    ) -> None:
        """A shard of token embeddings [tokens, dim] with per-document ``offsets`` [count + 1], plus optional
        named arrays with one row per document (e.g. COIL's [CLS] vectors) or per token (e.g. vocabulary ids)."""
        assert len(offsets) == len(ids) + 1 and offsets[-1] == len(tokens)
        entry = self._entry(ids, vectors=self._file("tokens"), offsets=self._file("offsets"))
        entry["tokens"] = int(len(tokens))
        self._save(entry["vectors"], tokens, np.float32)
        self._save(entry["offsets"], offsets, np.int64)
        for group, given, rows in (("doc_arrays", doc_arrays, len(ids)), ("token_arrays", token_arrays, len(tokens))):
            for name, arr in (given or {}).items():
                assert len(arr) == rows, (name, len(arr), rows)
                entry.setdefault(group, {})[name] = self._file(name)
                self._save(entry[group][name], arr)
        self._commit(entry, ids)

    @property
    def empty_count(self) -> int:
        """Documents with empty text among those written (indexed like any other, never matched by text)."""
        return sum(s.get("empty", 0) for s in self.shards)

    def finish(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Write the manifest (the index is complete from then on) and drop the progress file; returns the manifest."""
        manifest = {
            "format_version": FORMAT_VERSION,
            **manifest,
            "count": self.done_count,
            "shards": self.shards,
            "empty_documents": self.empty_count,
        }
        atomic_write_json(self.folder / MANIFEST, manifest)
        for r in range(self.world):
            (self.folder / rank_progress(r, self.world)).unlink(missing_ok=True)
        return manifest


def check_shard(folder: Path, shard: dict[str, Any]) -> None:
    """Raise a clear error if a shard's files are missing or do not hold ``count`` rows."""
    vec_path, ids_path = folder / shard.get("vectors", shard.get("matrix", "")), folder / shard["ids"]
    no_vectors = dropped(shard, "vectors")  # a compact multi-vector index: codes and residuals only
    for p in (ids_path,) if no_vectors else (vec_path, ids_path):
        if not p.is_file():
            raise InvalidIndexError(f"{p}: shard file missing")
    try:
        if no_vectors:
            vecs = np.zeros((shard["tokens"], 0), np.float32)  # the token count is checked against the offsets
        elif "matrix" in shard:
            import scipy.sparse as sp

            vecs = sp.load_npz(vec_path)
        else:
            vecs = np.load(vec_path, mmap_mode="r")
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise InvalidIndexError(f"{vec_path}: unreadable shard ({e})") from None
    n_ids = len(read_id_file(ids_path))
    if "offsets" in shard:  # multi-vector: rows are tokens, documents are delimited by offsets
        try:
            offsets = np.load(folder / shard["offsets"])
        except (ValueError, OSError, EOFError) as e:
            raise InvalidIndexError(f"{folder / shard['offsets']}: unreadable shard ({e})") from None
        if (
            vecs.shape[0] != shard["tokens"]
            or len(offsets) != shard["count"] + 1
            or offsets[-1] != shard["tokens"]
            or n_ids != shard["count"]
        ):
            raise InvalidIndexError(
                f"{vec_path}: shard holds {vecs.shape[0]} tokens, {len(offsets) - 1} offsets and "
                f"{n_ids} ids; manifest says {shard['tokens']} tokens of {shard['count']} documents"
            )
        for group, rows in (("doc_arrays", shard["count"]), ("token_arrays", shard["tokens"])):
            for rel in shard.get(group, {}).values():
                try:
                    got = np.load(folder / rel, mmap_mode="r").shape[0]
                except (ValueError, OSError, EOFError) as e:
                    raise InvalidIndexError(f"{folder / rel}: unreadable shard ({e})") from None
                if got != rows:
                    raise InvalidIndexError(f"{folder / rel}: holds {got} rows, manifest says {rows}")
        return
    if vecs.shape[0] != shard["count"] or n_ids != shard["count"]:
        raise InvalidIndexError(
            f"{vec_path}: shard holds {vecs.shape[0]} vectors and {n_ids} ids, manifest says {shard['count']}"
        )


MANIFEST_KEYS = ("kind", "count", "shards", "files", "model")  # what every complete index's manifest holds
MODEL_KEYS = ("source", "model_type", "fingerprint")  # what its model record holds


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The manifest of a complete index.

    Raises:
        InvalidIndexError: the folder holds no manifest (an unfinished build says so), an unreadable one, or one
            that lacks a key every manifest has (named).
    """
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        hint = (
            " (a partial build is there: rerun the index command to resume it)" if (folder / PROGRESS).exists() else ""
        )
        raise InvalidIndexError(f"{folder} is not a complete boltir index: no {MANIFEST}{hint}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidIndexError(f"{path}: unreadable manifest ({e}); the index cannot be opened") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        version = manifest.get("format_version") if isinstance(manifest, dict) else None
        raise InvalidIndexError(f"{path}: index format {version} is not {FORMAT_VERSION}")
    missing = [k for k in MANIFEST_KEYS if k not in manifest]
    missing += [f"model.{k}" for k in MODEL_KEYS if k not in (manifest.get("model") or {})]
    if missing:
        raise InvalidIndexError(
            f"{path}: the manifest lacks {', '.join(repr(k) for k in missing)} (every index manifest records "
            f"{', '.join(MANIFEST_KEYS)}); the index cannot be checked or opened"
        )
    if not isinstance(manifest["files"], dict) or not manifest["files"]:
        raise InvalidIndexError(f"{path}: the manifest's 'files' lists no file; the index cannot be checked")
    return manifest


def iter_shards(folder: str | Path, manifest: dict[str, Any]) -> Iterator[tuple[np.ndarray, list[str]]]:
    """Memory-mapped vectors and ids of each shard, in order."""
    folder = Path(folder)
    for s in manifest["shards"]:
        check_shard(folder, s)
        yield np.load(folder / s["vectors"], mmap_mode="r"), read_id_file(folder / s["ids"])


def iter_sparse_shards(folder: str | Path, manifest: dict[str, Any]) -> Iterator[tuple[Any, list[str]]]:
    """CSR term weights and ids of each sparse shard, in order."""
    import scipy.sparse as sp

    folder = Path(folder)
    for s in manifest["shards"]:  # each shard is read once: the checks are check_shard's, on the loaded arrays
        path, ids_path = folder / s["matrix"], folder / s["ids"]
        for p in (path, ids_path):
            if not p.is_file():
                raise InvalidIndexError(f"{p}: shard file missing")
        try:
            matrix = sp.load_npz(path).tocsr()
        except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as e:
            raise InvalidIndexError(f"{path}: unreadable shard ({e})") from None
        ids = read_id_file(ids_path)
        if matrix.shape[0] != s["count"] or len(ids) != s["count"]:
            raise InvalidIndexError(
                f"{path}: shard holds {matrix.shape[0]} vectors and {len(ids)} ids, manifest says {s['count']}"
            )
        yield matrix, ids


def sparse_shard_term_ids(folder: Path, shard: dict[str, Any]) -> np.ndarray:
    """The term id of every entry of a sparse shard (its CSR ``indices``), read without its weights.

    Raises:
        InvalidIndexError: the shard file is missing or unreadable.
    """
    path = folder / shard["matrix"]
    if not path.is_file():
        raise InvalidIndexError(f"{path}: shard file missing")
    try:
        with np.load(path) as z:
            return z["indices"]
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise InvalidIndexError(f"{path}: unreadable shard ({e})") from None


def read_id_file(path: Path) -> list[str]:
    r"""The ids of a shard's id file: one per line, lines ending at ``\n`` only (never ``str.splitlines``, which
    would also split at U+2028, U+0085, ... and shift every later id)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise InvalidIndexError(f"{path}: not UTF-8 at byte {e.start} (a corrupted id file)") from None
    return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n") if text else []


def read_doc_ids(folder: str | Path, manifest: dict[str, Any]) -> list[str]:
    """Every document id of the index, in index order; their number must be the manifest's."""
    folder = Path(folder)
    ids: list[str] = []
    for s in manifest["shards"]:
        ids.extend(read_id_file(folder / s["ids"]))
    if len(ids) != manifest.get("count", len(ids)):
        raise InvalidIndexError(f"{folder}: {len(ids)} document ids for {manifest['count']} documents in the manifest")
    return ids


def deleted_positions(manifest: dict[str, Any], doc_ids: np.ndarray) -> np.ndarray:
    """Boolean mask over index positions of the deleted documents."""
    deleted = set(manifest.get("deleted", []))
    return np.fromiter((d in deleted for d in doc_ids), dtype=bool, count=len(doc_ids))
