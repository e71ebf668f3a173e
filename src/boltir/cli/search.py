"""``boltir search``: retrieval over any boltir index (dense / MVR FAISS, learned-sparse inverted, ColBERT
multi-vector, COIL) into a TREC run, evaluated when qrels are given."""

from __future__ import annotations

import time

from boltir.cli.common import add_eval_arguments, evaluate_and_print, new_parser, run_meta


def parser():
    p = new_parser("search", "Search any boltir index (dense, MVR, sparse, ColBERT, COIL) with its model and write a "
                   "TREC run.")
    p.add_argument("--index", type=str, required=True, help="index folder made by 'boltir index'")
    p.add_argument("--queries", type=str, required=True, help="queries: file, dataset name or irds:<id>")
    p.add_argument("--output", type=str, required=True, help="TREC run file to write")
    p.add_argument("--model", type=str | None, default=None,
                   help="model (defaults to the one recorded in the index; must have the same weights)")
    p.add_argument("--k", type=int, default=1000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--search-params", type=str | None, default=None,
                   help="dense indexes: FAISS search parameters, e.g. nprobe=32 or efSearch=128")
    p.add_argument("--budget", type=int | None, default=None,
                   help="sparse indexes: read only this many highest-weight postings per query term (pruned "
                        "search; default: every posting, exact)")
    p.add_argument("--nprobe", type=int, default=4, help="multi-vector indexes: centroids probed per query token")
    p.add_argument("--ncandidates", type=int | None, default=1024,
                   help="multi-vector indexes: candidates kept by centroid interaction for exact MaxSim (null: all)")
    p.add_argument("--tag", type=str, default="boltir")
    add_eval_arguments(p)
    return p


def main(argv: list[str]) -> int:
    from boltir.data.sources import load_queries
    from boltir.data.writers import write_run
    from boltir.index.storage import read_manifest
    from boltir.search.dense import DenseSearcher
    from boltir.search.sparse import SparseSearcher

    a = parser().parse_args(argv)
    index_kind = read_manifest(a.index).get("kind")
    sparse = index_kind == "sparse"
    if a.budget is not None and not sparse:
        raise ValueError("--budget applies to sparse indexes only")
    if a.search_params and sparse:
        raise ValueError("--search-params applies to dense (FAISS) indexes only")
    queries = load_queries(a.queries)
    if index_kind == "coil":
        from boltir.search.coil import CoilSearcher

        searcher = CoilSearcher(a.index, a.model)
    elif index_kind == "multivector":
        from boltir.search.multivector import MultiVectorSearcher

        searcher = MultiVectorSearcher(a.index, a.model, nprobe=a.nprobe, ncandidates=a.ncandidates)
    else:
        searcher = SparseSearcher(a.index, a.model) if sparse else DenseSearcher(a.index, a.model,
                                                                                   search_params=a.search_params)
    t0 = time.perf_counter()
    run = (searcher.search(queries, a.k, a.budget, a.batch_size, show_progress=True) if sparse
           else searcher.search(queries, a.k, a.batch_size, show_progress=True))
    dt = time.perf_counter() - t0
    write_run(a.output, run, tag=a.tag, meta=run_meta("search", a, {"queries": a.queries},
                                                    index=searcher.manifest["model"], seconds=round(dt, 3)))
    print(f"wrote {a.output}: {len(run)} queries in {dt:.2f}s ({len(run) / max(dt, 1e-9):.1f} queries/s)")
    evaluate_and_print({a.output: run}, a.qrels, a.metrics)
    return 0
