"""Hard-negative mining by hand and from the CLI (run, run re-scored by a model); the output feeds read_tuples."""

import pytest

from boltir.cli import main as boltir
from boltir.data.readers import read_tuples
from boltir.training.mining import mine_negatives

RANKING = {"q1": {f"d{i}": 10.0 - i for i in range(10)}, "q2": {"d1": 1.0}, "q3": {"d0": 2.0, "d1": 1.0}}
QUERIES = {"q1": "one", "q2": "two", "q3": "three"}
QRELS = {"q1": {"d2": 2, "d5": 0, "d9": 1}, "q3": {"d0": 1, "d1": 1}}


def test_top_sampling_skips_positives_and_the_top():
    tuples, report = mine_negatives(
        RANKING, QUERIES, QRELS, num_negatives=3, skip_top=2, sampling="top", keep_scores=True
    )
    t = tuples[0]
    # ranked d0..d9; positives d2, d9 dropped (d5 is judged 0: a negative); skip d0, d1 -> d3, d4, d5
    assert (t.query_id, t.positives, t.negatives) == ("q1", ["d2", "d9"], ["d3", "d4", "d5"])
    assert t.scores == {"d2": 8.0, "d9": 1.0, "d3": 7.0, "d4": 6.0, "d5": 5.0}
    assert report.no_positive == ["q2"] and report.too_few_negatives == ["q3"] and report.written == 1


def test_random_sampling_is_seeded_and_within_depth():
    a, _ = mine_negatives(RANKING, QUERIES, QRELS, num_negatives=3, depth=6, seed=1)
    b, _ = mine_negatives(RANKING, QUERIES, QRELS, num_negatives=3, depth=6, seed=1)
    assert a == b and set(a[0].negatives) <= {"d0", "d1", "d3", "d4", "d5"} and len(a[0].negatives) == 3
    with pytest.raises(ValueError, match="sampling='best'"):
        mine_negatives(RANKING, QUERIES, QRELS, sampling="best")


def test_mine_command_from_a_run_and_a_model(tmp_path, capsys):
    out = tmp_path / "t.jsonl"
    assert (
        boltir(
            [
                "mine",
                "--queries",
                "trec-dl-2020",
                "--qrels",
                "trec-dl-2020",
                "--run",
                "trec-dl-2020:bm25",
                "--num-negatives",
                "7",
                "--skip-top",
                "3",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    assert "wrote" in capsys.readouterr().out
    tuples = list(read_tuples(out))
    assert len(tuples) == 54 and all(len(t.negatives) == 7 and t.positives for t in tuples)
    assert (
        boltir(
            [
                "mine",
                "--queries",
                "trec-dl-2020",
                "--qrels",
                "trec-dl-2020",
                "--run",
                "trec-dl-2020:bm25",
                "--model",
                "minilm-l6",
                "--docs",
                "trec-dl-2020",
                "--depth",
                "10",
                "--sampling",
                "top",
                "--num-negatives",
                "2",
                "--keep-scores",
                "true",
                "--output",
                str(tmp_path / "m.jsonl"),
            ]
        )
        == 0
    )
    mined = list(read_tuples(tmp_path / "m.jsonl"))
    assert mined and all(t.scores and set(t.negatives) <= set(t.scores) for t in mined)
    with pytest.raises(SystemExit):
        boltir(["mine", "--queries", "x", "--qrels", "y", "--output", "z", "--sampling"])
    assert boltir(["mine", "--queries", "trec-dl-2020", "--qrels", "trec-dl-2020", "--output", str(out)]) == 1
    assert "exactly one of --run and --index" in capsys.readouterr().err
