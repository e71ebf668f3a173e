"""Learned-sparse inverted index: resumable build, exact search equal to brute-force dot products, pruned search,
mismatched model and corrupted files; index + search from the CLI."""

import numpy as np
import pytest

from boltir.cli import main as boltir
from boltir.errors import InvalidIndexError
from boltir.index.build import build_index
from boltir.index.sparse import SparseSearcher
from boltir.models.bi_encoders.inference import encode_sparse
from boltir.models.loading import load_splade

QUERIES = {"a": "what is the boiling point of water", "b": "how do vaccines work", "c": "cost of solar panels"}


@pytest.fixture(scope="module")
def corpus(dl19_sample):
    return dl19_sample


@pytest.fixture(scope="module")
def splade():
    return load_splade("splade-tiny", doc_length=64)


def test_build_resume_and_exact_search_equals_brute_force(corpus, splade, tmp_path):
    folder, docs = corpus
    model, tok = splade
    out = tmp_path / "idx"
    assert (
        build_index(
            model,
            tok,
            str(folder / "docs.jsonl"),
            out,
            model_source="splade-tiny",
            shard_size=16,
            max_shards=1,
            show_progress=False,
        )
        is None
    )
    assert not (out / "manifest.json").exists() and (out / "progress.json").exists()
    m = build_index(
        model, tok, str(folder / "docs.jsonl"), out, model_source="splade-tiny", shard_size=16, show_progress=False
    )
    assert m["count"] == 40 and len(m["shards"]) == 3 and m["kind"] == "sparse"

    searcher = SparseSearcher(out, loaded=splade)
    run = searcher.search(QUERIES, k=10)
    d_mat = encode_sparse(model, tok, [d.text for d in docs], "doc")
    q_mat = encode_sparse(model, tok, list(QUERIES.values()), "query")
    brute = (q_mat @ d_mat.T).toarray()
    for i, qid in enumerate(QUERIES):
        order = sorted(range(40), key=lambda j: (-brute[i, j], j))[:10]
        assert list(run[qid]) == [docs[j].doc_id for j in order]
        np.testing.assert_allclose(list(run[qid].values()), brute[i, order], rtol=1e-5, atol=1e-5)

    # pruned: a budget as long as the longest list is exact; a small one reads fewer postings
    assert SparseSearcher(out, loaded=splade, budget=m["postings"]["longest_list"]).search(QUERIES, k=10) == run
    pruned = SparseSearcher(out, loaded=splade, budget=2).search(QUERIES, k=10)
    for qid in QUERIES:
        assert len(pruned[qid]) <= 10
        assert all(
            s <= brute[list(QUERIES).index(qid), [d.doc_id for d in docs].index(d)] + 1e-5
            for d, s in pruned[qid].items()
        )
    idx, vals = searcher.search_vector(np.array([], dtype=np.int64), np.array([], dtype=np.float32), 10)
    assert len(idx) == 0 and len(vals) == 0


def test_a_query_without_terms_is_named(corpus, splade, tmp_path, monkeypatch):
    import boltir.models.bi_encoders.inference as inference

    folder, _ = corpus
    model, tok = splade
    build_index(
        model, tok, str(folder / "docs.jsonl"), tmp_path / "idx", model_source="splade-tiny", show_progress=False
    )
    searcher = SparseSearcher(tmp_path / "idx", loaded=splade)
    real = inference.encode_sparse

    def with_an_empty_row(m, t, texts, kind, *a, **kw):  # as if query "b" had no active term
        mat = real(m, t, texts, kind, *a, **kw).tolil()
        mat[1] = 0
        return mat.tocsr()

    monkeypatch.setattr(type(model), "batch_encoder", staticmethod(with_an_empty_row))
    with pytest.warns(UserWarning, match="1 of 3 queries have no term with a non-zero weight .*: b$"):
        run = searcher.search(QUERIES, k=5)
    assert run["b"] == {} and len(run["a"]) == len(run["c"]) == 5
    # another searcher on this index names both kinds
    from boltir.index.coil import CoilSearcher
    from boltir.index.dense import DenseSearcher

    for other, kind in ((DenseSearcher, "dense"), (CoilSearcher, "coil")):
        with pytest.raises(InvalidIndexError, match=f"a 'sparse' index, not a {kind} one"):
            other(tmp_path / "idx", loaded=splade)


def test_mismatched_model_and_corrupted_postings(corpus, splade, tmp_path):
    import torch

    folder, _ = corpus
    model, tok = splade
    out = tmp_path / "idx"
    build_index(model, tok, str(folder / "docs.jsonl"), out, model_source="splade-tiny", show_progress=False)
    other, _ = load_splade("splade-tiny")
    with torch.no_grad():
        next(other.parameters()).add_(0.01)
    with pytest.raises(InvalidIndexError, match="different weights"):
        SparseSearcher(out, loaded=(other, tok))
    raw = (out / "postings-docs.npy").read_bytes()
    (out / "postings-docs.npy").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InvalidIndexError, match="unreadable postings|do not match|bytes, the manifest says"):
        SparseSearcher(out, loaded=splade)
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(InvalidIndexError, match="empty"):
        build_index(model, tok, str(tmp_path / "empty.jsonl"), tmp_path / "e", model_source="x", show_progress=False)


def test_index_and_search_commands(corpus, tmp_path, capsys):
    folder, _ = corpus
    assert (
        boltir(
            [
                "index",
                "--model",
                "splade-tiny",
                "--docs",
                str(folder / "docs.jsonl"),
                "--output",
                str(tmp_path / "idx"),
                "--doc-length",
                "64",
            ]
        )
        == 0
    )
    assert "indexed 40 documents" in capsys.readouterr().out
    (tmp_path / "q.tsv").write_text("".join(f"{k}\t{v}\n" for k, v in QUERIES.items()))
    assert (
        boltir(
            [
                "search",
                "--index",
                str(tmp_path / "idx"),
                "--queries",
                str(tmp_path / "q.tsv"),
                "--output",
                str(tmp_path / "out.run"),
                "--k",
                "5",
            ]
        )
        == 0
    )
    lines = (tmp_path / "out.run").read_text().splitlines()
    assert len(lines) == 15 and {ln.split()[0] for ln in lines} == set(QUERIES)


def test_top_k_breaks_ties_by_position_also_at_the_cut_off():
    from boltir.index.sparse import top_positions as top_k

    cand = np.array([9, 3, 7, 1, 5, 2])
    vals = np.array([1.0, 2.0, 1.0, 1.0, 3.0, 1.0], dtype=np.float32)
    idx, got = top_k(cand, vals, 4)
    assert idx.tolist() == [5, 3, 1, 2] and got.tolist() == [3.0, 2.0, 1.0, 1.0]  # of the four 1.0s: 1 and 2
    assert top_k(cand, vals, 10)[0].tolist() == [5, 3, 1, 2, 7, 9]


def test_threaded_search_over_document_parts_equals_one_part(corpus, splade, tmp_path):
    from boltir.index.update import delete_documents

    folder, docs = corpus
    model, tok = splade
    out = tmp_path / "idx"
    build_index(model, tok, str(folder / "docs.jsonl"), out, model_source="splade-tiny", shard_size=16)
    delete_documents(out, [docs[3].doc_id, docs[30].doc_id])
    for budget in (None, 3):
        one = SparseSearcher(out, loaded=splade, budget=budget)
        three = SparseSearcher(out, loaded=splade, budget=budget, threads=3)
        assert len(three.document_parts(budget)) == 3
        for k in (1, 5, 40):
            assert three.search(QUERIES, k=k) == one.search(QUERIES, k=k)
    with pytest.raises(ValueError, match="threads=0"):
        SparseSearcher(out, loaded=splade, threads=0)
