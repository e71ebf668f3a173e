"""``boltir fuse``: hybrid fusion of TREC runs (RRF, min-max or z-score), evaluated when qrels are given."""

from __future__ import annotations

from boltir.cli import options
from boltir.cli.common import evaluate_and_print, new_parser, run_meta, unique_names
from boltir.cli.options import CATALOGUE, REQUIRED, Option


def parser():
    """The options of ``boltir fuse``."""
    p = new_parser(
        "fuse",
        "Fuse runs: reciprocal rank fusion (rrf) or weighted sums of per-query min-max / z-score normalised scores.",
    )
    options.add(
        p,
        "output",
        "qrels",
        "metrics",
        tag=CATALOGUE["tag"].but(default="fused"),
        runs=Option(str, REQUIRED, "run files or <dataset>:<run>", nargs="+"),
        method=Option(str, "rrf", "rrf, minmax or zscore"),
        weights=Option(float | None, None, "one weight per run (default 1)", nargs="+"),
        k=Option(int, 60, "RRF constant", range={"min": 0}),
        depth=Option(int | None, None, "cut each run to its top depth first"),
        output_depth=Option(int, 1000, "documents per query written"),
    )
    return p


def main(argv: list[str]) -> int:
    """Run ``boltir fuse``: fuse the runs per query and write the fused run."""
    from boltir.data.fusion import fuse
    from boltir.data.runs import read_run
    from boltir.data.sources import run_path
    from boltir.data.writers import write_trec_run

    a = parser().parse_args(argv)
    loaded = [read_run(spec) for spec in a.runs]  # a run named twice is fused twice (as its weights say)
    out = fuse(loaded, a.method, a.weights, a.k, a.depth)
    runs = unique_names(a.runs, loaded)
    write_trec_run(
        a.output,
        out,
        tag=a.tag,
        depth=a.output_depth,
        meta=run_meta("fuse", a, {f"run{i}": str(run_path(spec)) for i, spec in enumerate(a.runs)}),
    )
    print(f"wrote {a.output}: {len(out)} queries fused from {len(loaded)} runs ({a.method})")
    evaluate_and_print({**runs, a.output: out}, a.qrels, a.metrics)
    return 0
