"""Property tests: whatever a writer accepts, its reader gives back identically (ids, texts, scores), and random
damage to valid files raises only boltir's own error type (or reads back as valid data), never anything else."""

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boltir.data.ids import id_problem
from boltir.data.readers import read_docs, read_qrels, read_queries, read_trec_run, read_tuples
from boltir.data.records import TrainingTuple
from boltir.data.runs import write_run
from boltir.data.writers import write_qrels, write_tuples
from boltir.errors import BoltirError

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# drawn from characters an id may hold (whitespace is refused, see id_problem), so few draws are filtered out
ids = st.text(
    alphabet=st.characters(exclude_categories=("Cc", "Cf", "Cs", "Zl", "Zp", "Zs")), min_size=1, max_size=12
).filter(lambda s: id_problem(s) is None)
texts = st.text(max_size=40)
scores = st.floats(allow_nan=False, allow_infinity=False, width=32, min_value=-1e6, max_value=1e6)


@SETTINGS
@given(run=st.dictionaries(ids, st.dictionaries(ids, scores, min_size=1, max_size=5), min_size=1, max_size=4))
def test_runs_read_back_as_written(tmp_path, run):
    write_run(tmp_path / "r.run", run, tag="t")
    back = read_trec_run(tmp_path / "r.run")
    assert back.keys() == run.keys()
    for q, docs in run.items():
        assert back[q].keys() == docs.keys()
        assert all(math.isclose(back[q][d], s, rel_tol=1e-6, abs_tol=1e-6) for d, s in docs.items())


@SETTINGS
@given(qrels=st.dictionaries(ids, st.dictionaries(ids, st.integers(-1, 4), min_size=1, max_size=5), min_size=1))
def test_qrels_read_back_as_written(tmp_path, qrels):
    write_qrels(tmp_path / "q.qrels", qrels)
    assert read_qrels(tmp_path / "q.qrels") == qrels


@SETTINGS
@given(docs=st.dictionaries(ids, texts, min_size=1, max_size=6))
def test_jsonl_documents_read_back_as_written(tmp_path, docs):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"doc_id": d, "text": t}) + "\n" for d, t in docs.items()), encoding="utf-8")
    assert {d.doc_id: d.text for d in read_docs(path)} == docs


@SETTINGS
@given(
    queries=st.dictionaries(
        ids,
        st.text(min_size=1, max_size=30).filter(
            lambda t: t.strip() and not any(c in t for c in "\t\n\r") and t == t.rstrip("\r\n")
        ),
        min_size=1,
        max_size=6,
    )
)
def test_tsv_queries_read_back_as_written(tmp_path, queries):
    path = tmp_path / "q.tsv"
    path.write_text("".join(f"{q}\t{t}\n" for q, t in queries.items()), encoding="utf-8")
    assert {q.query_id: q.text for q in read_queries(path)} == queries


@SETTINGS
@given(
    rows=st.lists(
        st.tuples(
            ids,
            st.text(min_size=1, max_size=20).map(lambda t: t.strip() or "q"),
            st.lists(ids, min_size=1, max_size=3),
            st.lists(ids, max_size=3),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_training_tuples_read_back_as_written(tmp_path, rows):
    tuples = [TrainingTuple(q, text, pos, neg) for q, text, pos, neg in rows]
    write_tuples(tmp_path / "t.jsonl", tuples)
    back = list(read_tuples(tmp_path / "t.jsonl"))
    assert [(t.query_id, t.query, t.positives, t.negatives) for t in back] == rows


VALID = {
    "r.run": "q1 Q0 d1 1 2.5 t\nq1 Q0 d2 2 1.0 t\nq2 Q0 d1 1 0.5 t\n",
    "j.qrels": "q1 0 d1 2\nq1 0 d2 0\nq2 0 d1 1\n",
    "d.jsonl": '{"doc_id": "d1", "text": "first"}\n{"doc_id": "d2", "text": "second one"}\n',
    "q.tsv": "q1\tfirst query\nq2\tsecond query\n",
    "t.jsonl": '{"query_id": "q1", "query": "a", "positives": ["d1"], "negatives": ["d2"]}\n',
}
READERS = {
    "r.run": read_trec_run,
    "j.qrels": read_qrels,
    "d.jsonl": lambda p: list(read_docs(p)),
    "q.tsv": lambda p: list(read_queries(p)),
    "t.jsonl": lambda p: list(read_tuples(p)),
}


@pytest.mark.parametrize("name", sorted(VALID))
@SETTINGS
@given(data=st.data())
def test_damaged_files_raise_only_boltir_errors(tmp_path, name, data):
    raw = bytearray(VALID[name].encode())
    for _ in range(data.draw(st.integers(1, 4))):
        how = data.draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
        pos = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        if how == "flip" and raw:
            raw[pos] = data.draw(st.integers(0, 255))
        elif how == "delete" and raw:
            del raw[pos]
        elif how == "insert":
            raw[pos:pos] = bytes([data.draw(st.sampled_from(list(b'\t \n\x00\xff"{}:,0.')))])
        else:
            raw = raw[:pos]
    path = tmp_path / name
    path.write_bytes(bytes(raw))
    try:
        READERS[name](path)
    except BoltirError:
        pass
