"""``boltir re-rank``: score the candidates of a run with a model and write the re-ranked run."""

from __future__ import annotations

import time

from boltir.cli.common import add_eval_arguments, evaluate_and_print, new_parser, run_meta


def parser():
    p = new_parser(
        "re-rank", "Re-rank the top candidates of a TREC run with a bi-encoder or a cross-encoder."
    )
    p.add_argument("--model", type=str, required=True, help="model: short name, folder or Hub id")
    p.add_argument("--run", type=str, required=True, help="candidate run: file or <dataset>:<run>")
    p.add_argument("--queries", type=str, required=True, help="queries: file, dataset name or irds:<id>")
    p.add_argument("--docs", type=str, required=True, help="documents: file, dataset name or irds:<id>")
    p.add_argument("--output", type=str, required=True, help="TREC run file to write")
    p.add_argument("--depth", type=int, default=100, help="candidates per query to re-rank")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument(
        "--family",
        "--kind",
        type=str,
        default="auto",
        help="auto (a saved boltir folder's own family; *ForSequenceClassification checkpoints mono, "
        "*ForMaskedLM ones splade, other backbones dpr) or a family: dpr, splade, unicoil, colbert, "
        "coil, mvr, mono, set-encoder, sparse-ce (--kind is the old name of this option)",
    )
    p.add_argument(
        "--permutations",
        type=bool,
        default=False,
        help="Set-Encoder: also re-rank the candidates fed in ideal, inverse-ideal, random and original "
        "order and print the first metric for each (needs --qrels)",
    )
    p.add_argument("--tag", type=str, default="boltir-rerank")
    add_eval_arguments(p)
    return p


def main(argv: list[str]) -> int:
    from boltir.data.runs import candidate_ids, write_run
    from boltir.data.sources import doc_texts, load_queries, load_run, run_path
    from boltir.pipeline import Reranker

    a = parser().parse_args(argv)
    run = load_run(a.run)
    queries = load_queries(a.queries)
    wanted = candidate_ids(run, a.depth)
    docs = doc_texts(a.docs, wanted)
    reranker = Reranker(a.model, docs, a.depth, a.batch_size, family=None if a.family == "auto" else a.family)
    t0 = time.perf_counter()
    out = reranker.rerank(run, queries)
    if a.permutations:
        if not a.qrels:
            raise ValueError("--permutations needs --qrels")
        from boltir.data.sources import load_qrels
        from boltir.evaluation.permutation import permutation_robustness
        from boltir.search.rerank import rerank_lists

        if reranker._rerank is not rerank_lists:
            raise ValueError(
                f"--permutations feeds whole candidate lists in other orders: it applies to list-wise "
                f"families (set-encoder), not {reranker.family}"
            )
        robust = permutation_robustness(
            lambda order: rerank_lists(
                reranker.model, reranker.tokenizer, run, queries, docs, show_progress=False, order=order
            ),
            run,
            load_qrels(a.qrels),
            a.metrics[0],
            a.depth,
        )
        print("input order  " + "  ".join(f"{k}: {v:.4f}" for k, v in robust.items()))
    dt = time.perf_counter() - t0
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
    evaluate_and_print({a.run: run, a.output: out}, a.qrels, a.metrics)
    return 0
