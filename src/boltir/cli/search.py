"""``boltir search``: retrieval over any boltir index (dense / MVR FAISS, learned-sparse inverted, ColBERT
multi-vector, COIL) into a TREC run, evaluated when qrels are given."""

from __future__ import annotations

import time

from boltir.cli.common import add_eval_arguments, evaluate_and_print, new_parser, run_meta


def parser():
    p = new_parser(
        "search",
        "Search any boltir index (dense, MVR, sparse, ColBERT, COIL) with its model and write a TREC run.",
    )
    p.add_argument("--index", type=str, required=True, help="index folder made by 'boltir index'")
    p.add_argument("--queries", type=str, required=True, help="queries: file, dataset name or irds:<id>")
    p.add_argument("--output", type=str, required=True, help="TREC run file to write")
    p.add_argument(
        "--model",
        type=str | None,
        default=None,
        help="model (defaults to the one recorded in the index; must have the same weights)",
    )
    p.add_argument("--k", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--search-params",
        type=str | None,
        default=None,
        help="dense indexes: FAISS search parameters, e.g. nprobe=32 or efSearch=128",
    )
    p.add_argument(
        "--budget",
        type=int | None,
        default=None,
        help="sparse indexes: read only this many highest-weight postings per query term (pruned "
        "search; default: every posting, exact)",
    )
    p.add_argument(
        "--nprobe",
        type=int | None,
        default=None,
        help="multi-vector indexes: centroids probed per query token (default 4)",
    )
    p.add_argument(
        "--ncandidates",
        type=int | None,
        default=None,
        help="multi-vector indexes: candidates kept by centroid interaction for exact MaxSim (default "
        "1024; 0: all)",
    )
    p.add_argument("--tag", type=str, default="boltir")
    add_eval_arguments(p)
    return p


def main(argv: list[str]) -> int:
    from boltir.data.runs import write_run
    from boltir.data.sources import load_queries
    from boltir.index.build import open_searcher

    a = parser().parse_args(argv)
    knobs = {
        "search_params": a.search_params,
        "budget": a.budget,
        "nprobe": a.nprobe,
        "ncandidates": None if a.ncandidates is None else (a.ncandidates or "all"),
    }
    knobs = {k: (None if v == "all" else v) for k, v in knobs.items() if v is not None}
    queries = load_queries(a.queries)
    searcher = open_searcher(a.index, a.model, batch_size=a.batch_size, show_progress=True, **knobs)
    t0 = time.perf_counter()
    run = searcher.search(queries, a.k)
    dt = time.perf_counter() - t0
    write_run(
        a.output,
        run,
        tag=a.tag,
        meta=run_meta(
            "search", a, {"queries": a.queries}, index=searcher.manifest["model"], seconds=round(dt, 3)
        ),
    )
    print(f"wrote {a.output}: {len(run)} queries in {dt:.2f}s ({len(run) / max(dt, 1e-9):.1f} queries/s)")
    evaluate_and_print({a.output: run}, a.qrels, a.metrics)
    return 0
