"""Search speed and quality of the three index kinds on one passage pool, each beside its baseline in this run.

  python benchmarks/bench_search.py   -> results/search-cpu.json

Pool: the DL19 BM25 and TAS-B top-100 candidates (the passages those two systems retrieved), 43 DL19 queries,
k = 100. Measured:
- dense (minilm-l6, FAISS Flat): boltir's search over the index's vectors vs raw FAISS IndexFlatIP built from the
  same vectors (search only, queries pre-encoded), batch 1 and batch 43;
- sparse (splade-tiny, inverted index): exact and pruned (budget) search vs bm25s over the same passages, all
  43 queries at once and one at a time, search only (SPLADE queries pre-encoded; bm25s tokenises inside) and
  end to end (SPLADE query encoding included);
- multi-vector (ColBERT: minilm-l6 with a fresh 128-d projection, not trained, so only speed and recall mean
  anything): PLAID-style search (nprobe 4, 256 candidates) vs exhaustive exact MaxSim: recall of the exact
  top-100 and speed-up.
Each comparison runs both sides alternately (ABBA) and keeps each side's best time.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np


def best_of(fn, reps: int = 3) -> tuple[float, object]:
    out, times = None, []
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def best_of_pair(base, ours, reps: int = 20) -> tuple[float, float]:
    """Best times of two functions run alternately (ABBA), so load on the machine hits both alike."""
    tb, to = [], []
    for i in range(reps):
        for fn, acc in ((base, tb), (ours, to)) if i % 2 == 0 else ((ours, to), (base, tb)):
            t0 = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - t0)
    return min(tb), min(to)


def main() -> None:
    import argparse

    import faiss

    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--only",
        nargs="+",
        default=["dense", "sparse", "multivector"],
        help="parts to (re)measure; the others keep their numbers in the JSON",
    )
    parts = set(ap.parse_args().only)

    from boltir.data.runs import read_run
    from boltir.data.sources import doc_texts, load_qrels, load_queries
    from boltir.evaluation.measures import evaluate
    from boltir.index.bm25 import BM25Index
    from boltir.index.build import build_index
    from boltir.index.dense import DenseSearcher
    from boltir.index.multivector import MultiVectorSearcher
    from boltir.index.sparse import SparseSearcher
    from boltir.index.storage import iter_shards
    from boltir.models.bi_encoders.inference import encode_dense, encode_multi, encode_sparse
    from boltir.models.loading import load_bi_encoder, load_colbert, load_splade

    queries, qrels = load_queries("trec-dl-2019"), load_qrels("trec-dl-2019")
    pool = {d for spec in ("trec-dl-2019:bm25", "trec-dl-2019:tasb") for ds in read_run(spec).values() for d in ds}
    texts = doc_texts("trec-dl-2019", pool)
    qids = sorted(queries)
    out_path = Path(__file__).parent / "results" / "search-cpu.json"
    result = json.loads(out_path.read_text()) if out_path.exists() else {}
    result.update({"pool_passages": len(texts), "queries": len(qids), "k": 100, "cpu_count": os.cpu_count()})

    def quality(run):
        ev = evaluate(run, qrels, ["nDCG@10", "R(rel=2)@100"])
        return {m: round(v, 4) for m, v in ev.aggregate.items()}

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        docs_file = tmp / "pool.jsonl"
        docs_file.write_text("".join(json.dumps({"doc_id": d, "text": t}) + "\n" for d, t in sorted(texts.items())))

        # dense
        if "dense" in parts:
            model, tok = load_bi_encoder("minilm-l6")
            t0 = time.perf_counter()
            build_index(model, tok, str(docs_file), tmp / "dense", model_source="minilm-l6", show_progress=False)
            index_s = time.perf_counter() - t0
            searcher = DenseSearcher(tmp / "dense", loaded=(model, tok))
            vecs = np.concatenate([np.asarray(v) for v, _ in iter_shards(tmp / "dense", searcher.manifest)])
            raw = faiss.IndexFlatIP(vecs.shape[1])
            raw.add(vecs)
            qv = encode_dense(model, tok, [queries[q] for q in qids], "query")
            dense = {
                "index_seconds": index_s,
                "passages_per_second": len(texts) / index_s,
                "quality": quality(searcher.search({q: queries[q] for q in qids}, 100)),
            }
            for bs in (1, len(qids)):

                def ours(bs=bs):
                    for i in range(0, len(qids), bs):
                        searcher.search_vectors(qv[i : i + bs], 100)

                def base(bs=bs):
                    for i in range(0, len(qids), bs):
                        raw.search(np.ascontiguousarray(qv[i : i + bs]), 100)

                t_base, t_ours = best_of_pair(base, ours)
                dense[f"batch{bs}"] = {
                    "raw_faiss_qps": len(qids) / t_base,
                    "boltir_qps": len(qids) / t_ours,
                    "ratio": t_base / t_ours,
                }
            result["dense_minilm"] = dense
            print(json.dumps(dense), flush=True)

        # sparse vs bm25s
        if "sparse" in parts:
            smodel, stok = load_splade("splade-tiny")
            t0 = time.perf_counter()
            m = build_index(
                smodel, stok, str(docs_file), tmp / "sparse", model_source="splade-tiny", show_progress=False
            )
            index_s = time.perf_counter() - t0
            ss = SparseSearcher(tmp / "sparse", loaded=(smodel, stok))
            qmat = encode_sparse(smodel, stok, [queries[q] for q in qids], "query")
            bm = BM25Index.build(str(docs_file), show_progress=False)
            qd = {q: queries[q] for q in qids}

            def sparse_search(budget=None, batch=len(qids)):
                for i in range(0, len(qids), batch):
                    ss.search_matrix(qmat[i : i + batch], 100, budget)

            bm_run = bm.search(qd, 100)
            t_bm, t_exact = best_of_pair(lambda: bm.search(qd, 100), sparse_search, 10)
            t_exact1, _ = best_of(lambda: sparse_search(batch=1), 10)
            budget = 1000
            ss.postings_matrix(budget)  # built once per budget, outside the timing
            t_pruned, _ = best_of(lambda: sparse_search(budget), 10)
            t_e2e, splade_run = best_of(lambda: ss.search(qd, 100))
            pruned_run = SparseSearcher(tmp / "sparse", loaded=(smodel, stok), budget=budget).search(qd, 100)
            exact_run = splade_run
            overlap = np.mean([len(set(list(pruned_run[q])[:10]) & set(list(exact_run[q])[:10])) / 10 for q in qids])
            sparse = {
                "index_seconds": index_s,
                "postings": m["postings"],
                "bm25s_qps": len(qids) / t_bm,
                "splade_exact_search_qps": len(qids) / t_exact,
                "splade_exact_search_qps_batch1": len(qids) / t_exact1,
                "splade_pruned_search_qps": len(qids) / t_pruned,
                "pruned_budget": budget,
                "splade_end_to_end_qps": len(qids) / t_e2e,
                "exact_vs_bm25s": t_bm / t_exact,
                "pruned_vs_exact_speedup": t_exact / t_pruned,
                "pruned_top10_overlap_with_exact": float(overlap),
                "quality": {
                    "bm25s": quality(bm_run),
                    "splade_exact": quality(exact_run),
                    "splade_pruned": quality(pruned_run),
                },
            }
            result["sparse_splade_tiny"] = sparse
            print(json.dumps(sparse), flush=True)

        # multi-vector
        if "multivector" in parts:
            cmodel, ctok = load_colbert("minilm-l6")
            t0 = time.perf_counter()
            m = build_index(cmodel, ctok, str(docs_file), tmp / "multi", model_source="minilm-l6", show_progress=False)
            index_s = time.perf_counter() - t0
            plaid = MultiVectorSearcher(tmp / "multi", loaded=(cmodel, ctok), nprobe=4, ncandidates=256)
            exhaustive = MultiVectorSearcher(
                tmp / "multi", loaded=(cmodel, ctok), nprobe=m["centroids"]["num_centroids"], ncandidates=None
            )
            qe = encode_multi(cmodel, ctok, [queries[q] for q in qids], "query")
            ex = [exhaustive.search_tokens(q, 100)[0] for q in qe]
            pl = [plaid.search_tokens(q, 100)[0] for q in qe]
            t_ex, t_pl = best_of_pair(
                lambda: [exhaustive.search_tokens(q, 100) for q in qe],
                lambda: [plaid.search_tokens(q, 100) for q in qe],
                3,
            )
            recall = np.mean([len(set(a) & set(b)) / max(len(b), 1) for a, b in zip(pl, ex)])
            multi = {
                "index_seconds": index_s,
                "tokens": m["centroids"]["tokens"],
                "centroids": m["centroids"]["num_centroids"],
                "exact_qps": len(qids) / t_ex,
                "plaid_qps": len(qids) / t_pl,
                "speedup": t_ex / t_pl,
                "recall_of_exact_top100": float(recall),
                "note": "untrained projection: speed and recall only",
            }
            result["multivector_colbert"] = multi
            print(json.dumps(multi), flush=True)

    out_path.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
