"""boltir serve under load: queries per second and p50 / p99 latency at 1, 8 and 32 concurrent clients, dynamic
batching on vs off, measured in one run against a live server on loopback.

  python benchmarks/bench_serve.py [--num-docs 2000] [--output benchmarks/results/serve-cpu.json]

The index holds the first --num-docs DL19 pool passages encoded by the bundled MiniLM-L6; each request is one real
query (DL19 + DL20 + dev-small), k = 10. The clients run in this process (threads), as a load generator would.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REQUESTS = {1: 60, 8: 160, 32: 320}


def queries() -> list[str]:
    from boltir.data.sources import load_queries

    out = list(load_queries("trec-dl-2019").values()) + list(load_queries("trec-dl-2020").values())
    return out + list(load_queries("msmarco-devsmall-sample").values())[:300]


def load(url: str, clients: int, total: int, texts: list[str]) -> dict:
    import httpx

    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()

    def client(c: int) -> None:
        nonlocal errors
        with httpx.Client(base_url=url, timeout=120) as http:
            for i in range(c, total, clients):
                t0 = time.perf_counter()
                r = http.post("/search", json={"queries": [texts[i % len(texts)]], "k": 10})
                dt = time.perf_counter() - t0
                with lock:
                    latencies.append(dt)
                    errors += r.status_code != 200

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    wall = time.perf_counter() - t0
    latencies.sort()
    return {
        "requests": total,
        "errors": errors,
        "qps": round(total / wall, 1),
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p99_ms": round(1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 1),
    }


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run ``app`` with uvicorn on a free loopback port in a thread; yields its base URL, stops it after."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--num-docs", type=int, default=2000)
    p.add_argument("--output", default=str(Path(__file__).parent / "results" / "serve-cpu.json"))
    a = p.parse_args()
    os.environ["BOLTIR_NO_PROGRESS"] = "1"
    import torch

    from boltir.data.sources import load_docs
    from boltir.index.build import build_index
    from boltir.models.loading import load_module
    from boltir.serve.app import Service, create_app

    texts = queries()
    result: dict = {
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "threads": torch.get_num_threads()},
        "index": {"model": "minilm-l6", "docs": a.num_docs},
        "command": "python benchmarks/bench_serve.py",
    }
    with tempfile.TemporaryDirectory() as wd:
        docs = Path(wd) / "docs.jsonl"
        with open(docs, "w") as f:
            for _, d in zip(range(a.num_docs), load_docs("trec-dl-2019")):
                f.write(json.dumps({"doc_id": d.doc_id, "text": d.text}) + "\n")
        model, tok = load_module("minilm-l6")
        build_index(model, tok, str(docs), Path(wd) / "idx", model_source="minilm-l6", show_progress=False)
        service = Service(index=str(Path(wd) / "idx"))
        for batching in (True, False):
            with serving(create_app(service, max_batch=32, max_wait_ms=5, batching=batching)) as url:
                load(url, 4, 20, texts)  # warm-up
                runs = {str(c): load(url, c, n, texts) for c, n in REQUESTS.items()}
            result["batching_on" if batching else "batching_off"] = runs
    result["qps_ratio_on_over_off"] = {
        c: round(result["batching_on"][c]["qps"] / result["batching_off"][c]["qps"], 2) for c in result["batching_on"]
    }
    Path(a.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
