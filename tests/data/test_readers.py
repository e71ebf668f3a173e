import gzip
import json

import pytest

from boltir.data.errors import DataFormatError
from boltir.data.readers import read_docs, read_qrels, read_queries, read_trec_run, read_tuples
from boltir.data.writers import write_trec_run


def write(tmp_path, name, content, mode="w"):
    p = tmp_path / name
    if mode == "wb":
        p.write_bytes(content)
    else:
        p.write_text(content, encoding="utf-8")
    return p


def test_docs_jsonl_tsv_and_gz(tmp_path):
    j = write(tmp_path, "d.jsonl", '{"doc_id": "a", "text": "alpha"}\n{"docno": 2, "contents": "beta", "title": "T"}\n')
    assert [(d.doc_id, d.text) for d in read_docs(j)] == [("a", "alpha"), ("2", "T beta")]
    t = write(tmp_path, "d.tsv", "a\talpha\nb\tbeta\n")
    assert [d.doc_id for d in read_docs(t)] == ["a", "b"]
    g = tmp_path / "d.jsonl.gz"
    with gzip.open(g, "wt") as f:
        f.write('{"doc_id": "x", "text": "gz text"}\n')
    assert [d.text for d in read_docs(g)] == ["gz text"]


def test_missing_column_names_file_and_line(tmp_path):
    p = write(tmp_path, "d.tsv", "a\talpha\nb_without_text\n")
    with pytest.raises(DataFormatError, match=r"d\.tsv:2: .*missing text column"):
        list(read_docs(p))
    q = write(tmp_path, "qrels.txt", "1 0 a 1\n1 0 b\n")
    with pytest.raises(DataFormatError, match=r"qrels\.txt:2: expected 4 columns"):
        read_qrels(q)


def test_non_numeric_score(tmp_path):
    p = write(tmp_path, "r.run", "1 Q0 a 1 2.5 t\n1 Q0 b 2 high t\n")
    with pytest.raises(DataFormatError, match=r"r\.run:2: score 'high' is not a number"):
        read_trec_run(p)


def test_non_numeric_grade(tmp_path):
    p = write(tmp_path, "q.txt", "1 0 a x\n")
    with pytest.raises(DataFormatError, match=r"q\.txt:1: relevance grade 'x'"):
        read_qrels(p)


def test_duplicate_doc_id(tmp_path):
    p = write(
        tmp_path,
        "d.jsonl",
        '{"doc_id": "a", "text": "x"}\n{"doc_id": "b", "text": "y"}\n{"doc_id": "a", "text": "z"}\n',
    )
    with pytest.raises(DataFormatError, match=r"d\.jsonl:3: duplicate document id 'a'"):
        list(read_docs(p))


def test_query_without_text(tmp_path):
    p = write(tmp_path, "q.tsv", "1\tfirst\n2\n")
    with pytest.raises(DataFormatError, match=r"q\.tsv:2: query '2' has no text"):
        list(read_queries(p))


def test_empty_text(tmp_path):
    p = write(tmp_path, "q.tsv", "1\tfirst\n2\t   \n")
    with pytest.raises(DataFormatError, match=r"q\.tsv:2: query '2' has empty text"):
        list(read_queries(p))
    d = write(tmp_path, "d.jsonl", '{"doc_id": "a", "text": ""}\n')
    assert [(x.doc_id, x.text) for x in read_docs(d)] == [("a", "")]  # real collections hold empty documents


def test_undecodable_bytes(tmp_path):
    p = write(tmp_path, "d.tsv", b"a\tfine\nb\tbad \xff\xfe bytes\n", mode="wb")
    with pytest.raises(DataFormatError, match=r"d\.tsv:2: not valid UTF-8"):
        list(read_docs(p))


def test_invalid_json_and_missing_id(tmp_path):
    p = write(tmp_path, "d.jsonl", '{"doc_id": "a", "text": "x"}\n{"text": "no id"}\n')
    with pytest.raises(DataFormatError, match=r"d\.jsonl:2: missing document id"):
        list(read_docs(p))
    p = write(tmp_path, "e.jsonl", '{"doc_id": "a", "text": "x"\n')
    with pytest.raises(DataFormatError, match=r"e\.jsonl:1: invalid JSON"):
        list(read_docs(p))


def test_run_round_trip_sorted_and_atomic(tmp_path):
    run = {"q1": {"a": 0.5, "b": 2.0, "c": 1.0}, "q2": {"x": -1.0}}
    path = tmp_path / "out.run"
    write_trec_run(path, run, tag="t")
    lines = path.read_text().splitlines()
    assert lines[0] == "q1 Q0 b 1 2.000000 t" and lines[2].startswith("q1 Q0 a 3 ")
    assert read_trec_run(path) == run
    assert [p.name for p in tmp_path.iterdir()] == ["out.run"]  # no temp file left behind


def test_failed_write_keeps_old_file(tmp_path):
    path = tmp_path / "out.run"
    write_trec_run(path, {"q": {"a": 1.0}})
    with pytest.raises(TypeError):
        write_trec_run(path, {"q": {"a": "not a number"}})
    assert read_trec_run(path) == {"q": {"a": 1.0}}
    assert [p.name for p in tmp_path.iterdir()] == ["out.run"]


def test_tuples(tmp_path):
    p = write(
        tmp_path,
        "t.jsonl",
        json.dumps(
            {"query_id": "1", "query": "q", "positives": ["a"], "negatives": ["b", "c"], "scores": {"a": 3, "b": 1}}
        )
        + "\n",
    )
    (t,) = read_tuples(p)
    assert (t.query, t.positives, t.negatives, t.scores) == ("q", ["a"], ["b", "c"], {"a": 3.0, "b": 1.0})
    bad = write(tmp_path, "u.jsonl", '{"query_id": "1", "query": "q"}\n')
    with pytest.raises(DataFormatError, match=r"u\.jsonl:1: missing field 'positives'"):
        list(read_tuples(bad))
    bad = write(tmp_path, "v.jsonl", '{"query_id": "1", "query": "q", "positives": ["a"], "scores": {"a": "hi"}}\n')
    with pytest.raises(DataFormatError, match=r"v\.jsonl:1: 'scores' holds a value that is not a number"):
        list(read_tuples(bad))


def test_atomic_writes_get_ordinary_permissions(tmp_path):
    import os
    import stat

    path = tmp_path / "perm.run"
    write_trec_run(path, {"q": {"a": 1.0}})
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
