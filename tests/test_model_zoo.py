"""The model zoo page's numbers are measured ones: retrieval rows equal the benchmark JSON, re-ranking rows are
re-measured here (repro tier)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _rows() -> list[list[str]]:
    page = (ROOT / "docs" / "model-zoo.md").read_text(encoding="utf-8")
    table = page.split("## Named models", 1)[1].split("\n## ", 1)[0]
    return [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines() if line.startswith("| ")][2:]


def test_retrieval_rows_are_the_benchmark_json():
    systems = json.loads((ROOT / "benchmarks" / "results" / "retrieval-trecdl.json").read_text())["systems"]
    key = {"BM25 (bm25s, the pool)": "bm25", "`minilm-l6` (sentence-transformers/all-MiniLM-L6-v2)": "dpr"}
    key["`splade-tiny` (SPLADE-tiny MS MARCO)"] = "splade"
    checked = 0
    for model, _, task, dl19, dl20, _ in _rows():
        if model in key and task.startswith("retrieval"):
            measured = systems[key[model]]
            assert (float(dl19), float(dl20)) == (measured["dl19"]["nDCG@10"], measured["dl20"]["nDCG@10"]), model
            checked += 1
    assert checked == 3


@pytest.mark.repro
def test_reranking_rows_reproduce(tmp_path):
    from boltir.cli import main as boltir
    from boltir.data.runs import read_run
    from boltir.evaluation.results import evaluate

    rows = [r for r in _rows() if r[2].startswith("re-ranking")]
    assert len(rows) == 2
    for model, _, _, dl19, dl20, _ in rows:
        name = re.search(r"`([^`]+)`", model)[1]
        for year, shown in (("2019", dl19), ("2020", dl20)):
            out = tmp_path / f"{name}-{year}.run"
            args = ["re-rank", "--model", name, "--run", f"trec-dl-{year}:bm25", "--queries", f"trec-dl-{year}"]
            assert boltir([*args, "--docs", f"trec-dl-{year}", "--output", str(out)]) == 0
            got = evaluate(read_run(str(out)), f"trec-dl-{year}", ["nDCG@10"]).means["run"]["nDCG@10"]
            assert f"{got:.4f}" == shown, (name, year)
    bm25 = next(r for r in _rows() if r[0].startswith("BM25 (the bundled"))
    for year, shown in (("2019", bm25[3]), ("2020", bm25[4])):
        got = evaluate(read_run(f"trec-dl-{year}:bm25"), f"trec-dl-{year}", ["nDCG@10"]).means["run"]["nDCG@10"]
        assert f"{got:.4f}" == shown
