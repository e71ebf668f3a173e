"""Every YAML config shipped in configs/ parses against the classes it names (LightningCLI --print_config)."""

from pathlib import Path

import pytest
import yaml

from boltir.cli import main as boltir

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_config_parses(config, capsys):
    with pytest.raises(SystemExit) as e:
        boltir(["fit", "--config", str(config), "--print_config"])
    assert e.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    original = yaml.safe_load(config.read_text())
    assert printed["model"]["class_path"] == original["model"]["class_path"]
    assert printed["data"]["class_path"] == original["data"]["class_path"]
    for key, value in original["model"]["init_args"].items():
        if not isinstance(value, dict):
            assert printed["model"]["init_args"][key] == value, key


def test_there_are_configs():
    assert len(CONFIGS) >= 5
