"""Every Python block of the README and of docs/*.md runs (so examples cannot rot), and the README's Python
experiment gives the same numbers as the same experiment on the command line."""

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

pytestmark = pytest.mark.slow


def blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def commands(block: str) -> list[list[str]]:
    """The ``boltir ...`` commands of a bash block (line continuations joined, comments dropped)."""
    out = []
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] == "boltir":
            out.append(words[1:])
    return out


def run_python_blocks(path: Path, workdir: Path) -> dict:
    namespace: dict = {"__name__": "__docs__"}
    for i, code in enumerate(blocks(path, "python")):
        exec(compile(code, f"{path.name}[python block {i + 1}]", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("path", [p for p in DOCS if p.name != "README.md"], ids=lambda p: p.name)
def test_python_blocks_of_the_docs_run(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_python_blocks(path, tmp_path)


@pytest.mark.repro
def test_readme_python_runs_and_equals_the_command_line(tmp_path, monkeypatch, capsys):
    from boltir.cli import main as boltir
    from boltir.data.runs import read_run
    from boltir.data.sources import load_qrels
    from boltir.evaluation.measures import evaluate

    monkeypatch.chdir(tmp_path)
    namespace = run_python_blocks(ROOT / "README.md", tmp_path)
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
            assert not target.startswith(("http://", "https://", "../", "/")), (path.name, target)
            assert (path.parent / target.split("#")[0]).exists() or target.startswith("#"), (path.name, target)
        assert "../shared" not in text, path.name


def test_formats_page_matches_the_readers(tmp_path):
    """docs/formats.md names the fields the readers accept, and its tuple example reads."""
    import re
    from pathlib import Path

    from boltir.data.readers import ID_FIELDS, TEXT_FIELDS, read_tuples

    page = (Path(__file__).resolve().parents[1] / "docs" / "formats.md").read_text()
    assert "first of " + ", ".join(f"`{f}`" for f in ID_FIELDS) in page
    assert "first of " + ", ".join(f"`{f}`" for f in TEXT_FIELDS) in page
    (example,) = re.findall(r"```json\n(.*?)\n```", page, re.S)
    (tmp_path / "t.jsonl").write_text(example + "\n")
    (t,) = read_tuples(tmp_path / "t.jsonl")
    assert (t.query_id, t.positives, t.negatives, t.scores) == ("q1", ["d1"], ["d7", "d9"], {"d1": 9.1, "d7": 3.2})
