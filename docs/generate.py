"""The generated pages of the documentation site, written before Sphinx reads the sources (``docs/conf.py``).

- ``api/``: one page per public module of the package, each an ``automodule`` of its docstrings, and an index
  page with every name of ``boltir.__all__`` (the public API) documented in place.
- ``reference/benchmarks.md``: every JSON file in ``benchmarks/results/`` as tables, with the script that wrote it.

Generated files are not committed (``.gitignore``); ``reference/cli.md`` is committed instead, because a reader of
the repository should see the CLI reference without building, and a test keeps it equal to the parsers.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# modules that are not API: the command-line doors (documented in reference/cli.md) and the entry point
SKIP = ("boltir.cli", "boltir.__main__")


def public_modules() -> list[str]:
    """Every importable module of the package whose dotted path has no private part, sorted."""
    import boltir

    names = ["boltir"]
    for info in pkgutil.walk_packages(boltir.__path__, "boltir."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts) or info.name.startswith(SKIP):
            continue
        names.append(info.name)
    return sorted(names)


def _write(path: Path, text: str) -> None:
    """Write only when the text changed, so Sphinx's incremental build reads only what moved."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def _rst(directive: str, target: str, *options: str) -> str:
    """An autodoc directive inside ``eval-rst`` (autodoc writes reStructuredText, which MyST must not read)."""
    lines = [f".. {directive}:: {target}"]
    for option in options:
        name, _, value = option.partition(": ")
        lines.append(f"   :{name}: {value}".rstrip())
    return "```{eval-rst}\n" + "\n".join(lines) + "\n```\n"


def _top_level_entry(name: str, obj: Any) -> str:
    if isinstance(obj, types.GenericAlias):  # a type alias: its text lives with its module's definition
        home = next(m for m in ("boltir.data.runs",) if getattr(importlib.import_module(m), name, None) is obj)
        return f"`boltir.{name}` is {{py:data}}`{home}.{name}`.\n"
    if inspect.isclass(obj):
        return _rst("autoclass", f"boltir.{name}", "members", "show-inheritance")
    return _rst("autofunction" if callable(obj) else "autodata", f"boltir.{name}")


def write_api(docs: Path) -> list[str]:
    """Write ``api/index.md`` (the top-level names) and one page per public module; return the module names."""
    import boltir

    modules = [m for m in public_modules() if m != "boltir"]
    out = docs / "api"
    entries = []
    for name in boltir.__all__:
        if name == "__version__":
            continue
        entries.append(_top_level_entry(name, getattr(boltir, name)))
    toc = "\n".join(f"{m}" for m in modules)
    index = (
        "# Python API\n\n"
        "Everything a user needs is a name on the top-level module (`import boltir`); the pages listed at the end\n"
        "document every public module below it. Generated from the docstrings by `docs/generate.py`.\n\n"
        "## `boltir`\n\n" + "\n".join(entries) + "\n## Modules\n\n```{toctree}\n:maxdepth: 1\n\n" + toc + "\n```\n"
    )
    _write(out / "index.md", index)
    top = {name: getattr(boltir, name) for name in boltir.__all__ if name != "__version__"}
    for module in modules:
        loaded = importlib.import_module(module)
        # a name of the top level is documented there (boltir.X is what users write); its module page omits it
        shown = [
            n for n, obj in top.items() if getattr(loaded, n, None) is obj and not isinstance(obj, types.GenericAlias)
        ]
        options = ["members", "show-inheritance"] + ([f"exclude-members: {', '.join(shown)}"] if shown else [])
        text = f"# `{module}`\n\n" + _rst("automodule", module, *options)
        _write(out / f"{module}.md", text)
    for stale in out.glob("boltir.*.md"):
        if stale.stem not in modules:
            stale.unlink()
    return modules


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, (list, dict)):
        text = json.dumps(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return str(value).replace("|", "\\|").replace("\n", " ")


def _scalars(data: dict, prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += _scalars(value, path + ".")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            continue  # rendered as its own table
        else:
            rows.append((path, value))
    return rows


def _tables(data: dict, prefix: str = "") -> list[tuple[str, list[dict]]]:
    found: list[tuple[str, list[dict]]] = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            found += _tables(value, path + ".")
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            found.append((path, value))
    return found


def benchmark_markdown(results: Path, scripts: Path) -> str:
    """The benchmark page: every JSON file under ``results`` as tables, each with the script that writes it.

    Args:
        results: the folder of benchmark JSON files (``benchmarks/results``).
        scripts: the folder of benchmark scripts (``benchmarks``), searched for the file name when the file does
            not record its ``command``.

    Returns:
        The Markdown text of the page.
    """
    parts = [
        "# Benchmark results\n",
        "Generated from `benchmarks/results/*.json` when the site is built: each table is what the named script",
        "wrote on its last run, every figure beside its baseline from the same run. Speeds are of the machine",
        "that ran it (the `machine` / `cpu_count` fields); ratios carry over between machines better than speeds.\n",
    ]
    sources = {p: p.read_text(encoding="utf-8") for p in sorted(scripts.glob("*.py"))}
    for path in sorted(results.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        writers = [p.name for p, text in sources.items() if f'"{path.name}"' in text or f"'{path.name}'" in text]
        parts.append(f"## {path.stem}\n")
        recorded = data.get("command", "") if isinstance(data, dict) else ""
        if str(recorded).startswith("python benchmarks/"):  # the command the file says wrote it, options and all
            command = f"`{recorded}`"
        else:
            command = f"`python benchmarks/{writers[0]}`" if writers else "(no script names this file)"
        parts.append(f"Written by {command} to `benchmarks/results/{path.name}`.\n")
        if not isinstance(data, dict):
            data = {"values": data}
        scalars = _scalars(data)
        if scalars:
            parts += ["| field | value |", "| --- | --- |"]
            parts += [f"| `{k}` | {_cell(v)} |" for k, v in scalars]
            parts.append("")
        for name, rows in _tables(data):
            columns: list[str] = []
            for row in rows:
                columns += [c for c in row if c not in columns and not isinstance(row[c], (dict, list))]
            parts.append(f"**{name}**\n")
            parts += ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
            parts += ["| " + " | ".join(_cell(r.get(c, "")) for c in columns) + " |" for r in rows]
            parts.append("")
    return "\n".join(parts) + "\n"


def write_all(docs: Path) -> None:
    """Write every generated page under ``docs``."""
    write_api(docs)
    _write(
        docs / "reference" / "benchmarks.md", benchmark_markdown(ROOT / "benchmarks" / "results", ROOT / "benchmarks")
    )
