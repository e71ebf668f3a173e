"""The CPU backends against fp32 PyTorch, measured in one run (each repeat in turn forwards and backwards, best of
the repeats): int8 PyTorch, a bfloat16 backbone, ONNX Runtime fp32 and ONNX Runtime int8 (``--backend`` /
``--quantize``).

  python benchmarks/bench_cpu_backend.py [--output benchmarks/results/cpu-backend.json]

1. bi-encoder re-ranking of the DL19 BM25 top-100 with the bundled MiniLM-L6 (every candidate encoded once):
   passages/s and DL19 nDCG@10 / RR(rel=2)@10 of each backend;
2. cross-encoder pair scoring (a mono model on MiniLM-L6; its head is untrained, so only its speed is reported):
   pairs/s over 1,000 DL19 (query, candidate) pairs, each backend beside a plain transformers loop in the same run
   (AutoModelForSequenceClassification on the same weights, batches of 32 pairs in run order, each padded to its
   longest pair, queries and passages cut at the same 32 / 256 tokens), and the same loop with the model cast to
   bfloat16 by hand. The nDCG cost of int8 and bf16 is part 1's (the same change to the same backbone, on a model
   whose scores mean something).
The ONNX exports are made before timing (a one-off per model, cached); the JSON records the CPU, since the int8
gain depends on its instructions (AVX-512 VNNI makes int8 products much cheaper than fp32 ones, AMX bfloat16 ones).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

REPEATS = 2
BACKENDS = {
    "fp32": ("torch", None),
    "int8": ("torch", "int8"),
    "bf16": ("torch", "bf16"),
    "onnx": ("onnx", None),
    "onnx_int8": ("onnx", "int8"),
}


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def timed(names: list[str], fn) -> dict[str, float]:
    """Best seconds of ``fn(name)`` per name over the repeats, the order reversed every other repeat."""
    best = {k: float("inf") for k in names}
    for rep in range(REPEATS):
        for name in names if rep % 2 == 0 else names[::-1]:
            t0 = time.perf_counter()
            fn(name)
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def plain_cross_encoder(pairs: list[tuple[str, str]], query_length: int, doc_length: int, dtype: str = "float32"):
    """What a user writes by hand: transformers' sequence classifier on the same weights (in ``dtype``), 32 pairs per
    batch in the order given, each batch padded to its longest pair; returns the function that scores every pair
    once."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from boltir.models.sources import resolve_model

    path = resolve_model("minilm-l6")
    tok = AutoTokenizer.from_pretrained(path)
    clf = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, dtype=getattr(torch, dtype)).eval()
    short = [tok.convert_tokens_to_string(tok.tokenize(q)[:query_length]) for q, _ in pairs]

    def score() -> None:
        with torch.inference_mode():
            for i in range(0, len(pairs), 32):
                batch = pairs[i : i + 32]
                enc = tok(
                    short[i : i + 32],
                    [d for _, d in batch],
                    padding=True,
                    truncation="only_second",
                    max_length=query_length + doc_length + 3,
                    return_tensors="pt",
                )
                _ = clf(**enc).logits

    return score


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--output", default=str(Path(__file__).parent / "results" / "cpu-backend.json"))
    p.add_argument("--cross-only", action="store_true", help="part 2 only, kept beside part 1 of the existing JSON")
    a = p.parse_args()
    os.environ["BOLTIR_NO_PROGRESS"] = "1"
    import torch

    from boltir.data.runs import candidate_ids, read_run
    from boltir.data.sources import doc_texts, load_qrels, load_queries
    from boltir.evaluation.measures import evaluate_many
    from boltir.models.backends import prepare
    from boltir.models.loading import load_module
    from boltir.models.scoring import RerankJob, rerank_pairs
    from boltir.pipeline import Reranker

    run = read_run("trec-dl-2019:bm25")
    queries = load_queries("trec-dl-2019")
    docs = doc_texts("trec-dl-2019", candidate_ids(run, 100))
    qrels = load_qrels("trec-dl-2019")
    n_docs = len(candidate_ids(run, 100))

    if a.cross_only:
        bi = json.loads(Path(a.output).read_text())["bi_encoder_rerank_dl19"]
    else:
        rerankers = {
            name: Reranker("minilm-l6", depth=100, show_progress=False, backend=backend, quantize=how)
            for name, (backend, how) in BACKENDS.items()
        }
        runs = {}
        best = timed(
            list(rerankers), lambda name: runs.__setitem__(name, rerankers[name].rerank(run, queries, docs, 100))
        )
        evals = {ev.name: ev.aggregate for ev in evaluate_many(runs, qrels, ["nDCG@10", "RR(rel=2)@10"])}
        bi: dict = {
            name: {
                "seconds": round(best[name], 2),
                "passages_per_s": round(n_docs / best[name], 1),
                "dl19": {m: round(v, 4) for m, v in evals[name].items()},
            }
            for name in rerankers
        }
        for name in list(rerankers)[1:]:
            bi[name]["speedup_vs_fp32"] = round(best["fp32"] / best[name], 3)
            bi[name]["ndcg10_difference"] = round(evals[name]["nDCG@10"] - evals["fp32"]["nDCG@10"], 4)

    pairs = {q: list(ds)[:23] for q, ds in ((q, sorted(r, key=lambda d: -r[d])) for q, r in run.items())}
    pair_run = {q: {d: -i for i, d in enumerate(ds)} for q, ds in pairs.items()}
    n_pairs = sum(len(ds) for ds in pairs.values())
    jobs = {}
    for name, (backend, how) in BACKENDS.items():
        model, tok = load_module("minilm-l6", family="mono")
        model = prepare(model, backend, how)
        jobs[name] = RerankJob.from_run(model, tok, pair_run, queries, docs, None, show_progress=False)
    flat = [(queries[q], docs[d]) for q, ds in pairs.items() for d in ds]
    plain = plain_cross_encoder(flat, model.config.query_length, model.config.doc_length)  # the mono models' lengths
    plain_bf16 = plain_cross_encoder(flat, model.config.query_length, model.config.doc_length, "bfloat16")
    arms = {
        "plain_loop": plain,
        "plain_loop_bf16": plain_bf16,
        **{name: (lambda name=name: rerank_pairs(jobs[name])) for name in jobs},
    }
    best_pairs = timed(list(arms), lambda name: arms[name]())
    cross: dict = {name: {"pairs": n_pairs, "pairs_per_s": round(n_pairs / best_pairs[name], 1)} for name in arms}
    for name in jobs:
        cross[name]["speedup_vs_plain_loop"] = round(best_pairs["plain_loop"] / best_pairs[name], 3)
        if name != "fp32":
            cross[name]["speedup_vs_fp32"] = round(best_pairs["fp32"] / best_pairs[name], 3)
    cross["bf16"]["speedup_vs_plain_loop_bf16"] = round(best_pairs["plain_loop_bf16"] / best_pairs["bf16"], 3)

    result = {
        "machine": {
            "cpu": cpu_model(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
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
