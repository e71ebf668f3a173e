"""Bad input that used to give silently wrong results now gives one clear error naming the file and line:
ids that break the line format, byte-order marks, duplicate or empty qrels, truncated gzip, a directory as a run."""

import gzip
import json

import pytest

from boltir.data.readers import read_docs, read_qrels, read_queries, read_trec_run, read_tuples
from boltir.data.runs import write_run
from boltir.errors import DataFormatError


def write(tmp_path, name, text, mode="w"):
    p = tmp_path / name
    if mode == "wb":
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize("bad", ["a\u2028b", "a\u0085b", "a b", "a\tb", "a\x00b", ""])
def test_document_ids_that_break_the_line_format_are_refused(tmp_path, bad):
    p = write(
        tmp_path,
        "d.jsonl",
        json.dumps({"doc_id": "ok", "text": "x"}) + "\n" + json.dumps({"doc_id": bad, "text": "y"}) + "\n",
    )
    with pytest.raises(DataFormatError, match=r"d\.jsonl:2: document id .* (is empty|contains whitespace)"):
        list(read_docs(p))


def test_json_ids_are_strings_or_integers(tmp_path):
    assert [d.doc_id for d in read_docs(write(tmp_path, "a.jsonl", '{"doc_id": 7, "text": "x"}\n'))] == ["7"]
    with pytest.raises(DataFormatError, match=r"b\.jsonl:1: document id 1\.0 is a number with a decimal point"):
        list(read_docs(write(tmp_path, "b.jsonl", '{"doc_id": 1.0, "text": "x"}\n')))
    with pytest.raises(DataFormatError, match=r"t\.jsonl:1: positive 2\.5 is a number"):
        list(read_tuples(write(tmp_path, "t.jsonl", '{"query_id": "q", "query": "x", "positives": [2.5]}\n')))


def test_ids_are_checked_in_queries_qrels_and_runs(tmp_path):
    with pytest.raises(DataFormatError, match=r"q\.tsv:1: query id"):
        list(read_queries(write(tmp_path, "q.tsv", "a\x00b\ttext\n")))
    with pytest.raises(DataFormatError, match=r"r\.qrels:1: document id"):
        read_qrels(write(tmp_path, "r.qrels", "q 0 d\x00x 1\n"))
    with pytest.raises(DataFormatError, match=r"x\.run:2: document id"):
        read_trec_run(write(tmp_path, "x.run", "q Q0 d 1 1.0 t\nq Q0 e\x00 2 0.5 t\n"))


def test_write_run_refuses_ids_its_reader_would_reject(tmp_path):
    with pytest.raises(DataFormatError, match="document id 'a b' contains whitespace"):
        write_run(tmp_path / "r.run", {"q": {"a b": 1.0}})
    assert not (tmp_path / "r.run").exists()


def test_byte_order_mark_is_not_part_of_the_first_id(tmp_path):
    qrels = read_qrels(write(tmp_path, "bom.qrels", "\ufeffq1 0 d1 2\nq1 0 d2 0\n"))
    assert list(qrels) == ["q1"]
    run = read_trec_run(write(tmp_path, "bom.run", "\ufeffq1 Q0 d1 1 3.0 t\n"))
    assert list(run) == ["q1"]


def test_duplicate_and_empty_qrels_are_refused(tmp_path):
    with pytest.raises(
        DataFormatError, match=r"dup\.qrels:3: query 'q1' judges document 'd1' again \(first at line 1\)"
    ):
        read_qrels(write(tmp_path, "dup.qrels", "q1 0 d1 2\nq1 0 d2 0\nq1 0 d1 0\n"))
    with pytest.raises(DataFormatError, match=r"empty\.qrels: holds no judgments"):
        read_qrels(write(tmp_path, "empty.qrels", "\n"))


def test_truncated_gzip_and_a_directory_name_the_input(tmp_path):
    full = gzip.compress(
        ("".join(json.dumps({"doc_id": f"d{i}", "text": "x" * 50}) + "\n" for i in range(200))).encode()
    )
    p = write(tmp_path, "cut.jsonl.gz", full[: len(full) // 2], mode="wb")
    with pytest.raises(DataFormatError, match=r"cut\.jsonl\.gz:\d+: compressed data is truncated or corrupt"):
        list(read_docs(p))
    (tmp_path / "adir.run").mkdir()
    with pytest.raises(DataFormatError, match=r"adir\.run: is a directory"):
        read_trec_run(tmp_path / "adir.run")


def test_duplicate_run_line_names_its_line(tmp_path):
    with pytest.raises(DataFormatError, match=r"d\.run:3: document 'a' appears twice"):
        read_trec_run(write(tmp_path, "d.run", "q Q0 a 1 2 t\nq Q0 b 2 1 t\nq Q0 a 3 0 t\n"))


def test_unwritable_outputs_are_one_clear_error(tmp_path):
    from boltir.errors import OutputError

    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="a part of its folder path is a file"):
        write_run(tmp_path / "file" / "r.run", {"q": {"d": 1.0}})
    (tmp_path / "adir").mkdir()
    with pytest.raises(OutputError, match="adir is a directory; give a file name"):
        write_run(tmp_path / "adir", {"q": {"d": 1.0}})


def test_temp_files_of_a_killed_writer_are_removed_by_the_next(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".r.run.{dead.stdout.strip()}-x1y2.tmp"
    stale.write_bytes(b"half a run")
    write_run(tmp_path / "r.run", {"q": {"d": 1.0}})
    assert not stale.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["r.run", "r.run.meta.json"]


def test_run_sidecar_records_the_run_it_describes(tmp_path):
    from boltir.utils.provenance import file_fingerprint

    write_run(tmp_path / "r.run", {"q": {"d": 1.0, "e": 0.5}}, meta={"command": "test"})
    meta = json.loads((tmp_path / "r.run.meta.json").read_text())
    assert meta["run_file"] == {
        "bytes": (tmp_path / "r.run").stat().st_size,
        "fingerprint": file_fingerprint(tmp_path / "r.run"),
    }
