"""Qdrant as the engine behind an index, beside boltir's own search in the same run: build throughput (a folder
index, its export, and a build straight into a collection), queries per second of exact engine search against
boltir's exact search (batch 1, the DL19 + DL20 queries), the engine's recall@100 of boltir's top 100 and the
largest score difference; the approximate modes (HNSW with int8 quantisation re-scored in full; multi-vector
prefetch by a pooled vector then MaxSim) with their recall@100 of exact and DL19 nDCG@10 beside boltir's; and
`boltir serve` over the collection against serve over the index at 1 and 32 concurrent clients.

  python benchmarks/bench_qdrant.py [--num-docs 8000] [--kinds dense sparse multivector]
      [--output benchmarks/results/qdrant-cpu.json]

Indexes hold the first --num-docs passages of the bundled TREC DL pool (nDCG@10 is of the DL19 judgments on that
subset): dense MiniLM-L6, sparse SPLADE-tiny, multi-vector a ColBERT head on MiniLM-L6 (no trained ColBERT ships
in a package) that leaves out the [Q] / [D] markers and query expansion MiniLM never saw, so MaxSim over its
contextual token vectors ranks well (DL19 nDCG@10 0.46 on the default subset), projected to 128 dimensions at
random (a Johnson-Lindenstrauss projection: dot products nearly kept). The engine is Qdrant's embedded shard
engine (qdrant-edge-py), in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_serve import load, serving  # the serve benchmark's load generator and server

K = 100


def _model(kind: str):
    from boltir.models.loading import load_module

    if kind == "dense":
        return "minilm-l6", load_module("minilm-l6")
    if kind == "sparse":
        return "splade-tiny", load_module("splade-tiny")
    # MiniLM's contextual token vectors compared by MaxSim, without the [Q] / [D] markers and query expansion it
    # was never trained with, projected to 128 dimensions at random (dot products nearly kept)
    model = load_module("minilm-l6", family="colbert", embedding_dim=128, markers=False, query_expansion=False)
    return "minilm-l6 (ColBERT: random 128-d projection, no markers)", model


def _qps(searcher, queries: dict[str, str]) -> tuple[float, dict]:
    run = {}
    t0 = time.perf_counter()
    for qid, text in queries.items():
        run.update({qid: searcher.search({qid: text}, K)[qid]})
    return len(queries) / (time.perf_counter() - t0), run


def _ndcg(run: dict, qrels: dict) -> float:
    from boltir.evaluation.measures import evaluate

    return round(evaluate({q: run[q] for q in qrels if q in run}, qrels, ["nDCG@10"]).aggregate["nDCG@10"], 4)


def _recall(run: dict, exact: dict) -> float:
    return sum(len(set(run[q]) & set(exact[q])) for q in exact) / sum(len(exact[q]) for q in exact)


def _serve(target: str, texts: list[str], clients: int, total: int) -> dict:
    from boltir.serve.app import Service, create_app

    with serving(create_app(Service(index=target), max_batch=32, max_wait_ms=5)) as url:
        load(url, 4, 20, texts)  # warm-up
        return load(url, clients, total, texts)


def _source(loaded, folder: Path, name: str):
    """``(model, tokenizer, source)`` a collection can record: a named model as it is; one with a fresh head
    saved to a folder and loaded from it."""
    from boltir.index.build import reloads_identically
    from boltir.models.base import save_model_folder
    from boltir.models.loading import load_module

    if reloads_identically(loaded[0], name):
        return (*loaded, name)
    save_model_folder(*loaded, folder)
    return (*load_module(str(folder)), str(folder))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--num-docs", type=int, default=8000)
    p.add_argument("--serve", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--kinds", nargs="+", default=["dense", "sparse", "multivector"])
    p.add_argument("--output", default=str(Path(__file__).parent / "results" / "qdrant-cpu.json"))
    a = p.parse_args()
    os.environ["BOLTIR_NO_PROGRESS"] = "1"
    import torch

    from boltir.data.sources import load_docs, load_qrels, load_queries
    from boltir.index.build import build_index
    from boltir.index.engines.ingest import index_into_collection
    from boltir.index.engines.qdrant import QdrantSearcher, export_index
    from boltir.index.open import open_searcher

    queries = {**load_queries("trec-dl-2019"), **load_queries("trec-dl-2020")}
    qrels = load_qrels("trec-dl-2019")
    result: dict = {
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "threads": torch.get_num_threads()},
        "docs": a.num_docs,
        "queries": len(queries),
        "k": K,
        "engine": "qdrant-edge-py (embedded), exact search",
        "command": " ".join(["python benchmarks/bench_qdrant.py", *sys.argv[1:]]),
        "kinds": {},
    }
    with tempfile.TemporaryDirectory() as wd:
        docs = Path(wd) / "docs.jsonl"
        with open(docs, "w") as f:
            for _, d in zip(range(a.num_docs), load_docs("trec-dl-2019")):
                f.write(json.dumps({"doc_id": d.doc_id, "text": d.text}) + "\n")
        for kind in a.kinds:
            name, loaded = _model(kind)
            idx, target = Path(wd) / f"idx-{kind}", f"qdrant-edge:{Path(wd) / f'edge-{kind}'}"
            t0 = time.perf_counter()
            build_index(*loaded, str(docs), idx, model_source=name, show_progress=False)
            folder_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            record = export_index(idx, target, show_progress=False)
            export_s = time.perf_counter() - t0
            # boltir's exhaustive exact MaxSim: every centroid probed, every candidate scored
            knobs = {"nprobe": 10**9, "ncandidates": None} if kind == "multivector" else {}
            own_qps, own = _qps(open_searcher(idx, loaded=loaded, **knobs), queries)
            engine_qps, engine = _qps(QdrantSearcher(target, loaded=loaded), queries)
            recall = _recall(engine, own)
            diff = max(abs(engine[q][d] - s) for q in own for d, s in own[q].items() if d in engine[q])
            # straight into a collection with a graph for every segment (int8 copies for dense, a pooled vector
            # for multi-vector): the approximate modes search it
            graph = f"qdrant-edge:{Path(wd) / f'graph-{kind}'}"
            settings = {"hnsw_threshold_kb": 1}
            if kind == "dense":
                settings["quantization"] = "int8"
            if kind == "multivector":
                settings["pooled_vector"] = True
            source = _source(loaded, Path(wd) / f"model-{kind}", name)
            t0 = time.perf_counter()
            index_into_collection(
                *source[:2], str(docs), graph, model_source=source[2], show_progress=False, **settings
            )
            streamed_s = time.perf_counter() - t0
            modes = {"exact": ({}, engine, graph)}
            if kind == "dense":
                modes.update(
                    {f"hnsw_ef_{ef}_int8_rescored": ({"exact": False, "hnsw_ef": ef}, None, graph) for ef in (64, 256)}
                )
            if kind == "multivector":
                for n in (200, 1000):
                    modes[f"prefetch_{n}_pooled_hnsw_then_maxsim"] = (
                        {"prefetch": n, "exact": False, "hnsw_ef": n},
                        None,
                        graph,
                    )
                maxsim = f"qdrant-edge:{Path(wd) / 'maxsim-graph'}"  # the engine's HNSW over MaxSim itself
                export_index(idx, maxsim, show_progress=False, hnsw_threshold_kb=1)
                for ef in (64, 256):
                    modes[f"maxsim_hnsw_ef_{ef}"] = ({"exact": False, "hnsw_ef": ef}, None, maxsim)
            approximate = {}
            for mode, (options, run, collection) in modes.items():
                qps = engine_qps
                if run is None:
                    qps, run = _qps(QdrantSearcher(collection, loaded=source[0:2], **options), queries)
                approximate[mode] = {
                    "qps_batch1": round(qps, 1),
                    "over_boltir_exact_qps": round(qps / own_qps, 2),
                    "recall_at_100_of_exact": round(_recall(run, own), 4),
                    "dl19_ndcg10": _ndcg(run, qrels),
                }
            result["kinds"][kind] = {
                "model": name,
                "points": record["points"],
                "folder_build_docs_per_s": round(a.num_docs / folder_s, 1),
                "export_docs_per_s": round(a.num_docs / export_s, 1),
                "streamed_build_docs_per_s": round(a.num_docs / streamed_s, 1),
                "streamed_over_folder_build_plus_export": round((folder_s + export_s) / streamed_s, 2),
                "boltir_exact_qps_batch1": round(own_qps, 1),
                "boltir_exact_dl19_ndcg10": _ndcg(own, qrels),
                "engine_exact_qps_batch1": round(engine_qps, 1),
                "engine_over_boltir_qps": round(engine_qps / own_qps, 2),
                "engine_recall_at_100_of_boltir": round(recall, 4),
                "max_score_difference": float(f"{diff:.2e}"),
                "engine_modes": approximate,
            }
            if kind == "dense" and a.serve:
                texts = list(queries.values())
                result["serve_dense"] = {
                    str(c): {"index": _serve(str(idx), texts, c, n), "qdrant": _serve(target, texts, c, n)}
                    for c, n in ((1, 60), (32, 320))
                }
                for pair in result["serve_dense"].values():
                    pair["qdrant_over_index_qps"] = round(pair["qdrant"]["qps"] / pair["index"]["qps"], 2)
            print(json.dumps({kind: result["kinds"][kind]}), flush=True)
    Path(a.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
