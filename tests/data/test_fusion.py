import math

import pytest

from boltir.cli import main as boltir
from boltir.data.fusion import fuse

A = {"q": {"d1": 3.0, "d2": 2.0, "d3": 1.0}}
B = {"q": {"d2": 10.0, "d4": 4.0, "d1": 1.0}}


def test_rrf_by_hand():
    out = fuse([A, B], "rrf", k=60)["q"]
    assert out["d1"] == pytest.approx(1 / 61 + 1 / 63)
    assert out["d2"] == pytest.approx(1 / 62 + 1 / 61)
    assert out["d3"] == pytest.approx(1 / 63)
    assert out["d4"] == pytest.approx(1 / 62)
    weighted = fuse([A, B], "rrf", weights=[2.0, 0.5], k=10)["q"]
    assert weighted["d4"] == pytest.approx(0.5 / 12)


def test_minmax_by_hand_missing_gets_the_run_minimum():
    out = fuse([A, B], "minmax")["q"]
    # A: d1 1, d2 .5, d3 0 (d4 missing -> 0); B: d2 1, d4 3/9, d1 0 (d3 missing -> 0)
    assert out == pytest.approx({"d1": 1.0, "d2": 1.5, "d3": 0.0, "d4": 1 / 3})


def test_zscore_by_hand():
    out = fuse([A, B], "zscore", weights=[1.0, 2.0])["q"]
    za = {"d1": math.sqrt(1.5), "d2": 0.0, "d3": -math.sqrt(1.5)}
    std = math.sqrt(((10 - 5) ** 2 + (4 - 5) ** 2 + (1 - 5) ** 2) / 3)  # run B: scores 10, 4, 1, mean 5
    zb = {"d2": 5 / std, "d4": -1 / std, "d1": -4 / std}
    assert out["d1"] == pytest.approx(za["d1"] + 2 * zb["d1"])
    assert out["d3"] == pytest.approx(za["d3"] + 2 * min(zb.values()))
    assert out["d4"] == pytest.approx(min(za.values()) + 2 * zb["d4"])


def test_bad_arguments():
    with pytest.raises(ValueError, match="method='sum'"):
        fuse([A], "sum")
    with pytest.raises(ValueError, match="1 weights for 2 runs"):
        fuse([A, B], weights=[1.0])


def test_fuse_command_on_dl19(tmp_path, capsys):
    out = tmp_path / "hybrid.run"
    assert (
        boltir(
            [
                "fuse",
                "--runs",
                "trec-dl-2019:bm25",
                "trec-dl-2019:tasb",
                "--method",
                "rrf",
                "--output",
                str(out),
                "--qrels",
                "trec-dl-2019",
                "--metrics",
                "nDCG@10",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "43 queries fused from 2 runs" in text and str(out) in text
    lines = out.read_text().splitlines()
    assert lines[0].split()[3] == "1" and len({ln.split()[0] for ln in lines}) == 43
