import json
import subprocess
import sys

import pytest

from boltir.cli import COMMANDS
from boltir.cli import main as boltir


@pytest.mark.slow
def test_help_lists_commands_without_importing_torch():
    code = (
        "import sys; from boltir.cli import main; main(['--help']); "
        "heavy = [m for m in ('torch', 'transformers', 'lightning', 'numpy') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for name in COMMANDS:
        assert f"  {name}" in out.stdout


def test_every_command_has_working_help(capsys):
    import pytest

    for name in COMMANDS:
        if name == "fit":
            assert boltir(["fit", "--help"]) == 0  # answered without Lightning; --full-help is LightningCLI's
        else:
            with pytest.raises(SystemExit) as e:
                boltir([name, "--help"])
            assert e.value.code == 0
        assert f"boltir {name}" in capsys.readouterr().out


@pytest.mark.parametrize("command", [["fit"], ["mine"], ["distill", "build"], ["index"], ["re-rank"], ["evaluate"]])
def test_subcommand_help_does_not_import_torch(command):
    code = (
        f"import sys; from boltir.cli import main\ntry: main({command + ['--help']!r})\nexcept SystemExit: pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'lightning') if m in sys.modules]; assert not heavy, heavy"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_fit_full_help_lists_the_classes_options(capsys):
    import pytest

    with pytest.raises(SystemExit):
        boltir(["fit", "--full-help"])
    assert "--trainer.max_epochs" in capsys.readouterr().out


def test_evaluate_json_and_table(capsys):
    assert (
        boltir(
            [
                "evaluate",
                "--qrels",
                "trec-dl-2019",
                "--metrics",
                "nDCG@10",
                "RR(rel=2)@10",
                "trec-dl-2019:bm25",
                "trec-dl-2019:tasb",
                "--json",
                "true",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    bm25, tasb = out["runs"]
    assert round(bm25["aggregate"]["nDCG@10"], 4) == 0.5058 and round(tasb["aggregate"]["nDCG@10"], 4) == 0.7210
    assert len(bm25["per_query"]["nDCG@10"]) == 43
    assert {c["metric"] for c in out["comparisons"]} == {"nDCG@10", "RR(rel=2)@10"}
    assert boltir(["evaluate", "--qrels", "data/msmarco-trecdl-pool/qrels.txt", "trec-dl-2019:bm25"]) == 0
    assert "lacks 54 of 97 judged queries" in capsys.readouterr().out


def test_bad_input_gives_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.run"
    bad.write_text("1 Q0 a 1 1.0 t\n1 Q0 b 2 oops t\n")
    assert boltir(["evaluate", "--qrels", "trec-dl-2019", str(bad)]) == 1
    assert f"{bad}:2: score 'oops' is not a number" in capsys.readouterr().err
    assert boltir(["evaluate", "--qrels", "no-such-dataset", str(bad)]) == 1
    assert "unknown dataset 'no-such-dataset'" in capsys.readouterr().err


def test_bm25_command(tmp_path, capsys):
    run = tmp_path / "v.run"
    assert (
        boltir(
            [
                "bm25",
                "--docs",
                "vaswani",
                "--queries",
                "vaswani",
                "--output",
                str(run),
                "--index-dir",
                str(tmp_path / "idx"),
                "--qrels",
                "vaswani",
                "--metrics",
                "nDCG@10",
            ]
        )
        == 0
    )
    assert "0.4449" in capsys.readouterr().out
    meta = json.loads((tmp_path / "v.run.meta.json").read_text())
    assert meta["command"] == "boltir bm25" and meta["arguments"]["k1"] == 0.9 and "bm25s" in meta["packages"]
    run2 = tmp_path / "v2.run"
    assert boltir(["bm25", "--index-dir", str(tmp_path / "idx"), "--queries", "vaswani", "--output", str(run2)]) == 0
    assert run.read_text() == run2.read_text()


def test_index_search_rerank_commands(tiny_dpr, tmp_path, capsys):
    model, tok = tiny_dpr
    model.save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    docs = tmp_path / "docs.tsv"
    docs.write_text("".join(f"d{i}\tpassage {i} about topic {i % 3}\n" for i in range(20)))
    queries = tmp_path / "q.tsv"
    queries.write_text("q1\ttopic 1\nq2\ttopic 2\n")
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 d1 1\nq2 0 d2 1\n")
    assert (
        boltir(
            [
                "index",
                "--model",
                str(tmp_path / "model"),
                "--docs",
                str(docs),
                "--output",
                str(tmp_path / "idx"),
                "--shard-size",
                "8",
                "--batch-size",
                "4",
            ]
        )
        == 0
    )
    assert (
        boltir(
            [
                "search",
                "--index",
                str(tmp_path / "idx"),
                "--queries",
                str(queries),
                "--output",
                str(tmp_path / "s.run"),
                "--k",
                "5",
                "--qrels",
                str(qrels),
            ]
        )
        == 0
    )
    lines = (tmp_path / "s.run").read_text().splitlines()
    assert len(lines) == 10 and lines[0].split()[1] == "Q0"
    assert (
        boltir(
            [
                "re-rank",
                "--model",
                str(tmp_path / "model"),
                "--run",
                str(tmp_path / "s.run"),
                "--queries",
                str(queries),
                "--docs",
                str(docs),
                "--output",
                str(tmp_path / "r.run"),
                "--depth",
                "3",
            ]
        )
        == 0
    )
    assert len((tmp_path / "r.run").read_text().splitlines()) == 6
    # searching with a different model than the index was built with is refused
    other = tmp_path / "other"
    from boltir.models.loading import load_bi_encoder

    m2, t2 = load_bi_encoder(str(tmp_path / "model"))
    with __import__("torch").no_grad():
        m2.projection.weight.add_(1.0)
    m2.save_pretrained(other)
    t2.save_pretrained(other)
    capsys.readouterr()
    assert (
        boltir(
            [
                "search",
                "--index",
                str(tmp_path / "idx"),
                "--model",
                str(other),
                "--queries",
                str(queries),
                "--output",
                str(tmp_path / "x.run"),
            ]
        )
        == 1
    )
    assert "different weights" in capsys.readouterr().err
    assert not (tmp_path / "x.run").exists()


def test_rerank_command_detects_a_cross_encoder(tmp_path, capsys):
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from boltir.models.sources import load_tokenizer, resolve_model

    torch.manual_seed(0)
    BertForSequenceClassification(
        BertConfig(
            vocab_size=30522,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=64,
            num_labels=1,
        )
    ).save_pretrained(tmp_path / "ce")
    load_tokenizer(resolve_model("minilm-l6")).save_pretrained(tmp_path / "ce")
    out = tmp_path / "ce.run"
    assert (
        boltir(
            [
                "re-rank",
                "--model",
                str(tmp_path / "ce"),
                "--run",
                "trec-dl-2019:bm25",
                "--queries",
                "trec-dl-2019",
                "--docs",
                "trec-dl-2019",
                "--output",
                str(out),
                "--depth",
                "3",
                "--qrels",
                "trec-dl-2019",
            ]
        )
        == 0
    )
    assert json.loads((tmp_path / "ce.run.meta.json").read_text())["family"] == "mono"
    assert len(out.read_text().splitlines()) == 43 * 3


def test_rerank_command_with_a_set_encoder_and_permutations(tiny_backbone, tmp_path, capsys):
    from boltir.models.base import save_model_folder
    from boltir.models.loading import load_set_encoder

    model, tok = load_set_encoder(tiny_backbone)
    save_model_folder(model, tok, tmp_path / "se")
    out = tmp_path / "se.run"
    assert (
        boltir(
            [
                "re-rank",
                "--model",
                str(tmp_path / "se"),
                "--run",
                "trec-dl-2019:bm25",
                "--queries",
                "trec-dl-2019",
                "--docs",
                "trec-dl-2019",
                "--output",
                str(out),
                "--depth",
                "5",
                "--qrels",
                "trec-dl-2019",
                "--metrics",
                "nDCG@10",
                "--permutations",
                "true",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    line = next(x for x in printed.splitlines() if x.startswith("input order"))
    values = [float(part.split(": ")[1]) for part in line.split("  ")[1:] if ": " in part]
    assert len(values) == 4 and max(values) - min(values) < 1e-4
    assert json.loads((tmp_path / "se.run.meta.json").read_text())["family"] == "set-encoder"


def test_limit_reads_the_first_documents_and_queries(tmp_path, capsys):
    from boltir.data.runs import read_run
    from boltir.data.sources import load_docs, load_queries

    first_docs = {d.doc_id for _, d in zip(range(300), load_docs("trec-dl-2019"))}
    out = tmp_path / "bm25.run"
    args = ["bm25", "--docs", "trec-dl-2019", "--queries", "trec-dl-2019", "--output", str(out), "--limit", "300"]
    assert boltir(args) == 0
    run = read_run(str(out))
    assert {d for r in run.values() for d in r} <= first_docs
    assert sum(1 for _ in load_docs("trec-dl-2019")) == 24884  # the limit ended with the command
    rerank = ["re-rank", "--model", "minilm-l6", "--run", "trec-dl-2019:bm25", "--queries", "trec-dl-2019"]
    rerank += ["--docs", "trec-dl-2019", "--output", str(tmp_path / "r.run"), "--depth", "5", "--limit", "2"]
    capsys.readouterr()
    assert boltir(rerank + ["--qrels", "trec-dl-2019"]) == 0
    assert set(read_run(str(tmp_path / "r.run"))) == set(list(load_queries("trec-dl-2019"))[:2])
    assert "0.0000" not in capsys.readouterr().out  # judged on the 2 queries it ran, not 41 missing ones


def test_evaluate_writes_an_html_report(tmp_path):
    out = tmp_path / "report.html"
    assert boltir(["evaluate", "trec-dl-2019:bm25", "--qrels", "trec-dl-2019", "--report", str(out)]) == 0
    page = out.read_text()
    assert "trec-dl-2019:bm25" in page and "0.5058" in page and page.count("data:image/png;base64,") == 1


def test_rerank_command_on_the_onnx_backend_gives_the_pytorch_run(tiny_backbone, tmp_path, monkeypatch, capsys):
    from boltir.data.runs import read_run
    from boltir.models.base import save_model_folder
    from boltir.models.loading import load_cross_encoder

    monkeypatch.setenv("BOLTIR_CACHE", str(tmp_path / "cache"))
    model, tok = load_cross_encoder(tiny_backbone, head_activation="tanh")
    save_model_folder(model, tok, tmp_path / "ce")
    runs = {}
    for backend in ("torch", "onnx"):
        out = tmp_path / f"{backend}.run"
        args = ["re-rank", "--model", str(tmp_path / "ce"), "--run", "trec-dl-2019:bm25", "--queries", "trec-dl-2019"]
        args += ["--docs", "trec-dl-2019", "--output", str(out), "--depth", "5", "--backend", backend]
        assert boltir(args) == 0
        runs[backend] = read_run(str(out))
        assert json.loads(out.with_name(out.name + ".meta.json").read_text())["arguments"]["backend"] == backend
    assert "[torch.onnx]" not in capsys.readouterr().out  # the export is quiet
    assert len(runs["onnx"]) == 43
    for q, want in runs["torch"].items():  # the same candidates with the same scores
        assert runs["onnx"][q].keys() == want.keys()
        assert max(abs(runs["onnx"][q][d] - want[d]) for d in want) < 1e-4
