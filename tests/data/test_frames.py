"""Runs, qrels, topics and evaluation results as DataFrames with PyTerrier's column names, and back."""

from __future__ import annotations

import pytest

pd = pytest.importorskip("pandas")


def test_a_run_round_trips_with_pyterrier_columns_and_ranks():
    from boltir.data.frames import run_from_frame, run_to_frame

    run = {"q1": {"b": 1.0, "a": 2.0, "c": 1.0}, "q2": {"x": 0.5}}
    frame = run_to_frame(run, {"q1": "cats", "q2": "dogs"})
    assert list(frame.columns) == ["qid", "query", "docno", "score", "rank"]
    assert frame[frame.qid == "q1"][["docno", "rank"]].values.tolist() == [["a", 0], ["b", 1], ["c", 2]]  # ties by id
    assert run_from_frame(frame) == run


def test_qrels_and_topics_of_a_bundled_dataset():
    import boltir
    from boltir.data.frames import qrels_from_frame, qrels_to_frame, topics_frame

    qrels = qrels_to_frame("trec-dl-2019")
    assert list(qrels.columns) == ["qid", "docno", "label"] and len(qrels) == 9260
    assert qrels_from_frame(qrels) == boltir.load_qrels("trec-dl-2019")
    topics = topics_frame("trec-dl-2019")
    assert list(topics.columns) == ["qid", "query"] and len(topics) == 43
    with pytest.raises(boltir.BoltirError, match="lacks label"):
        qrels_from_frame(qrels.drop(columns=["label"]))


def test_results_to_frame_holds_the_means_and_the_tests():
    import boltir

    runs = {"bm25": boltir.read_run("trec-dl-2019:bm25"), "tasb": boltir.read_run("trec-dl-2019:tasb")}
    results = boltir.evaluate(runs, "trec-dl-2019", ["nDCG@10", "RR(rel=2)@10"])
    frame = results.to_frame()
    assert frame["run"].tolist() == ["bm25", "tasb"]
    assert frame["nDCG@10"].round(4).tolist() == [round(results.means[r]["nDCG@10"], 4) for r in runs]
    assert frame["nDCG@10 significant"].tolist() == [False, results.significant("tasb", "nDCG@10")]
    long = results.to_frame(per_query=True)
    assert list(long.columns) == ["run", "qid", "metric", "value"] and len(long) == 2 * 2 * 43
    mean = long[(long.run == "tasb") & (long.metric == "nDCG@10")]["value"].mean()
    assert mean == pytest.approx(results.means["tasb"]["nDCG@10"])
