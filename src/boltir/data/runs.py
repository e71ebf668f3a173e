"""Runs and qrels as plain dictionaries, and the few operations every stage needs on them: the top candidates of
each query, the set of candidate documents, and reading or writing a run with the ``.meta.json`` sidecar that
records how it was made. This module sits at the bottom of the package: search, training, distillation and
evaluation import it, it imports none of them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

Run = dict[str, dict[str, float]]
"""``{query_id: {doc_id: score}}``; a higher score ranks higher, ties break by doc id."""

Qrels = dict[str, dict[str, int]]
"""``{query_id: {doc_id: grade}}``."""


def ranked(scores: Mapping[str, float]) -> list[str]:
    """Doc ids by descending score, ties by doc id (the order ``write_run`` writes and trec_eval reads)."""
    return [d for d, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))]


def top_k(run: Mapping[str, Mapping[str, float]], depth: int | None) -> dict[str, list[str]]:
    """The first ``depth`` candidates of each query (all when ``depth`` is None), best first."""
    return {q: ranked(docs)[:depth] for q, docs in run.items()}


def candidate_ids(run: Mapping[str, Mapping[str, float]], depth: int | None = None) -> set[str]:
    """Every document among the first ``depth`` candidates of any query."""
    return {d for docs in top_k(run, depth).values() for d in docs}


def cut(run: Mapping[str, Mapping[str, float]], depth: int | None) -> Run:
    """The run with each query cut to its first ``depth`` candidates."""
    return {q: {d: float(docs[d]) for d in ranked(docs)[:depth]} for q, docs in run.items()}


def read_run(spec: str | os.PathLike) -> Run:
    """A run ``{qid: {docid: score}}``: the one way boltir reads runs.

    Args:
        spec: a TREC run file, a bundled ``<dataset>:<run>`` or ``irds:<id>`` (its scoreddocs).

    Returns:
        The run.

    Raises:
        DataFormatError: a line of the file is not a run line (named with its file and line).
        MissingDataError: the dataset has no such run.
    """
    from boltir.data.readers import read_trec_run
    from boltir.data.sources import IRDS_PREFIX, irds_table, run_path

    spec = os.fspath(spec)
    if spec.startswith(IRDS_PREFIX):
        return irds_table(spec, "scoreddocs", "score")
    return read_trec_run(run_path(spec))


def read_run_meta(spec: str | os.PathLike) -> dict[str, Any]:
    """The ``.meta.json`` sidecar of a run (what made it: command, arguments, inputs, versions), or ``{}``.

    Args:
        spec: a TREC run file or a bundled ``<dataset>:<run>``; ``irds:`` runs and runs without a sidecar give ``{}``.

    Returns:
        The sidecar's fields; an unreadable sidecar gives ``{}`` (it describes, it never decides).
    """
    import json

    from boltir.data.sources import IRDS_PREFIX, run_path

    spec = os.fspath(spec)
    if spec.startswith(IRDS_PREFIX):
        return {}
    try:
        return json.loads(Path(f"{run_path(spec)}.meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def write_run(
    path: str | os.PathLike,
    run: Mapping[str, Mapping[str, float]],
    tag: str = "boltir",
    depth: int | None = None,
    meta: dict[str, Any] | None = None,
) -> None:
    """Write a TREC run atomically: the one way boltir writes runs.

    Args:
        path: the run file.
        run: ``{qid: {docid: score}}``; each query is written by descending score, ties by doc id.
        tag: the run tag (last column).
        depth: keep each query's first ``depth`` documents (None: all).
        meta: what goes into the ``<path>.meta.json`` sidecar with the versions, the time and the run file's
            checksum (the same sidecar the CLI writes).

    Raises:
        DataFormatError: an id a TREC reader would refuse (whitespace, control characters, empty).
    """
    from boltir.data.writers import write_trec_run

    write_trec_run(path, run, tag=tag, depth=depth, meta=meta if meta is not None else {"command": "python"})


__all__ = ["Qrels", "Run", "candidate_ids", "cut", "ranked", "read_run", "top_k", "write_run"]
