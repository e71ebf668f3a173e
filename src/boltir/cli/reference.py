"""The CLI reference page (``docs/reference/cli.md``), written from the real parsers so it cannot drift.

``python -m boltir.cli.reference docs/reference/cli.md`` rewrites the page; ``tests/cli/test_reference.py``
fails when the committed page differs from what the parsers say (an option added, renamed or re-described).
Nothing here imports torch: the parsers are the ones ``--help`` uses.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterator
from typing import Any

from boltir.cli import COMMANDS

HEADER = """# Command-line reference

Generated from the parsers by `python -m boltir.cli.reference docs/reference/cli.md`; a test fails when this page
and the parsers differ. Every command also reads `--config file.yaml` with the same option names (dashes become
underscores, e.g. `batch_size: 64`), and boolean options are bare flags (`--overwrite`, `--no-overwrite`).
`--print_config` prints the merged configuration and exits. `boltir <command> --help` prints the same text on the
terminal, without importing torch.
"""


GENERIC = {"config", "print_config"}  # every command's; described once in the header, worded by jsonargparse


def parsers() -> Iterator[tuple[str, str, Any]]:
    """Every command's parser: ``(name, one-line description, parser or None)`` in ``boltir --help`` order.

    ``fit`` has no fixed parser (LightningCLI builds one from the classes its config names), so it is given
    as None and documented by its short help; ``distill`` gives one entry per action.

    Yields:
        Tuples of the command as typed after ``boltir``, its description and its parser.
    """
    for name, (module_name, description) in COMMANDS.items():
        module = importlib.import_module(module_name)
        if name == "fit":
            yield name, description, None
        elif name == "distill":
            yield "distill build", description, module.build_parser()
            yield (
                "distill subsample",
                "restrict a teacher run to a shallower first-stage depth",
                module.subsample_parser(),
            )
        else:
            yield name, description, module.parser()


def _default(action: argparse.Action) -> str:
    value = action.default
    if value is None or value is argparse.SUPPRESS:
        return ""
    if isinstance(value, (list, tuple)):
        return "`" + " ".join(map(str, value)) + "`" if value else ""
    return f"`{value}`"


def _help(action: argparse.Action) -> str:
    text = " ".join((action.help or "").split()).replace("|", "\\|")
    return text.replace("%(default)s", str(action.default)).replace("%%", "%")


def options_table(parser: Any) -> list[str]:
    """The Markdown table of one parser's options: flag (and metavar), required or default, description."""
    rows = ["| option | default | description |", "| --- | --- | --- |"]
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or not action.option_strings or action.dest in GENERIC:
            continue
        long = [s for s in action.option_strings if s.startswith("--")]
        name = long[0] if long else action.option_strings[0]
        shown = " ".join([f"`{name}`", *(f"(also `{s}`)" for s in long[1:])])
        # jsonargparse marks a required option on the action or, in older releases, in the parser's required_args
        required = action.required or action.dest in (getattr(parser, "required_args", None) or ())
        rows.append(f"| {shown} | {'required' if required else _default(action)} | {_help(action)} |")
    positionals = [a for a in parser._actions if not a.option_strings]
    for action in positionals:
        rows.append(f"| `{action.dest}` (positional) | | {_help(action)} |")
    return rows


def reference_markdown() -> str:
    """The whole CLI reference page as Markdown."""
    parts = [HEADER]
    for name, description, parser in parsers():
        parts.append(f"## `boltir {name}`\n")
        parts.append(description[0].upper() + description[1:] + ".\n")
        if parser is None:
            from boltir.cli.fit import short_help
            from boltir.data.sources import config_root

            text = short_help().replace(str(config_root()), "configs/ of a checkout; the installed package's copy")
            parts.append("```text\n" + text.rstrip() + "\n```\n")
            continue
        if parser.description:
            parts.append(" ".join(parser.description.split()) + "\n")
        parts += options_table(parser)
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write the reference to the path given (or print it)."""
    argv = sys.argv[1:] if argv is None else argv
    text = reference_markdown()
    if not argv:
        sys.stdout.write(text)
        return 0
    from pathlib import Path

    Path(argv[0]).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
