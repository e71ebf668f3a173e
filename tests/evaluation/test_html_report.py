"""The HTML report: one self-contained page naming every run and metric with the figures embedded, which a real
browser (headless Chromium) draws."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest

BLUE, VERMILLION = (0x00, 0x72, 0xB2), (0xD5, 0x5E, 0x00)  # the bars of a better / worse query


def _evaluations():
    from boltir.evaluation.measures import evaluate_many
    from boltir.evaluation.significance import compare_to_baseline

    rng = np.random.default_rng(0)
    qrels = {f"q{i}": {f"d{j}": int(j % 3 == 0) + int(j % 5 == 0) for j in range(20)} for i in range(12)}
    runs = {
        name: {q: {f"d{j}": float(rng.normal(shift * (j % 3 == 0))) for j in range(20)} for q in qrels}
        for name, shift in (("baseline", 0.0), ("better", 1.5), ("other", 0.3))
    }
    evals = evaluate_many(runs, qrels, ["nDCG@10", "RR@10"])
    return evals, compare_to_baseline(evals)


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_data(self, data):
        self.text.append(data)


def _inputs(evals):
    from boltir.evaluation.html_report import ReportInputs

    rng = np.random.default_rng(0)
    runs = {
        ev.name: {q: {f"d{j}": float(rng.normal()) for j in range(20)} for q in ev.per_query["RR@10"]} for ev in evals
    }
    queries = {q: f"text of query {q}" for q in evals[0].per_query["RR@10"]}
    docs = {f"d{j}": f"passage number {j}" for j in range(20)}
    qrels = {q: {"d3": 2, "d5": 1} for q in queries}
    return ReportInputs(
        runs,
        qrels,
        queries,
        docs,
        sources={"baseline": "base.run"},
        provenance={"baseline": {"command": "boltir bm25", "arguments": {"model": "m-1"}}},
    )


def test_page_names_every_run_and_metric_and_embeds_the_figures(tmp_path):
    from boltir.evaluation.html_report import write_report
    from boltir.version import __version__

    evals, comps = _evaluations()
    write_report(str(tmp_path / "r.html"), evals, comps, qrels="toy", inputs=_inputs(evals))
    html_text = (tmp_path / "r.html").read_text()
    page = _Page()
    page.feed(html_text)
    text = " ".join(page.text)
    for name in ("baseline", "better", "other", "nDCG@10", "RR@10"):
        assert name in text
    assert len(page.images) == 1 and html_text.count("<svg") == 2  # box plots; one bar chart per metric
    src = page.images[0]
    assert src.startswith("data:image/png;base64,")
    assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "*" in text and f"boltir {__version__}" in text
    assert "base.run" in text and "boltir bm25" in text and "m-1" in text  # where a run came from
    assert "https://" not in html_text and "http://" not in html_text.replace("http://www.w3.org/2000/svg", "")
    assert not any(n.startswith("r.html.") for n in os.listdir(tmp_path))  # written atomically


def test_wins_losses_ties_and_p_values_are_the_hand_counts():
    from boltir.evaluation.html_report import html_report, outcome, p_text

    evals, comps = _evaluations()
    base, better = evals[0], evals[1]
    diffs = [better.per_query["nDCG@10"][q] - base.per_query["nDCG@10"][q] for q in base.per_query["nDCG@10"]]
    expected = (sum(d > 0 for d in diffs), sum(d < 0 for d in diffs), sum(d == 0 for d in diffs))
    assert outcome(better, base, "nDCG@10") == expected and sum(expected) == 12
    page = html_report(evals, comps)
    assert f"{expected[0]} better / {expected[1]} worse / {expected[2]} tied" in page
    assert f"better − baseline: {expected[0]} better, {expected[1]} worse, {expected[2]} tied" in page
    assert p_text(0.0004) == "p < 0.001" and p_text(0.0123) == "p = 0.012" and "p=0.000" not in page


def test_bars_carry_query_ids_and_texts_and_share_one_axis():
    import re

    from boltir.evaluation.html_report import differences_svg

    evals, _ = _evaluations()
    queries = {q: f"text of query {q}" for q in evals[0].per_query["RR@10"]}
    svg = differences_svg(evals, "nDCG@10", queries)
    bars = re.findall(r'<g class="bar" data-qid="([^"]+)"><title>([^<]+)</title>', svg)
    assert len(bars) == 2 * 12 and {q for q, _ in bars} == set(queries)
    assert all(f"{q}: text of query {q}" in title for q, title in bars)
    ticks = re.findall(r'text-anchor="end">([+-][0-9.]+)</text>', svg)
    assert ticks[:5] == ticks[5:10]  # both panels on one axis
    top = max(abs(ev.per_query["nDCG@10"][q] - evals[0].per_query["nDCG@10"][q]) for ev in evals[1:] for q in queries)
    assert float(ticks[0]) == pytest.approx(top, abs=0.006)


def test_no_empty_panels_for_runs_or_metrics_without_a_difference():
    from boltir.evaluation.html_report import differences_svg, html_report
    from boltir.evaluation.measures import evaluate_many
    from boltir.evaluation.significance import compare_to_baseline

    qrels = {f"q{i}": {"d1": 1} for i in range(6)}
    base = {q: {"d1": 2.0, "d2": 1.0} for q in qrels}
    same = {q: {"d1": 5.0, "d2": 1.0} for q in qrels}  # other scores, the same ranking
    moved = {q: ({"d1": 1.0, "d2": 2.0} if q == "q0" else {"d1": 2.0, "d2": 1.0}) for q in qrels}
    evals = evaluate_many({"base": base, "same": same, "moved": moved}, qrels, ["RR@10", "P@5"])
    assert differences_svg(evals, "P@5") == ""  # P@5 cannot move: both documents are in the top 5
    svg = differences_svg(evals, "RR@10")
    assert "moved − base" in svg and "same − base" not in svg
    page = html_report(evals, compare_to_baseline(evals))
    assert page.count("<svg") == 1 and "No run differs from base on any query in P@5." in page


def test_comparison_view_holds_both_rankings_grades_and_texts():
    import json
    import re

    from boltir.evaluation.html_report import html_report

    evals, comps = _evaluations()
    inputs = _inputs(evals)
    page = html_report(evals, comps, inputs=inputs)
    data = json.loads(re.search(r'<script type="application/json" id="compare-data">(.*?)</script>', page, re.S)[1])
    assert data["runs"] == ["baseline", "better", "other"]
    scores = inputs.runs["better"]["q3"]
    assert data["rankings"]["better"]["q3"] == sorted(scores, key=lambda d: (-scores[d], d))[:10]
    assert data["grades"]["q3"] == {
        d: g for d, g in {"d3": 2, "d5": 1}.items() if d in set().union(*(r["q3"] for r in data["rankings"].values()))
    }
    assert data["texts"]["d3"] == "passage number 3" and data["queries"]["q3"] == "text of query q3"


def test_evaluate_names_runs_on_the_command_line(tmp_path, capsys):
    from boltir.cli import main as boltir

    out = tmp_path / "r.html"
    args = ["evaluate", "--qrels", "trec-dl-2019", "--metrics", "nDCG@10", "bm25=trec-dl-2019:bm25"]
    assert boltir(args + ["tas-b=trec-dl-2019:tasb", "--report", str(out)]) == 0
    table = capsys.readouterr().out
    assert "\nbm25 " in table and "\ntas-b " in table and "0.7210*" in table
    page = out.read_text()
    assert "trec-dl-2019:tasb" in page and "tas-b − bm25" in page  # the name on the figures, the source below
    assert "anthropological definition of environment" in page  # DL19 query texts from the qrels' dataset


def _browser() -> str | None:
    return next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


@pytest.mark.slow
def test_a_real_browser_draws_the_figures(tmp_path):
    """Headless Chromium renders the page; the screenshot must hold the figures' bars (their colours appear only
    in the plots). .ci/run installs Chromium and sets BOLTIR_REQUIRE_BROWSER=1 so CI never skips this."""
    from matplotlib.image import imread

    from boltir.evaluation.html_report import write_report

    browser = _browser()
    if browser is None:
        if os.environ.get("BOLTIR_REQUIRE_BROWSER") == "1":
            pytest.fail("no chromium on PATH (apt-get install chromium)")
        pytest.skip("no chromium on PATH")
    evals, comps = _evaluations()
    write_report(str(tmp_path / "r.html"), evals, comps, inputs=_inputs(evals))
    shot = tmp_path / "shot.png"
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1200,3000"]
    subprocess.run(cmd + [f"--screenshot={shot}", (tmp_path / "r.html").as_uri()], capture_output=True, timeout=120)
    pixels = (imread(shot)[..., :3] * 255).round().astype(int)

    def count(rgb: tuple[int, int, int]) -> int:
        return int((np.abs(pixels - np.array(rgb)).max(-1) <= 8).sum())

    assert count(BLUE) > 3000 and count(VERMILLION) > 300  # bars of both signs, drawn at a visible size
    rows = np.nonzero((np.abs(pixels - np.array(BLUE)).max(-1) <= 8).any(1))[0]
    assert rows.min() > 150  # below the heading and the table, where the figures stand
    offline = "--host-resolver-rules=MAP * ~NOTFOUND"
    dom = subprocess.run(
        [*cmd[:4], offline, "--dump-dom", (tmp_path / "r.html").as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    left = dom.split('id="cmp-left"', 1)[1].split('id="cmp-right"', 1)[0]
    assert left.count("<li>") == 10 and "passage number" in left  # the script drew the comparison view
