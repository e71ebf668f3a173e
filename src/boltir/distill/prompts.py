"""List-wise ranking prompts (numbered passages, answer as ``[i] > [j] > ...``) and permutation parsing that
repairs what LLMs get wrong: missing, repeated and out-of-range ids."""

from __future__ import annotations

import re
from dataclasses import dataclass

from boltir.errors import ConfigError

SYSTEM = (
    "You rank passages for a search engine. Judge each passage only by how well it answers the query, and "
    "reply with identifiers only."
)


def truncate_words(text: str, max_words: int) -> str:
    """The first ``max_words`` words of a text."""
    words = text.split()
    return " ".join(words[:max_words])


def listwise_messages(query: str, passages: list[str], max_words: int = 100) -> list[dict[str, str]]:
    """Chat messages asking for a ranking of ``passages`` (identifiers 1..n) by relevance to ``query``."""
    n = len(passages)
    lines = [f"Query: {query}", "", f"Here are {n} passages, each with an identifier in brackets.", ""]
    lines += [f"[{i}] {truncate_words(p, max_words)}" for i, p in enumerate(passages, 1)]
    lines += [
        "",
        f"Query: {query}",
        f"Order all {n} passages from most to least relevant to the query. Answer with the identifiers only, "
        f"separated by '>', for example [2] > [1]. Use every identifier from 1 to {n} exactly once.",
    ]
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


@dataclass
class Parsed:
    """A repaired permutation (0-based positions, most relevant first) and what had to be repaired."""

    order: list[int]
    valid: int
    repeated: int
    out_of_range: int
    missing: int


def parse_permutation(text: str, n: int) -> Parsed:
    """Read the identifiers in ``text`` in order; drop repeats and ids outside 1..n, then append the ids the
    answer left out in their input order."""
    seen: list[int] = []
    repeated = out_of_range = 0
    for token in re.findall(r"\d+", text):
        i = int(token)
        if not 1 <= i <= n:
            out_of_range += 1
        elif i - 1 in seen:
            repeated += 1
        else:
            seen.append(i - 1)
    missing = [i for i in range(n) if i not in set(seen)]
    return Parsed(seen + missing, len(seen), repeated, out_of_range, len(missing))


def sliding_windows(n: int, window: int = 20, stride: int = 10) -> list[tuple[int, int]]:
    """The ``(start, end)`` windows of a back-to-front pass over ``n`` candidates: the last ``window`` first,
    then moving ``stride`` towards the top, so strong passages bubble up to the first positions."""
    if window < 1 or stride < 1:
        raise ConfigError(f"window={window}, stride={stride}: both must be >= 1")
    out = []
    end = n
    while True:
        start = max(0, end - window)
        out.append((start, end))
        if start == 0:
            return out
        end -= stride
