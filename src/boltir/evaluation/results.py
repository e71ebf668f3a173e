"""``boltir.evaluate``: one call from runs and qrels to the metrics table with paired significance tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from boltir.errors import MissingDataError
from boltir.evaluation.measures import Evaluation, evaluate_many
from boltir.evaluation.significance import Comparison, compare_to_baseline


@dataclass
class Results:
    """Evaluations of several runs on one qrels, each compared with the first (the baseline) by a paired t-test,
    Holm-corrected per metric. ``str(results)`` is the table ``boltir evaluate`` prints."""

    evaluations: list[Evaluation]
    comparisons: list[Comparison]
    runs: dict[str, Any] = field(default_factory=dict, repr=False)  # what was evaluated, for the report
    qrels: Mapping[str, Mapping[str, int]] = field(default_factory=dict, repr=False)

    @property
    def means(self) -> dict[str, dict[str, float]]:
        """``{run: {metric: mean over the judged queries}}``."""
        return {ev.name: ev.aggregate for ev in self.evaluations}

    def __getitem__(self, run: str) -> Evaluation:
        for ev in self.evaluations:
            if ev.name == run:
                return ev
        raise MissingDataError(
            f"no run named {run!r}; these results hold {', '.join(e.name for e in self.evaluations)}"
        )

    def significant(self, run: str, metric: str) -> bool:
        """Whether ``run`` differs significantly from the first run on ``metric``."""
        return any(c.run == run and c.metric == metric and c.significant for c in self.comparisons)

    def table(self) -> str:
        """The results as a text table, significant differences marked ``*``."""
        from boltir.evaluation.report import table

        return table(self.evaluations, self.comparisons)

    def to_frame(self, per_query: bool = False) -> Any:
        """The results as a pandas DataFrame.

        Args:
            per_query: one row per (run, query, metric) with its value, instead of one row per run with each
                metric's mean and whether it differs significantly from the first run (``<metric> significant``).

        Returns:
            The DataFrame.
        """
        from boltir.data.frames import require_pandas

        pd = require_pandas()
        if per_query:
            rows = [
                (ev.name, qid, metric, value)
                for ev in self.evaluations
                for metric, values in ev.per_query.items()
                for qid, value in values.items()
            ]
            return pd.DataFrame(rows, columns=["run", "qid", "metric", "value"])
        records = []
        for ev in self.evaluations:
            record: dict[str, Any] = {"run": ev.name, **ev.aggregate}
            record.update({f"{m} significant": self.significant(ev.name, m) for m in ev.aggregate})
            records.append(record)
        return pd.DataFrame(records)

    def to_json(self, per_query: bool = True) -> dict[str, Any]:
        """The results as a JSON object (per-query values unless ``per_query`` is False)."""
        from boltir.evaluation.report import as_json

        return as_json(self.evaluations, self.comparisons, per_query)

    def write_report(
        self,
        path: str,
        queries: str | Mapping[str, str] | None = None,
        docs: str | Mapping[str, str] | None = None,
        title: str = "boltir evaluation",
    ) -> None:
        """Write the self-contained HTML report of these results (``pip install 'boltir[report]'``).

        Args:
            path: the HTML file to write (atomically).
            queries: query texts (a source such as ``"trec-dl-2019"`` or ``{qid: text}``) for hover texts and the
                per-query comparison view.
            docs: passage texts (a source or ``{docid: text}``) for the comparison view; only the passages it
                shows are read.
            title: the page's heading.

        Raises:
            ModuleNotFoundError: matplotlib is missing (the ``report`` extra).
        """
        from boltir.evaluation.html_report import ReportInputs, write_report

        inputs = ReportInputs.build(self.runs, self.qrels, queries, docs)
        write_report(path, self.evaluations, self.comparisons, inputs=inputs, title=title)

    def __str__(self) -> str:
        return self.table()


def _is_run(obj: Mapping[str, Any]) -> bool:
    """Whether ``obj`` is one run (``{qid: {docid: score}}``) rather than runs by name."""
    for per_query in obj.values():
        for value in per_query.values():
            return not isinstance(value, Mapping)
    return True


def evaluate(
    runs: Mapping[str, Any],
    qrels: str | Mapping[str, Mapping[str, int]],
    metrics: list[str] | tuple[str, ...] | None = None,
    alpha: float = 0.05,
) -> Results:
    """Evaluate one run or ``{name: run}`` (the first is the baseline) on ``qrels`` (a mapping, a file, a bundled
    dataset or ``irds:<id>``) with ir_measures metrics (default: nDCG@10, RR@10, R@1000, AP@1000, relevant = grade 2
    for graded qrels); judged queries a run lacks count 0, like ``trec_eval -c``."""
    if isinstance(qrels, str):
        from boltir.data.sources import load_qrels

        qrels = load_qrels(qrels)
    named = {"run": runs} if _is_run(runs) else dict(runs)
    evaluations = evaluate_many(named, qrels, list(metrics) if metrics else None)
    return Results(evaluations, compare_to_baseline(evaluations, alpha), named, qrels)
