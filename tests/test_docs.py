"""The documentation cannot rot: every code block of the README and of every page under docs/ runs here.

Rules of a page (docs/README-style Markdown, also the Sphinx sources):
- ``python`` blocks run in order in one namespace per page, in a fresh working folder;
- a ``text`` block after a ``python`` block is that block's printed output and must equal it (trailing spaces
  aside); a ``text`` block after a ``bash`` block is illustrative (times, progress) and is not compared;
- in ``bash`` blocks every ``boltir ...`` line runs in-process (``boltir.cli.main``) and must exit 0, except
  ``boltir serve`` (it would block), whose options are parsed instead, and commands with ``--devices N`` (N > 1),
  which run as a subprocess (Lightning's launcher starts the other processes from the command line); ``pip``
  and ``make`` lines are the install page's and are not run; ``yaml`` blocks with a ``# file: NAME`` first line
  are written to NAME first.
Pages whose blocks train or re-rank the whole DL19 pool run in the repro tier (REPRO_PAGES).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(p for p in (ROOT / "docs").rglob("*.md") if "_build" not in p.parts and p.parent.name != "api")
DOCS = [ROOT / "README.md", *PAGES]
GENERATED = {ROOT / "docs" / "reference" / "benchmarks.md"}  # written by docs/generate.py when the site builds
# pages that take more than ~20 s (whole-pool re-ranking, training): the repro tier runs them
REPRO_PAGES = {
    "docs/index.md",  # the quickstart re-ranks DL19's BM25 top 100 (about a minute)
    "docs/install.md",  # boltir demo (about a minute)
    "docs/tutorials/fit.md",  # two short trainings
    "docs/howto/devices.md",  # a two-process job
    # re-ranking DL19 / DL20 candidates with the bundled models (10 to 15 s each; the fast tier stays < 5 min)
    "docs/tutorials/rerank.md",
    "docs/tutorials/mine.md",
    "docs/howto/onnx-int8.md",
}

pytestmark = pytest.mark.slow

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)


def blocks(path: Path, language: str) -> list[str]:
    """The code blocks of one language, in page order."""
    return [code for lang, code in FENCE.findall(path.read_text(encoding="utf-8")) if lang == language]


def commands(block: str) -> list[list[str]]:
    """The ``boltir ...`` commands of a bash block (line continuations joined, comments dropped)."""
    out = []
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] == "boltir":
            out.append(words[1:])
    return out


def run_boltir(argv: list[str]) -> None:
    from boltir.cli import main as boltir

    if argv and argv[0] == "serve":
        from boltir.cli.serve import parser

        parser().parse_args(argv[1:])  # serving would block: its options must parse
        return
    if "--devices" in argv and argv[argv.index("--devices") + 1] != "1":
        # Lightning's launcher starts the other processes from the command line: run it as a user would
        done = subprocess.run([sys.executable, "-m", "boltir", *argv], capture_output=True, text=True)
        assert done.returncode == 0, (argv, done.stderr[-2000:])
        return
    try:
        status = boltir(argv)
    except SystemExit as stop:  # --print_config and --help end the way argparse ends them
        status = stop.code or 0
    assert status == 0, argv


def run_page(path: Path) -> dict:
    """Run every block of one page in order; return the Python namespace.

    With ``BOLTIR_DOCS_UPDATE=1`` a shown output that differs is rewritten on the page instead of failing (for
    the writer of a page; review the diff)."""
    namespace: dict = {"__name__": "__docs__"}
    previous = None
    page = path.read_text(encoding="utf-8")
    for i, (lang, code) in enumerate(FENCE.findall(path.read_text(encoding="utf-8"))):
        where = f"{path.relative_to(ROOT)}[block {i + 1}]"
        if lang == "python":
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(code, where, "exec", dont_inherit=True), namespace)  # not this file's __future__
            previous = ("python", out.getvalue())
        elif lang == "text" and previous and previous[0] == "python":
            shown = [line.rstrip() for line in code.rstrip().splitlines()]
            printed = [line.rstrip() for line in previous[1].rstrip().splitlines()]
            if printed != shown and os.environ.get("BOLTIR_DOCS_UPDATE") == "1":
                page = page.replace(f"```text\n{code}```", "```text\n" + "\n".join(printed) + "\n```", 1)
                path.write_text(page, encoding="utf-8")
            else:
                assert printed == shown, f"{where}: the page shows an output the code above does not print"
            previous = None
        elif lang == "yaml" and code.startswith("# file: "):
            name = code.splitlines()[0][len("# file: ") :].strip()
            Path(name).parent.mkdir(parents=True, exist_ok=True)
            Path(name).write_text(code, encoding="utf-8")
        elif lang == "bash":
            for argv in commands(code):
                run_boltir(argv)
            previous = ("bash", "")
    return namespace


def _page_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p, marks=[pytest.mark.repro] if _page_id(p) in REPRO_PAGES else [])
        for p in PAGES
        if p not in GENERATED
    ],
    ids=_page_id,
)
def test_every_block_of_the_page_runs(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOLTIR_NO_PROGRESS", "1")
    run_page(path)


@pytest.mark.repro
def test_readme_python_runs_and_equals_the_command_line(tmp_path, monkeypatch, capsys):
    from boltir.cli import main as boltir
    from boltir.data.runs import read_run
    from boltir.data.sources import load_qrels
    from boltir.evaluation.measures import evaluate

    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for i, code in enumerate(blocks(ROOT / "README.md", "python")):
        exec(compile(code, f"README.md[python block {i + 1}]", "exec"), namespace)
    python_table = capsys.readouterr().out
    assert "rrf(dense, sparse)" in python_table
    experiment = next(b for b in blocks(ROOT / "README.md", "bash") if "boltir fuse --runs dense.run" in b)
    for argv in commands(experiment):
        assert boltir(argv) == 0, argv
    qrels = load_qrels("trec-dl-2019")
    files = {"bm25": "bm25.run", "dense": "dense.run", "sparse": "sparse.run", "rrf(dense, sparse)": "rrf.run"}
    for name, file in files.items():
        ours = evaluate(namespace["runs"][name], qrels, ["nDCG@10", "RR(rel=2)@10"]).aggregate
        cli = evaluate(read_run(file), qrels, ["nDCG@10", "RR(rel=2)@10"]).aggregate
        assert {m: round(v, 4) for m, v in ours.items()} == {m: round(v, 4) for m, v in cli.items()}, name
        assert f"{ours['nDCG@10']:.4f}" in python_table


def test_no_doc_link_points_outside_the_repository():
    texts = {p: p.read_text(encoding="utf-8") for p in [*DOCS, ROOT / "CHANGELOG.md", ROOT / "data" / "README.md"]}
    for path, text in texts.items():
        for target in re.findall(r"\]\(([^)]+)\)", text):
            assert not target.startswith(("http://", "https://", "/")), (path.name, target)
            if target.startswith("#"):
                continue
            resolved = (path.parent / target.split("#")[0]).resolve()
            assert ROOT in resolved.parents, (path.name, target)  # inside the repository
            assert resolved.exists() or resolved in GENERATED, (path.name, target)
        assert "../shared" not in text, path.name


def test_formats_page_matches_the_readers(tmp_path):
    """docs/formats.md names the fields the readers accept, and its tuple example reads."""
    from boltir.data.readers import ID_FIELDS, TEXT_FIELDS, read_tuples

    page = (ROOT / "docs" / "formats.md").read_text()
    assert "first of " + ", ".join(f"`{f}`" for f in ID_FIELDS) in page
    assert "first of " + ", ".join(f"`{f}`" for f in TEXT_FIELDS) in page
    (example,) = re.findall(r"```json\n(.*?)\n```", page, re.S)
    (tmp_path / "t.jsonl").write_text(example + "\n")
    (t,) = read_tuples(tmp_path / "t.jsonl")
    assert (t.query_id, t.positives, t.negatives, t.scores) == ("q1", ["d1"], ["d7", "d9"], {"d1": 9.1, "d7": 3.2})


def test_troubleshooting_quotes_messages_the_code_still_prints():
    """Each message quoted on the troubleshooting page (``…`` marks the varying parts) is still in the code."""
    source = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "src" / "boltir").rglob("*.py"))
    page = (ROOT / "docs" / "troubleshooting.md").read_text(encoding="utf-8")
    quoted = re.findall(r"`` (.+?) ``", page)
    assert len(quoted) >= 20
    for message in quoted:
        for fragment in (f.strip(" '") for f in message.split("…")):
            assert len(fragment) < 6 or fragment in source, f"troubleshooting quotes {fragment!r}; no code says it"


def test_benchmark_page_shows_every_result_file_with_the_script_that_writes_it():
    import json
    import sys

    sys.path.insert(0, str(ROOT / "docs"))
    try:
        from generate import benchmark_markdown
    finally:
        sys.path.pop(0)
    page = benchmark_markdown(ROOT / "benchmarks" / "results", ROOT / "benchmarks")
    results = sorted((ROOT / "benchmarks" / "results").glob("*.json"))
    assert len(results) >= 10
    for path in results:
        section = page.split(f"## {path.stem}\n", 1)[1].split("\n## ", 1)[0]
        script = re.search(r"`python benchmarks/(\w+\.py)[^`]*`", section)  # the script, maybe with options
        assert script and (ROOT / "benchmarks" / script[1]).exists(), path.name
    serve = json.loads((ROOT / "benchmarks" / "results" / "serve-cpu.json").read_text())
    ratio = serve["qps_ratio_on_over_off"]["32"]
    assert f"| `qps_ratio_on_over_off.32` | {ratio:.4g} |" in page  # values as measured, nested keys dotted
