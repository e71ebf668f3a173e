import json

import numpy as np
import pytest

from boltir.errors import InvalidIndexError
from boltir.index.build import build_index
from boltir.index.dense import DenseSearcher
from boltir.index.storage import iter_shards, read_manifest


@pytest.fixture
def corpus(tmp_path):
    words = "apple banana cherry delta echo foxtrot golf hotel india juliet kilo lima".split()
    rng = np.random.default_rng(0)
    lines = []
    for i in range(53):
        text = " ".join(rng.choice(words, size=int(rng.integers(2, 30))))
        lines.append(json.dumps({"doc_id": f"d{i}", "text": text}))
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def build(model_tok, corpus, out, **kw):
    model, tok = model_tok
    return build_index(
        model, tok, corpus, out, model_source="tiny", batch_size=8, shard_size=10, show_progress=False, **kw
    )


def test_index_then_search_equals_brute_force(tiny_dpr, corpus, tmp_path):
    from boltir.data.readers import read_docs
    from boltir.models.bi_encoders.inference import encode_dense

    manifest = build(tiny_dpr, corpus, tmp_path / "idx")
    assert manifest["count"] == 53 and len(manifest["shards"]) == 6 and manifest["dim"] == 16
    model, tok = tiny_dpr
    docs = list(read_docs(corpus))
    # length-sorted batches must give the same vectors as encoding each document alone
    alone = np.stack([encode_dense(model, tok, [d.text], "doc", batch_size=1)[0] for d in docs[:12]])
    stored = np.concatenate([np.asarray(v) for v, _ in iter_shards(tmp_path / "idx", manifest)])
    np.testing.assert_allclose(stored[:12], alone, atol=1e-5)
    searcher = DenseSearcher(tmp_path / "idx", loaded=tiny_dpr)
    queries = {"q1": "apple banana", "q2": "kilo lima lima"}
    run = searcher.search(queries, k=5)
    qv = encode_dense(model, tok, list(queries.values()), "query")
    scores = qv @ stored.T
    for (qid, _), row in zip(queries.items(), scores):
        top = np.argsort(-row)[:5]
        assert list(run[qid]) == [docs[i].doc_id for i in top]
        np.testing.assert_allclose(list(run[qid].values()), row[top], atol=1e-5)


def test_interrupted_build_resumes_to_the_same_index(tiny_dpr, corpus, tmp_path):
    full = build(tiny_dpr, corpus, tmp_path / "full")
    assert build(tiny_dpr, corpus, tmp_path / "part", max_shards=2) is None
    with pytest.raises(InvalidIndexError, match="partial build"):
        read_manifest(tmp_path / "part")
    progress = json.loads((tmp_path / "part" / "progress.json").read_text())
    assert len(progress["shards"]) == 2
    resumed = build(tiny_dpr, corpus, tmp_path / "part")
    assert resumed["count"] == full["count"]
    a = np.concatenate([np.asarray(v) for v, _ in iter_shards(tmp_path / "full", full)])
    b = np.concatenate([np.asarray(v) for v, _ in iter_shards(tmp_path / "part", resumed)])
    np.testing.assert_array_equal(a, b)
    ids_a = [i for _, ids in iter_shards(tmp_path / "full", full) for i in ids]
    ids_b = [i for _, ids in iter_shards(tmp_path / "part", resumed) for i in ids]
    assert ids_a == ids_b
    q = {"q": "echo foxtrot"}
    assert DenseSearcher(tmp_path / "full", loaded=tiny_dpr).search(q, 10) == DenseSearcher(
        tmp_path / "part", loaded=tiny_dpr
    ).search(q, 10)


def test_complete_index_is_not_overwritten(tiny_dpr, corpus, tmp_path):
    build(tiny_dpr, corpus, tmp_path / "idx")
    before = (tmp_path / "idx" / "manifest.json").read_text()
    with pytest.raises(InvalidIndexError, match="already holds a complete index"):
        build(tiny_dpr, corpus, tmp_path / "idx")
    assert (tmp_path / "idx" / "manifest.json").read_text() == before


def test_partial_build_with_other_settings_is_refused(tiny_dpr, corpus, tmp_path):
    build(tiny_dpr, corpus, tmp_path / "idx", max_shards=1)
    model, tok = tiny_dpr
    with pytest.raises(InvalidIndexError, match="different settings.*shard_size"):
        build_index(model, tok, corpus, tmp_path / "idx", model_source="tiny", shard_size=7, show_progress=False)


def test_corrupted_shard_is_detected(tiny_dpr, corpus, tmp_path):
    manifest = build(tiny_dpr, corpus, tmp_path / "idx")
    (tmp_path / "idx" / manifest["shards"][1]["vectors"]).write_bytes(b"garbage")
    with pytest.raises(InvalidIndexError, match="vectors-00001.npy: unreadable shard"):
        list(iter_shards(tmp_path / "idx", manifest))


def test_half_written_partial_shard_is_detected(tiny_dpr, corpus, tmp_path):
    build(tiny_dpr, corpus, tmp_path / "idx", max_shards=2)
    (tmp_path / "idx" / "shards" / "ids-00001.txt").write_text("d10\n")
    with pytest.raises(InvalidIndexError, match="ids-00001|vectors-00001"):
        build(tiny_dpr, corpus, tmp_path / "idx")


def test_wrong_model_is_refused(tiny_dpr, tiny_backbone, corpus, tmp_path):
    from boltir.models.loading import load_bi_encoder

    build(tiny_dpr, corpus, tmp_path / "idx")
    other = load_bi_encoder(tiny_backbone, pooling="mean", projection_dim=16, similarity="cosine", seed=7)
    with pytest.raises(InvalidIndexError, match="different weights"):
        DenseSearcher(tmp_path / "idx", loaded=other)


def test_same_weights_other_tokenizer_is_refused(tiny_dpr, tiny_backbone, corpus, tmp_path):
    from boltir.index.update import add_documents
    from boltir.models.sources import load_tokenizer

    model, tok = tiny_dpr
    build(tiny_dpr, corpus, tmp_path / "idx")
    tok(["apple"], truncation=True, max_length=3)  # per-call truncation state is not part of the fingerprint
    DenseSearcher(tmp_path / "idx", loaded=(model, tok))
    other = load_tokenizer(tiny_backbone)
    other.add_tokens(["applebanana"])
    with pytest.raises(InvalidIndexError, match="different ids"):
        DenseSearcher(tmp_path / "idx", loaded=(model, other))
    with pytest.raises(InvalidIndexError, match="different ids"):
        add_documents(tmp_path / "idx", model, other, corpus, show_progress=False)


def test_empty_corpus(tiny_dpr, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(InvalidIndexError, match="empty"):
        build(tiny_dpr, str(empty), tmp_path / "idx")
    assert not (tmp_path / "idx" / "manifest.json").exists()


def test_fresh_heads_are_saved_with_the_index(tiny_dpr, corpus, tmp_path):
    build(tiny_dpr, corpus, tmp_path / "idx", fresh_heads=True)
    manifest = read_manifest(tmp_path / "idx")
    assert manifest["model"]["saved_copy"] == "model"
    searcher = DenseSearcher(tmp_path / "idx")  # loads the saved copy, fingerprint must match
    assert len(searcher.search({"q": "apple"}, 3)["q"]) == 3


def test_faiss_factories_and_search_parameters(tiny_dpr, corpus, tmp_path):
    queries = {"a": "apple banana", "b": "kilo lima echo", "c": "golf"}
    build(tiny_dpr, corpus, tmp_path / "flat")
    want = DenseSearcher(tmp_path / "flat", loaded=tiny_dpr).search(queries, k=5)
    m = build(tiny_dpr, corpus, tmp_path / "ivf", factory="IVF4,Flat", train_size=40)
    assert m["factory"] == "IVF4,Flat"
    ivf = DenseSearcher(tmp_path / "ivf", loaded=tiny_dpr, search_params="nprobe=4")
    assert ivf.index.nprobe == 4  # the parameter reaches FAISS
    got = ivf.search(queries, k=5)
    for q in queries:  # every list probed: the exact ranking
        assert list(got[q]) == list(want[q])
        np.testing.assert_allclose(list(got[q].values()), list(want[q].values()), rtol=1e-5)
    hnsw_m = build(tiny_dpr, corpus, tmp_path / "hnsw", factory="HNSW8")
    hnsw = DenseSearcher(tmp_path / "hnsw", loaded=tiny_dpr, search_params="efSearch=64")
    assert hnsw_m["count"] == 53 and hnsw.index.hnsw.efSearch == 64
    assert set(hnsw.search(queries, k=5)["a"]) <= {f"d{i}" for i in range(53)}
    pq = build(tiny_dpr, corpus, tmp_path / "pq", factory="PQ4x4")
    assert pq["factory"] == "PQ4x4"
    build(tiny_dpr, corpus, tmp_path / "ivfpq", factory="IVF2,PQ4x4", train_size=53)
    ivfpq = DenseSearcher(tmp_path / "ivfpq", loaded=tiny_dpr, search_params="nprobe=2")
    assert ivfpq.index.nprobe == 2 and all(len(r) == 5 for r in ivfpq.search(queries, k=5).values())
    with pytest.raises(InvalidIndexError, match="training on 20 vectors failed"):
        build(tiny_dpr, corpus, tmp_path / "ivf32", factory="IVF32,Flat", train_size=20)
    with pytest.raises(InvalidIndexError, match="FAISS factory 'Nonsense12'"):
        build(tiny_dpr, corpus, tmp_path / "bad", factory="Nonsense12")
    with pytest.raises(ValueError, match="search parameters 'nprobe=x'"):
        DenseSearcher(tmp_path / "ivf", loaded=tiny_dpr, search_params="nprobe=x")


def test_mvr_views_search_equals_best_view_brute_force(tiny_backbone, corpus, tmp_path):
    """MVR documents go into FAISS as their views; fetching k * views vectors and keeping each document's first
    (best) view is exact with a Flat index, also after a deletion."""
    import torch

    from boltir.data.readers import read_docs
    from boltir.index.update import delete_documents
    from boltir.models.loading import load_mvr

    model, tok = load_mvr(tiny_backbone, views=3, doc_length=32)
    m = build((model, tok), corpus, tmp_path / "idx")
    assert m["views"] == 3 and m["count"] == 53 and m["shards"][0]["tokens"] == 30
    texts = [d.text for d in read_docs(corpus)]
    queries = {"a": "apple banana", "b": "kilo lima echo", "c": "golf"}

    def enc(t, kind):
        b = tok(t, padding=True, truncation=True, max_length=32, return_tensors="pt")
        return model(b["input_ids"], b["attention_mask"], kind=kind)

    with torch.inference_mode():
        brute = model.score(enc(list(queries.values()), "query"), enc(texts, "doc")).numpy()
    for k, deleted in ((10, []), (53, []), (10, ["d3", "d17"])):
        if deleted:
            delete_documents(tmp_path / "idx", deleted)
        run = DenseSearcher(tmp_path / "idx", loaded=(model, tok)).search(queries, k)
        for row, qid in enumerate(queries):
            order = [j for j in np.argsort(-brute[row], kind="stable") if f"d{j}" not in deleted][:k]
            assert list(run[qid]) == [f"d{j}" for j in order]
            np.testing.assert_allclose(list(run[qid].values()), brute[row, order], rtol=1e-5, atol=1e-5)


def test_memory_mapped_search_equals_the_loaded_one(tiny_dpr, corpus, tmp_path):
    build(tiny_dpr, corpus, tmp_path / "idx", factory="IVF4,Flat", train_size=53)
    q = {"q1": "apple banana", "q2": "kilo lima echo"}
    loaded = DenseSearcher(tmp_path / "idx", loaded=tiny_dpr, search_params="nprobe=4")
    mapped = DenseSearcher(tmp_path / "idx", loaded=tiny_dpr, search_params="nprobe=4", mmap=True)
    assert mapped.search(q, 10) == loaded.search(q, 10)


def test_on_disk_ivf_equals_the_in_memory_one_and_takes_additions(tiny_dpr, corpus, tmp_path):
    import faiss

    from boltir.index.integrity import verify
    from boltir.index.update import add_documents

    q = {"q1": "apple banana", "q2": "kilo lima echo", "q3": "golf"}
    build(tiny_dpr, corpus, tmp_path / "mem", factory="IVF4,Flat", train_size=53)
    m = build(tiny_dpr, corpus, tmp_path / "disk", factory="IVF4,Flat", train_size=53, ondisk=True)
    assert m["ondisk"] and (tmp_path / "disk" / "faiss.ivfdata").is_file() and "faiss.ivfdata" in m["files"]
    assert not list((tmp_path / "disk").glob(".ivf-parts*"))  # the per-shard scratch indexes are gone
    disk = DenseSearcher(tmp_path / "disk", loaded=tiny_dpr, search_params="nprobe=2")
    lists = faiss.extract_index_ivf(disk.index).invlists
    assert "OnDisk" in type(faiss.downcast_InvertedLists(lists)).__name__  # searched from the mapped file
    mem = DenseSearcher(tmp_path / "mem", loaded=tiny_dpr, search_params="nprobe=2")
    assert disk.search(q, 10) == mem.search(q, 10)  # same quantizer, same lists, same ranking
    assert verify(tmp_path / "disk", read_manifest(tmp_path / "disk")) == []

    extra = tmp_path / "extra.jsonl"
    extra.write_text("".join(json.dumps({"doc_id": f"x{i}", "text": f"apple banana {i}"}) + "\n" for i in range(7)))
    model, tok = tiny_dpr
    for folder in ("mem", "disk"):
        add_documents(tmp_path / folder, model, tok, str(extra), batch_size=8, shard_size=10)
    after = read_manifest(tmp_path / "disk")
    assert after["count"] == 60 and (tmp_path / "disk" / "faiss.g1.ivfdata").is_file()
    disk = DenseSearcher(tmp_path / "disk", loaded=tiny_dpr, search_params="nprobe=2")
    mem = DenseSearcher(tmp_path / "mem", loaded=tiny_dpr, search_params="nprobe=2")
    assert disk.search(q, 10) == mem.search(q, 10) and any(d.startswith("x") for d in disk.search(q, 10)["q1"])
    with pytest.raises(ValueError, match="ondisk keeps IVF inverted lists on disk; factory 'Flat'"):
        build(tiny_dpr, corpus, tmp_path / "flat", ondisk=True)
