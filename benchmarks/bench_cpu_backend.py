"""int8 dynamic quantization against fp32 PyTorch on CPU, measured in one run (ABBA order, best of the repeats).

  python benchmarks/bench_cpu_backend.py [--output benchmarks/results/cpu-backend.json]

1. bi-encoder re-ranking of the DL19 BM25 top-100 with the bundled MiniLM-L6 (every candidate encoded once):
   passages/s and DL19 nDCG@10 / RR(rel=2)@10, fp32 and int8;
2. cross-encoder pair scoring (a mono model on MiniLM-L6; its head is untrained, so only its speed is reported):
   pairs/s over 1,000 DL19 (query, candidate) pairs, fp32 and int8.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

REPEATS = 2


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--output", default=str(Path(__file__).parent / "results" / "cpu-backend.json"))
    a = p.parse_args()
    os.environ["BOLTIR_NO_PROGRESS"] = "1"
    import torch

    from boltir.data.runs import candidate_ids
    from boltir.data.sources import doc_texts, load_qrels, load_queries, load_run
    from boltir.evaluation.measures import evaluate_many
    from boltir.models.backends import quantize
    from boltir.models.loading import load_model
    from boltir.pipeline import Reranker
    from boltir.search.rerank import RerankJob, rerank_pairs

    run = load_run("trec-dl-2019:bm25")
    queries = load_queries("trec-dl-2019")
    docs = doc_texts("trec-dl-2019", candidate_ids(run, 100))
    qrels = load_qrels("trec-dl-2019")
    n_docs = len(candidate_ids(run, 100))

    rerankers = {
        "fp32": Reranker("minilm-l6", depth=100, show_progress=False),
        "int8": Reranker("minilm-l6", depth=100, show_progress=False, quantize="int8"),
    }
    best = {k: float("inf") for k in rerankers}
    runs = {}
    for rep in range(REPEATS):
        for name in list(rerankers) if rep % 2 == 0 else list(rerankers)[::-1]:
            t0 = time.perf_counter()
            runs[name] = rerankers[name].rerank(run, queries, docs, 100)
            best[name] = min(best[name], time.perf_counter() - t0)
    evals = {ev.name: ev.aggregate for ev in evaluate_many(runs, qrels, ["nDCG@10", "RR(rel=2)@10"])}
    bi = {
        name: {
            "seconds": round(best[name], 2),
            "passages_per_s": round(n_docs / best[name], 1),
            "dl19": {m: round(v, 4) for m, v in evals[name].items()},
        }
        for name in rerankers
    }
    bi["speedup"] = round(best["fp32"] / best["int8"], 3)
    bi["ndcg10_difference"] = round(evals["int8"]["nDCG@10"] - evals["fp32"]["nDCG@10"], 4)

    pairs = {q: list(ds)[:23] for q, ds in ((q, sorted(r, key=lambda d: -r[d])) for q, r in run.items())}
    pair_run = {q: {d: -i for i, d in enumerate(ds)} for q, ds in pairs.items()}
    n_pairs = sum(len(ds) for ds in pairs.values())
    mono = {}
    for name in ("fp32", "int8"):
        model, tok = load_model("minilm-l6", family="mono")
        mono[name] = (quantize(model, "int8") if name == "int8" else model, tok)
    best_pairs = {k: float("inf") for k in mono}
    for rep in range(REPEATS):
        for name in list(mono) if rep % 2 == 0 else list(mono)[::-1]:
            model, tok = mono[name]
            job = RerankJob.from_run(model, tok, pair_run, queries, docs, None, show_progress=False)
            t0 = time.perf_counter()
            rerank_pairs(job)
            best_pairs[name] = min(best_pairs[name], time.perf_counter() - t0)
    cross = {name: {"pairs": n_pairs, "pairs_per_s": round(n_pairs / best_pairs[name], 1)} for name in mono}
    cross["speedup"] = round(best_pairs["fp32"] / best_pairs["int8"], 3)

    result = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "torch_threads": torch.get_num_threads(),
        },
        "bi_encoder_rerank_dl19": bi,
        "cross_encoder_pairs": cross,
        "command": "python benchmarks/bench_cpu_backend.py",
    }
    Path(a.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
