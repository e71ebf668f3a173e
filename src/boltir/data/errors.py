"""Kept for imports written before :mod:`boltir.errors`: the one error type for bad input files."""

from boltir.errors import DataFormatError

__all__ = ["DataFormatError"]
