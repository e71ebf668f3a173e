"""Full-pool retrieval on the bundled TREC DL passage pool (24,884 passages): effectiveness, index size, indexing
throughput and search speed of BM25, DPR, ColBERT and SPLADE, every system on the same passages and queries.

  python benchmarks/bench_retrieval.py [--only bm25 dpr splade colbert] [--colbert runs/minilm-colbert/model]
      -> results/retrieval-trecdl.json, runs in results/runs/retrieval.<system>.<year>.run

Systems: BM25 (bm25s, k1 0.9, b 0.4, English stemmer); DPR = minilm-l6 zero-shot (mean pooling, cosine; FAISS
Flat); SPLADE = the packaged splade-tiny (inverted index; exact and budget-pruned); ColBERT = minilm-l6 with a
128-d projection fine-tuned by configs/fit-minilm-colbert.yaml (PLAID-style search, and exhaustive exact MaxSim
as its own baseline: recall of the exact top-100 and speed-up; then the same index compressed to 2-bit residuals:
bytes, recall, speed, effectiveness). Measured per system: nDCG@10 and R(rel=2)@100 on
DL19 (43 queries, our test set) and DL20 (54), index bytes on disk, indexing passages/s (model load excluded),
search latency at batch 1 (mean and p95 ms per query, query encoding included) and QPS with all 97 queries in
one call. The pool holds only judged and top-ranked passages, so absolute figures are higher than on the full
8.8M-passage collection; the comparison between systems is what this measures. Each part runs in its own process
(``--only``) so one model's memory does not weigh on the next; the JSON keeps the other parts' numbers.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
OUT = RESULTS / "retrieval-trecdl.json"
YEARS = {"dl19": "trec-dl-2019", "dl20": "trec-dl-2020"}
K = 100


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def queries_and_qrels():
    from boltir.data.sources import load_qrels, load_queries

    queries, qrels = {}, {}
    for year, name in YEARS.items():
        queries[year], qrels[year] = load_queries(name), load_qrels(name)
    return queries, qrels


def measure(name: str, search, queries, qrels, extra: dict) -> dict:
    """Quality per year, batch-1 latency (query by query) and batched QPS of ``search(dict) -> run``."""
    from boltir.data.writers import write_trec_run
    from boltir.evaluation.measures import evaluate

    everything = {q: t for year in YEARS for q, t in queries[year].items()}
    search(dict(list(everything.items())[:4]))  # warm-up
    latencies = []
    for qid, text in everything.items():
        t0 = time.perf_counter()
        search({qid: text})
        latencies.append(time.perf_counter() - t0)
    batched = []
    for _ in range(3):
        t0 = time.perf_counter()
        run = search(everything)
        batched.append(time.perf_counter() - t0)
    out = {
        **extra,
        "latency_ms_batch1": {
            "mean": 1000 * statistics.mean(latencies),
            "p95": 1000 * sorted(latencies)[int(0.95 * len(latencies)) - 1],
        },
        "qps_batched": len(everything) / min(batched),
    }
    for year in YEARS:
        yr_run = {q: run[q] for q in queries[year] if q in run}
        ev = evaluate(yr_run, qrels[year], ["nDCG@10", "R(rel=2)@100"])
        out[year] = {m: round(v, 4) for m, v in ev.aggregate.items()}
        write_trec_run(RESULTS / "runs" / f"retrieval.{name}.{year}.run", yr_run, tag=f"boltir-{name}")
    return out


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="+", default=["bm25", "dpr", "splade", "colbert"])
    ap.add_argument("--colbert", default="runs/minilm-colbert/model", help="the fine-tuned ColBERT folder")
    ap.add_argument("--work", default="indexes/bench-retrieval", help="where the indexes are built")
    a = ap.parse_args()

    import torch

    from boltir.data.sources import count_docs

    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    queries, qrels = queries_and_qrels()
    result = json.loads(OUT.read_text()) if OUT.exists() else {}
    result.update(
        {
            "pool": "trec-dl-2019 (= trec-dl-2020) passage pool",
            "passages": count_docs("trec-dl-2019"),
            "queries": {y: len(q) for y, q in queries.items()},
            "k": K,
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
        }
    )

    def save(part: str, numbers: dict) -> None:
        result[part] = numbers
        result["systems"] = {
            s: {y: result[s].get(y) for y in YEARS} for s in ("bm25", "dpr", "splade", "colbert") if s in result
        }
        tmp = OUT.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=2) + "\n")
        tmp.replace(OUT)
        print(part, json.dumps(numbers), flush=True)

    n = result["passages"]
    for part in a.only:
        folder = work / part
        shutil.rmtree(folder, ignore_errors=True)
        if part == "bm25":
            from boltir.index.bm25 import BM25Index

            t0 = time.perf_counter()
            bm = BM25Index.build("trec-dl-2019", show_progress=False)
            index_s = time.perf_counter() - t0
            bm.save(folder)
            save(
                part,
                measure(
                    part,
                    lambda q: bm.search(q, K),
                    queries,
                    qrels,
                    {"index_seconds": index_s, "passages_per_second": n / index_s, "index_bytes": folder_bytes(folder)},
                ),
            )
        elif part == "dpr":
            from boltir.index.build import build_index
            from boltir.index.dense import DenseSearcher
            from boltir.models.loading import load_bi_encoder

            model, tok = load_bi_encoder("minilm-l6")
            t0 = time.perf_counter()
            build_index(model, tok, "trec-dl-2019", folder, model_source="minilm-l6", show_progress=False)
            index_s = time.perf_counter() - t0
            s = DenseSearcher(folder, loaded=(model, tok))
            save(
                part,
                measure(
                    part,
                    lambda q: s.search(q, K),
                    queries,
                    qrels,
                    {
                        "model": "minilm-l6",
                        "index": "FAISS Flat",
                        "index_seconds": index_s,
                        "passages_per_second": n / index_s,
                        "index_bytes": folder_bytes(folder),
                    },
                ),
            )
        elif part == "splade":
            from boltir.index.build import build_index
            from boltir.index.sparse import SparseSearcher
            from boltir.models.loading import load_splade

            model, tok = load_splade("splade-tiny")
            t0 = time.perf_counter()
            m = build_index(model, tok, "trec-dl-2019", folder, model_source="splade-tiny", show_progress=False)
            index_s = time.perf_counter() - t0
            s = SparseSearcher(folder, loaded=(model, tok))
            numbers = measure(
                part,
                lambda q: s.search(q, K),
                queries,
                qrels,
                {
                    "model": "splade-tiny",
                    "index": "impact-ordered inverted index, exact",
                    "index_seconds": index_s,
                    "passages_per_second": n / index_s,
                    "index_bytes": folder_bytes(folder),
                    "postings": m["postings"],
                },
            )
            budget = 1000
            pruned = SparseSearcher(folder, loaded=(model, tok), budget=budget)
            pruned.postings_matrix(budget)
            numbers["pruned"] = measure(
                "splade-pruned", lambda q: pruned.search(q, K), queries, qrels, {"budget": budget}
            )
            save(part, numbers)
        elif part == "colbert":
            import numpy as np

            from boltir.index.build import build_index
            from boltir.index.multivector import MultiVectorSearcher
            from boltir.models.bi_encoders.inference import encode_multi
            from boltir.models.loading import load_colbert

            if not Path(a.colbert).exists():
                raise SystemExit(f"{a.colbert}: train it first: boltir fit --config configs/fit-minilm-colbert.yaml")
            model, tok = load_colbert(a.colbert)
            t0 = time.perf_counter()
            m = build_index(model, tok, "trec-dl-2019", folder, model_source=a.colbert, show_progress=False)
            index_s = time.perf_counter() - t0
            s = MultiVectorSearcher(folder, loaded=(model, tok))
            numbers = measure(
                part,
                lambda q: s.search(q, K),
                queries,
                qrels,
                {
                    "model": a.colbert,
                    "index": "PLAID-style centroids, uncompressed tokens",
                    "search": {"nprobe": s.nprobe, "ncandidates": s.ncandidates},
                    "index_seconds": index_s,
                    "passages_per_second": n / index_s,
                    "encode_seconds": m["build"]["encode_seconds_this_run"],
                    "index_bytes": folder_bytes(folder),
                    "centroids": m["centroids"],
                },
            )
            # PLAID vs exhaustive exact MaxSim over the same stored tokens, queries pre-encoded
            texts = [t for y in YEARS for t in queries[y].values()]
            q_emb = encode_multi(model, tok, texts, "query", batch_size=32)
            every = np.arange(len(s.doc_ids))

            def exhaustive(q):
                scores = s.exact_scores(q, every)
                top = np.argpartition(-scores, K - 1)[:K]
                return top[np.argsort(-scores[top])]

            t0 = time.perf_counter()
            exact = [set(exhaustive(q).tolist()) for q in q_emb]
            t_exact = time.perf_counter() - t0
            t0 = time.perf_counter()
            plaid = [set(s.search_tokens(q, K)[0].tolist()) for q in q_emb]
            t_plaid = time.perf_counter() - t0
            numbers["vs_exhaustive"] = {
                "exhaustive_qps": len(q_emb) / t_exact,
                "plaid_qps": len(q_emb) / t_plaid,
                "speedup": t_exact / t_plaid,
                "recall_of_exact_top100": float(np.mean([len(e & p) / K for e, p in zip(exact, plaid)])),
            }
            # the same index with 2-bit residual compression (same centroids), against the float tokens
            from boltir.index.multivector import compress_multivector

            t0 = time.perf_counter()
            cm = compress_multivector(folder, 2)
            compress_s = time.perf_counter() - t0
            float_bytes = sum((folder / sh["vectors"]).stat().st_size for sh in cm["shards"])
            cs = MultiVectorSearcher(folder, loaded=(model, tok))
            g = cm["generation"]
            search_bytes = sum(
                (folder / f).stat().st_size
                for f in (f"residuals.g{g}.npy", f"codes.g{g}.npy", f"centroids.g{g}.npy", f"centroid_docs.g{g}.npz")
            )
            t0 = time.perf_counter()
            compressed = [set(cs.search_tokens(q, K)[0].tolist()) for q in q_emb]
            t_comp = time.perf_counter() - t0
            numbers["compressed_2bit"] = measure(
                "colbert-2bit",
                lambda q: cs.search(q, K),
                queries,
                qrels,
                {
                    "compress_seconds": compress_s,
                    "float_token_bytes": float_bytes,
                    "search_structure_bytes": search_bytes,
                    "bytes_ratio_float_over_compressed": float_bytes / search_bytes,
                    "plaid_qps_pre_encoded": len(q_emb) / t_comp,
                    "recall_of_exact_top100": float(np.mean([len(e & c) / K for e, c in zip(exact, compressed)])),
                },
            )
            save(part, numbers)
        else:
            raise SystemExit(f"unknown part {part!r}")


if __name__ == "__main__":
    main()
