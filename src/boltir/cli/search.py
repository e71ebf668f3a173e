"""``boltir search``: retrieval over any boltir index (dense / MVR FAISS, learned-sparse inverted, ColBERT
multi-vector, COIL) into a TREC run, evaluated when qrels are given."""

from __future__ import annotations

import time

from boltir.cli import options
from boltir.cli.common import evaluate_and_print, new_parser, run_meta
from boltir.cli.options import REQUIRED, Option


def parser():
    """The options of ``boltir search``."""
    p = new_parser(
        "search", "Search any boltir index (dense, MVR, sparse, ColBERT, COIL) with its model and write a TREC run."
    )
    options.add(
        p,
        "quantize",
        "backend",
        "limit",
        "report",
        "queries",
        "output",
        "k",
        "batch_size",
        "tag",
        "qrels",
        "metrics",
        index=Option(
            str,
            REQUIRED,
            "index folder made by 'boltir index', or a Qdrant collection it was exported to "
            "(qdrant-edge:FOLDER, qdrant-local:FOLDER, qdrant://HOST:PORT/COLLECTION)",
        ),
        model=Option(str | None, None, "model (default: the one recorded in the index; same weights)"),
        search_params=Option(str | None, None, "dense indexes: FAISS search parameters, e.g. nprobe=32"),
        mmap=Option(bool, False, "dense indexes: memory-map the FAISS file instead of reading it into memory"),
        budget=Option(int | None, None, "sparse indexes: postings read per query term (default: all, exact)"),
        threads=Option(
            int | None, None, "sparse / multi-vector indexes: search this many document parts or shards at once"
        ),
        nprobe=Option(int | None, None, "multi-vector indexes: centroids probed per query token (default 4)"),
        ncandidates=Option(int | None, None, "multi-vector indexes: candidates for exact MaxSim (1024; 0: all)"),
        approximate=Option(bool, False, "Qdrant collections: search the engine's HNSW index instead of exactly"),
        hnsw_ef=Option(int | None, None, "Qdrant collections with --approximate: HNSW candidates (ef)"),
        oversampling=Option(
            float | None, None, "Qdrant int8-quantised collections with --approximate: re-score oversampling x k"
        ),
        prefetch=Option(
            int | None, None, "Qdrant multi-vector collections with a pooled vector: N candidates, then MaxSim"
        ),
    )
    return p


def main(argv: list[str]) -> int:
    """Run ``boltir search``: search an index of any kind with its model and write the run."""
    from boltir.data.runs import write_run
    from boltir.data.sources import load_queries
    from boltir.index.open import open_searcher

    a = parser().parse_args(argv)

    from boltir.data.sources import set_limit

    set_limit(a.limit)
    knobs = {
        "search_params": a.search_params,
        "budget": a.budget,
        "threads": a.threads,
        "nprobe": a.nprobe,
        "ncandidates": None if a.ncandidates is None else (a.ncandidates or "all"),
        "mmap": a.mmap or None,
        "exact": False if a.approximate else None,
        "hnsw_ef": a.hnsw_ef,
        "oversampling": a.oversampling,
        "prefetch": a.prefetch,
    }
    knobs = {k: (None if v == "all" else v) for k, v in knobs.items() if v is not None}
    queries = load_queries(a.queries)
    searcher = open_searcher(
        a.index, a.model, batch_size=a.batch_size, show_progress=True, quantize=a.quantize, backend=a.backend, **knobs
    )
    t0 = time.perf_counter()
    run = searcher.search(queries, a.k)
    dt = time.perf_counter() - t0
    write_run(
        a.output,
        run,
        tag=a.tag,
        meta=run_meta("search", a, {"queries": a.queries}, index=searcher.manifest["model"], seconds=round(dt, 3)),
    )
    print(f"wrote {a.output}: {len(run)} queries in {dt:.2f}s ({len(run) / max(dt, 1e-9):.1f} queries/s)")
    evaluate_and_print({a.output: run}, a.qrels, a.metrics, report=a.report, texts=(a.queries, None))
    return 0
