"""``boltir fuse``: hybrid fusion of TREC runs (RRF, min-max or z-score), evaluated when qrels are given."""

from __future__ import annotations

from boltir.cli.common import add_eval_arguments, evaluate_and_print, new_parser, run_meta


def parser():
    p = new_parser(
        "fuse",
        "Fuse runs: reciprocal rank fusion (rrf) or weighted sums of per-query min-max / z-score "
        "normalised scores.",
    )
    p.add_argument("--runs", type=str, nargs="+", required=True, help="run files or <dataset>:<run>")
    p.add_argument("--method", type=str, default="rrf", help="rrf, minmax or zscore")
    p.add_argument(
        "--weights", type=float | None, nargs="+", default=None, help="one weight per run (default 1)"
    )
    p.add_argument("--k", type=int, default=60, help="RRF constant")
    p.add_argument("--depth", type=int | None, default=None, help="cut each run to its top depth first")
    p.add_argument("--output-depth", type=int, default=1000, help="documents per query written")
    p.add_argument("--output", type=str, required=True)
    p.add_argument("--tag", type=str, default="fused")
    add_eval_arguments(p)
    return p


def main(argv: list[str]) -> int:
    from boltir.data.sources import load_run, run_path
    from boltir.data.writers import write_run
    from boltir.search.fusion import fuse

    a = parser().parse_args(argv)
    runs = {spec: load_run(spec) for spec in a.runs}
    out = fuse(list(runs.values()), a.method, a.weights, a.k, a.depth)
    write_run(
        a.output,
        out,
        tag=a.tag,
        depth=a.output_depth,
        meta=run_meta("fuse", a, {f"run{i}": str(run_path(spec)) for i, spec in enumerate(a.runs)}),
    )
    print(f"wrote {a.output}: {len(out)} queries fused from {len(runs)} runs ({a.method})")
    evaluate_and_print({**runs, a.output: out}, a.qrels, a.metrics)
    return 0
