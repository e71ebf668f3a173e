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

    p = ArgumentParser(
        prog=f"boltir {prog}", description=description, env_prefix="BOLTIR", default_env=False, allow_abbrev=False
    )
    p.add_argument("--config", action=ActionConfigFile, help="YAML file with any of these options")
    return p


def evaluate_and_print(
    runs: dict[str, dict],
    qrels_spec: str | dict | None,
    metrics: list[str] | None,
    extra: dict[str, dict[str, str]] | None = None,
    json_out: bool = False,
    report: str | None = None,
    qrels_name: str = "",
) -> dict[str, Any] | None:
    """Evaluate ``runs`` on the qrels and print the table (or JSON); ``report``: also write the HTML report."""
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
        from boltir.evaluation.html_report import write_report

        write_report(report, evals, comps, qrels_name or (qrels_spec if isinstance(qrels_spec, str) else ""))
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
