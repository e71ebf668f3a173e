"""boltir stages inside PyTerrier: pt.Experiment gives the numbers boltir's own evaluation gives."""

from __future__ import annotations

import ir_measures
import pandas as pd
import pytest

pt = pytest.importorskip("pyterrier")


def _frames():
    from boltir.data.sources import load_qrels, load_queries

    topics = pd.DataFrame(list(load_queries("trec-dl-2019").items()), columns=["qid", "query"])
    qrels = pd.DataFrame(
        [(q, d, g) for q, docs in load_qrels("trec-dl-2019").items() for d, g in docs.items()],
        columns=["qid", "docno", "label"],
    )
    return topics, qrels


def test_experiment_equals_boltir_evaluate():
    import boltir
    from boltir.integrations.pyterrier import to_pyterrier

    topics, qrels = _frames()
    first = boltir.RunRetriever("trec-dl-2019:bm25")
    rerank = boltir.Reranker("minilm-l6", docs="trec-dl-2019", depth=5, show_progress=False)
    bm25, mono = to_pyterrier(first, k=100), to_pyterrier(rerank)
    metrics = ["nDCG@10", "RR(rel=2)@10"]
    measures = [ir_measures.parse_measure(m) for m in metrics]
    table = pt.Experiment([bm25, bm25 >> mono], topics, qrels, measures, names=["bm25", "bm25 >> minilm"])

    queries = boltir.load_queries("trec-dl-2019")
    runs = {"bm25": first.search(queries, 100), "bm25 >> minilm": (first >> rerank).search(queries, 100)}
    ours = boltir.evaluate(runs, "trec-dl-2019", metrics).means
    for name in runs:
        row = table[table["name"] == name].iloc[0]
        for m in metrics:
            assert row[m] == pytest.approx(ours[name][m], abs=1e-9), (name, m)
    assert {len(r) for r in runs["bm25 >> minilm"].values()} == {5}  # the re-ranked top 5 of each query


def test_reranker_uses_a_text_column_and_keeps_every_candidate():
    import boltir
    from boltir.integrations.pyterrier import to_pyterrier

    frame = pd.DataFrame(
        {
            "qid": ["q1"] * 3,
            "query": ["apple fruit"] * 3,
            "docno": ["a", "b", "c"],
            "text": ["apples are a fruit", "engine parts", "fresh fruit and apples"],
            "score": [3.0, 2.0, 1.0],
        }
    )
    out = to_pyterrier(boltir.Reranker("minilm-l6", depth=None, show_progress=False)).transform(frame)
    assert set(out["docno"]) == {"a", "b", "c"} and list(out["rank"]) == [0, 1, 2]
    assert out.iloc[-1]["docno"] == "b"
    model = boltir.load_model("minilm-l6")
    want = model.score("apple fruit", list(frame["text"]))[0]
    got = dict(zip(out["docno"], out["score"]))
    assert [got[d] for d in "abc"] == pytest.approx(list(want), abs=1e-5)


def test_non_stages_are_refused():
    from boltir.integrations.pyterrier import to_pyterrier

    with pytest.raises(TypeError, match="neither a boltir retriever nor a re-ranker"):
        to_pyterrier(object())
