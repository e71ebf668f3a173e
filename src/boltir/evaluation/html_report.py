"""One self-contained HTML page of an evaluation, for people to look at: the metrics table with significance marks,
each run's per-query differences against the baseline (sorted bars: where a run wins and loses), and the
distribution of per-query values of every metric. Figures are matplotlib PNGs embedded as data URIs, so the page
is one file that opens anywhere."""

from __future__ import annotations

import base64
import html
import io
from datetime import datetime, timezone
from typing import Any

from boltir.evaluation.measures import Evaluation
from boltir.evaluation.significance import Comparison

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 0.3em 0.8em; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.sig { font-weight: bold; }
.delta { color: #666; font-size: 0.85em; }
figure { margin: 1.5em 0; }
figure img { display: block; width: 100%; max-width: 1000px; }
figcaption, .note { color: #555; font-size: 0.9em; }
"""


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def differences_figure(evaluations: list[Evaluation], metric: str) -> str:
    """Per-query ``run - baseline`` of ``metric`` for every run after the first, sorted: one panel per run."""
    import matplotlib.pyplot as plt

    base, others = evaluations[0], evaluations[1:]
    fig, axes = plt.subplots(len(others), 1, figsize=(10, 2.6 * len(others)), squeeze=False)
    qids = sorted(base.per_query[metric])
    for ax, ev in zip(axes[:, 0], others):
        diffs = sorted(ev.per_query[metric].get(q, 0.0) - base.per_query[metric][q] for q in qids)
        colors = ["#c0392b" if d < 0 else "#27ae60" for d in diffs]
        ax.bar(range(len(diffs)), diffs, color=colors, width=0.9)
        ax.axhline(0, color="#333", linewidth=0.8)
        wins, losses = sum(d > 0 for d in diffs), sum(d < 0 for d in diffs)
        ax.set_title(f"{ev.name} - {base.name}: {wins} queries better, {losses} worse", fontsize=10)
        ax.set_ylabel(f"delta {metric}")
        ax.set_xticks([])
    fig.tight_layout()
    return _png(fig)


def distributions_figure(evaluations: list[Evaluation]) -> str:
    """Box plots of the per-query values of every metric, the runs side by side."""
    import matplotlib.pyplot as plt

    metrics = evaluations[0].metrics
    fig, axes = plt.subplots(1, len(metrics), figsize=(max(4.0, 3.2 * len(metrics)), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        data = [list(ev.per_query[metric].values()) for ev in evaluations]
        ax.boxplot(data, showmeans=True)
        ax.set_xticks(range(1, len(evaluations) + 1), [str(i) for i in range(1, len(evaluations) + 1)])
        ax.set_title(metric, fontsize=10)
        ax.set_xlabel("run")
    fig.tight_layout()
    return _png(fig)


def _table(evaluations: list[Evaluation], comparisons: list[Comparison]) -> str:
    sig = {(c.run, c.metric): c for c in comparisons}
    metrics = evaluations[0].metrics
    head = "".join(f"<th>{html.escape(m)}</th>" for m in metrics)
    rows = []
    for i, ev in enumerate(evaluations, start=1):
        cells = []
        for m in metrics:
            c = sig.get((ev.name, m))
            mark = "*" if c and c.significant else ""
            delta = f' <span class="delta">({c.difference:+.4f}, p={c.p_holm:.3f})</span>' if c else ""
            cells.append(f'<td class="{"sig" if mark else ""}">{ev.aggregate[m]:.4f}{mark}{delta}</td>')
        rows.append(f"<tr><td>{i}. {html.escape(ev.name)}</td>{''.join(cells)}</tr>")
    return f"<table><thead><tr><th>run</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def html_report(
    evaluations: list[Evaluation], comparisons: list[Comparison], title: str = "boltir evaluation", qrels: str = ""
) -> str:
    """The page as a string."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("the HTML report draws with matplotlib: pip install 'boltir[report]'") from None

    matplotlib.use("Agg", force=True)
    base = evaluations[0]
    parts = [
        f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">{base.judged_queries} judged queries{" of " + html.escape(qrels) if qrels else ""}; '
        f"written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by boltir.</p>",
        "<h2>Metrics</h2>",
        _table(evaluations, comparisons),
    ]
    if comparisons:
        parts.append(
            f'<p class="note">* significantly different from {html.escape(base.name)} (paired t-test, '
            "Holm-corrected over the runs, p &lt; 0.05); in brackets: difference to it and the corrected p.</p>"
        )
    notes = [
        f"{ev.name} lacks {len(ev.missing_queries)} judged queries (scored 0)"
        for ev in evaluations
        if ev.missing_queries
    ]
    parts += [f'<p class="note">note: {html.escape(n)}</p>' for n in notes]
    if len(evaluations) > 1:
        parts.append(f"<h2>Per-query differences against {html.escape(base.name)}</h2>")
        for metric in base.metrics:
            parts.append(
                f'<figure><img alt="per-query {html.escape(metric)} differences" '
                f'src="{differences_figure(evaluations, metric)}"><figcaption>{html.escape(metric)}: each bar is '
                "one query, sorted; green where the run is better than the baseline.</figcaption></figure>"
            )
    parts.append("<h2>Distributions of per-query values</h2>")
    parts.append(
        f'<figure><img alt="per-query distributions" src="{distributions_figure(evaluations)}"><figcaption>'
        + "; ".join(f"{i}: {html.escape(ev.name)}" for i, ev in enumerate(evaluations, start=1))
        + " (triangles: means).</figcaption></figure>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(path: str, evaluations: list[Evaluation], comparisons: list[Comparison], qrels: str = "") -> None:
    """Write the page atomically."""
    from boltir.utils.atomic import atomic_open

    page = html_report(evaluations, comparisons, qrels=qrels)
    with atomic_open(path) as f:
        f.write(page)
