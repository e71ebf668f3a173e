from boltir.data.runs import read_run
from boltir.data.sources import DATASETS, doc_texts, load_docs, load_qrels, load_queries, load_tuples


def test_trec_dl_splits_are_separate():
    q19, q20 = load_queries("trec-dl-2019"), load_queries("trec-dl-2020")
    assert (len(q19), len(q20)) == (43, 54)
    assert not set(q19) & set(q20)
    qrels19 = load_qrels("trec-dl-2019")
    assert set(qrels19) == set(q19)
    assert sum(map(len, qrels19.values())) == 9260
    assert sum(map(len, load_qrels("trec-dl-2020").values())) == 11386


def test_dataset_runs_and_counts():
    run = read_run("trec-dl-2019:bm25")
    assert len(run) == 43 and all(len(d) == 100 for d in run.values())
    assert len(DATASETS["trec-dl-2019"].runs()) == 19
    assert len(read_run("trec-dl-2020:rankvicuna-7b.bm25")) == 54
    assert sum(1 for _ in load_docs("vaswani")) == 11429
    assert len(load_queries("vaswani")) == 93
    tuples = list(load_tuples("msmarco-devsmall-sample"))
    assert len(tuples) == 1120 and sum(1 for t in tuples if t.negatives) == 542


def test_every_run_doc_has_text():
    run = read_run("trec-dl-2019:bm25")
    wanted = {d for ds in run.values() for d in ds}
    assert len(doc_texts("trec-dl-2019", wanted)) == len(wanted)


def test_ir_datasets_id_offline(tmp_path):
    import ir_datasets
    from ir_datasets.datasets.base import Dataset
    from ir_datasets.formats import TrecQrels, TsvDocs, TsvQueries
    from ir_datasets.util import LocalDownload

    (tmp_path / "docs.tsv").write_text("d1\tred apples\nd2\tgreen pears\n")
    (tmp_path / "queries.tsv").write_text("q1\tapples\n")
    (tmp_path / "qrels.txt").write_text("q1 0 d1 1\n")
    name = f"boltir-test-{tmp_path.name}"
    ir_datasets.registry.register(
        name,
        Dataset(
            TsvDocs(LocalDownload(tmp_path / "docs.tsv")),
            TsvQueries(LocalDownload(tmp_path / "queries.tsv")),
            TrecQrels(LocalDownload(tmp_path / "qrels.txt"), {1: "relevant"}),
        ),
    )
    assert [(d.doc_id, d.text) for d in load_docs(f"irds:{name}")] == [("d1", "red apples"), ("d2", "green pears")]
    assert load_queries(f"irds:{name}") == {"q1": "apples"}
    assert load_qrels(f"irds:{name}") == {"q1": {"d1": 1}}
