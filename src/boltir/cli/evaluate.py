"""``boltir evaluate``: ir_measures over one or more runs, paired t-tests against the first (Holm)."""

from __future__ import annotations

import re
from pathlib import Path

from boltir.cli import options
from boltir.cli.common import evaluate_and_print, new_parser, unique_names
from boltir.cli.options import CATALOGUE, REQUIRED, Option


def parser():
    """The options of ``boltir evaluate``."""
    p = new_parser(
        "evaluate",
        "Evaluate TREC runs against qrels (trec_eval-exact through ir_measures). With several runs, each is "
        "compared with the first by a paired t-test, Holm-corrected.",
    )
    p.add_argument(
        "runs", nargs="+", help="run files or <dataset>:<run> names; NAME=RUN gives a run the name the table shows"
    )
    options.add(
        p,
        "metrics",
        "report",
        qrels=CATALOGUE["qrels"].but(
            type=str, default=REQUIRED, help="qrels: a file, a dataset (its split only) or irds:<id>"
        ),
        json=Option(bool, False, "print JSON (aggregate, per query, tests)"),
        queries=Option(str | None, None, "with --report: query texts for the report (default: the qrels' dataset)"),
        docs=Option(
            str | None, None, "with --report: passage texts for its comparison view (default: the qrels' dataset)"
        ),
    )
    return p


_METRIC = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\([^()]*\))?(@\d+)?$")


def _is_run(token: str) -> bool:
    """Whether a token after ``--metrics`` names a run rather than a metric (``NAME=RUN`` when RUN is one)."""
    name, sep, spec = token.partition("=")
    if sep and name and "(" not in name and not Path(token).exists():
        return _is_run(spec)
    return Path(token).exists() or (":" in token and "(" not in token and not _METRIC.match(token))


def split_metrics(argv: list[str]) -> list[str]:
    """Let runs follow ``--metrics m1 m2 ...`` as in ``--metrics nDCG@10 'RR(rel=2)@10' RUN ...``: the tokens
    after --metrics that are runs (an existing file, or ``<dataset>:<run>`` / ``irds:<id>``) are moved to the
    front; every other token stays a metric name, so a misspelt one (``nDCG@ten``) is named by ir_measures."""
    out: list[str] = []
    runs: list[str] = []
    i = 0
    while i < len(argv):
        out.append(argv[i])
        if argv[i] == "--metrics":
            i += 1
            while i < len(argv) and not argv[i].startswith("--"):
                tok = argv[i]
                (runs if _is_run(tok) else out).append(tok)
                i += 1
            continue
        i += 1
    return runs + out


def named_runs(tokens: list[str]) -> list[tuple[str, str]]:
    """``(name, spec)`` of each run argument: ``NAME=RUN`` names a run, anything else is named by itself.

    A token that is an existing file is a run even when its name holds ``=``.
    """
    out = []
    for token in tokens:
        name, sep, spec = token.partition("=")
        if sep and name and spec and not Path(token).exists():
            out.append((name, spec))
        else:
            out.append((token, token))
    return out


def main(argv: list[str]) -> int:
    """Run ``boltir evaluate``: the metrics of each run, each compared with the first (paired t-test, Holm)."""
    from boltir.data.runs import read_run
    from boltir.data.sources import load_qrels

    args = parser().parse_args(split_metrics(argv))
    metrics = list(args.metrics) if args.metrics else None
    qrels = load_qrels(args.qrels)  # first: a wrong qrels name fails before any run is read
    from boltir.data.sources import DATASETS

    given = named_runs(args.runs)
    runs = unique_names([name for name, _ in given], [read_run(spec) for _, spec in given])
    sources = {name: spec for name, (_, spec) in zip(runs, given)}
    dataset = args.qrels if args.qrels in DATASETS else None
    texts = (args.queries or dataset, args.docs or dataset)
    evaluate_and_print(
        runs,
        qrels,
        metrics,
        json_out=args.json,
        report=args.report,
        qrels_name=args.qrels,
        sources=sources,
        texts=texts,
    )
    return 0
