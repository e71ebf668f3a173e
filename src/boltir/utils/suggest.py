"""Suggestions for names a user typed (did you mean ...?): commands, options, model short names, datasets, runs."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str:
    """`` (did you mean 'x'?)`` for the choice closest to ``word``, or ``""`` when none is close.

    Args:
        word: what was typed.
        choices: the names it could have meant.
        cutoff: how alike (difflib's ratio, 0 to 1) a choice must be to be suggested.

    Returns:
        The suggestion, ready to append to a message.
    """
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""
