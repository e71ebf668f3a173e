"""boltir serve against a live server on loopback: the answers equal boltir's own search and re-ranking, many
concurrent clients get no error (and are batched), bad requests get a 4xx and the server lives on, a new index
generation is picked up without restart, and shutdown answers what is in flight."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

TOPICS = ["apple", "engine", "river", "music"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, tiny_backbone):
    from boltir.index.build import build_index
    from boltir.models.loading import load_bi_encoder

    folder = tmp_path_factory.mktemp("serve")
    model, tok = load_bi_encoder(tiny_backbone, pooling="mean", projection_dim=16, similarity="cosine", doc_length=64)
    model.save_pretrained(folder / "model")
    tok.save_pretrained(folder / "model")
    (folder / "docs.tsv").write_text(
        "".join(f"d{i}\t{TOPICS[i % 4]} passage number {i} about {TOPICS[(i * 7) % 4]}\n" for i in range(40))
    )
    model, tok = load_bi_encoder(str(folder / "model"))
    build_index(model, tok, str(folder / "docs.tsv"), folder / "idx", model_source=str(folder / "model"))
    return folder


def _app(folder: Path, **kwargs):
    from boltir.serve.app import Service, create_app

    service = Service(index=str(folder / "idx"), docs=str(folder / "docs.tsv"), **kwargs.pop("service", {}))
    return create_app(service, **kwargs)


def test_search_equals_boltir_search_and_info(corpus, tmp_path, live_server):
    from boltir.cli import main as boltir
    from boltir.data.runs import read_run

    queries = {f"q{i}": f"{t} passage" for i, t in enumerate(TOPICS)}
    (tmp_path / "q.tsv").write_text("".join(f"{q}\t{t}\n" for q, t in queries.items()))
    args = ["search", "--index", str(corpus / "idx"), "--queries", str(tmp_path / "q.tsv"), "--k", "5"]
    assert boltir(args + ["--output", str(tmp_path / "s.run")]) == 0
    expected = read_run(str(tmp_path / "s.run"))
    with live_server(_app(corpus)) as s:
        assert httpx.get(s.url + "/health").json() == {"status": "ok"}
        info = httpx.get(s.url + "/info").json()
        assert info["index"]["kind"] == "dense" and info["index"]["count"] == 40
        assert info["model"]["runs_on"] == "torch"  # plain PyTorch fp32 unless --backend / --quantize say otherwise
        r = httpx.post(s.url + "/search", json={"queries": list(queries.values()), "k": 5})
        assert r.status_code == 200
        for qid, hits in zip(queries, r.json()["results"]):
            assert [h["doc_id"] for h in hits] == sorted(expected[qid], key=lambda d: -expected[qid][d])
            assert all(abs(h["score"] - expected[qid][h["doc_id"]]) < 1e-5 for h in hits)
        assert "/search" in httpx.get(s.url + "/openapi.json").json()["paths"]


def test_concurrent_clients_get_no_errors_and_are_batched(corpus, live_server):
    with live_server(_app(corpus, max_batch=32, max_wait_ms=10)) as s:

        def client(c: int) -> list[int]:
            with httpx.Client(base_url=s.url, timeout=60) as http:
                return [
                    http.post("/search", json={"queries": [f"{TOPICS[(c + i) % 4]} {i}"], "k": 3}).status_code
                    for i in range(20)
                ]

        with ThreadPoolExecutor(32) as pool:
            codes = [c for codes in pool.map(client, range(32)) for c in codes]
        assert codes == [200] * 640
        calls = httpx.get(s.url + "/info").json()["batching"]["calls"]["search"]
        assert calls < 640  # requests shared forward passes


@pytest.mark.parametrize(
    "body, message",
    [
        ({"k": 3}, "queries"),
        ({"queries": [""], "k": 3}, "queries[0]: empty text"),
        ({"queries": ["x" * 3000]}, "at most 2000"),
        ({"queries": ["apple"], "k": 5000}, "k: 5000"),
        ({"queries": "apple"}, "list"),
        ({"queries": [], "k": 3}, "at least one"),
    ],
)
def test_malformed_requests_get_a_4xx_and_the_server_lives(corpus, body, message, live_server):
    with live_server(_app(corpus)) as s:
        r = httpx.post(s.url + "/search", json=body)
        assert 400 <= r.status_code < 500 and message in r.text
        assert (
            httpx.post(
                s.url + "/search", content=b"{not json", headers={"content-type": "application/json"}
            ).status_code
            == 422
        )
        assert httpx.post(s.url + "/rerank", json={"query": "apple", "documents": []}).status_code == 422
        assert httpx.get(s.url + "/health").status_code == 200


def test_rerank_and_encode_equal_the_models_own(tiny_backbone, corpus, live_server):
    import numpy as np

    import boltir
    from boltir.serve.app import Service, create_app

    docs = ["apple passage", "engine passage about rivers", "music"]
    with live_server(create_app(Service(model=tiny_backbone))) as s:
        local = boltir.load_model(tiny_backbone)
        got = httpx.post(s.url + "/rerank", json={"query": "apple", "documents": docs}).json()
        assert np.allclose(got["scores"], local.score("apple", docs)[0], atol=1e-5)
        assert got["ranking"] == sorted(range(3), key=lambda i: -got["scores"][i])
        enc = httpx.post(s.url + "/encode", json={"texts": docs, "kind": "doc"}).json()["embeddings"]
        assert np.allclose(enc, local.encode_documents(docs), atol=1e-5)


def test_a_new_generation_is_picked_up_without_restart(corpus, tmp_path, live_server):
    import shutil

    from boltir.index.update import add_documents
    from boltir.models.loading import load_bi_encoder

    shutil.copytree(corpus, tmp_path / "c")
    with live_server(_app(tmp_path / "c")) as s:
        before = httpx.post(s.url + "/search", json={"queries": ["zebra zebra"], "k": 50}).json()["results"][0]
        (tmp_path / "new.tsv").write_text("d99\tzebra zebra zebra\n")
        model, tok = load_bi_encoder(str(tmp_path / "c" / "model"))
        add_documents(tmp_path / "c" / "idx", model, tok, str(tmp_path / "new.tsv"), show_progress=False)
        after = httpx.post(s.url + "/search", json={"queries": ["zebra zebra"], "k": 50}).json()["results"][0]
        assert "d99" not in {h["doc_id"] for h in before} and "d99" in {h["doc_id"] for h in after}
        assert httpx.get(s.url + "/info").json()["index"]["generation"] == 1


def test_shutdown_answers_requests_in_flight(corpus, live_server):
    app = _app(corpus, max_wait_ms=1)
    service = app.state.service
    slow = service.search_batch

    def search_batch(items):
        time.sleep(0.5)
        return slow(items)

    service.search_batch = search_batch
    app.state.batchers["search"].fn = search_batch
    with live_server(app) as s:
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(httpx.post, s.url + "/search", json={"queries": [t]}, timeout=30) for t in TOPICS]
            time.sleep(0.2)
            s.server.should_exit = True
            codes = [f.result().status_code for f in futures]
    assert codes == [200] * 4
