"""SPLADE fine-tuning from YAML: in-batch CE + FLOPS regulariser whose weight a ValueScheduler warms up by dotted
path; the regulariser and schedule by hand."""

import json

import pytest
import torch
import yaml

from boltir.losses import FLOPS, L1
from boltir.training.schedulers import ValueScheduler


def test_regularisers_by_hand():
    w = torch.tensor([[1.0, 0.0, 2.0], [3.0, 0.0, 0.0]])
    assert FLOPS(0.5)(w).item() == pytest.approx(0.5 * ((2.0) ** 2 + 0 + 1.0**2))  # column means 2, 0, 1
    assert L1(0.1)(w).item() == pytest.approx(0.1 * (3 + 3) / 2)


def test_schedule_shapes():
    s = ValueScheduler("x", end_value=8.0, warmup_steps=4, delay_steps=2, shape="quadratic")
    assert [s.value(i) for i in range(8)] == [0.0, 0.0, 0.0, 0.5, 2.0, 4.5, 8.0, 8.0]
    lin = ValueScheduler("x", end_value=1.0, start_value=0.5, warmup_steps=2, shape="linear")
    assert [lin.value(i) for i in range(3)] == [0.5, 0.75, 1.0]
    with pytest.raises(ValueError, match="shape='cubic'"):
        ValueScheduler("x", 1.0, shape="cubic")


@pytest.mark.slow
def test_fit_splade_with_scheduled_flops(tiny_data, tmp_path, capsys):
    from boltir.cli import main as boltir
    from boltir.models.loading import load_splade

    cfg = {
        "seed_everything": 0,
        "trainer": {
            "max_steps": 4,
            "accelerator": "cpu",
            "devices": 1,
            "enable_progress_bar": False,
            "default_root_dir": str(tmp_path / "out"),
            "log_every_n_steps": 1,
            "logger": {
                "class_path": "lightning.pytorch.loggers.CSVLogger",
                "init_args": {"save_dir": str(tmp_path / "logs")},
            },
            "callbacks": [
                {
                    "class_path": "boltir.training.ValueScheduler",
                    "init_args": {
                        "target": "doc_regularizer.weight",
                        "end_value": 0.04,
                        "warmup_steps": 2,
                        "shape": "quadratic",
                    },
                },
                {"class_path": "boltir.training.ExportBestModel", "init_args": {"dirpath": str(tmp_path / "model")}},
            ],
        },
        "model": {
            "class_path": "boltir.training.BiEncoderModule",
            "init_args": {
                "model": "splade-tiny",
                "temperature": 1.0,
                "doc_length": 32,
                "lr": 1e-4,
                "doc_regularizer": {"class_path": "boltir.losses.FLOPS", "init_args": {"weight": 0.0}},
                "query_regularizer": {"class_path": "boltir.losses.L1", "init_args": {"weight": 1e-4}},
            },
        },
        "data": tiny_data(num_negatives=1),
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert boltir(["fit", "--config", str(tmp_path / "c.yaml")]) in (0, None)
    rows = list(csv_rows(tmp_path / "logs"))
    sched = [float(r["schedule/doc_regularizer.weight"]) for r in rows if r.get("schedule/doc_regularizer.weight")]
    assert sched == pytest.approx([0.0, 0.01, 0.04, 0.04])
    assert any(r.get("train/doc_regularizer") for r in rows) and any(r.get("train/query_nonzero") for r in rows)
    model, _ = load_splade(str(tmp_path / "model"))
    assert model.config.model_type == "boltir-splade" and model.config.doc_length == 32
    assert json.loads((tmp_path / "model" / "boltir_provenance.json").read_text())["global_step"] == 4

    bad = dict(cfg)
    bad["trainer"] = dict(
        cfg["trainer"],
        callbacks=[
            {
                "class_path": "boltir.training.ValueScheduler",
                "init_args": {"target": "doc_regulariser.weight", "end_value": 1.0},
            }
        ],
    )
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    assert boltir(["fit", "--config", str(tmp_path / "bad.yaml")]) == 1  # a user error, named on stderr
    assert "the module has no attribute 'doc_regulariser'" in capsys.readouterr().err


def csv_rows(folder):
    import csv

    for path in folder.rglob("metrics.csv"):
        with open(path) as f:
            yield from csv.DictReader(f)
