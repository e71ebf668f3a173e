"""Re-ranking with several processes (2 CPU ranks, gloo) writes the single-process run exactly: point-wise pairs
and bi-encoder encodings are shared by batch (each computed in the batch one process would use), list-wise and
per-query re-rankers by query."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rerank-ranks")
    words = ["apple", "engine", "river", "music", "stone"]
    (folder / "docs.tsv").write_text(
        "".join(f"d{i}\t{words[i % 5]} passage {i} " + "word " * (i % 9) + "\n" for i in range(40))
    )
    (folder / "q.tsv").write_text("".join(f"q{i}\t{w} passage\n" for i, w in enumerate(words)))
    (folder / "first.run").write_text(
        "".join(f"q{q} Q0 d{(q * 7 + j) % 40} {j + 1} {-j} bm25\n" for q in range(5) for j in range(16))
    )
    return folder


@pytest.mark.parametrize(
    "family", ["mono", *(pytest.param(f, marks=pytest.mark.repro) for f in ("dpr", "set-encoder", "colbert"))]
)
def test_two_ranks_write_the_single_process_run(inputs, tiny_backbone, family):
    from boltir.cli import main as boltir
    from boltir.models.loading import load_module

    model, tok = load_module(tiny_backbone, family=family)
    folder = inputs / family
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    args = [sys.executable, "-m", "boltir", "re-rank", "--model", str(folder), "--run", str(inputs / "first.run")]
    args += ["--queries", str(inputs / "q.tsv"), "--docs", str(inputs / "docs.tsv"), "--batch-size", "4"]
    outs = []
    for name, extra in (("one", []), ("two", ["--devices", "2", "--accelerator", "cpu"])):
        out = inputs / f"{family}-{name}.run"
        if extra:
            res = subprocess.run(args + ["--output", str(out), *extra], capture_output=True, text=True, env=os.environ)
            assert res.returncode == 0, res.stderr[-3000:]
        else:  # the single process runs in this one (the same command, without a second interpreter's start)
            assert boltir(args[3:] + ["--output", str(out)]) == 0
        outs.append(out.read_text())
    assert outs[0] == outs[1] and len(outs[0].splitlines()) == 5 * 16


@pytest.mark.repro
def test_two_ranks_build_the_same_distillation_data_and_tuples(inputs, tiny_backbone):
    """distill build (a model teacher) and mine (model scoring) share their scoring the same way."""
    from boltir.models.loading import load_module

    model, tok = load_module(tiny_backbone, family="mono")
    model.save_pretrained(inputs / "teacher")
    tok.save_pretrained(inputs / "teacher")
    (inputs / "qrels").write_text("".join(f"q{q} 0 d{(q * 7) % 40} 1\n" for q in range(5)))
    common = ["--queries", str(inputs / "q.tsv"), "--docs", str(inputs / "docs.tsv")]
    outs = []
    for name, extra in (("one", []), ("two", ["--devices", "2", "--accelerator", "cpu"])):
        build = ["distill", "build", "--teacher", f"model:{inputs / 'teacher'}", "--first-stage"]
        build += [str(inputs / "first.run"), "--depth", "16", "--output", str(inputs / f"distill-{name}"), *common]
        mine = ["mine", "--run", str(inputs / "first.run"), "--model", str(inputs / "teacher"), "--qrels"]
        mine += [str(inputs / "qrels"), "--num-negatives", "3", "--output", str(inputs / f"t-{name}.jsonl"), *common]
        for args in (build, mine):
            res = subprocess.run([sys.executable, "-m", "boltir", *args, *extra], capture_output=True, text=True)
            assert res.returncode == 0, res.stderr[-3000:]
        outs.append(
            ((inputs / f"distill-{name}" / "teacher.run").read_text(), (inputs / f"t-{name}.jsonl").read_text())
        )
    assert outs[0] == outs[1]
