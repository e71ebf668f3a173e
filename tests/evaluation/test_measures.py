import math

import pytest

from boltir.data.runs import read_run
from boltir.data.sources import load_qrels
from boltir.evaluation.measures import evaluate, evaluate_many
from boltir.evaluation.significance import compare_to_baseline, holm


@pytest.mark.parametrize("ds,ndcg,rr", [("trec-dl-2019", 0.5058, 0.7024), ("trec-dl-2020", 0.4796, 0.6533)])
def test_bm25_run_reproduces_published_numbers(ds, ndcg, rr):
    agg = evaluate(read_run(f"{ds}:bm25"), load_qrels(ds), ["nDCG@10", "RR(rel=2)@10"]).aggregate
    assert round(agg["nDCG@10"], 4) == ndcg
    assert round(agg["RR(rel=2)@10"], 4) == rr


def test_combined_qrels_pitfall_is_reported():
    ev = evaluate(read_run("trec-dl-2019:bm25"), load_qrels("data/msmarco-trecdl-pool/qrels.txt"), ["nDCG@10"])
    assert ev.judged_queries == 97 and len(ev.missing_queries) == 54
    assert round(ev.aggregate["nDCG@10"], 3) == 0.224


def test_ndcg_and_rr_by_hand():
    qrels = {"q": {"a": 2, "b": 0, "c": 1, "z": 3}}
    run = {"q": {"a": 1.0, "b": 3.0, "c": 2.0}}
    ev = evaluate(run, qrels, ["nDCG@10", "RR(rel=2)@10", "RR@10"])
    # trec_eval's nDCG uses the grade itself as gain: ranked b=0, c=1, a=2; ideal z=3, a=2, c=1
    dcg = 0 / math.log2(2) + 1 / math.log2(3) + 2 / math.log2(4)
    idcg = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert ev.aggregate["nDCG@10"] == pytest.approx(dcg / idcg)
    assert ev.aggregate["RR(rel=2)@10"] == pytest.approx(1 / 3)
    assert ev.aggregate["RR@10"] == pytest.approx(1 / 2)


def test_holm_by_hand():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == [0.5]


def test_t_test_matches_scipy():
    from scipy import stats

    qrels = load_qrels("trec-dl-2019")
    evs = evaluate_many(
        {"bm25": read_run("trec-dl-2019:bm25"), "rv": read_run("trec-dl-2019:rankvicuna-7b.bm25")}, qrels, ["nDCG@10"]
    )
    (c,) = compare_to_baseline(evs)
    qids = sorted(qrels)
    a = [evs[0].per_query["nDCG@10"][q] for q in qids]
    b = [evs[1].per_query["nDCG@10"][q] for q in qids]
    assert c.p_value == pytest.approx(stats.ttest_rel(b, a).pvalue)
    assert c.difference == pytest.approx(0.6682 - 0.5058, abs=1e-4) and c.significant


def test_binary_qrels_get_binary_default_metrics_and_zero_only_measures_are_named():
    import warnings

    from boltir.evaluation.measures import default_metrics
    from boltir.evaluation.results import evaluate as evaluate_runs

    qrels = {"q1": {"a": 1, "b": 0}, "q2": {"c": 1}}
    run = {"q1": {"a": 2.0, "b": 1.0}, "q2": {"c": 1.0}}
    assert default_metrics(qrels) == ["nDCG@10", "RR@10", "R@1000", "AP@1000"]
    assert default_metrics({"q": {"a": 2}})[1] == "RR(rel=2)@10"
    results = evaluate_runs(run, qrels)
    assert results.means["run"]["RR@10"] == 1.0
    with pytest.warns(UserWarning, match=r"RR\(rel=2\)@10 can only be 0 on these qrels: their highest grade is 1"):
        results = evaluate_runs(run, qrels, ["RR(rel=2)@10"])
    assert "note: RR(rel=2)@10 can only be 0 here" in results.table()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evaluate_runs(run, qrels, ["nDCG@10"])  # nothing to say
