"""``boltir distill build`` with a run teacher and ``boltir distill subsample`` on the bundled DL20 data."""

import json

from boltir.cli import main as boltir
from boltir.data.runs import read_run, top_k


def test_distill_build_and_subsample(tmp_path, capsys):
    out = tmp_path / "build"
    assert (
        boltir(
            [
                "distill",
                "build",
                "--teacher",
                "run:trec-dl-2020:rankvicuna-7b.bm25",
                "--first-stage",
                "trec-dl-2020:bm25",
                "--depth",
                "30",
                "--num-queries",
                "4",
                "--seed",
                "1",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    assert "4 queries x depth 30" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["teacher"] == {"type": "run", "run": "trec-dl-2020:rankvicuna-7b.bm25"}
    assert (manifest["first_stage"], manifest["depth"], manifest["seed"]) == ("trec-dl-2020:bm25", 30, 1)
    built = read_run(str(out / "teacher.run"))
    assert sorted(built) == manifest["query_ids"] and all(len(v) == 30 for v in built.values())
    assert [ln.split("\t")[0] for ln in (out / "queries.tsv").read_text().splitlines()] == manifest["query_ids"]

    # depth ablation: the teacher's order within the BM25 top 10
    assert (
        boltir(
            [
                "distill",
                "subsample",
                "--teacher-run",
                "trec-dl-2020:rankvicuna-7b.bm25",
                "--first-stage",
                "trec-dl-2020:bm25",
                "--depth",
                "10",
                "--output",
                str(tmp_path / "top10.run"),
            ]
        )
        == 0
    )
    sub, teacher, bm25 = (
        read_run(str(tmp_path / "top10.run")),
        read_run("trec-dl-2020:rankvicuna-7b.bm25"),
        top_k(read_run("trec-dl-2020:bm25"), 10),
    )
    for qid, scores in sub.items():
        assert set(scores) == set(bm25[qid]) & set(teacher[qid])
        order = sorted(scores, key=lambda d: -scores[d])
        assert order == sorted(order, key=lambda d: -teacher[qid][d])


def test_distill_build_errors_name_the_problem(tmp_path, capsys):
    assert (
        boltir(
            [
                "distill",
                "build",
                "--teacher",
                "vllm:foo",
                "--first-stage",
                "trec-dl-2020:bm25",
                "--output",
                str(tmp_path),
            ]
        )
        == 1
    )
    assert "unknown kind 'vllm'" in capsys.readouterr().err
    assert (
        boltir(
            [
                "distill",
                "build",
                "--teacher",
                "openai:fake",
                "--base-url",
                "http://127.0.0.1:9/v1",
                "--retries",
                "0",
                "--timeout",
                "1",
                "--first-stage",
                "trec-dl-2020:bm25",
                "--depth",
                "3",
                "--num-queries",
                "1",
                "--output",
                str(tmp_path),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "boltir distill: error: query" in err and "failed 1 times" in err
    assert not (tmp_path / "teacher.run").exists()
