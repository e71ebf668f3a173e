"""``boltir re-rank``: score the candidates of a run with a model and write the re-ranked run."""

from __future__ import annotations

import time

from boltir.cli import options
from boltir.cli.common import evaluate_and_print, new_parser, run_meta
from boltir.cli.options import CATALOGUE, REQUIRED, Option
from boltir.errors import ConfigError


def family_help() -> str:
    """The help of --family, listing the registered families (the registry imports no torch)."""
    from boltir.registry import families

    return (
        "auto (a saved boltir folder's own family; *ForSequenceClassification checkpoints mono, *ForMaskedLM ones "
        f"splade, other backbones dpr) or a family: {', '.join(f.name for f in families())} (--kind is the old "
        "name of this option)"
    )


PERMUTATIONS_HELP = (
    "list-wise families: also re-rank the candidates fed in ideal, inverse-ideal, random and original order and "
    "print the first metric for each (needs --qrels)"
)


def parser():
    """The options of ``boltir re-rank``."""
    p = new_parser("re-rank", "Re-rank the top candidates of a TREC run with a bi-encoder or a cross-encoder.")
    options.add(
        p,
        *options.DEVICES,
        "quantize",
        "backend",
        "batch_tokens",
        "limit",
        "report",
        "model",
        "run",
        "queries",
        "output",
        "batch_size",
        "num_workers",
        "qrels",
        "metrics",
        docs=CATALOGUE["docs"].but(type=str, default=REQUIRED),
        depth=CATALOGUE["depth"].but(help="candidates per query to re-rank"),
        tag=CATALOGUE["tag"].but(default="boltir-rerank"),
        family=Option(str, "auto", family_help(), aliases=("--kind",)),
        permutations=Option(bool, False, PERMUTATIONS_HELP),
    )
    return p


def main(argv: list[str]) -> int:
    """Run ``boltir re-rank``: score a run's top candidates with a model and write the re-ranked run."""
    from boltir.data.runs import candidate_ids, read_run, write_run
    from boltir.data.sources import doc_texts, load_queries, run_path
    from boltir.pipeline import Reranker

    a = parser().parse_args(argv)

    from boltir.data.sources import set_limit

    set_limit(a.limit)
    run = read_run(a.run)
    queries = load_queries(a.queries)
    if a.limit:  # the first --limit queries only
        run = {q: r for q, r in run.items() if q in queries}
    wanted = candidate_ids(run, a.depth)
    docs = doc_texts(a.docs, wanted)
    family = None if a.family == "auto" else a.family
    ranks = options.ranks_of(a)
    if a.permutations and ranks.world > 1:
        raise ConfigError("--permutations runs in one process: drop --devices / --num-nodes")
    batching = {"batch_tokens": a.batch_tokens, "quantize": a.quantize, "backend": a.backend, "ranks": ranks}
    reranker = Reranker(a.model, docs, a.depth, a.batch_size, family=family, **batching)
    t0 = time.perf_counter()
    out = reranker.rerank(run, queries)
    if a.permutations:
        if not a.qrels:
            raise ConfigError("--permutations needs --qrels")
        from boltir.data.sources import load_qrels
        from boltir.evaluation.permutation import permutation_robustness
        from boltir.models.scoring import RerankJob, rerank_lists

        if reranker._rerank is not rerank_lists:
            raise ConfigError(
                f"--permutations feeds whole candidate lists in other orders: it applies to list-wise "
                f"families (set-encoder), not {reranker.family}"
            )
        robust = permutation_robustness(
            lambda order: rerank_lists(
                RerankJob(reranker.model, reranker.tokenizer, order, queries, docs, show_progress=False)
            ),
            run,
            load_qrels(a.qrels),
            a.metrics[0] if a.metrics else "nDCG@10",
            a.depth,
        )
        print("input order  " + "  ".join(f"{k}: {v:.4f}" for k, v in robust.items()))
    dt = time.perf_counter() - t0
    if not ranks.is_main:  # every rank holds the whole run; rank 0 writes it
        return 0
    meta = run_meta(
        "re-rank",
        a,
        {"run": str(run_path(a.run)), "queries": a.queries, "docs": a.docs},
        seconds=round(dt, 3),
        family=reranker.family,
    )
    write_run(a.output, out, tag=a.tag, meta=meta)
    print(
        f"wrote {a.output}: {len(out)} queries, {len(wanted)} passages in {dt:.1f}s "
        f"({len(wanted) / max(dt, 1e-9):.0f} passages/s)"
    )
    evaluate_and_print({a.run: run, a.output: out}, a.qrels, a.metrics, report=a.report, texts=(a.queries, a.docs))
    return 0
