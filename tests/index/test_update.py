"""Adding and deleting documents in dense (single-vector and MVR), sparse, multi-vector and COIL indexes: the
updated index searches like one built from scratch over the same documents; deleted documents never come back;
errors leave the index as it was."""

import json

import numpy as np
import pytest

from boltir.cli import main as boltir
from boltir.errors import InvalidIndexError
from boltir.index.storage import read_manifest

WORDS = "apple banana cherry delta echo foxtrot golf hotel india juliet kilo lima".split()
QUERIES = {"a": "apple banana", "b": "kilo lima echo", "c": "golf hotel india"}


def write_docs(path, start, n, seed):
    rng = np.random.default_rng(seed)
    path.write_text(
        "".join(
            json.dumps({"doc_id": f"d{i}", "text": " ".join(rng.choice(WORDS, size=int(rng.integers(2, 15))))}) + "\n"
            for i in range(start, start + n)
        )
    )
    return path


@pytest.fixture
def models(tiny_backbone, tmp_path):
    from boltir.models.base import save_model_folder
    from boltir.models.loading import load_bi_encoder, load_coil, load_colbert, load_mvr, load_unicoil

    out = {}
    for name, (model, tok) in {
        "dense": load_bi_encoder(tiny_backbone, doc_length=32),
        "sparse": load_unicoil(tiny_backbone, doc_length=32),
        "multivector": load_colbert(tiny_backbone, embedding_dim=8, doc_length=32),
        "mvr": load_mvr(tiny_backbone, views=3, doc_length=32),
        "coil": load_coil(tiny_backbone, cls_dim=16, token_dim=8, doc_length=32),
    }.items():
        if name == "sparse":
            import torch

            with torch.no_grad():
                model.weight_head.bias.fill_(0.05)
        save_model_folder(model, tok, tmp_path / f"model-{name}")
        out[name] = str(tmp_path / f"model-{name}")
    return out


def search(index, k=10):
    from boltir.index.dense import DenseSearcher
    from boltir.index.multivector import MultiVectorSearcher
    from boltir.index.sparse import SparseSearcher
    from boltir.index.storage import read_manifest

    kind = read_manifest(index)["kind"]
    if kind == "coil":
        from boltir.index.coil import CoilSearcher

        return CoilSearcher(index).search(QUERIES, k)
    if kind == "multivector":
        return MultiVectorSearcher(index, nprobe=64, ncandidates=None).search(QUERIES, k)
    return (SparseSearcher(index) if kind == "sparse" else DenseSearcher(index)).search(QUERIES, k)


@pytest.mark.parametrize("kind", ["dense", "sparse", "multivector", "mvr", "coil"])
def test_add_then_delete_equals_a_fresh_build(kind, models, tmp_path, capsys):
    first = write_docs(tmp_path / "first.jsonl", 0, 30, 0)
    more = write_docs(tmp_path / "more.jsonl", 30, 25, 1)
    both = tmp_path / "both.jsonl"
    both.write_text(first.read_text() + more.read_text())
    extra = ["--num-centroids", "8"] if kind == "multivector" else []
    idx, fresh = str(tmp_path / "idx"), str(tmp_path / "fresh")
    assert (
        boltir(["index", "--model", models[kind], "--docs", str(first), "--output", idx, "--shard-size", "16"] + extra)
        == 0
    )
    assert boltir(["index", "--docs", str(more), "--output", idx, "--add", "true", "--shard-size", "16"]) == 0
    assert "added 25 documents" in capsys.readouterr().out
    m = read_manifest(idx)
    assert m["count"] == 55 and m["generation"] == 1 and m["updates"][-1]["added"] == 25
    assert (
        boltir(["index", "--model", models[kind], "--docs", str(both), "--output", fresh, "--shard-size", "16"] + extra)
        == 0
    )
    derived = {
        "dense": "faiss.index",
        "sparse": "postings-docs.npy",
        "multivector": "centroids.npy",
        "mvr": "faiss.index",
        "coil": "coil-postings.npz",
    }[kind]
    stem, ext = derived.split(".")
    # the new generation is written beside the old one, which stays until the next update (a search that read the
    # old manifest a moment before the swap still finds its files)
    assert (tmp_path / "idx" / f"{stem}.g1.{ext}").exists() and (tmp_path / "idx" / derived).exists()
    # (multi-vector: the added tokens use the first build's centroids; exhaustive search is exact either way)
    got, want = search(idx), search(fresh)
    for q in QUERIES:
        assert list(got[q]) == list(want[q])
        np.testing.assert_allclose(list(got[q].values()), list(want[q].values()), rtol=1e-5, atol=1e-6)

    top = [list(got[q])[0] for q in QUERIES]
    (tmp_path / "del.txt").write_text("\n".join(sorted(set(top))) + "\n")
    assert boltir(["index", "--output", idx, "--delete", str(tmp_path / "del.txt")]) == 0
    after, deeper = search(idx), search(fresh, k=20)
    for q in QUERIES:
        assert not set(after[q]) & set(top)
        assert list(after[q]) == [d for d in deeper[q] if d not in set(top)][:10]
    assert read_manifest(idx)["deleted"] == sorted(set(top))


def test_update_errors_leave_the_index_unchanged(models, tmp_path, capsys):
    first = write_docs(tmp_path / "first.jsonl", 0, 20, 0)
    idx = str(tmp_path / "idx")
    boltir(["index", "--model", models["dense"], "--docs", str(first), "--output", idx])
    before = (tmp_path / "idx" / "manifest.json").read_text()
    assert boltir(["index", "--docs", str(first), "--output", idx, "--add", "true"]) == 1
    assert "document 'd0' is already in" in capsys.readouterr().err
    (tmp_path / "del.txt").write_text("d3\nnope\n")
    assert boltir(["index", "--output", idx, "--delete", str(tmp_path / "del.txt")]) == 1
    assert "no document 'nope' to delete" in capsys.readouterr().err
    assert (tmp_path / "idx" / "manifest.json").read_text() == before
    with pytest.raises(InvalidIndexError, match="different weights"):
        from boltir.index.update import add_documents
        from boltir.models.loading import load_bi_encoder

        other, tok = load_bi_encoder(models["sparse"].replace("sparse", "dense"), doc_length=16)
        import torch

        with torch.no_grad():
            next(other.parameters()).add_(1.0)
        add_documents(idx, other, tok, str(first))
