"""boltir serve against a live server on loopback: the answers equal boltir's own search and re-ranking, many
concurrent clients get no error (and are batched), bad requests get a 4xx and the server lives on, a new index
generation is picked up without restart, and shutdown answers what is in flight."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from serve_fixtures import TOPICS, _app

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")


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
        assert info["model"]["runs_on"] == "torch traced packed"  # PyTorch fp32; a server takes the traces at start
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
        ({"queries": ["apple"], "top_k": 3}, "top_k: Extra inputs are not permitted"),
        ({"queries": ["apple\ud800"], "k": 3}, "queries[0]: not valid Unicode"),
        ({"queries": ["apple"], "k": 2.5}, "k: Input should be a valid integer"),
    ],
)
def test_malformed_requests_get_a_4xx_and_the_server_lives(corpus, body, message, live_server):
    with live_server(_app(corpus)) as s:
        r = httpx.post(s.url + "/search", content=json.dumps(body), headers=JSON)  # ASCII: lone surrogates escaped
        assert 400 <= r.status_code < 500 and message in r.json()["detail"]
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


def test_every_error_has_one_shape_and_nan_is_a_422(corpus, live_server):
    with live_server(_app(corpus)) as s:
        answers = [
            httpx.post(s.url + "/search", content=b'{"queries": ["apple"], "k": NaN}', headers=JSON),
            httpx.post(s.url + "/search", content=b"{not json", headers=JSON),
            httpx.post(s.url + "/search", json={"queries": ["apple"], "k": 5000}),
            httpx.post(s.url + "/rerank", json={"query": "apple", "documents": ["a"]}),  # no re-ranker: 404
            httpx.post(s.url + "/encode", json={"texts": ["a"], "kind": "passage"}),
        ]
        assert [r.status_code for r in answers] == [422, 422, 422, 200, 422]
        for r in answers[:3] + answers[4:]:
            body = r.json()
            assert set(body) == {"detail", "errors"} and body["errors"][0]["message"] in body["detail"]
        assert answers[0].json()["errors"][0]["field"] == "k"


def test_a_failing_request_fails_alone_and_its_batch_is_answered(corpus, live_server, monkeypatch):
    """16 valid queries and 1 that breaks the model inside the shared batch (and 1 that validation refuses):
    the valid ones get 200 with boltir's own results, the others their own errors."""
    import threading

    from boltir.index.open import open_searcher

    app = _app(corpus, max_batch=64, max_wait_ms=200)
    service = app.state.service
    real = service.searcher.search

    def search(queries, k):
        if any("poison" in q for q in queries.values()):
            raise RuntimeError("the model broke on this text")
        return real(queries, k)

    monkeypatch.setattr(service.searcher, "search", search)
    expected = open_searcher(corpus / "idx").search({f"q{i}": f"{TOPICS[i % 4]} {i}" for i in range(16)}, 3)
    bodies = [{"queries": [f"{TOPICS[i % 4]} {i}"], "k": 3} for i in range(16)]
    bodies += [{"queries": ["poison pill"], "k": 3}, {"queries": ["bad\ud800"], "k": 3}]
    with live_server(app) as s:
        start = threading.Barrier(len(bodies))

        def send(body):
            start.wait()
            return httpx.post(s.url + "/search", content=json.dumps(body), headers=JSON, timeout=60)

        with ThreadPoolExecutor(len(bodies)) as pool:
            answers = list(pool.map(send, bodies))
        calls = httpx.get(s.url + "/info").json()["batching"]["calls"]["search"]
    assert [r.status_code for r in answers[:16]] == [200] * 16
    for i, r in enumerate(answers[:16]):
        hits = r.json()["results"][0]
        assert [h["doc_id"] for h in hits] == list(expected[f"q{i}"])
    assert answers[16].status_code == 500 and "internal error (RuntimeError)" in answers[16].json()["detail"]
    assert answers[17].status_code == 422 and "not valid Unicode" in answers[17].json()["detail"]
    assert calls < 17 + 17  # the valid ones shared batches (a failed batch is rerun request by request)


JSON = {"content-type": "application/json"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "page, rendered", [("/docs", "opblock"), pytest.param("/redoc", "operation", marks=pytest.mark.repro)]
)
def test_api_docs_render_offline_in_a_browser(corpus, live_server, page, rendered):
    """Headless Chromium, with every host but this machine unreachable, renders the operations of /docs (Swagger
    UI) and /redoc from assets the server itself serves; the schema carries response models and examples."""
    import os
    import shutil
    import subprocess

    browser = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    if browser is None:
        if os.environ.get("BOLTIR_REQUIRE_BROWSER") == "1":
            pytest.fail("no chromium on PATH (apt-get install chromium)")
        pytest.skip("no chromium on PATH")
    with live_server(_app(corpus)) as s:
        html = httpx.get(s.url + page).text
        assert "cdn." not in html and "https://" not in html.split("<body")[0]  # no outside asset in the head
        schema = httpx.get(s.url + "/openapi.json").json()
        search = schema["paths"]["/search"]["post"]
        assert search["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("SearchResponse")
        assert "examples" in schema["components"]["schemas"]["SearchRequest"] and search["description"]
        offline = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"  # nothing outside this machine resolves
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", offline, "--virtual-time-budget=15000"]
        dom = subprocess.run([*cmd, "--dump-dom", s.url + page], capture_output=True, text=True, timeout=120).stdout
    assert rendered in dom and "/search" in dom and "/rerank" in dom
