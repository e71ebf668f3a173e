"""On-disk cache of teacher answers keyed by (teacher, prompt), so an interrupted build resumes without repeating a
call and a rerun costs nothing. SQLite: every answer is committed as it arrives (a crash loses at most the call in
flight, never the file)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

from boltir.errors import ConfigError


def cache_key(teacher: str, prompt: Any) -> str:
    """The cache key of a (teacher, prompt) pair: a SHA-256 of both."""
    return hashlib.sha256(json.dumps([teacher, prompt], sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class ResponseCache:
    """Teachers' answers by (teacher, prompt), in SQLite, so an interrupted build resumes and a rerun asks
    nothing again.

    Raises:
        ConfigError: the file exists but is not a boltir teacher cache.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(self.path)
            self.db.execute("CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, teacher TEXT, answer TEXT)")
            self.db.commit()
        except sqlite3.DatabaseError as e:
            raise ConfigError(f"{self.path}: not a boltir teacher cache ({e})") from e
        self.hits = self.misses = 0

    def get(self, teacher: str, prompt: Any) -> str | None:
        """The cached answer, or None (counted as a hit or a miss)."""
        row = self.db.execute("SELECT answer FROM answers WHERE key = ?", (cache_key(teacher, prompt),)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return row[0]

    def put(self, teacher: str, prompt: Any, answer: str) -> None:
        """Store an answer (committed at once)."""
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?)", (cache_key(teacher, prompt), teacher, answer)
            )

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        """Close the database."""
        self.db.close()
