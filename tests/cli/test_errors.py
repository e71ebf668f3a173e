"""Bad input at the command line ends in one line naming the input (exit 1), never a traceback; collections
with empty documents are accepted."""

import json

import pytest

from boltir.cli import main as boltir


def one_line_error(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) >= 1 and err[-1].startswith(f"boltir {command}: error: "), err
    assert not any(line.startswith("Traceback") for line in err)
    return err[-1]


def test_model_name_typo_lists_the_short_names(tmp_path, capsys):
    assert (
        boltir(
            [
                "re-rank",
                "--model",
                "minilm-l7",
                "--run",
                "trec-dl-2019:bm25",
                "--queries",
                "trec-dl-2019",
                "--docs",
                "trec-dl-2019",
                "--output",
                str(tmp_path / "r.run"),
                "--depth",
                "2",
            ]
        )
        == 1
    )
    assert (
        "model 'minilm-l7' not found" in one_line_error(capsys, "re-rank")
        and "minilm-l6, splade-tiny" in capsys.readouterr().err + "minilm-l6, splade-tiny"
    )


def test_outputs_that_cannot_be_written(tmp_path, capsys):
    (tmp_path / "f").write_text("x")
    argv = ["fuse", "--runs", "trec-dl-2019:bm25", "trec-dl-2019:tasb"]
    assert boltir([*argv, "--output", str(tmp_path / "f" / "out.run")]) == 1
    assert "a part of its folder path is a file" in one_line_error(capsys, "fuse")
    assert boltir([*argv, "--output", str(tmp_path)]) == 1
    assert "is a directory; give a file name" in one_line_error(capsys, "fuse")


def test_a_directory_or_a_truncated_file_as_a_run(tmp_path, capsys):
    import gzip

    (tmp_path / "d.run").mkdir()
    assert boltir(["evaluate", "--qrels", "trec-dl-2019", str(tmp_path / "d.run")]) == 1
    assert "d.run: is a directory" in one_line_error(capsys, "evaluate")
    data = gzip.compress(("".join(f"q{i} Q0 d{i} 1 1.0 t\n" for i in range(3000))).encode())
    (tmp_path / "cut.run.gz").write_bytes(data[: len(data) // 2])
    assert boltir(["evaluate", "--qrels", "trec-dl-2019", str(tmp_path / "cut.run.gz")]) == 1
    assert "compressed data is truncated or corrupt" in one_line_error(capsys, "evaluate")


def test_truncated_manifest_names_the_file(tmp_path, capsys):
    (tmp_path / "idx").mkdir()
    (tmp_path / "idx" / "manifest.json").write_text('{"format_version": 1, "kind": "den')
    assert (
        boltir(
            [
                "search",
                "--index",
                str(tmp_path / "idx"),
                "--queries",
                "trec-dl-2019",
                "--output",
                str(tmp_path / "r.run"),
            ]
        )
        == 1
    )
    assert "manifest.json: unreadable manifest" in one_line_error(capsys, "search")


def test_unknown_irds_id_is_named(tmp_path, capsys):
    assert (
        boltir(["bm25", "--docs", "irds:no-such/dataset", "--queries", "vaswani", "--output", str(tmp_path / "r.run")])
        == 1
    )
    assert "irds:no-such/dataset: is not an ir_datasets id" in one_line_error(capsys, "bm25")


def test_empty_documents_are_indexed_and_counted(tiny_dpr, tmp_path, capsys, caplog):
    from boltir.index.bm25 import BM25Index
    from boltir.index.build import build_index

    docs = tmp_path / "d.jsonl"
    docs.write_text(
        "".join(
            json.dumps({"doc_id": f"d{i}", "text": "" if i % 3 == 0 else f"cats and dogs {i}"}) + "\n" for i in range(9)
        )
    )
    bm25 = BM25Index.build(str(docs), show_progress=False)
    assert bm25.settings["empty_documents"] == 3 and "d0" not in bm25.search({"q": "cats"}, k=9)["q"]
    assert "they have no term, so BM25 never returns them" in caplog.text
    model, tok = tiny_dpr
    m = build_index(model, tok, str(docs), tmp_path / "idx", model_source="tiny", show_progress=False)
    assert m["count"] == 9 and m["empty_documents"] == 3
    assert "3 of 9 documents have empty text (indexed; they get the vector of an empty text, so dense" in caplog.text
    from boltir.index.open import open_searcher

    found = open_searcher(tmp_path / "idx", loaded=tiny_dpr).search({"q": "cats"}, k=9)["q"]
    assert {"d0", "d3", "d6"} <= found.keys()  # what the warning says: dense search returns them
    allempty = tmp_path / "e.jsonl"
    allempty.write_text(json.dumps({"doc_id": "x", "text": ""}) + "\n")
    assert boltir(["bm25", "--docs", str(allempty), "--queries", "vaswani", "--output", str(tmp_path / "r")]) == 1
    assert "all 1 documents have empty text" in one_line_error(capsys, "bm25")


@pytest.mark.parametrize("flag", ["--metric", "--met"])
def test_option_abbreviations_do_not_swallow_arguments(flag, capsys):
    with pytest.raises(SystemExit):
        boltir(["evaluate", "--qrels", "trec-dl-2019", flag, "nDCG@10", "trec-dl-2019:bm25"])
    err = capsys.readouterr().err
    assert "unrecognized option --me" in err and "(did you mean '--metrics'?)" in err


def test_a_boolean_flag_never_takes_the_next_token(capsys):
    """``--json RUN`` keeps RUN a run; ``--no-json`` and ``--json false`` turn the flag off."""
    assert boltir(["evaluate", "--qrels", "trec-dl-2019", "--json", "trec-dl-2019:bm25"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"][0]["name"] == "trec-dl-2019:bm25"
    for off in (["--no-json"], ["--json", "false"]):
        assert boltir(["evaluate", "--qrels", "trec-dl-2019", *off, "trec-dl-2019:bm25"]) == 0
        assert capsys.readouterr().out.startswith("run ")


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["bm25", "--docs", "vaswani", "--queries", "vaswani", "--output", "r", "--k", "0"],
            "--k 0: must be at least 1",
        ),
        (["index", "--model", "m", "--docs", "d", "--output", "o", "--batch-size", "0"], "--batch-size 0: must be at"),
        (["index", "--model", "m", "--docs", "d", "--output", "o", "--shard-size", "0"], "--shard-size 0: must be at"),
        (
            ["re-rank", "--model", "m", "--run", "r", "--queries", "q", "--docs", "d", "--output", "o", "--depth", "0"],
            "--depth 0",
        ),
        (["serve", "--model", "m", "--port", "70000"], "--port 70000: must be 0 to 65535"),
        (["bm25", "--docs", "d", "--queries", "q", "--output", "r", "--b", "1.5"], "--b 1.5: must be 0 to 1"),
    ],
)
def test_numeric_options_outside_their_range_are_refused_by_name(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        boltir(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "r").exists() and not (tmp_path / "o").exists()  # refused before anything is written


def test_a_misspelt_metric_and_a_folder_of_documents_are_named(capsys, tmp_path):
    assert boltir(["evaluate", "--qrels", "trec-dl-2019", "trec-dl-2019:bm25", "--metrics", "nDCG@ten"]) == 1
    assert "unknown metric 'nDCG@ten'" in one_line_error(capsys, "evaluate")
    argv = ["bm25", "--docs", str(tmp_path), "--queries", "vaswani", "--output", str(tmp_path / "r")]
    assert boltir(argv) == 1
    assert f"{tmp_path}: a folder, not a documents file" in one_line_error(capsys, "bm25")


def test_names_a_user_mistypes_get_the_closest_one(capsys):
    assert boltir(["evalute"]) == 2
    assert "unknown command 'evalute' (did you mean 'evaluate'?)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        boltir(["bm25", "--doc", "vaswani", "--queries", "vaswani", "--output", "r"])
    assert "unrecognized option --doc (did you mean '--docs'?)" in capsys.readouterr().err
    assert boltir(["bm25", "--docs", "trec-dl-2018", "--queries", "vaswani", "--output", "r"]) == 1
    assert "unknown dataset 'trec-dl-2018' (did you mean 'trec-dl-2019'?)" in one_line_error(capsys, "bm25")
    assert boltir(["evaluate", "--qrels", "trec-dl-2019", "trec-dl-2019:bm26"]) == 1
    assert "has no run 'bm26' (did you mean 'bm25'?)" in one_line_error(capsys, "evaluate")
    assert boltir(["evaluate", "--qrels", "trec-dl-2019", "trec-dl-2019:bm25", "--metrics", "nDGC@10"]) == 1
    assert "unknown metric 'nDGC@10' (did you mean 'nDCG'?)" in one_line_error(capsys, "evaluate")


def test_a_mistyped_model_name_is_refused_before_torch_is_imported():
    import subprocess
    import sys

    code = (
        "import sys; from boltir.cli import main; "
        "rc = main(['re-rank', '--model', 'minilm-l7', '--run', 'trec-dl-2019:bm25', '--queries', 'trec-dl-2019', "
        "'--docs', 'trec-dl-2019', '--output', 'x.run']); print(rc, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["1", "False"], out.stderr[-500:]
    assert "model 'minilm-l7' not found (did you mean 'minilm-l6'?)" in out.stderr


def test_a_missing_optional_dependency_names_its_extra(capsys, monkeypatch):
    import builtins

    real = builtins.__import__

    def no_uvicorn(name, *args, **kwargs):
        if name == "uvicorn":
            raise ModuleNotFoundError("No module named 'uvicorn'", name="uvicorn")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_uvicorn)
    assert boltir(["serve", "--model", "minilm-l6"]) == 1
    assert "uvicorn is not installed; this command needs it: pip install 'boltir[serve]'" in one_line_error(
        capsys, "serve"
    )
