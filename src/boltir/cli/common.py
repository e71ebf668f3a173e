"""Argument helpers shared by subcommands (jsonargparse parsers that also read ``--config`` YAML)."""

from __future__ import annotations

import json
import sys
from typing import Any


def new_parser(prog: str, description: str):
    """A command's argument parser: ``--config`` YAML files, no abbreviations, ``boltir <prog>`` in usage.

    Args:
        prog: the command's name.
        description: what the command does (its ``--help``).

    Returns:
        A jsonargparse ``ArgumentParser``.
    """
    from jsonargparse import ActionConfigFile, ArgumentParser

    p: Any = ArgumentParser(
        prog=f"boltir {prog}", description=description, env_prefix="BOLTIR", default_env=False, allow_abbrev=False
    )
    p.add_argument("--config", action=ActionConfigFile, help="YAML file with any of these options")
    p.boltir_flags = set()  # the boolean options (options.add fills it): bare flags, see bare_flags
    p.boltir_ranges = {}  # numeric options' ranges (options.add fills it), checked after parsing
    parse = p.parse_args

    def parse_args(args: Any = None, **kwargs: Any) -> Any:
        from boltir.cli.options import out_of_range

        argv = list(sys.argv[1:] if args is None else args)
        unknown = unknown_option(argv, p)
        if unknown:
            p.error(unknown)
        parsed = parse(bare_flags(argv, p.boltir_flags), **kwargs)
        for name, (flag, bounds) in p.boltir_ranges.items():
            problem = out_of_range(flag, getattr(parsed, name, None), bounds)
            if problem:
                p.error(problem)
        check_inputs(parsed)  # a BoltirError: one line, exit 1 (boltir.cli.main)
        return parsed

    p.parse_args = parse_args
    return p


SOURCES = {"docs": "docs", "queries": "queries", "qrels": "qrels", "run": "run"}  # option -> what it gives


def unknown_option(argv: list[str], p: Any) -> str | None:
    """The problem with the first option of ``argv`` that ``p`` does not know, with the closest one it does."""
    from boltir.utils.suggest import did_you_mean

    known = set(getattr(p, "_option_string_actions", {})) | {f"--no-{f[2:]}" for f in p.boltir_flags}
    for token in argv:
        if token == "--":
            break
        flag = token.split("=", 1)[0]
        if flag.startswith("--") and flag not in known:
            return f"unrecognized option {flag}{did_you_mean(flag, sorted(known))}"
    return None


def check_inputs(parsed: Any) -> None:
    """Check the model names and input sources of a parsed command line before torch is imported and before any
    progress bar starts.

    Raises:
        BoltirError: a model name close to a short name, an unknown dataset or run, a missing file (named, with
            the closest name).
    """
    from boltir.data.sources import check_source
    from boltir.models.sources import check_model_name

    for option in ("model", "reranker"):
        value = getattr(parsed, option, None)
        if isinstance(value, str):
            check_model_name(value)
    for option, what in SOURCES.items():
        value = getattr(parsed, option, None)
        if isinstance(value, str):
            check_source(value, what)


BOOLEAN_WORDS = {"true": "true", "false": "false", "yes": "true", "no": "false", "1": "true", "0": "false"}


def bare_flags(argv: list[str], flags: set[str]) -> list[str]:
    """``argv`` with every boolean option written ``--flag=value``, so a flag never takes the next token.

    ``--json`` is ``--json=true`` and ``--no-json`` is ``--json=false``; a following ``true`` / ``false`` (also
    yes / no / 1 / 0) is read as the flag's value, as the README's ``--add true`` always did, but any other
    next token (``--json trec-dl-2019:bm25``) stays an argument of its own.

    Args:
        argv: the command's arguments.
        flags: the boolean options' spellings (``--json``, ...).

    Returns:
        The rewritten arguments.
    """
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        negated = arg.startswith("--no-") and "--" + arg[5:] in flags
        if arg in flags or negated:
            flag = "--" + arg[5:] if negated else arg
            value = "false" if negated else "true"
            nxt = argv[i + 1].lower() if i + 1 < len(argv) else None
            if not negated and nxt in BOOLEAN_WORDS:
                value = BOOLEAN_WORDS[nxt]
                i += 1
            out.append(f"{flag}={value}")
        else:
            out.append(arg)
        i += 1
    return out


def evaluate_and_print(
    runs: dict[str, dict],
    qrels_spec: str | dict | None,
    metrics: list[str] | None,
    extra: dict[str, dict[str, str]] | None = None,
    json_out: bool = False,
    report: str | None = None,
    qrels_name: str = "",
    sources: dict[str, str] | None = None,
    texts: tuple[str | None, str | None] = (None, None),
) -> dict[str, Any] | None:
    """Evaluate ``runs`` on the qrels and print the table (or JSON); ``report``: also write the HTML report, with
    ``sources`` (run name -> the file or ``<dataset>:<run>`` it came from, for its provenance) and ``texts``
    (the queries and documents specs whose texts the report's comparison view shows)."""
    if not qrels_spec:
        return None
    from boltir.data.sources import load_qrels
    from boltir.evaluation.measures import evaluate_many
    from boltir.evaluation.report import as_json, table
    from boltir.evaluation.significance import compare_to_baseline

    qrels = load_qrels(qrels_spec) if isinstance(qrels_spec, str) else qrels_spec
    from boltir.data.sources import LIMIT

    if LIMIT.get():  # a --limit trial ran the first queries only: judge those, not the missing ones as 0
        ran = {q for run in runs.values() for q in run}
        qrels = {q: j for q, j in qrels.items() if q in ran}
    evals = evaluate_many(runs, qrels, metrics)
    comps = compare_to_baseline(evals)
    if report:
        from boltir.evaluation.html_report import ReportInputs, write_report

        name = qrels_name or (qrels_spec if isinstance(qrels_spec, str) else "")
        sources = {run: (sources or {}).get(run, run) for run in runs}
        write_report(report, evals, comps, name, ReportInputs.build(runs, qrels, *texts, sources=sources))
        print(f"wrote {report}", file=sys.stderr)
    if json_out:
        out = as_json(evals, comps)
        print(json.dumps(out, indent=2))
        return out
    print(table(evals, comps, extra))
    return as_json(evals, comps, per_query=False)


def err(msg: str) -> None:
    """Print a message on stderr."""
    print(msg, file=sys.stderr)


def unique_names(names: list[str], runs: list[dict]) -> dict[str, dict]:
    """``{name: run}`` with a ``'`` added to names given more than once (for the evaluation table)."""
    out: dict[str, dict] = {}
    for name, run in zip(names, runs):
        while name in out:
            name += "'"
        out[name] = run
    return out


def run_meta(command: str, args: Any, inputs: dict[str, str | None], **extra: Any) -> dict[str, Any]:
    """What produced a run: the command, its arguments and fingerprints of its file inputs."""
    from boltir.utils.provenance import input_fingerprint

    arguments = args.as_dict() if hasattr(args, "as_dict") else dict(vars(args))
    arguments.pop("config", None)
    return {
        "command": f"boltir {command}",
        "arguments": arguments,
        "inputs": {k: input_fingerprint(v) for k, v in inputs.items() if v},
        **extra,
    }
