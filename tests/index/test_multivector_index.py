"""Multi-vector (ColBERT) index: resumable build, exhaustive search equal to brute-force MaxSim, PLAID-style
candidate generation and centroid pre-ranking, mismatched model, corrupted shards."""

import json

import numpy as np
import pytest

from boltir.errors import InvalidIndexError
from boltir.index.build import build_index
from boltir.index.multivector import MultiVectorSearcher, default_centroids
from boltir.models.bi_encoders.inference import encode_multi
from boltir.models.loading import load_colbert

QUERIES = {"a": "apple banana", "b": "kilo lima echo", "c": "golf hotel india"}


@pytest.fixture
def corpus(tmp_path):
    words = "apple banana cherry delta echo foxtrot golf hotel india juliet kilo lima".split()
    rng = np.random.default_rng(0)
    docs = [" ".join(rng.choice(words, size=int(rng.integers(2, 20)))) for _ in range(53)]
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps({"doc_id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(docs)))
    return str(path), docs


@pytest.fixture
def colbert(tiny_backbone):
    return load_colbert(tiny_backbone, embedding_dim=8, query_length=8, doc_length=32)


def build(colbert, corpus, out, **kw):
    model, tok = colbert
    return build_index(
        model, tok, corpus, out, model_source="tiny", batch_size=8, shard_size=20, show_progress=False, **kw
    )


def write_jsonl(path, docs):
    path.write_text("".join(json.dumps({"doc_id": d, "text": t}) + "\n" for d, t in docs.items()))
    return path


def test_exhaustive_search_equals_brute_force_maxsim(colbert, corpus, tmp_path):
    path, texts = corpus
    assert build(colbert, path, tmp_path / "idx", max_shards=1) is None
    m = build(colbert, path, tmp_path / "idx", num_centroids=16)
    assert m["count"] == 53 and len(m["shards"]) == 3 and m["centroids"]["num_centroids"] == 16
    model, tok = colbert
    d_emb = encode_multi(model, tok, texts, "doc")
    q_emb = encode_multi(model, tok, list(QUERIES.values()), "query")
    assert m["centroids"]["tokens"] == sum(len(e) for e in d_emb)
    searcher = MultiVectorSearcher(tmp_path / "idx", loaded=colbert, nprobe=16, ncandidates=None)
    run = searcher.search(QUERIES, k=10)
    for qid, q in zip(QUERIES, q_emb):
        brute = np.array([(q @ d.T).max(1).sum() for d in d_emb])
        order = sorted(range(53), key=lambda j: (-brute[j], j))[:10]
        assert list(run[qid]) == [f"d{j}" for j in order]
        np.testing.assert_allclose(list(run[qid].values()), brute[order], rtol=1e-5)
        # centroid interaction is MaxSim with tokens replaced by their centroids
        docs = np.arange(53)
        approx = searcher.centroid_scores(q, docs)
        codes = [searcher.codes[searcher.global_start[j] : searcher.global_start[j] + len(d_emb[j])] for j in range(53)]
        manual = np.array([(q @ searcher.centroids[c].T).max(1).sum() for c in codes])
        np.testing.assert_allclose(approx, manual, rtol=1e-5)
    # the three shards scored by two threads: the same run
    threaded = MultiVectorSearcher(tmp_path / "idx", loaded=colbert, nprobe=16, ncandidates=None, threads=2)
    assert threaded.search(QUERIES, k=10) == run
    with pytest.raises(ValueError, match="threads=0"):
        MultiVectorSearcher(tmp_path / "idx", loaded=colbert, threads=0)
    # fewer probes and a candidate cut return a subset, scored exactly
    narrow = MultiVectorSearcher(tmp_path / "idx", loaded=colbert, nprobe=1, ncandidates=5).search(QUERIES, k=10)
    for qid in QUERIES:
        assert len(narrow[qid]) <= 5
        full = MultiVectorSearcher(tmp_path / "idx", loaded=colbert, nprobe=16, ncandidates=None).search(
            {qid: QUERIES[qid]}, k=53
        )[qid]
        assert all(abs(full[d] - s) < 1e-5 for d, s in narrow[qid].items())


def test_mismatch_and_corruption(colbert, corpus, tmp_path, tiny_backbone):
    path, _ = corpus
    build(colbert, path, tmp_path / "idx", num_centroids=8)
    other = load_colbert(tiny_backbone, embedding_dim=8, seed=1)
    with pytest.raises(InvalidIndexError, match="different weights"):
        MultiVectorSearcher(tmp_path / "idx", loaded=other)
    off = tmp_path / "idx" / "shards" / "offsets-00001.npy"
    np.save(off, np.load(off)[:-3])
    with pytest.raises(InvalidIndexError, match="offsets"):
        MultiVectorSearcher(tmp_path / "idx", loaded=colbert)
    assert default_centroids(10_000) == 1024 and default_centroids(3) == 3


def test_index_and_search_commands(colbert, corpus, tmp_path, capsys):
    from boltir.cli import main as boltir
    from boltir.models.base import save_model_folder

    path, _ = corpus
    save_model_folder(*colbert, tmp_path / "model")
    assert (
        boltir(
            [
                "index",
                "--model",
                str(tmp_path / "model"),
                "--docs",
                path,
                "--output",
                str(tmp_path / "idx"),
                "--num-centroids",
                "8",
            ]
        )
        == 0
    )
    assert "indexed 53 documents" in capsys.readouterr().out
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
                "--nprobe",
                "8",
            ]
        )
        == 0
    )
    assert len((tmp_path / "out.run").read_text().splitlines()) == 15


def test_fresh_projection_is_saved_with_the_index(colbert, corpus, tmp_path, tiny_backbone):
    path, _ = corpus
    model, tok = colbert
    m = build_index(
        model,
        tok,
        path,
        tmp_path / "idx",
        model_source=tiny_backbone,
        num_centroids=8,
        show_progress=False,
        fresh_heads=True,
    )
    assert m["model"]["saved_copy"] == "model"
    searcher = MultiVectorSearcher(tmp_path / "idx")  # loads the saved copy, not a new random projection
    assert searcher.search({"q": "apple"}, k=3)["q"]


@pytest.mark.parametrize("nbits", [1, 2, 4, 8])
def test_residual_compression_by_hand(nbits):
    from boltir.index.multivector import compress_residuals, decompress_residuals, fit_buckets

    rng = np.random.default_rng(nbits)
    centroids = rng.normal(size=(5, 16)).astype(np.float32)
    codes = rng.integers(0, 5, size=40).astype(np.int32)
    tokens = centroids[codes] + 0.1 * rng.normal(size=(40, 16)).astype(np.float32)
    cutoffs, values = fit_buckets(tokens - centroids[codes], nbits)
    assert len(cutoffs) == 2**nbits - 1 and len(values) == 2**nbits and np.all(np.diff(cutoffs) > 0)
    packed = compress_residuals(tokens, codes, centroids, cutoffs, nbits)
    assert packed.dtype == np.uint8 and packed.shape == (40, 16 * nbits // 8)
    by_hand = centroids[codes] + values[np.searchsorted(cutoffs, tokens - centroids[codes])]
    by_hand /= np.linalg.norm(by_hand, axis=1, keepdims=True)
    np.testing.assert_allclose(decompress_residuals(packed, codes, centroids, values, nbits), by_hand, rtol=1e-6)


def test_compressed_index_scores_decompressed_tokens_and_takes_additions(colbert, corpus, tmp_path):
    from boltir.index.multivector import decompress_residuals, load_buckets
    from boltir.index.update import add_documents

    path, texts = corpus
    model, tok = colbert
    with pytest.raises(ValueError, match="nbits=3"):
        build(colbert, path, tmp_path / "bad", nbits=3)
    exact_idx, small = tmp_path / "exact", tmp_path / "small"
    build(colbert, path, exact_idx, num_centroids=16)
    m = build(colbert, path, small, num_centroids=16, nbits=2)
    assert m["centroids"]["nbits"] == 2
    residuals = np.load(small / "residuals.npy")
    assert residuals.shape == (m["centroids"]["tokens"], 2) and residuals.dtype == np.uint8  # 8 dims x 2 bits
    exhaustive = dict(nprobe=16, ncandidates=None)
    got = MultiVectorSearcher(small, loaded=colbert, **exhaustive).search(QUERIES, k=53)
    want = MultiVectorSearcher(exact_idx, loaded=colbert, **exhaustive).search(QUERIES, k=53)
    # MaxSim over decompressed tokens, by hand
    searcher = MultiVectorSearcher(small, loaded=colbert, **exhaustive)
    _, _, values = load_buckets(small, 0)
    approx_tokens = decompress_residuals(residuals, searcher.codes, searcher.centroids, values, 2)
    q_emb = encode_multi(model, tok, list(QUERIES.values()), "query")
    for qid, q in zip(QUERIES, q_emb):
        by_hand = {
            f"d{j}": (
                q
                @ approx_tokens[
                    searcher.global_start[j] : searcher.global_start[j] + searcher.doc_end[j] - searcher.doc_start[j]
                ].T
            )
            .max(1)
            .sum()
            for j in range(53)
        }
        for d, s in got[qid].items():
            assert s == pytest.approx(by_hand[d], rel=1e-5, abs=1e-5)
        assert len(set(list(got[qid])[:10]) & set(list(want[qid])[:10])) >= 6  # 2 bits keep most of the top 10
    # documents added later are compressed with the index's centroids and buckets
    more = tmp_path / "more.jsonl"
    more.write_text(json.dumps({"doc_id": "new", "text": "apple banana apple banana"}) + "\n")
    m2 = add_documents(small, model, tok, str(more), show_progress=False)
    assert m2["centroids"]["nbits"] == 2 and (small / "residuals.g1.npy").exists()
    assert (small / "residuals.npy").exists()  # the previous generation stays until the next update
    add_documents(
        small, model, tok, str(write_jsonl(tmp_path / "more2.jsonl", {"new2": "banana"})), show_progress=False
    )
    assert (small / "residuals.g2.npy").exists() and (small / "residuals.g1.npy").exists()
    assert not (small / "residuals.npy").exists()  # two updates later, generation 0 is removed
    run = MultiVectorSearcher(small, loaded=colbert, **exhaustive).search({"a": QUERIES["a"]}, k=55)
    assert "new" in run["a"] and len(run["a"]) == 55


def test_compressing_a_built_index_equals_compressing_at_build(colbert, corpus, tmp_path):
    from boltir.index.multivector import compress_multivector

    path, _ = corpus
    build(colbert, path, tmp_path / "later", num_centroids=16)
    build(colbert, path, tmp_path / "built", num_centroids=16, nbits=4)
    m = compress_multivector(tmp_path / "later", 4)
    assert m["generation"] == 1 and m["updates"][-1]["compressed"] == 4
    assert (tmp_path / "later" / "codes.npy").exists()  # generation 0 stays until the next update
    np.testing.assert_array_equal(
        np.load(tmp_path / "later" / "residuals.g1.npy"), np.load(tmp_path / "built" / "residuals.npy")
    )
    kw = dict(loaded=colbert, nprobe=16, ncandidates=None)
    assert MultiVectorSearcher(tmp_path / "later", **kw).search(QUERIES, k=10) == MultiVectorSearcher(
        tmp_path / "built", **kw
    ).search(QUERIES, k=10)


def test_an_index_without_float_vectors_searches_updates_and_verifies_as_one_with_them(colbert, corpus, tmp_path):
    """keep_vectors=False: the float token files are gone once the manifest is in place, and everything that only
    needs codes and residuals (search, open checks, verify, adding and deleting documents) gives what the same
    index with its vectors gives; what needs the vectors (export, compressing again) is refused by name."""
    from boltir.index.integrity import verify
    from boltir.index.multivector import compress_multivector, has_vectors
    from boltir.index.open import open_index
    from boltir.index.update import add_documents, delete_documents

    path, _ = corpus
    model, tok = colbert
    with pytest.raises(ValueError, match="keep_vectors=false needs nbits"):
        build(colbert, path, tmp_path / "bad", keep_vectors=False)
    full, compact = tmp_path / "full", tmp_path / "compact"
    build(colbert, path, full, num_centroids=16, nbits=4)
    m = build(colbert, path, compact, num_centroids=16, nbits=4, keep_vectors=False)
    assert m["centroids"]["keep_vectors"] is False and not has_vectors(m) and has_vectors(open_index(full))
    assert not list((compact / "shards").glob("tokens-*")) and len(list((full / "shards").glob("tokens-*"))) == 3
    assert not any("tokens-" in rel for rel in m["files"])
    size = sum(f.stat().st_size for f in (compact / "shards").iterdir())
    assert size == sum(r["bytes"] for rel, r in m["files"].items() if rel.startswith("shards/"))
    assert size < sum(f.stat().st_size for f in (full / "shards").iterdir()) / 4  # offsets and ids left
    open_index(compact, check_shards=True)  # offsets, ids and token counts still checked
    assert verify(compact, m) == []
    kw = dict(loaded=colbert, nprobe=16, ncandidates=None)
    assert MultiVectorSearcher(compact, **kw).search(QUERIES, k=20) == MultiVectorSearcher(full, **kw).search(
        QUERIES, k=20
    )
    more = write_jsonl(tmp_path / "more.jsonl", {"new": "apple banana apple", "new2": "kilo lima"})
    for folder in (full, compact):
        add_documents(folder, model, tok, str(more), show_progress=False, shard_size=20)
        delete_documents(folder, ["d3"])
    m2 = open_index(compact, check_shards=True)
    assert m2["count"] == 55 and not has_vectors(m2) and not list((compact / "shards").glob("tokens-*"))
    np.testing.assert_array_equal(np.load(compact / "codes.g1.npy"), np.load(full / "codes.g1.npy"))
    np.testing.assert_array_equal(np.load(compact / "residuals.g1.npy"), np.load(full / "residuals.g1.npy"))
    assert MultiVectorSearcher(compact, **kw).search(QUERIES, k=20) == MultiVectorSearcher(full, **kw).search(
        QUERIES, k=20
    )
    with pytest.raises(ValueError, match="keeps no float token vectors to compress again"):
        compress_multivector(compact, 2)
    from boltir.index.engines.qdrant import export_index

    with pytest.raises(ValueError, match="keeps no float token vectors to export"):  # before any engine is reached
        export_index(compact, f"qdrant-edge:{tmp_path / 'edge'}")


def test_adding_documents_keeps_the_codes_of_the_tokens_already_indexed(colbert, corpus, tmp_path):
    """The tokens already indexed keep their codes and residuals on an addition (their vectors are not read): the
    codes equal a fresh assignment of every token with the same centroids."""
    from boltir.index.multivector import CENTROIDS_FILE, assign_tokens, load_buckets
    from boltir.index.open import open_index
    from boltir.index.storage import derived_name
    from boltir.index.update import add_documents

    path, _ = corpus
    model, tok = colbert
    folder = tmp_path / "idx"
    build(colbert, path, folder, num_centroids=16, nbits=2)
    more = write_jsonl(tmp_path / "more.jsonl", {"new": "golf hotel golf", "new2": "echo"})
    add_documents(folder, model, tok, str(more), show_progress=False)
    manifest = open_index(folder)
    centroids = np.load(folder / derived_name(CENTROIDS_FILE, 1))
    stats = assign_tokens(folder, manifest["shards"], centroids, 9, load_buckets(folder, 1))
    assert stats["tokens"] == manifest["centroids"]["tokens"]
    np.testing.assert_array_equal(np.load(folder / "codes.g9.npy"), np.load(folder / "codes.g1.npy"))
    np.testing.assert_array_equal(np.load(folder / "residuals.g9.npy"), np.load(folder / "residuals.g1.npy"))
