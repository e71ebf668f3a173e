"""Optional compiled loops (numba, the ``fast`` extra) for the index kinds' hot paths.

A kernel module asks :func:`numba_jit` for the decorator and, when it gets None, leaves its caller on the numpy /
scipy path; every kernel returns what that path returns, bit for bit, so installing numba changes speed only.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def numba_jit() -> Any:
    """``numba.njit(cache=True, nogil=True)`` (compiled on first call, cached on disk, releasing the GIL so
    threads run kernels at once), or None when numba is not installed.

    Returns:
        The decorator, or None.
    """
    try:
        import numba
    except ImportError:
        return None
    return numba.njit(cache=True, nogil=True)
