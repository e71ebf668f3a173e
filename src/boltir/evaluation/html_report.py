"""One self-contained HTML page of an evaluation, written for a reader who was not there when the runs were made.

The page holds: the metrics table (significance marks, the difference to the baseline, the Holm-corrected p and
the wins / losses / ties over queries); per metric, each run's per-query differences against the baseline as
bars on one shared axis, labelled with the query ids (hover: the query text and the values); box plots of the
per-query values with the run names; what produced each run (its source and the ``.meta.json`` sidecar); and
a per-query comparison view: pick a query and two runs, see both rankings side by side with the passage text,
the judgment grade and how far each document moved. Colours are the Okabe-Ito palette (safe for colour-blind
readers) with a second cue, a sign and a hatch pattern, on every bar. Figures are inline SVG or PNG data URIs and
the script is inline, so the page is one file that opens anywhere and asks nothing of the network.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from boltir.evaluation.measures import Evaluation
from boltir.evaluation.significance import Comparison

BETTER, WORSE = "#0072B2", "#D55E00"  # Okabe-Ito blue and vermillion
SHOWN_DEPTH = 10  # documents per run in the comparison view
TEXT_CHARS = 400  # passage characters shown

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 0.3em 0.8em; border-bottom: 1px solid #ddd; text-align: right; vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
td.sig { font-weight: bold; }
.delta { color: #555; font-size: 0.85em; display: block; font-weight: normal; }
figure { margin: 1.5em 0; }
figure img { display: block; max-width: 100%; }
svg text { font-family: system-ui, sans-serif; }
figcaption, .note { color: #555; font-size: 0.9em; }
#compare { display: grid; grid-template-columns: 1fr 1fr; gap: 1.5em; }
#compare ol { padding-left: 2.2em; }
#compare li { margin-bottom: 0.6em; }
.grade { display: inline-block; min-width: 1.4em; text-align: center; border-radius: 3px; background: #eee; }
.g1 { background: #cfe3f2; } .g2 { background: #8fbfe0; } .g3 { background: #0072B2; color: #fff; }
.moved { font-size: 0.85em; color: #555; }
.doc { font-size: 0.9em; }
"""


@dataclass
class ReportInputs:
    """What the page shows beyond the numbers; every part is optional and its section is left out without it.

    Attributes:
        runs: ``{run name: run}`` (the same names as the evaluations) for the comparison view.
        qrels: the judgments, for the grades shown next to each passage.
        queries: ``{query id: text}`` for hover texts and the comparison view.
        docs: ``{doc id: text}`` of the passages the comparison view shows (others are shown by id).
        sources: ``{run name: where it was read from}`` (a path or ``<dataset>:<run>``).
        provenance: ``{run name: its .meta.json sidecar}`` (the command and inputs that made it).
    """

    runs: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None
    qrels: Mapping[str, Mapping[str, int]] | None = None
    queries: Mapping[str, str] | None = None
    docs: Mapping[str, str] | None = None
    sources: dict[str, str] = field(default_factory=dict)
    provenance: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        runs: Mapping[str, Mapping[str, Mapping[str, float]]],
        qrels: Mapping[str, Mapping[str, int]],
        queries: str | Mapping[str, str] | None = None,
        docs: str | Mapping[str, str] | None = None,
        sources: Mapping[str, str] | None = None,
    ) -> ReportInputs:
        """The inputs from sources as users give them: texts are read from a source name (only the passages the
        comparison view shows), and each run's provenance from the ``.meta.json`` sidecar of its source.

        Args:
            runs: ``{name: run}``.
            qrels: the judgments.
            queries: a queries source (e.g. ``"trec-dl-2019"``) or ``{qid: text}``.
            docs: a documents source or ``{docid: text}``.
            sources: ``{run name: the file or <dataset>:<run> it was read from}``.

        Returns:
            The inputs of :func:`html_report`.
        """
        from boltir.data.runs import candidate_ids, read_run_meta
        from boltir.data.sources import load_docs, load_queries

        if isinstance(docs, str):
            shown = set().union(*(candidate_ids(run, SHOWN_DEPTH) for run in runs.values())) if runs else set()
            docs = {d.doc_id: d.text for d in load_docs(docs) if d.doc_id in shown}
        sources = dict(sources or {})
        return cls(
            runs=runs or None,
            qrels=qrels,
            queries=load_queries(queries) if isinstance(queries, str) else queries,
            docs=docs,
            sources=sources,
            provenance={name: read_run_meta(spec) for name, spec in sources.items()},
        )


def p_text(p: float) -> str:
    """A p-value as a reader wants it: ``p < 0.001`` below a thousandth, else three decimals."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def outcome(run: Evaluation, base: Evaluation, metric: str) -> tuple[int, int, int]:
    """Queries where ``run`` is better than, worse than and equal to ``base`` on ``metric``."""
    diffs = [run.per_query[metric].get(q, 0.0) - v for q, v in base.per_query[metric].items()]
    return sum(d > 1e-12 for d in diffs), sum(d < -1e-12 for d in diffs), sum(abs(d) <= 1e-12 for d in diffs)


def differences_svg(evaluations: list[Evaluation], metric: str, queries: Mapping[str, str] | None = None) -> str:
    """Per-query ``run - baseline`` bars of ``metric``, one panel per run that differs, on one shared y-axis.

    Args:
        evaluations: the baseline first, then the runs compared with it.
        metric: the metric drawn.
        queries: query texts for each bar's hover text.

    Returns:
        An inline ``<svg>`` element, or ``""`` when no run differs from the baseline on any query.
    """
    base = evaluations[0]
    qids = sorted(base.per_query[metric])
    panels = []
    for ev in evaluations[1:]:
        diffs = sorted((ev.per_query[metric].get(q, 0.0) - base.per_query[metric][q], q) for q in qids)
        if any(abs(d) > 1e-12 for d, _ in diffs):
            panels.append((ev, diffs))
    if not panels:
        return ""
    top = max(abs(d) for _, diffs in panels for d, _ in diffs) or 1.0
    bar, gap, left, height, label = 14, 3, 56, 150, 64
    width = left + len(qids) * (bar + gap) + 10
    parts = []
    y0 = 0
    for ev, diffs in panels:
        wins, losses, ties = outcome(ev, base, metric)
        mid = y0 + 24 + height / 2
        parts.append(
            f'<text x="0" y="{y0 + 16}" font-size="13" font-weight="bold">{html.escape(ev.name)} − '
            f"{html.escape(base.name)}: {wins} better, {losses} worse, {ties} tied</text>"
        )
        parts.append(f'<line x1="{left}" x2="{width}" y1="{mid}" y2="{mid}" stroke="#333" stroke-width="1"/>')
        for tick in (top, top / 2, 0.0, -top / 2, -top):
            y = mid - tick / top * height / 2
            parts.append(f'<text x="{left - 6}" y="{y + 4}" font-size="10" text-anchor="end">{tick:+.2f}</text>')
        for i, (d, q) in enumerate(diffs):
            x = left + i * (bar + gap)
            h = abs(d) / top * height / 2
            y = mid - h if d > 0 else mid
            fill = BETTER if d > 0 else "url(#worse)" if d < 0 else "#999"
            text = queries.get(q, "") if queries else ""
            tip = f"{q}: {text} — {metric} {ev.per_query[metric].get(q, 0.0):.4f} vs {base.per_query[metric][q]:.4f}"
            sign = "+" if d > 0 else "−" if d < 0 else "="
            parts.append(
                f'<g class="bar" data-qid="{html.escape(q)}"><title>{html.escape(tip)} ({sign}{abs(d):.4f})</title>'
                f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{max(h, 1):.1f}" fill="{fill}"/>'
                f'<text x="{x + bar / 2}" y="{mid + (-h - 3 if d > 0 else h + 10):.1f}" font-size="9" '
                f'text-anchor="middle">{sign}</text>'
                f'<text transform="translate({x + bar / 2 + 3},{y0 + 24 + height + 6}) rotate(-90)" font-size="9" '
                f'text-anchor="end">{html.escape(q)}</text></g>'
            )
        y0 += 24 + height + label
    defs = (
        f'<defs><pattern id="worse" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{WORSE}"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#fff" stroke-width="2"/></pattern></defs>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{y0}" role="img" '
        f'aria-label="per-query {html.escape(metric)} differences">{defs}{"".join(parts)}</svg>'
    )


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def distributions_figure(evaluations: list[Evaluation]) -> str:
    """Box plots of the per-query values of every metric, the runs side by side under their names (a PNG URI)."""
    import matplotlib.pyplot as plt

    metrics = evaluations[0].metrics
    names = [ev.name for ev in evaluations]
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(max(4.0, (1.2 + 0.6 * len(names)) * len(metrics)), 4.2), squeeze=False
    )
    for ax, metric in zip(axes[0], metrics):
        data = [list(ev.per_query[metric].values()) for ev in evaluations]
        ax.boxplot(data, showmeans=True, meanprops={"markerfacecolor": BETTER, "markeredgecolor": BETTER})
        ax.set_xticks(range(1, len(names) + 1), names, rotation=30, ha="right", fontsize=8)
        ax.set_title(metric, fontsize=10)
    fig.tight_layout()
    return _png(fig)


def _table(evaluations: list[Evaluation], comparisons: list[Comparison]) -> str:
    sig = {(c.run, c.metric): c for c in comparisons}
    base = evaluations[0]
    metrics = base.metrics
    head = "".join(f"<th>{html.escape(m)}</th>" for m in metrics)
    rows = []
    for ev in evaluations:
        cells = []
        for m in metrics:
            c = sig.get((ev.name, m))
            mark = "*" if c and c.significant else ""
            detail = ""
            if c:
                wins, losses, ties = outcome(ev, base, m)
                detail = (
                    f'<span class="delta">{c.difference:+.4f}, {p_text(c.p_holm)}; '
                    f"{wins} better / {losses} worse / {ties} tied</span>"
                )
            cells.append(f'<td class="{"sig" if mark else ""}">{ev.aggregate[m]:.4f}{mark}{detail}</td>')
        rows.append(f"<tr><td>{html.escape(ev.name)}</td>{''.join(cells)}</tr>")
    return f"<table><thead><tr><th>run</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _provenance(evaluations: list[Evaluation], inputs: ReportInputs) -> str:
    rows = []
    for ev in evaluations:
        source = inputs.sources.get(ev.name, "")
        meta = inputs.provenance.get(ev.name) or {}
        made = meta.get("command", "")
        arguments = meta.get("arguments") or {}
        model = arguments.get("model") or (meta.get("model") if isinstance(meta.get("model"), str) else "")
        when = meta.get("created", "") or meta.get("time", "")
        rows.append(
            f"<tr><td>{html.escape(ev.name)}</td><td>{html.escape(str(source))}</td><td>{html.escape(str(made))}</td>"
            f"<td>{html.escape(str(model or ''))}</td><td>{html.escape(str(when))}</td></tr>"
        )
    return (
        "<table><thead><tr><th>run</th><th>read from</th><th>made by</th><th>model</th><th>written</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def comparison_data(evaluations: list[Evaluation], inputs: ReportInputs, depth: int = SHOWN_DEPTH) -> dict[str, Any]:
    """What the comparison view's script reads: each run's top ``depth`` per judged query, grades and texts."""
    assert inputs.runs is not None
    qids = sorted(evaluations[0].per_query[evaluations[0].metrics[0]])
    rankings: dict[str, dict[str, list[str]]] = {}
    shown: set[str] = set()
    for ev in evaluations:
        run = inputs.runs.get(ev.name, {})
        rankings[ev.name] = {}
        for q in qids:
            scores = run.get(q, {})
            top = sorted(scores, key=lambda d: (-scores[d], d))[:depth]
            rankings[ev.name][q] = top
            shown.update(top)
    docs = inputs.docs or {}
    qrels = inputs.qrels or {}
    return {
        "runs": [ev.name for ev in evaluations],
        "queries": {q: (inputs.queries or {}).get(q, "") for q in qids},
        "rankings": rankings,
        "grades": {
            q: {d: g for d, g in qrels.get(q, {}).items() if any(d in rankings[r][q] for r in rankings)} for q in qids
        },
        "texts": {d: docs[d][:TEXT_CHARS] for d in sorted(shown) if d in docs},
    }


COMPARE_SCRIPT = """
(function () {
  const data = JSON.parse(document.getElementById('compare-data').textContent);
  const pick = (id, options, chosen) => {
    const el = document.getElementById(id);
    options.forEach(([value, label]) => { const o = document.createElement('option'); o.value = value;
      o.textContent = label; el.appendChild(o); });
    el.value = chosen; el.addEventListener('change', draw); return el;
  };
  const qsel = pick('cmp-query', Object.keys(data.queries).map(q => [q, q + ': ' + data.queries[q]]),
                    Object.keys(data.queries)[0]);
  const asel = pick('cmp-a', data.runs.map(r => [r, r]), data.runs[0]);
  const bsel = pick('cmp-b', data.runs.map(r => [r, r]), data.runs[data.runs.length > 1 ? 1 : 0]);
  function column(run, other, q) {
    const mine = data.rankings[run][q] || [], theirs = data.rankings[other][q] || [];
    const grades = data.grades[q] || {};
    const ol = document.createElement('ol');
    mine.forEach((d, i) => {
      const li = document.createElement('li');
      const j = theirs.indexOf(d);
      const moved = j < 0 ? 'not in the other top ' + theirs.length : j === i ? 'same rank' :
        (j > i ? '↑ ' + (j - i) + ' above the other run' : '↓ ' + (i - j) + ' below the other run');
      const g = d in grades ? grades[d] : null;
      li.innerHTML = '<span class="grade g' + (g === null ? '' : Math.min(g, 3)) + '" title="judgment grade">' +
        (g === null ? '–' : g) + '</span> <b></b> <span class="moved"></span><div class="doc"></div>';
      li.querySelector('b').textContent = d;
      li.querySelector('.moved').textContent = '(' + moved + ')';
      li.querySelector('.doc').textContent = data.texts[d] || '';
      ol.appendChild(li);
    });
    return ol;
  }
  function draw() {
    const q = qsel.value;
    document.getElementById('cmp-query-text').textContent = data.queries[q];
    [['cmp-left', asel.value, bsel.value], ['cmp-right', bsel.value, asel.value]].forEach(([id, run, other]) => {
      const box = document.getElementById(id); box.replaceChildren();
      const h = document.createElement('h3'); h.textContent = run; box.appendChild(h);
      box.appendChild(column(run, other, q));
    });
  }
  draw();
})();
"""


def _comparison_view(evaluations: list[Evaluation], inputs: ReportInputs) -> list[str]:
    data = json.dumps(comparison_data(evaluations, inputs)).replace("</", "<\\/")
    return [
        "<h2>Compare two runs on one query</h2>",
        '<p><label>query <select id="cmp-query"></select></label> <label>run <select id="cmp-a"></select></label> '
        '<label>against <select id="cmp-b"></select></label></p>',
        '<p class="note">Each run\'s top 10; the box is the judgment grade (– unjudged); in brackets how far the '
        'document stands above or below its place in the other run.</p><p id="cmp-query-text"></p>',
        '<div id="compare"><div id="cmp-left"></div><div id="cmp-right"></div></div>',
        f'<script type="application/json" id="compare-data">{data}</script>',
        f"<script>{COMPARE_SCRIPT}</script>",
    ]


def html_report(
    evaluations: list[Evaluation],
    comparisons: list[Comparison],
    title: str = "boltir evaluation",
    qrels: str = "",
    inputs: ReportInputs | None = None,
) -> str:
    """The page as a string.

    Args:
        evaluations: the baseline first, then the other runs.
        comparisons: each run against the baseline per metric (``compare_to_baseline``).
        title: the page's heading.
        qrels: the name of the judgments, as the reader should see it.
        inputs: runs, texts, sources and provenance for the sections beyond the numbers.

    Returns:
        The HTML text.

    Raises:
        ModuleNotFoundError: matplotlib is missing (the ``report`` extra).
    """
    try:
        import matplotlib
    except ImportError:
        msg = "the HTML report draws with matplotlib: pip install 'boltir[report]'"
        raise ModuleNotFoundError(msg, name="matplotlib") from None  # the CLI names the extra
    from boltir.version import __version__

    matplotlib.use("Agg", force=True)
    inputs = inputs or ReportInputs()
    base = evaluations[0]
    parts = [
        f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">{base.judged_queries} judged queries{" of " + html.escape(qrels) if qrels else ""}; '
        f"written {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by boltir {html.escape(__version__)}.</p>",
        "<h2>Metrics</h2>",
        _table(evaluations, comparisons),
    ]
    if comparisons:
        parts.append(
            f'<p class="note">* significantly different from {html.escape(base.name)} (paired t-test, '
            "Holm-corrected over the runs, p &lt; 0.05). Under each value: the difference to the baseline, the "
            "corrected p, and the queries where the run is better, worse or tied.</p>"
        )
    notes = [
        f"{ev.name} lacks {len(ev.missing_queries)} judged queries (scored 0)"
        for ev in evaluations
        if ev.missing_queries
    ]
    parts += [f'<p class="note">note: {html.escape(n)}</p>' for n in notes]
    if len(evaluations) > 1:
        parts.append(f"<h2>Per-query differences against {html.escape(base.name)}</h2>")
        same = []
        for metric in base.metrics:
            svg = differences_svg(evaluations, metric, inputs.queries)
            if not svg:
                same.append(metric)
                continue
            parts.append(
                f"<figure>{svg}<figcaption>{html.escape(metric)}: one bar per query (its id below), sorted, on one "
                f"axis for every run; blue and + where the run is better than {html.escape(base.name)}, hatched "
                "vermillion and − where it is worse; hover a bar for the query and both values.</figcaption></figure>"
            )
        if same:
            parts.append(
                f'<p class="note">No run differs from {html.escape(base.name)} on any query in '
                f"{html.escape(', '.join(same))}.</p>"
            )
    parts.append("<h2>Distributions of per-query values</h2>")
    parts.append(
        f'<figure><img alt="per-query distributions" src="{distributions_figure(evaluations)}"><figcaption>'
        "Each box is one run's per-query values (line: median; marker: mean).</figcaption></figure>"
    )
    if inputs.runs is not None and len(evaluations) > 1:
        parts += _comparison_view(evaluations, inputs)
    parts.append("<h2>Where the runs come from</h2>")
    parts.append(_provenance(evaluations, inputs))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    path: str,
    evaluations: list[Evaluation],
    comparisons: list[Comparison],
    qrels: str = "",
    inputs: ReportInputs | None = None,
    title: str = "boltir evaluation",
) -> None:
    """Write the page to ``path`` atomically (see :func:`html_report` for the arguments)."""
    from boltir.utils.atomic import atomic_open

    page = html_report(evaluations, comparisons, title=title, qrels=qrels, inputs=inputs)
    with atomic_open(path) as f:
        f.write(page)
