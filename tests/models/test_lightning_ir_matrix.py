"""The Lightning IR conformance matrix: for each of Lightning IR 0.0.6's model kinds, a folder Lightning IR built
with every output-changing config key at its non-default values (tests/fixtures/lightning_ir/matrix.py), with
Lightning IR's own scores after a reload. boltir either reproduces the scores (within 1e-5, same ranking) or refuses
the folder naming the key and its value; which one, for every variant, is the table in docs/lightning-ir.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "lightning_ir"
MATRIX = json.loads((FIXTURES / "matrix.json").read_text())
PAGE = ROOT / "docs" / "lightning-ir.md"
ROW = re.compile(
    r"^\| `(?P<variant>[^`]+)` \| (?P<kind>[^|]+) \| (?P<setting>[^|]+) \| (?P<outcome>honoured|refused) \|"
)


def expected() -> dict[str, str]:
    """variant -> honoured / refused, as the documentation's table states it."""
    return {m["variant"]: m["outcome"] for line in PAGE.read_text().splitlines() if (m := ROW.match(line))}


def outcome(name: str) -> tuple[str, str]:
    """(honoured or refused, detail) of boltir on one variant folder."""
    import boltir
    from boltir.errors import FamilyError

    variant = MATRIX["variants"][name]
    try:
        model = boltir.load_model(FIXTURES / "matrix" / name)
    except FamilyError as e:
        return "refused", str(e)
    got = np.array([model.score(q, ds)[0] for q, ds in zip(MATRIX["queries"], MATRIX["docs"])])
    want = np.array(variant["scores"])
    err = float((np.abs(got - want) / np.maximum(1.0, np.abs(want))).max())
    same_order = all((np.argsort(-g, kind="stable") == np.argsort(-w, kind="stable")).all() for g, w in zip(got, want))
    return ("honoured" if err <= 1e-5 and same_order else "differs"), f"max relative error {err:.1e}"


def test_the_page_lists_every_variant_and_the_matrix_covers_every_kind():
    assert set(expected()) == set(MATRIX["variants"])
    assert {v["kind"] for v in MATRIX["variants"].values()} == {
        "dpr", "col", "splade", "unicoil", "coil", "mvr", "mono", "set-encoder", "mono-t5",
    }  # fmt: skip
    assert sum(f.stat().st_size for f in (FIXTURES / "matrix").rglob("*") if f.is_file()) < 8 * 2**20


@pytest.mark.parametrize("name", sorted(MATRIX["variants"]))
def test_each_variant_is_reproduced_or_refused_by_name(name):
    want = expected()[name]
    got, detail = outcome(name)
    assert got == want, f"{name}: {got} ({detail}), the page says {want}"
    if got == "refused":  # the message names a key of the variant and its value
        settings = MATRIX["variants"][name]["settings"]
        assert any(f"setting {k}={v!r}" in detail for k, v in settings.items()), detail
