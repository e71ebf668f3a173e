"""One writer at a time per index folder: every writer (build, resume, adding and deleting documents,
compression) holds an exclusive ``flock`` on ``<folder>/.lock`` for as long as it writes. A second writer fails at
once with a message naming the holder (process id, command, since when). The operating system releases the lock of
a process that dies, however it dies, so a lock left by a killed writer is taken over by the next one (which says
so); the holder record in the file is only information."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

from boltir.errors import InvalidIndexError
from boltir.utils.log import log

LOCK_FILE = ".lock"
_held: dict[str, int] = {}  # folders this process holds, with how many nested writers hold them


@contextlib.contextmanager
def writer_lock(folder: str | os.PathLike, action: str) -> Iterator[None]:
    """Hold the folder's write lock while the block runs (``action`` says what for, in the holder record); nested
    holds by the same process (the CLI, then the builder it calls) share the lock."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = str(folder.resolve())
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InvalidIndexError(
                f"{folder} is being written by another process ({_holder(fd)}); wait for it to "
                "finish, or stop it, then try again"
            ) from None
        previous = _holder(fd)
        if previous != "unknown":
            log.info(f"{folder}: taking over the lock of a writer that is gone ({previous})")
        removed = remove_stale_temp_files(folder)
        if removed:
            log.info(f"{folder}: removed {removed} temporary files a stopped writer left behind")
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "action": action,
            "command": " ".join(sys.argv[:4]),
            "since": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
            os.ftruncate(fd, 0)  # released cleanly: no holder record left behind
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def remove_stale_temp_files(folder: Path) -> int:
    """Remove the temporary files (``.<name>.<random>.tmp``) of writers that stopped before renaming them; only
    safe under the lock, when no other writer can be writing."""
    removed = 0
    for sub in (folder, folder / "shards"):
        for tmp in sub.glob(".*.tmp") if sub.is_dir() else []:
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def _holder(fd: int) -> str:
    """The holder record of the lock file, as text."""
    try:
        raw = os.pread(fd, 4096, 0)
        rec = json.loads(raw) if raw else None
    except (OSError, ValueError):
        return "unknown"
    if not rec:
        return "unknown"
    return (
        f"pid {rec.get('pid')} on {rec.get('host')}, {rec.get('action')} since {rec.get('since')}: {rec.get('command')}"
    )
