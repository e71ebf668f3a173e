"""Render evaluations as a text table (marking significant differences) or as JSON."""

from __future__ import annotations

from typing import Any

from boltir.evaluation.measures import Evaluation
from boltir.evaluation.significance import Comparison


def table(
    evaluations: list[Evaluation],
    comparisons: list[Comparison] | None = None,
    extra_columns: dict[str, dict[str, str]] | None = None,
) -> str:
    """A fixed-width table; ``*`` marks a significant difference to the first run (paired t-test, Holm)."""
    comparisons = comparisons or []
    sig = {(c.run, c.metric): c for c in comparisons}
    metrics = evaluations[0].metrics if evaluations else []
    extra_columns = extra_columns or {}
    extra_names = list(dict.fromkeys(k for cols in extra_columns.values() for k in cols))
    header = ["run", *metrics, *extra_names]
    rows = []
    for ev in evaluations:
        agg = ev.aggregate
        row = [ev.name]
        for m in metrics:
            c = sig.get((ev.name, m))
            row.append(f"{agg[m]:.4f}" + ("*" if c and c.significant else (" " if comparisons else "")))
        row += [extra_columns.get(ev.name, {}).get(k, "") for k in extra_names]
        rows.append(row)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def fmt(r: list) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    lines = [fmt(header), "  ".join("-" * w for w in widths), *map(fmt, rows)]
    if comparisons:
        lines.append(f"* significantly different from {evaluations[0].name} (paired t-test, Holm-corrected, p < 0.05)")
    for ev in evaluations:
        if ev.missing_queries:
            lines.append(
                f"note: {ev.name} lacks {len(ev.missing_queries)} of {ev.judged_queries} judged queries "
                f"(scored 0; e.g. {', '.join(ev.missing_queries[:3])}) - evaluate against the qrels of "
                "the run's own query set"
            )
        if ev.zero_only and ev is evaluations[0]:
            lines.append(
                f"note: {', '.join(ev.zero_only)} can only be 0 here: no judgment reaches that relevance "
                "level (binary qrels: use RR@10, R@1000, ...)"
            )
        if ev.unjudged_run_queries:
            lines.append(f"note: {ev.name} has {ev.unjudged_run_queries} queries without judgments (ignored)")
    return "\n".join(lines)


def as_json(
    evaluations: list[Evaluation], comparisons: list[Comparison] | None = None, per_query: bool = True
) -> dict[str, Any]:
    """Evaluations and comparisons as one JSON object (with per-query values unless ``per_query`` is False)."""
    out: dict[str, Any] = {"runs": []}
    for ev in evaluations:
        entry: dict[str, Any] = {
            "name": ev.name,
            "aggregate": ev.aggregate,
            "judged_queries": ev.judged_queries,
            "missing_queries": ev.missing_queries,
            "unjudged_run_queries": ev.unjudged_run_queries,
        }
        if per_query:
            entry["per_query"] = ev.per_query
        out["runs"].append(entry)
    out["comparisons"] = [c.__dict__ for c in comparisons or []]
    return out
