"""Qdrant as the engine behind an index, on the real engine in-process (qdrant-edge-py) and qdrant-client's local
mode: exact engine search equals boltir's exact search for the three representations, exports resume without
duplicates and mirror additions and deletions, and every mismatch is refused by name. Against a running server
only when BOLTIR_QDRANT_URL is set."""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("qdrant_edge")
pytest.importorskip("qdrant_client")

from boltir.cli import main as boltir
from boltir.errors import InvalidIndexError, UnsupportedError
from boltir.index.build import build_index
from boltir.index.engines.qdrant import QdrantSearcher, connect, export_index
from boltir.index.open import open_searcher


@pytest.mark.parametrize("kind", ["dense", "sparse", "multivector"])
def test_exact_engine_search_equals_boltirs_exact_search(
    kind, tiny_backbone, pool, words, tmp_path, build_kind, same_run
):
    loaded, queries, knobs = build_kind(kind, tiny_backbone, pool, words, tmp_path / "idx")
    record = export_index(tmp_path / "idx", f"qdrant-edge:{tmp_path / 'edge'}", batch_size=16, show_progress=False)
    assert record["complete"] and record["kind"] == kind and record["points"] == record["count"]
    own = open_searcher(tmp_path / "idx", loaded=loaded, **knobs).search(queries, k=10)
    engine = QdrantSearcher(f"qdrant-edge:{tmp_path / 'edge'}", loaded=loaded)
    same_run(engine.search(queries, k=10), own)
    half = f"qdrant-edge:{tmp_path / 'half'}"  # float16 storage: the same documents, scores within 1e-2
    export_index(tmp_path / "idx", half, datatype="float16", show_progress=False)
    halved = QdrantSearcher(half, loaded=loaded).search(queries, k=10)
    for q in own:
        assert len(set(halved[q]) & set(own[q])) >= 9
        assert all(abs(score - own[q][d]) < 1e-2 for d, score in halved[q].items() if d in own[q])
    if kind == "dense":  # the client's local mode: the same collection contract through qdrant-client
        export_index(tmp_path / "idx", f"qdrant-local:{tmp_path / 'local'}", show_progress=False)
        same_run(QdrantSearcher(f"qdrant-local:{tmp_path / 'local'}", loaded=loaded).search(queries, k=10), own)


def test_approximate_search_through_the_engines_hnsw_graph(tiny_backbone, pool, words, tmp_path, build_kind):
    loaded, queries, _ = build_kind("dense", tiny_backbone, pool, words, tmp_path / "idx")
    target = f"qdrant-edge:{tmp_path / 'edge'}"
    export_index(tmp_path / "idx", target, show_progress=False, hnsw_threshold_kb=1)  # HNSW for every segment
    exact = QdrantSearcher(target, loaded=loaded).search(queries, k=10)
    approx = QdrantSearcher(target, loaded=loaded, exact=False, hnsw_ef=64).search(queries, k=10)
    recall = sum(len(set(approx[q]) & set(exact[q])) for q in exact) / sum(len(exact[q]) for q in exact)
    assert recall >= 0.95


def test_multivector_prefetch_then_maxsim_and_int8_quantisation(
    tiny_backbone, pool, words, tmp_path, build_kind, same_run
):
    from boltir.errors import ConfigError

    loaded, queries, knobs = build_kind("multivector", tiny_backbone, pool, words, tmp_path / "mv")
    own = open_searcher(tmp_path / "mv", loaded=loaded, **knobs).search(queries, k=10)
    target = f"qdrant-edge:{tmp_path / 'mv-edge'}"
    record = export_index(tmp_path / "mv", target, pooled_vector=True, hnsw_threshold_kb=1, show_progress=False)
    assert record["pooled"] and record["points"] == 37
    # every document prefetched by the pooled vector: the MaxSim re-scoring is boltir's exact search
    same_run(QdrantSearcher(target, loaded=loaded, prefetch=37).search(queries, k=10), own)
    few = QdrantSearcher(target, loaded=loaded, prefetch=12, exact=False, hnsw_ef=64).search(queries, k=10)
    exact_scores = open_searcher(tmp_path / "mv", loaded=loaded, **knobs).search(queries, k=37)
    for q in queries:  # fewer candidates: each one returned carries its exact MaxSim score
        assert all(abs(score - exact_scores[q][d]) < 1e-4 for d, score in few[q].items())
    export_index(tmp_path / "mv", f"qdrant-edge:{tmp_path / 'plain'}", show_progress=False)
    with pytest.raises(ConfigError, match="prefetch needs a multi-vector collection with pooled vectors"):
        QdrantSearcher(f"qdrant-edge:{tmp_path / 'plain'}", loaded=loaded, prefetch=10)

    dense, dense_queries, _ = build_kind("dense", tiny_backbone, pool, words, tmp_path / "dense")
    own = open_searcher(tmp_path / "dense", loaded=dense).search(dense_queries, k=10)
    int8 = f"qdrant-edge:{tmp_path / 'int8'}"
    export_index(tmp_path / "dense", int8, quantization="int8", hnsw_threshold_kb=1, show_progress=False)
    same_run(QdrantSearcher(int8, loaded=dense).search(dense_queries, k=10), own)  # exact ignores int8 copies
    approx = QdrantSearcher(int8, loaded=dense, exact=False, hnsw_ef=64, oversampling=2.0).search(dense_queries, k=10)
    assert sum(len(set(approx[q]) & set(own[q])) for q in own) / sum(len(own[q]) for q in own) >= 0.9
    with pytest.raises(InvalidIndexError, match="a collection of quantization 'int8', the index needs None"):
        export_index(tmp_path / "dense", int8, show_progress=False)
    from boltir.index.engines.qdrant import CollectionSettings

    with pytest.raises(ConfigError, match="quantises dense and multi-vector vectors, not sparse"):
        CollectionSettings(quantization="int8").check("sparse")
    with pytest.raises(ConfigError, match="pooled_vector: a multi-vector collection's option, not a dense one"):
        export_index(tmp_path / "dense", f"qdrant-edge:{tmp_path / 'p'}", pooled_vector=True, show_progress=False)


def test_a_killed_export_resumes_without_duplicates_and_mirrors_updates(
    tiny_backbone, pool, words, tmp_path, build_kind, same_run
):
    from boltir.index.handle import Index

    loaded, queries, _ = build_kind("dense", tiny_backbone, pool, words, tmp_path / "idx")
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
    same_run(QdrantSearcher(target, loaded=loaded).search(queries, k=10), own)
    assert "new-1" in QdrantSearcher(target, loaded=loaded).search({"q": "water boils"}, k=40)["q"]


def test_mismatches_are_refused_by_name(tiny_backbone, pool, words, tmp_path, build_kind):
    from boltir.index.engines.qdrant import collection_header
    from boltir.models.loading import load_bi_encoder

    build_kind("dense", tiny_backbone, pool, words, tmp_path / "a")
    other = load_bi_encoder(tiny_backbone, pooling="mean", projection_dim=16, similarity="cosine", seed=7)
    build_index(*other, str(pool), tmp_path / "b", model_source="other", show_progress=False)
    target = f"qdrant-edge:{tmp_path / 'edge'}"
    export_index(tmp_path / "a", target, show_progress=False)
    with pytest.raises(InvalidIndexError, match="holds vectors of model 'tiny-dense'.*built with 'other'"):
        export_index(tmp_path / "b", target, show_progress=False)
    same_model, _, _ = build_kind("dense", tiny_backbone, pool, words, tmp_path / "a2")
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
        collection_header({"kind": "coil", "model": {}}, tmp_path / "c", "float32")

    from qdrant_client import QdrantClient, models

    client = QdrantClient(path=str(tmp_path / "foreign"))
    client.create_collection(
        "boltir", vectors_config={"dense": models.VectorParams(size=16, distance=models.Distance.DOT)}
    )
    client.close()
    with pytest.raises(InvalidIndexError, match="not made by boltir"):
        export_index(tmp_path / "a", f"qdrant-local:{tmp_path / 'foreign'}", show_progress=False)


def test_search_command_serve_and_pipelines_accept_a_collection(
    tiny_backbone, pool, words, tmp_path, build_kind, same_run
):
    from boltir.data.runs import read_run
    from boltir.models.base import save_model_folder

    loaded, queries, _ = build_kind("dense", tiny_backbone, pool, words, tmp_path / "idx0")
    save_model_folder(*loaded, tmp_path / "model")  # a folder the CLI can load by path
    build_index(*loaded, str(pool), tmp_path / "idx", model_source=str(tmp_path / "model"), show_progress=False)
    target = f"qdrant-edge:{tmp_path / 'edge'}"
    assert boltir(["export", "--index", str(tmp_path / "idx"), "--to", target, "--batch-size", "16"]) == 0
    (tmp_path / "q.tsv").write_text("".join(f"{q}\t{t}\n" for q, t in queries.items()))
    common = ["--queries", str(tmp_path / "q.tsv"), "--k", "5"]
    assert boltir(["search", "--index", target, *common, "--output", str(tmp_path / "engine.run")]) == 0
    assert boltir(["search", "--index", str(tmp_path / "idx"), *common, "--output", str(tmp_path / "own.run")]) == 0
    same_run(read_run(str(tmp_path / "engine.run")), read_run(str(tmp_path / "own.run")))
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
def test_a_running_server(tiny_backbone, pool, words, tmp_path, build_kind, same_run):
    loaded, queries, _ = build_kind("sparse", tiny_backbone, pool, words, tmp_path / "idx")
    url = os.environ["BOLTIR_QDRANT_URL"].rstrip("/").replace("http://", "qdrant://").replace("https://", "qdrants://")
    target = f"{url}/boltir-test-{os.getpid()}"
    export_index(tmp_path / "idx", target, show_progress=False)
    own = open_searcher(tmp_path / "idx", loaded=loaded).search(queries, k=10)
    same_run(QdrantSearcher(target, loaded=loaded).search(queries, k=10), own)
    streamed = f"{url}/boltir-test-stream-{os.getpid()}"  # built straight into the server, in two runs
    from boltir.index.engines.ingest import index_into_collection

    build = {"model_source": "splade-tiny", "shard_size": 16, "show_progress": False}
    assert index_into_collection(*loaded, str(pool), streamed, max_shards=1, **build) is None
    index_into_collection(*loaded, str(pool), streamed, **build)
    same_run(QdrantSearcher(streamed, loaded=loaded).search(queries, k=10), own)
    for name in (target, streamed):
        connect(name).drop()
