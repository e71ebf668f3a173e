"""boltir's log: library code reports progress through ``logging`` (the ``boltir`` logger), never ``print``; the
command line shows INFO messages on stderr, a program decides for itself."""

from __future__ import annotations

import logging
import sys

log = logging.getLogger("boltir")


def show_info_on_stderr() -> None:
    """Print the ``boltir`` logger's INFO messages on stderr, once (what the ``boltir`` command does)."""
    if not any(getattr(h, "_boltir", False) for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._boltir = True  # type: ignore[attr-defined]
        log.addHandler(handler)
    log.setLevel(logging.INFO)
