"""Folders saved by Lightning IR 0.0.6 (tests/fixtures/lightning_ir, built by its build.sh) load as boltir models
and give Lightning IR's own scores, through Python and through the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from boltir.cli import main as boltir

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lightning_ir"
REFERENCE = json.loads((FIXTURES / "reference.json").read_text())
FAMILY = {
    "dpr": "dpr",
    "dpr-mean-nolinear": "dpr",
    "col": "colbert",
    "splade": "splade",
    "unicoil": "unicoil",
    "coil": "coil",
    "mvr": "mvr",
    "mono-electra": "mono",
    "mono-bert-pool": "mono",
    "set-encoder": "set-encoder",
    "set-encoder-electra": "set-encoder",
    "mono-t5": "mono-t5",  # Lightning IR's mono on a T5 backbone (monoT5's scoring), boltir's encoder-decoder family
    "rank-t5": "mono-t5",
}


def close(got: np.ndarray, want: np.ndarray) -> bool:
    """Within 1e-5, relative to the score's size where it is above 1 (float32 scores of ~600 differ by ~1e-4)."""
    return bool((np.abs(got - want) <= 1e-5 * np.maximum(1.0, np.abs(want))).all())


def test_every_kind_is_a_fixture():
    assert set(REFERENCE["models"]) == set(FAMILY)
    own = [f for f in FIXTURES.rglob("*") if f.is_file() and "matrix" not in f.relative_to(FIXTURES).parts]
    assert sum(f.stat().st_size for f in own) < 5 * 2**20


@pytest.mark.parametrize("name", sorted(FAMILY))
def test_loads_as_its_family_with_lightning_irs_scores(name):
    import boltir as b
    from boltir.models.loading import detect_family

    assert detect_family(str(FIXTURES / name)).name == FAMILY[name]
    model = b.load_model(FIXTURES / name)
    assert model.family.name == FAMILY[name]
    got = np.array([model.score(q, ds)[0] for q, ds in zip(REFERENCE["queries"], REFERENCE["docs"])])
    want = np.array(REFERENCE["models"][name]["scores"])
    assert close(got, want), np.abs(got - want).max()
    assert len(set(np.round(want.ravel(), 4))) > len(want.ravel()) // 2  # the reference is not constant


def _write_inputs(tmp_path: Path) -> tuple[Path, Path, Path]:
    queries = tmp_path / "queries.tsv"
    queries.write_text("".join(f"q{i}\t{q}\n" for i, q in enumerate(REFERENCE["queries"])))
    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        "".join(
            json.dumps({"doc_id": f"q{i}d{j}", "text": d}) + "\n"
            for i, ds in enumerate(REFERENCE["docs"])
            for j, d in enumerate(ds)
        )
    )
    run = tmp_path / "first.run"
    run.write_text(
        "".join(
            f"q{i} Q0 q{i}d{j} {j + 1} {10 - j} bm25\n"
            for i, ds in enumerate(REFERENCE["docs"])
            for j, _ in enumerate(ds)
        )
    )
    return queries, docs, run


@pytest.mark.parametrize("name", sorted(FAMILY))
def test_rerank_command_gives_lightning_irs_scores(name, tmp_path):
    from boltir.data.runs import read_run

    queries, docs, run = _write_inputs(tmp_path)
    out = tmp_path / "out.run"
    args = ["re-rank", "--model", str(FIXTURES / name), "--run", str(run), "--queries", str(queries)]
    assert boltir(args + ["--docs", str(docs), "--output", str(out)]) == 0
    scored = read_run(str(out))
    got = np.array([[scored[f"q{i}"][f"q{i}d{j}"] for j in range(len(ds))] for i, ds in enumerate(REFERENCE["docs"])])
    assert close(got, np.array(REFERENCE["models"][name]["scores"]))


@pytest.mark.parametrize("name", ["dpr", "splade", "col"])
def test_index_and_search_with_a_lightning_ir_folder(name, tmp_path):
    from boltir.data.runs import read_run

    queries, docs, _ = _write_inputs(tmp_path)
    model = str(FIXTURES / name)
    assert boltir(["index", "--model", model, "--docs", str(docs), "--output", str(tmp_path / "idx")]) == 0
    out = tmp_path / "s.run"
    args = ["search", "--index", str(tmp_path / "idx"), "--queries", str(queries), "--output", str(out)]
    assert boltir(args + ["--k", "12"]) == 0
    found = read_run(str(out))
    for i, ds in enumerate(REFERENCE["docs"]):
        got = np.array([found[f"q{i}"][f"q{i}d{j}"] for j in range(len(ds))])
        assert close(got, np.array(REFERENCE["models"][name]["scores"][i]))


def test_asking_for_another_family_is_refused():
    import boltir as b
    from boltir.errors import FamilyError

    with pytest.raises(FamilyError, match=r"Lightning IR mono model \(boltir family mono\), not a dpr one"):
        b.load_model(FIXTURES / "mono-electra", family="dpr")


def test_a_setting_boltir_cannot_reproduce_is_refused_by_name(tmp_path):
    import boltir as b
    from boltir.errors import FamilyError

    folder = tmp_path / "col"
    shutil.copytree(FIXTURES / "col", folder)
    config = json.loads((folder / "config.json").read_text())
    config["query_aggregation_function"] = "mean"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(FamilyError, match=r"col setting query_aggregation_function='mean' is not supported"):
        b.load_model(folder)


def test_set_encoder_random_padding_stays_off_unless_asked(caplog):
    import boltir as b

    assert REFERENCE["models"]["set-encoder-electra"]["settings"]["sample_missing_docs"] is True  # as saved
    model = b.load_model(FIXTURES / "set-encoder-electra")
    assert model.config.sample_missing_docs is False
    assert model.config.int_token_id is None  # add_extra_token: false -> [CLS] is the interaction token
    a = model.score(REFERENCE["queries"][0], REFERENCE["docs"][0])
    assert np.array_equal(a, model.score(REFERENCE["queries"][0], REFERENCE["docs"][0]))
    reordered = model.score(REFERENCE["queries"][0], REFERENCE["docs"][0][::-1])[0][::-1]
    assert np.allclose(a[0], reordered, atol=1e-6)  # order-invariant
