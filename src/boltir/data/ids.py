"""The one rule for identifiers (documents, queries) wherever they enter boltir: a non-empty string without
whitespace or control characters, so every TREC file and every stored id list (one id per ``\\n``-ended line)
reads back the same ids in the same order. JSON ids may be strings or integers; a JSON number with a decimal point
("1.0") is refused, since it would silently match no qrels ("1")."""

from __future__ import annotations

import unicodedata
from typing import Any

from boltir.errors import DataFormatError

_BAD_CATEGORIES = ("Cc", "Cf", "Zl", "Zp", "Zs")


def id_problem(value: str) -> str | None:
    """Why ``value`` is not a valid id (None when it is)."""
    if not value:
        return "is empty"
    for i, c in enumerate(value):
        if c.isspace() or unicodedata.category(c) in _BAD_CATEGORIES:
            return f"contains whitespace or a control character (U+{ord(c):04X} at position {i + 1})"
    return None


def check_id(value: Any, where: object, line: int | None, what: str = "id") -> str:
    """``value`` as an id string, or a :class:`DataFormatError` naming ``where`` (a file) and ``line``."""
    if isinstance(value, bool) or value is None:
        raise DataFormatError(where, line, f"{what} {value!r} is not a string")
    if isinstance(value, float):
        raise DataFormatError(where, line, f"{what} {value!r} is a number with a decimal point; write ids as strings")
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        raise DataFormatError(where, line, f"{what} {value!r} is not a string")
    problem = id_problem(value)
    if problem:
        raise DataFormatError(where, line, f"{what} {value!r} {problem}")
    return value


def check_ids(values: Any, where: object, line: int | None, what: str) -> list[str]:
    """A list of ids, each checked as :func:`check_id` does.

    Raises:
        DataFormatError: ``values`` is not a list, or an id is empty or holds whitespace or control characters.
    """
    if not isinstance(values, list):
        raise DataFormatError(where, line, f"{what} must be a list of ids")
    return [check_id(v, where, line, what[:-1] if what.endswith("s") else what) for v in values]
