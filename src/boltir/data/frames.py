"""Runs, qrels and queries as pandas DataFrames with PyTerrier's column names, and back: a run is
``qid, docno, score, rank`` (rank from 0, best first, as PyTerrier numbers it), qrels are ``qid, docno, label``,
queries (PyTerrier's topics) are ``qid, query``. Any boltir source works: a file, a bundled dataset name or
``irds:<id>``. pandas is needed (``pip install pandas``; the ``pyterrier`` extra brings it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from boltir.errors import ConfigError, UnsupportedError


def require_pandas() -> Any:
    """The pandas module.

    Raises:
        UnsupportedError: pandas is not installed (the message says how to install it).
    """
    try:
        import pandas as pd
    except ImportError:
        raise UnsupportedError("DataFrames need pandas: pip install pandas (or 'boltir[pyterrier]')") from None
    return pd


def _columns(frame: Any, needed: tuple[str, ...], what: str) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ConfigError(f"a {what} frame needs the columns {', '.join(needed)}; it lacks {', '.join(missing)}")


def run_to_frame(run: Mapping[str, Mapping[str, float]], queries: Mapping[str, str] | None = None) -> Any:
    """A run as a frame ``qid, docno, score, rank`` (and ``query`` when ``queries`` are given), best first per query.

    Args:
        run: ``{qid: {docid: score}}``.
        queries: ``{qid: text}`` to add a ``query`` column (PyTerrier's ranking frames carry one).

    Returns:
        The DataFrame (ties ordered by doc id, as ``write_run`` writes them).
    """
    pd = require_pandas()
    rows = []
    for qid, docs in run.items():
        ranked = sorted(docs.items(), key=lambda kv: (-kv[1], kv[0]))
        rows += [(qid, doc, float(score), rank) for rank, (doc, score) in enumerate(ranked)]
    frame = pd.DataFrame(rows, columns=["qid", "docno", "score", "rank"])
    if queries is not None:
        frame.insert(1, "query", frame["qid"].map(dict(queries)))
    return frame


def _nested(frame: Any, value: str, cast: Any, what: str) -> dict[str, dict[str, Any]]:
    """``{qid: {docno: cast(value)}}`` from a frame's ``qid``, ``docno`` and ``value`` columns."""
    _columns(frame, ("qid", "docno", value), what)
    out: dict[str, dict[str, Any]] = {}
    for qid, doc, v in zip(frame["qid"].astype(str), frame["docno"].astype(str), frame[value]):
        out.setdefault(qid, {})[doc] = cast(v)
    return out


def run_from_frame(frame: Any) -> dict[str, dict[str, float]]:
    """``{qid: {docno: score}}`` from a frame with ``qid``, ``docno`` and ``score`` columns.

    Raises:
        ConfigError: a column is missing.
    """
    return _nested(frame, "score", float, "run")


def qrels_to_frame(qrels: Mapping[str, Mapping[str, int]] | str) -> Any:
    """Qrels (a mapping or any qrels source) as a frame ``qid, docno, label``."""
    if isinstance(qrels, str):
        from boltir.data.sources import load_qrels

        qrels = load_qrels(qrels)
    rows = [(q, d, int(g)) for q, docs in qrels.items() for d, g in docs.items()]
    return require_pandas().DataFrame(rows, columns=["qid", "docno", "label"])


def qrels_from_frame(frame: Any) -> dict[str, dict[str, int]]:
    """``{qid: {docno: label}}`` from a frame with ``qid``, ``docno`` and ``label`` columns.

    Raises:
        ConfigError: a column is missing.
    """
    return _nested(frame, "label", int, "qrels")


def topics_frame(queries: Mapping[str, str] | str) -> Any:
    """Queries (a mapping or any query source, e.g. ``"trec-dl-2019"``) as PyTerrier topics: ``qid, query``."""
    if isinstance(queries, str):
        from boltir.data.sources import load_queries

        queries = load_queries(queries)
    return require_pandas().DataFrame(list(queries.items()), columns=["qid", "query"])


__all__ = ["qrels_from_frame", "qrels_to_frame", "run_from_frame", "run_to_frame", "topics_frame"]
