"""Hybrid fusion of any runs: reciprocal rank fusion, and weighted sums of per-query min-max or z-score
normalised scores. Runs are ``{qid: {docid: score}}``; the result is one run of the same shape."""

from __future__ import annotations

import math
from collections.abc import Sequence

from boltir.errors import ConfigError

Run = dict[str, dict[str, float]]
METHODS = ("rrf", "minmax", "zscore")


def _ranked(scores: dict[str, float]) -> list[str]:
    return sorted(scores, key=lambda d: (-scores[d], d))


def _normalise(scores: dict[str, float], method: str) -> dict[str, float]:
    values = list(scores.values())
    if method == "minmax":
        lo, hi = min(values), max(values)
        return {d: (s - lo) / (hi - lo) if hi > lo else 0.0 for d, s in scores.items()}
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return {d: (s - mean) / std if std > 0 else 0.0 for d, s in scores.items()}


def fuse(
    runs: Sequence[Run],
    method: str = "rrf",
    weights: Sequence[float] | None = None,
    k: int = 60,
    depth: int | None = None,
) -> Run:
    """Fuse ``runs`` (each cut to its top ``depth`` first, when given).

    - ``rrf``: sum of ``weight / (k + rank)`` over the runs that retrieved the document (rank from 1).
    - ``minmax`` / ``zscore``: sum of ``weight * normalised score``, normalised per query and run (population
      standard deviation; a query whose scores are all equal normalises to 0). A document a run did not
      retrieve gets that run's lowest normalised score for the query, so missing never beats retrieved.
    """
    if method not in METHODS:
        raise ConfigError(f"method={method!r}: choose one of {', '.join(METHODS)}")
    if not runs:
        raise ConfigError("nothing to fuse: give at least one run")
    weights = list(weights) if weights is not None else [1.0] * len(runs)
    if len(weights) != len(runs):
        raise ConfigError(f"{len(weights)} weights for {len(runs)} runs")
    cut = [{q: {d: s[d] for d in _ranked(s)[:depth]} if depth else dict(s) for q, s in run.items()} for run in runs]
    out: Run = {}
    for qid in sorted({q for run in cut for q in run}):
        fused: dict[str, float] = {}
        docs = {d for run in cut for d in run.get(qid, {})}
        for run, w in zip(cut, weights):
            scores = run.get(qid, {})
            if not scores:
                continue
            if method == "rrf":
                for rank, d in enumerate(_ranked(scores), 1):
                    fused[d] = fused.get(d, 0.0) + w / (k + rank)
            else:
                norm = _normalise(scores, method)
                floor = min(norm.values())
                for d in docs:
                    fused[d] = fused.get(d, 0.0) + w * norm.get(d, floor)
        out[qid] = fused
    return out
