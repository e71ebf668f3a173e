"""Progress bars on every long step (tqdm to stderr); silent when asked or when not a terminal in CI."""

from __future__ import annotations

import os
from typing import Any


def progress_bar(
    total: int | None = None, desc: str = "", unit: str = "it", disable: bool = False, initial: int = 0
) -> Any:
    """A tqdm progress bar on stderr, off when ``disable`` or ``BOLTIR_NO_PROGRESS`` is set."""
    from tqdm.auto import tqdm

    disable = disable or os.environ.get("BOLTIR_NO_PROGRESS") == "1"
    return tqdm(
        total=total, desc=desc, unit=unit, disable=disable, initial=initial, dynamic_ncols=True, mininterval=0.5
    )
