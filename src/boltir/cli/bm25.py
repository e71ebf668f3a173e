"""``boltir bm25``: index a corpus with bm25s (optionally saving the index) and search it."""

from __future__ import annotations

import time

from boltir.cli import options
from boltir.cli.common import evaluate_and_print, new_parser, run_meta
from boltir.cli.options import CATALOGUE, Option
from boltir.errors import ConfigError


def parser():
    """The options of ``boltir bm25``."""
    p = new_parser(
        "bm25",
        "BM25 with bm25s: index the documents (or load a saved index) and search the queries into a TREC run; "
        "evaluated when --qrels is given.",
    )
    options.add(
        p,
        "limit",
        "report",
        "docs",
        "queries",
        "output",
        "k",
        "qrels",
        "metrics",
        tag=CATALOGUE["tag"].but(default="bm25"),
        index_dir=Option(str | None, None, "save the index here (or load it from here without --docs)"),
        k1=Option(float, 0.9, "BM25 k1"),
        b=Option(float, 0.4, "BM25 b"),
        stemmer=Option(str | None, "english", "Snowball language, or null"),
        stopwords=Option(str | None, "en", "stopword list, or null"),
    )
    return p


def main(argv: list[str]) -> int:
    """Run ``boltir bm25``: index (or load) a BM25 index, search the queries, write the run."""
    from boltir.data.sources import load_queries
    from boltir.data.writers import write_trec_run
    from boltir.index.bm25 import BM25Index

    a = parser().parse_args(argv)

    from boltir.data.sources import set_limit

    set_limit(a.limit)
    t0 = time.perf_counter()
    if a.docs:
        index = BM25Index.build(a.docs, a.k1, a.b, a.stemmer, a.stopwords)
        if a.index_dir:
            index.save(a.index_dir)
    elif a.index_dir:
        index = BM25Index.load(a.index_dir)
    else:
        raise ConfigError("give --docs to index, or --index-dir of a saved index")
    t1 = time.perf_counter()
    queries = load_queries(a.queries)
    run = index.search(queries, a.k)
    t2 = time.perf_counter()
    write_trec_run(
        a.output,
        run,
        tag=a.tag,
        meta=run_meta("bm25", a, {"docs": a.docs, "queries": a.queries}, seconds=round(t2 - t0, 3)),
    )
    print(
        f"wrote {a.output}: {len(run)} queries; index {t1 - t0:.1f}s, search {t2 - t1:.2f}s "
        f"({len(queries) / max(t2 - t1, 1e-9):.0f} queries/s)"
    )
    evaluate_and_print({a.output: run}, a.qrels, a.metrics, report=a.report, texts=(a.queries, a.docs))
    return 0
