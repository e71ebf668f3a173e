"""What produced an artifact: package versions, config, seed and input fingerprints."""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

_PACKAGES = (
    "boltir",
    "torch",
    "transformers",
    "lightning",
    "faiss-cpu",
    "bm25s",
    "ir-measures",
    "numpy",
    "onnxruntime",
)


def package_versions() -> dict[str, str]:
    """The versions of Python, boltir and the packages boltir runs on."""
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def file_fingerprint(path: str | os.PathLike) -> str:
    """blake2b of a file's bytes (streamed), prefixed with the algorithm name."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "blake2b:" + h.hexdigest()


def sampled_fingerprint(path: str | os.PathLike, blocks: int = 16, block_size: int = 1 << 16) -> str:
    """blake2b of ``blocks`` blocks of ``block_size`` bytes spread evenly over a file (its first and last
    included): a content check of a large file that reads at most ``blocks * block_size`` bytes."""
    h = hashlib.blake2b(digest_size=16)
    size = os.path.getsize(path)
    last = max(size - block_size, 0)
    offsets = sorted({round(i * last / max(blocks - 1, 1)) for i in range(blocks)})
    with open(path, "rb") as f:
        for offset in offsets:
            f.seek(offset)
            h.update(f.read(block_size))
    return f"blake2b-sampled-{blocks}x{block_size}:" + h.hexdigest()


def input_fingerprint(spec: str) -> dict[str, Any]:
    """Describe an input given as a path or a name: the path's size and hash, or just the name."""
    p = Path(spec)
    if p.is_file():
        return {"spec": spec, "bytes": p.stat().st_size, "fingerprint": file_fingerprint(p)}
    return {"spec": spec}


def provenance(**extra: Any) -> dict[str, Any]:
    """A record to store beside an artifact."""
    return {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "packages": package_versions(),
        **extra,
    }
