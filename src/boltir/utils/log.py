"""boltir's log: library code reports progress through ``logging`` (the ``boltir`` logger), never ``print``; the
command line shows INFO messages on stderr, a program decides for itself."""

from __future__ import annotations

import logging
import sys

log = logging.getLogger("boltir")


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a message comes (it may be replaced after the handler is made)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def show_info_on_stderr() -> None:
    """Print the ``boltir`` logger's INFO messages on stderr, once (what the ``boltir`` command does)."""
    if not any(isinstance(h, _CurrentStderr) for h in log.handlers):
        handler = _CurrentStderr(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO)
