"""``boltir demo``: the main job on bundled data — BM25 then MiniLM dense scoring on TREC DL 2019.

Steps: (1) the bundled pyserini BM25 top-100 (full MS MARCO corpus) as the first stage; (2) boltir's own
BM25 (bm25s) over the 24,884-passage pool, to show the lexical stage; (3) ``minilm-l6`` scores the BM25
top-100 of each query; optionally (4) ``--dense-retrieval`` indexes the whole pool with MiniLM and searches it.
Every run is evaluated on DL19 against BM25 with a paired t-test; time and throughput are printed beside.
"""

from __future__ import annotations

import time
from pathlib import Path

from boltir.cli import options
from boltir.cli.common import new_parser
from boltir.cli.options import CATALOGUE, Option


def parser():
    """The options of ``boltir demo``."""
    p = new_parser("demo", "BM25 then MiniLM dense scoring on TREC DL 2019, evaluated against BM25.")
    options.add(
        p,
        "batch_size",
        output=Option(str, "demo-output", "folder for runs and the report"),
        model=CATALOGUE["model"].but(default="minilm-l6"),
        dataset=Option(str, "trec-dl-2019", "bundled dataset to run on"),
        depth=CATALOGUE["depth"].but(help="BM25 candidates scored per query"),
        dense_retrieval=Option(bool, False, "also index the whole pool and search it (about 7 min on 2 cores)"),
    )
    return p


def main(argv: list[str]) -> int:
    """Run ``boltir demo``: BM25, then MiniLM-L6 scoring of its candidates on TREC DL 2019, evaluated."""
    from boltir.data.runs import candidate_ids, read_run
    from boltir.data.sources import doc_texts, load_qrels, load_queries
    from boltir.data.writers import write_trec_run
    from boltir.evaluation.measures import evaluate_many
    from boltir.evaluation.report import as_json, table
    from boltir.evaluation.significance import compare_to_baseline
    from boltir.index.bm25 import BM25Index
    from boltir.pipeline import Reranker
    from boltir.utils.atomic import atomic_open, atomic_write_json

    a = parser().parse_args(argv)
    out = Path(a.output)
    out.mkdir(parents=True, exist_ok=True)
    ds = a.dataset
    queries, qrels = load_queries(ds), load_qrels(ds)
    print(f"[1/4] {ds}: {len(queries)} queries, {sum(map(len, qrels.values()))} judgments")
    runs: dict[str, dict] = {}
    cost: dict[str, dict[str, str]] = {}

    runs["BM25 (pyserini, full corpus)"] = read_run(f"{ds}:bm25")
    cost["BM25 (pyserini, full corpus)"] = {"time": "bundled", "throughput": ""}

    print("[2/4] BM25 (bm25s) over the passage pool")
    t0 = time.perf_counter()
    bm25 = BM25Index.build(ds)
    t1 = time.perf_counter()
    runs["BM25 (boltir bm25s, pool)"] = bm25.search(queries, k=1000)
    t2 = time.perf_counter()
    cost["BM25 (boltir bm25s, pool)"] = {"time": f"{t2 - t0:.1f}s", "throughput": f"{len(queries) / (t2 - t1):.0f} q/s"}
    write_trec_run(out / "bm25s-pool.run", runs["BM25 (boltir bm25s, pool)"], tag="boltir-bm25")

    print(f"[3/4] {a.model} scores the BM25 top-{a.depth}")
    first = runs["BM25 (pyserini, full corpus)"]
    wanted = candidate_ids(first, a.depth)
    docs = doc_texts(ds, wanted)
    reranker = Reranker(a.model, docs, a.depth, a.batch_size, family="dpr")
    t0 = time.perf_counter()
    name = f"BM25 >> {a.model}"
    runs[name] = reranker.rerank(first, queries)
    dt = time.perf_counter() - t0
    cost[name] = {"time": f"{dt:.1f}s", "throughput": f"{len(wanted) / dt:.0f} passages/s"}
    write_trec_run(out / "bm25-minilm-rerank.run", runs[name], tag=f"boltir-{a.model}")

    if a.dense_retrieval:
        from boltir.index.build import build_index
        from boltir.index.dense import DenseSearcher

        print(f"[3b] {a.model} indexes the whole pool and searches it")
        t0 = time.perf_counter()
        loaded = (reranker.model, reranker.tokenizer)
        build_index(*loaded, ds, out / "dense-index", model_source=a.model, batch_size=a.batch_size)
        t1 = time.perf_counter()
        searcher = DenseSearcher(out / "dense-index", loaded=loaded)
        dname = f"{a.model} dense retrieval (pool)"
        runs[dname] = searcher.search(queries, k=1000)
        t2 = time.perf_counter()
        count = searcher.index.ntotal
        cost[dname] = {
            "time": f"{t2 - t0:.1f}s",
            "throughput": f"{count / (t1 - t0):.0f} passages/s, {len(queries) / (t2 - t1):.0f} q/s",
        }
        write_trec_run(out / "minilm-dense.run", runs[dname], tag=f"boltir-{a.model}-dense")

    print(f"[4/4] evaluation on {ds}")
    metrics = ["nDCG@10", "RR(rel=2)@10", "R(rel=2)@100"]
    evals = evaluate_many(runs, qrels, metrics)
    comps = compare_to_baseline(evals)
    text = table(evals, comps, cost)
    print()
    print(text)
    report = as_json(evals, comps)
    report["cost"] = cost
    atomic_write_json(out / "report.json", report)
    with atomic_open(out / "report.md") as f:
        f.write(f"# boltir demo on {ds}\n\n```\n{text}\n```\n")
    print(f"\nruns and report in {out}/")
    return 0
