"""``boltir mine``: hard negatives for training tuples from a run, a run re-scored by any model, or an index."""

from __future__ import annotations

from boltir.cli import options
from boltir.cli.common import new_parser
from boltir.cli.options import CATALOGUE, REQUIRED, Option
from boltir.errors import ConfigError


def parser():
    """The options of ``boltir mine``."""
    p = new_parser(
        "mine",
        "Mine hard negatives: rank candidates with --run (optionally re-scored by --model) or by searching --index, "
        "drop positives and the top --skip-top, sample --num-negatives per query, and write training tuples "
        "(JSON lines) for boltir fit.",
    )
    options.add(
        p,
        *options.DEVICES,
        "quantize",
        "backend",
        "batch_size",
        "batch_tokens",
        "limit",
        "queries",
        "depth",
        "seed",
        qrels=CATALOGUE["qrels"].but(type=str, default=REQUIRED, help="relevance judgements giving the positives"),
        run=CATALOGUE["run"].but(type=str | None, default=None),
        model=Option(str | None, None, "re-score the run's candidates with this model"),
        docs=CATALOGUE["docs"].but(help="documents (needed with --model)"),
        index=Option(str | None, None, "search this index (any kind) instead of --run"),
        output=Option(str, REQUIRED, "training tuples file (.jsonl)"),
        num_negatives=Option(int, 7, "negatives per query"),
        skip_top=Option(int, 0, "skip this many top non-positive candidates"),
        sampling=Option(str, "random", "random or top"),
        min_relevance=Option(int, 1, "lowest grade that counts as a positive"),
        keep_scores=Option(bool, False, "store the ranking's scores (for distillation)"),
    )
    return p


def main(argv: list[str]) -> int:
    """Run ``boltir mine``: hard negatives from a run, a model or an index, written as training tuples."""
    a = parser().parse_args(argv)  # before the heavy imports: --help stays fast
    from boltir.data.sources import set_limit

    set_limit(a.limit)
    from boltir.data.runs import read_run
    from boltir.data.sources import load_qrels, load_queries
    from boltir.data.writers import write_tuples
    from boltir.training.mining import mine_negatives

    if (a.run is None) == (a.index is None):
        raise ConfigError("give exactly one of --run and --index")
    queries, qrels = load_queries(a.queries), load_qrels(a.qrels)
    if a.index:
        from boltir.index.open import open_searcher

        searcher = open_searcher(a.index, a.model, show_progress=True)
        ranking = searcher.search({q: t for q, t in queries.items() if q in qrels}, a.depth)
    else:
        ranking = read_run(a.run)
        if a.model:
            from boltir.pipeline import Reranker

            if not a.docs:
                raise ConfigError("--model needs --docs to read the candidates' texts")
            ranks = options.ranks_of(a)
            batching = {"batch_tokens": a.batch_tokens, "quantize": a.quantize, "backend": a.backend, "ranks": ranks}
            scorer = Reranker(a.model, a.docs, a.depth, a.batch_size, **batching)
            ranking = scorer.rerank({q: r for q, r in ranking.items() if q in qrels}, queries)
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
    if a.model and a.run and not ranks.is_main:  # every rank scored the whole ranking; rank 0 writes
        return 0
    write_tuples(a.output, tuples)
    print(
        f"wrote {a.output}: {report.written} tuples; skipped {len(report.no_positive)} queries without a "
        f"positive; {len(report.too_few_negatives)} had fewer than {a.num_negatives} negatives"
    )
    return 0
