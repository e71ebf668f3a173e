"""``boltir mine``: hard negatives for training tuples from a run, a run re-scored by any model, or an index."""

from __future__ import annotations

from boltir.cli.common import new_parser


def parser():
    p = new_parser(
        "mine",
        "Mine hard negatives: rank candidates with --run (optionally re-scored by --model) or "
        "by searching --index, drop positives and the top --skip-top, sample --num-negatives per query, "
        "and write training tuples (JSON lines) for boltir fit.",
    )
    p.add_argument("--queries", type=str, required=True, help="queries: file, dataset name or irds:<id>")
    p.add_argument("--qrels", type=str, required=True, help="relevance judgements giving the positives")
    p.add_argument(
        "--run",
        type=str | None,
        default=None,
        help="candidate run (e.g. msmarco-devsmall-sample:bm25-sample)",
    )
    p.add_argument(
        "--model", type=str | None, default=None, help="re-score the run's candidates with this model"
    )
    p.add_argument("--docs", type=str | None, default=None, help="documents (needed with --model)")
    p.add_argument(
        "--index", type=str | None, default=None, help="search this index (any kind) instead of --run"
    )
    p.add_argument("--output", type=str, required=True, help="training tuples file (.jsonl)")
    p.add_argument("--depth", type=int, default=100)
    p.add_argument("--num-negatives", type=int, default=7)
    p.add_argument("--skip-top", type=int, default=0, help="skip this many top non-positive candidates")
    p.add_argument("--sampling", type=str, default="random", help="random or top")
    p.add_argument("--min-relevance", type=int, default=1)
    p.add_argument(
        "--keep-scores", type=bool, default=False, help="store the ranking's scores (for distillation)"
    )
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: list[str]) -> int:
    from boltir.data.sources import load_qrels, load_queries, load_run
    from boltir.data.writers import write_tuples
    from boltir.training.mining import mine_negatives

    a = parser().parse_args(argv)
    if (a.run is None) == (a.index is None):
        raise ValueError("give exactly one of --run and --index")
    queries, qrels = load_queries(a.queries), load_qrels(a.qrels)
    if a.index:
        from boltir.index.build import open_searcher

        searcher = open_searcher(a.index, a.model, show_progress=True)
        ranking = searcher.search({q: t for q, t in queries.items() if q in qrels}, a.depth)
    else:
        ranking = load_run(a.run)
        if a.model:
            from boltir.pipeline import Reranker

            if not a.docs:
                raise ValueError("--model needs --docs to read the candidates' texts")
            ranking = Reranker(a.model, a.docs, a.depth).rerank(
                {q: r for q, r in ranking.items() if q in qrels}, queries
            )
    tuples, report = mine_negatives(
        ranking,
        queries,
        qrels,
        a.num_negatives,
        a.depth,
        a.skip_top,
        a.sampling,
        a.min_relevance,
        a.keep_scores,
        a.seed,
    )
    write_tuples(a.output, tuples)
    print(
        f"wrote {a.output}: {report.written} tuples; skipped {len(report.no_positive)} queries without a "
        f"positive; {len(report.too_few_negatives)} had fewer than {a.num_negatives} negatives"
    )
    return 0
