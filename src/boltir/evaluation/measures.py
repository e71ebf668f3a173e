"""Evaluate runs against qrels with ir_measures: aggregate and per-query values, and the judged queries a run
lacks (they count as 0, like ``trec_eval -c``, so a missing query is always reported, never hidden)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from boltir.errors import ConfigError

DEFAULT_METRICS = ("nDCG@10", "RR(rel=2)@10", "R(rel=2)@1000", "AP(rel=2)@1000")
BINARY_METRICS = ("nDCG@10", "RR@10", "R@1000", "AP@1000")


def max_grade(qrels: Mapping[str, Mapping[str, int]]) -> int:
    """The highest relevance grade in the qrels (0 for none)."""
    return max((g for docs in qrels.values() for g in docs.values()), default=0)


def default_metrics(qrels: Mapping[str, Mapping[str, int]]) -> list[str]:
    """TREC DL's measures (relevant = grade 2 and up) for graded qrels; the same measures with relevant = grade 1
    for binary qrels, where ``rel=2`` could only give 0."""
    return list(DEFAULT_METRICS if max_grade(qrels) >= 2 else BINARY_METRICS)


def warn_unreachable(metrics: list[str], qrels: Mapping[str, Mapping[str, int]]) -> list[str]:
    """:func:`unreachable`, named in a warning when there are any."""
    import warnings

    zero_only = unreachable(metrics, qrels)
    if zero_only:
        warnings.warn(
            f"{', '.join(zero_only)} can only be 0 on these qrels: their highest grade is "
            f"{max_grade(qrels)} (binary qrels: use e.g. RR@10, R@1000)",
            stacklevel=3,
        )
    return zero_only


def unreachable(metrics: Iterable[str], qrels: Mapping[str, Mapping[str, int]]) -> list[str]:
    """The measures whose relevance level no judgment reaches (they can only be 0 on these qrels)."""
    top = max_grade(qrels)
    return [m for m, p in zip(metrics, parse_metrics(metrics)) if p.params.get("rel", 1) > top]


@dataclass
class Evaluation:
    """Per-query and mean values of each metric for one run."""

    name: str
    metrics: list[str]
    per_query: dict[str, dict[str, float]]  # metric -> qid -> value (every judged query, missing ones = 0)
    judged_queries: int
    missing_queries: list[str] = field(default_factory=list)
    unjudged_run_queries: int = 0
    zero_only: list[str] = field(default_factory=list)  # measures whose relevance level no judgment reaches

    @property
    def aggregate(self) -> dict[str, float]:
        """``{metric: mean over the judged queries}``."""
        return {m: (sum(v.values()) / len(v) if v else 0.0) for m, v in self.per_query.items()}


def parse_metrics(metrics: Iterable[str]):
    """ir_measures measures from their names.

    Raises:
        ConfigError: a name ir_measures cannot parse (named in the message, with examples).
    """
    import ir_measures

    parsed = []
    for m in metrics:
        try:
            parsed.append(ir_measures.parse_measure(m))
        except (ValueError, NameError, SyntaxError) as e:
            import re

            from boltir.utils.suggest import did_you_mean

            name = re.split(r"[@(]", m, maxsplit=1)[0]
            hint = "" if name in ir_measures.measures.registry else did_you_mean(name, ir_measures.measures.registry)
            raise ConfigError(f"unknown metric {m!r}{hint} ({e}); examples: {', '.join(DEFAULT_METRICS)}") from None
    return parsed


def evaluate(
    run: Mapping[str, Mapping[str, float]],
    qrels: Mapping[str, Mapping[str, int]],
    metrics: Iterable[str] | None = None,
    name: str = "run",
) -> Evaluation:
    """Evaluate ``run`` on every query of ``qrels``; judged queries missing from the run score 0. ``metrics``
    default to :func:`default_metrics` of the qrels; a measure whose relevance level no judgment reaches is
    evaluated (it is 0) and named in a warning."""

    import ir_measures

    metrics = list(metrics) if metrics is not None else default_metrics(qrels)
    zero_only = warn_unreachable(metrics, qrels)
    measures = parse_metrics(metrics)
    names = {str(m): label for m, label in zip(measures, metrics)}
    judged = [q for q in qrels]
    per_query: dict[str, dict[str, float]] = {label: {q: 0.0 for q in judged} for label in metrics}
    run = {q: dict(d) for q, d in run.items() if q in qrels}
    for m in ir_measures.iter_calc(measures, qrels, run):
        per_query[names[str(m.measure)]][m.query_id] = float(m.value)
    missing = [q for q in judged if q not in run]
    return Evaluation(name, metrics, per_query, len(judged), missing, unjudged_run_queries=0, zero_only=zero_only)


def evaluate_many(
    runs: Mapping[str, Mapping[str, Mapping[str, float]]],
    qrels: Mapping[str, Mapping[str, int]],
    metrics: Iterable[str] | None = None,
) -> list[Evaluation]:
    """One :class:`Evaluation` per run, over every judged query of the qrels (a judged query a run lacks scores
    0, as ``trec_eval -c``); a run that lacks judged queries is named in a warning.

    Args:
        runs: ``{name: run}``.
        qrels: ``{qid: {docid: grade}}``.
        metrics: ir_measures names (default: nDCG@10, RR@10, R@1000, AP@1000, graded at 2 where grades go that high).

    Returns:
        The evaluations, in the order of ``runs``.
    """
    import warnings

    metrics = list(metrics) if metrics is not None else default_metrics(qrels)
    warn_unreachable(metrics, qrels)
    out = []
    for name, run in runs.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ev = evaluate(run, qrels, metrics, name)
        ev.unjudged_run_queries = sum(1 for q in run if q not in qrels)
        out.append(ev)
    return out
