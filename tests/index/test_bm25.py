import pytest

from boltir.data.sources import load_qrels, load_queries
from boltir.evaluation.measures import evaluate
from boltir.index.bm25 import BM25Index


def test_vaswani_matches_reference_numbers(tmp_path):
    index = BM25Index.build("vaswani", k1=0.9, b=0.4, show_progress=False)
    run = index.search(load_queries("vaswani"), k=1000)
    agg = evaluate(run, load_qrels("vaswani"), ["nDCG@10", "RR@10", "AP@1000", "R@1000"]).aggregate
    assert [round(agg[m], 4) for m in ["nDCG@10", "RR@10", "AP@1000", "R@1000"]] == [0.4449, 0.6824, 0.2891, 0.9337]
    index.save(tmp_path / "bm25")
    again = BM25Index.load(tmp_path / "bm25").search(load_queries("vaswani"), k=1000)
    assert again == run


def test_bm25_scores_by_hand(tmp_path):
    import math

    docs = tmp_path / "d.tsv"
    docs.write_text("a\tcat cat dog\nb\tdog bird\nc\tfish\n")
    index = BM25Index.build(str(docs), k1=1.2, b=0.75, stemmer=None, stopwords=None, show_progress=False)
    run = index.search({"q": "cat"}, k=3)
    n, df, tf, dl, avgdl = 3, 1, 2, 3, 2.0
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    # Lucene's BM25 (bm25s method="lucene"): no (k1 + 1) factor in the numerator
    expected = idf * tf / (tf + 1.2 * (1 - 0.75 + 0.75 * dl / avgdl))
    assert list(run["q"]) == ["a"]
    assert run["q"]["a"] == pytest.approx(expected, rel=1e-5)
