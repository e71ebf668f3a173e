"""Qdrant as the engine behind an index, on the real engine in-process (qdrant-edge-py) and qdrant-client's local
mode: exact engine search equals boltir's exact search for the three representations, exports resume without
duplicates and mirror additions and deletions, and every mismatch is refused by name. Against a running server
only when BOLTIR_QDRANT_URL is set."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

pytest.importorskip("qdrant_edge")
pytest.importorskip("qdrant_client")

from boltir.cli import main as boltir
from boltir.errors import InvalidIndexError, UnsupportedError
from boltir.index.build import build_index
from boltir.index.engines.qdrant import QdrantSearcher, export_index
from boltir.index.open import open_searcher

QUERIES = {"a": "what is the boiling point of water", "b": "how do vaccines work", "c": "cost of solar panels"}
WORDS = {"a": "apple banana", "b": "kilo lima echo", "c": "golf hotel india"}


@pytest.fixture(scope="module")
def pool(dl19_sample):
    return dl19_sample[0] / "docs.jsonl"


@pytest.fixture(scope="module")
def words(tmp_path_factory):
    folder = tmp_path_factory.mktemp("words")
    vocab = "apple banana cherry delta echo foxtrot golf hotel india juliet kilo lima".split()
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(vocab, size=int(rng.integers(2, 20)))) for _ in range(37)]
    path = folder / "docs.jsonl"
    path.write_text("".join(json.dumps({"doc_id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    return path


def _index(kind, tiny_backbone, pool, words, out):
    from boltir.models.loading import load_bi_encoder, load_colbert, load_splade

    if kind == "dense":
        loaded = load_bi_encoder(tiny_backbone, pooling="mean", projection_dim=16, similarity="cosine", doc_length=64)
        corpus, queries, knobs = pool, QUERIES, {}
    elif kind == "sparse":
        loaded, corpus, queries, knobs = load_splade("splade-tiny", doc_length=64), pool, QUERIES, {}
    else:
        loaded = load_colbert(tiny_backbone, embedding_dim=8, query_length=8, doc_length=32)
        corpus, queries, knobs = words, WORDS, {"nprobe": 10**9, "ncandidates": None}  # exhaustive MaxSim
    build_index(*loaded, str(corpus), out, model_source=f"tiny-{kind}", shard_size=16, show_progress=False)
    return loaded, queries, knobs


def _same(engine_run, own_run):
    assert engine_run.keys() == own_run.keys()
    for q in own_run:
        own = sorted(own_run[q].items(), key=lambda kv: (-kv[1], kv[0]))
        got = sorted(engine_run[q].items(), key=lambda kv: (-kv[1], kv[0]))
        assert [d for d, _ in got] == [d for d, _ in own], q
        assert np.allclose([s for _, s in got], [s for _, s in own], atol=1e-4), q


@pytest.mark.parametrize("kind", ["dense", "sparse", "multivector"])
def test_exact_engine_search_equals_boltirs_exact_search(kind, tiny_backbone, pool, words, tmp_path):
    loaded, queries, knobs = _index(kind, tiny_backbone, pool, words, tmp_path / "idx")
    record = export_index(tmp_path / "idx", f"qdrant-edge:{tmp_path / 'edge'}", batch_size=16, show_progress=False)
    assert record["complete"] and record["kind"] == kind and record["points"] == record["count"]
    own = open_searcher(tmp_path / "idx", loaded=loaded, **knobs).search(queries, k=10)
    engine = QdrantSearcher(f"qdrant-edge:{tmp_path / 'edge'}", loaded=loaded)
    _same(engine.search(queries, k=10), own)
    if kind == "dense":  # the client's local mode: the same collection contract through qdrant-client
        export_index(tmp_path / "idx", f"qdrant-local:{tmp_path / 'local'}", show_progress=False)
        _same(QdrantSearcher(f"qdrant-local:{tmp_path / 'local'}", loaded=loaded).search(queries, k=10), own)


def test_approximate_search_through_the_engines_hnsw_graph(tiny_backbone, pool, words, tmp_path):
    loaded, queries, _ = _index("dense", tiny_backbone, pool, words, tmp_path / "idx")
    target = f"qdrant-edge:{tmp_path / 'edge'}"
    export_index(tmp_path / "idx", target, show_progress=False, hnsw_threshold_kb=1)  # HNSW for every segment
    exact = QdrantSearcher(target, loaded=loaded).search(queries, k=10)
    approx = QdrantSearcher(target, loaded=loaded, exact=False, hnsw_ef=64).search(queries, k=10)
    recall = sum(len(set(approx[q]) & set(exact[q])) for q in exact) / sum(len(exact[q]) for q in exact)
    assert recall >= 0.95


def test_a_killed_export_resumes_without_duplicates_and_mirrors_updates(tiny_backbone, pool, words, tmp_path):
    from boltir.index.handle import Index

    loaded, queries, _ = _index("dense", tiny_backbone, pool, words, tmp_path / "idx")
    target = f"qdrant-edge:{tmp_path / 'edge'}"
    first = export_index(tmp_path / "idx", target, batch_size=8, max_batches=2, show_progress=False)
    assert first["exported"] == 16 and not first["complete"]  # stopped as a kill would stop it
    with pytest.raises(InvalidIndexError, match="half-finished export .16 of 40 documents"):
        QdrantSearcher(target, loaded=loaded)
    assert export_index(tmp_path / "idx", target, batch_size=8, show_progress=False)["points"] == 40
    again = export_index(tmp_path / "idx", target, batch_size=8, show_progress=False)
    assert again["points"] == 40 and again["complete"]  # a rerun of a complete export writes the same points

    from boltir.index.storage import read_doc_ids, read_manifest

    index = Index.open(tmp_path / "idx")
    ids = read_doc_ids(tmp_path / "idx", read_manifest(tmp_path / "idx"))
    index.delete(ids[:3])
    extra = tmp_path / "more.jsonl"
    extra.write_text(json.dumps({"doc_id": "new-1", "text": "water boils at one hundred degrees"}) + "\n")
    index.add(str(extra))
    record = export_index(tmp_path / "idx", target, batch_size=8, show_progress=False)
    assert record["points"] == 40 - 3 + 1 and record["deleted"] == 3
    own = open_searcher(tmp_path / "idx", loaded=loaded).search(queries, k=10)
    _same(QdrantSearcher(target, loaded=loaded).search(queries, k=10), own)
    assert "new-1" in QdrantSearcher(target, loaded=loaded).search({"q": "water boils"}, k=40)["q"]


def test_mismatches_are_refused_by_name(tiny_backbone, pool, words, tmp_path):
    from boltir.index.engines.qdrant import _header
    from boltir.models.loading import load_bi_encoder

    _index("dense", tiny_backbone, pool, words, tmp_path / "a")
    other = load_bi_encoder(tiny_backbone, pooling="mean", projection_dim=16, similarity="cosine", seed=7)
    build_index(*other, str(pool), tmp_path / "b", model_source="other", show_progress=False)
    target = f"qdrant-edge:{tmp_path / 'edge'}"
    export_index(tmp_path / "a", target, show_progress=False)
    with pytest.raises(InvalidIndexError, match="holds vectors of model 'tiny-dense'.*built with 'other'"):
        export_index(tmp_path / "b", target, show_progress=False)
    same_model, _, _ = _index("dense", tiny_backbone, pool, words, tmp_path / "a2")
    build_index(*same_model, str(words), tmp_path / "a3", model_source="tiny-dense", show_progress=False)
    export_index(tmp_path / "a2", f"qdrant-edge:{tmp_path / 'edge3'}", show_progress=False)
    with pytest.raises(InvalidIndexError, match="mirrors another index"):  # same model, other documents
        export_index(tmp_path / "a3", f"qdrant-edge:{tmp_path / 'edge3'}", show_progress=False)
    with pytest.raises(InvalidIndexError, match="no such collection"):
        QdrantSearcher(f"qdrant-edge:{tmp_path / 'nothing'}")
    with pytest.raises(InvalidIndexError, match="different weights"):
        QdrantSearcher(target, loaded=other)
    from boltir.errors import ConfigError

    with pytest.raises(ConfigError, match="shards and replicas are settings of a Qdrant server or cluster"):
        export_index(tmp_path / "a", f"qdrant-edge:{tmp_path / 'edge2'}", shards=2, show_progress=False)
    with pytest.raises(UnsupportedError, match="a coil index has no Qdrant equivalent"):
        _header({"kind": "coil", "model": {}}, tmp_path / "c", "float32")

    from qdrant_client import QdrantClient, models

    client = QdrantClient(path=str(tmp_path / "foreign"))
    client.create_collection(
        "boltir", vectors_config={"dense": models.VectorParams(size=16, distance=models.Distance.DOT)}
    )
    client.close()
    with pytest.raises(InvalidIndexError, match="not made by boltir"):
        export_index(tmp_path / "a", f"qdrant-local:{tmp_path / 'foreign'}", show_progress=False)


def test_search_command_serve_and_pipelines_accept_a_collection(tiny_backbone, pool, words, tmp_path):
    from boltir.data.runs import read_run
    from boltir.models.base import save_model_folder

    loaded, queries, _ = _index("dense", tiny_backbone, pool, words, tmp_path / "idx0")
    save_model_folder(*loaded, tmp_path / "model")  # a folder the CLI can load by path
    build_index(*loaded, str(pool), tmp_path / "idx", model_source=str(tmp_path / "model"), show_progress=False)
    target = f"qdrant-edge:{tmp_path / 'edge'}"
    assert boltir(["export", "--index", str(tmp_path / "idx"), "--to", target, "--batch-size", "16"]) == 0
    (tmp_path / "q.tsv").write_text("".join(f"{q}\t{t}\n" for q, t in queries.items()))
    common = ["--queries", str(tmp_path / "q.tsv"), "--k", "5"]
    assert boltir(["search", "--index", target, *common, "--output", str(tmp_path / "engine.run")]) == 0
    assert boltir(["search", "--index", str(tmp_path / "idx"), *common, "--output", str(tmp_path / "own.run")]) == 0
    _same(read_run(str(tmp_path / "engine.run")), read_run(str(tmp_path / "own.run")))
    assert boltir(["search", "--index", target, *common, "--output", str(tmp_path / "x.run"), "--budget", "5"]) == 1

    from boltir.pipeline import Reranker

    pipeline = open_searcher(target) >> Reranker(str(tmp_path / "model"), docs=str(pool), depth=5, show_progress=False)
    assert set(pipeline.search(queries, k=5)) == set(queries)

    from fastapi.testclient import TestClient

    from boltir.serve.app import Service, create_app

    with TestClient(create_app(Service(index=target))) as client:
        hits = client.post("/search", json={"queries": [queries["a"]], "k": 5}).json()["results"][0]
        assert [h["doc_id"] for h in hits] == list(read_run(str(tmp_path / "own.run"))["a"])
        assert client.get("/info").json()["index"]["kind"] == "dense"


@pytest.mark.skipif(not os.environ.get("BOLTIR_QDRANT_URL"), reason="no Qdrant server (set BOLTIR_QDRANT_URL)")
def test_a_running_server(tiny_backbone, pool, words, tmp_path):
    loaded, queries, _ = _index("sparse", tiny_backbone, pool, words, tmp_path / "idx")
    url = os.environ["BOLTIR_QDRANT_URL"].rstrip("/").replace("http://", "qdrant://").replace("https://", "qdrants://")
    target = f"{url}/boltir-test-{os.getpid()}"
    export_index(tmp_path / "idx", target, show_progress=False)
    own = open_searcher(tmp_path / "idx", loaded=loaded).search(queries, k=10)
    _same(QdrantSearcher(target, loaded=loaded).search(queries, k=10), own)
