"""The CLI reference page (docs/reference/cli.md) is the parsers' own text: a changed option fails here."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_cli_reference_is_what_the_parsers_say():
    from boltir.cli.reference import reference_markdown

    page = (ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    assert page == reference_markdown(), "docs/reference/cli.md is stale: run make docs-cli"


def test_every_option_of_every_command_is_in_the_reference():
    from boltir.cli import COMMANDS
    from boltir.cli.reference import parsers

    page = (ROOT / "docs" / "reference" / "cli.md").read_text(encoding="utf-8")
    seen = set()
    for name, _, parser in parsers():
        seen.add(name.split()[0])
        assert f"## `boltir {name}`" in page
        if parser is None:
            continue
        section = page.split(f"## `boltir {name}`", 1)[1].split("\n## ", 1)[0]
        for action in parser._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag not in ("--help", "--config", "--print_config"):
                    assert f"`{flag}`" in section, f"boltir {name} {flag} is missing from the reference"
    assert seen == set(COMMANDS)


def test_reference_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, boltir.cli.reference as r; r.reference_markdown(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
