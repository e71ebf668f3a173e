"""Paired t-tests of each run against a baseline, Holm-corrected over the runs compared, per metric."""

from __future__ import annotations

from dataclasses import dataclass

from boltir.evaluation.measures import Evaluation


@dataclass(frozen=True)
class Comparison:
    """A run against the baseline on one metric: the mean difference, the p-value and whether it is significant after
    Holm's correction."""

    run: str
    baseline: str
    metric: str
    difference: float
    p_value: float
    p_holm: float
    significant: bool


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def compare_to_baseline(evaluations: list[Evaluation], alpha: float = 0.05) -> list[Comparison]:
    """Compare every run after the first with the first, on the judged queries (missing ones count 0)."""
    from scipy import stats

    if len(evaluations) < 2:
        return []
    base = evaluations[0]
    out: list[Comparison] = []
    for metric in base.metrics:
        qids = sorted(base.per_query[metric])
        raw = []
        for ev in evaluations[1:]:
            a = [base.per_query[metric][q] for q in qids]
            b = [ev.per_query[metric][q] for q in qids]
            diff = sum(b) / len(b) - sum(a) / len(a) if qids else 0.0
            if all(x == y for x, y in zip(a, b)):
                p = 1.0
            else:
                p = float(stats.ttest_rel(b, a).pvalue)
            raw.append((ev.name, diff, p))
        adjusted = holm([p for _, _, p in raw])
        for (name, diff, p), padj in zip(raw, adjusted):
            out.append(Comparison(name, base.name, metric, diff, p, padj, padj < alpha))
    return out
