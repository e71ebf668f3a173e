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

GREEN, RED = (0x27, 0xAE, 0x60), (0xC0, 0x39, 0x2B)  # the bars of a better / worse query


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


def test_page_names_every_run_and_metric_and_embeds_the_figures(tmp_path):
    from boltir.evaluation.html_report import write_report

    evals, comps = _evaluations()
    write_report(str(tmp_path / "r.html"), evals, comps, qrels="toy")
    page = _Page()
    page.feed((tmp_path / "r.html").read_text())
    text = " ".join(page.text)
    for name in ("baseline", "better", "other", "nDCG@10", "RR@10"):
        assert name in text
    assert len(page.images) == 2 + 1  # per-query differences for each metric, then the distributions
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "0.0" in text and "*" in text  # values and a significance mark ("better" wins clearly)
    assert not any(n.startswith("r.html.") for n in os.listdir(tmp_path))  # written atomically


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
    write_report(str(tmp_path / "r.html"), evals, comps)
    shot = tmp_path / "shot.png"
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1200,3000"]
    subprocess.run(cmd + [f"--screenshot={shot}", (tmp_path / "r.html").as_uri()], capture_output=True, timeout=120)
    pixels = (imread(shot)[..., :3] * 255).round().astype(int)

    def count(rgb: tuple[int, int, int]) -> int:
        return int((np.abs(pixels - np.array(rgb)).max(-1) <= 8).sum())

    assert count(GREEN) > 3000 and count(RED) > 300  # bars of both signs, drawn at a visible size
    rows = np.nonzero((np.abs(pixels - np.array(GREEN)).max(-1) <= 8).any(1))[0]
    assert rows.min() > 150  # below the heading and the table, where the figures stand
