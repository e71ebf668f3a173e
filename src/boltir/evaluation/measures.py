"""Evaluate runs against qrels with ir_measures: aggregate and per-query values, and the judged queries a run
lacks (they count as 0, like ``trec_eval -c``, so a missing query is always reported, never hidden)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

DEFAULT_METRICS = ("nDCG@10", "RR(rel=2)@10", "R(rel=2)@1000", "AP(rel=2)@1000")


@dataclass
class Evaluation:
    """Per-query and mean values of each metric for one run."""

    name: str
    metrics: list[str]
    per_query: dict[str, dict[str, float]]  # metric -> qid -> value (every judged query, missing ones = 0)
    judged_queries: int
    missing_queries: list[str] = field(default_factory=list)
    unjudged_run_queries: int = 0

    @property
    def aggregate(self) -> dict[str, float]:
        return {m: (sum(v.values()) / len(v) if v else 0.0) for m, v in self.per_query.items()}


def parse_metrics(metrics: Iterable[str]):
    import ir_measures

    parsed = []
    for m in metrics:
        try:
            parsed.append(ir_measures.parse_measure(m))
        except (ValueError, NameError, SyntaxError) as e:
            raise ValueError(f"unknown metric {m!r} ({e}); examples: {', '.join(DEFAULT_METRICS)}") from None
    return parsed


def evaluate(
    run: Mapping[str, Mapping[str, float]],
    qrels: Mapping[str, Mapping[str, int]],
    metrics: Iterable[str] = DEFAULT_METRICS,
    name: str = "run",
) -> Evaluation:
    """Evaluate ``run`` on every query of ``qrels``; judged queries missing from the run score 0."""
    import ir_measures

    metrics = list(metrics)
    measures = parse_metrics(metrics)
    names = {str(m): label for m, label in zip(measures, metrics)}
    judged = [q for q in qrels]
    per_query: dict[str, dict[str, float]] = {label: {q: 0.0 for q in judged} for label in metrics}
    run = {q: dict(d) for q, d in run.items() if q in qrels}
    for m in ir_measures.iter_calc(measures, qrels, run):
        per_query[names[str(m.measure)]][m.query_id] = float(m.value)
    missing = [q for q in judged if q not in run]
    return Evaluation(name, metrics, per_query, len(judged), missing, unjudged_run_queries=0)


def evaluate_many(
    runs: Mapping[str, Mapping[str, Mapping[str, float]]],
    qrels: Mapping[str, Mapping[str, int]],
    metrics: Iterable[str] = DEFAULT_METRICS,
) -> list[Evaluation]:
    metrics = list(metrics)
    out = []
    for name, run in runs.items():
        ev = evaluate(run, qrels, metrics, name)
        ev.unjudged_run_queries = sum(1 for q in run if q not in qrels)
        out.append(ev)
    return out
