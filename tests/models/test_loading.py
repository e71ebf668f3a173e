"""Honest loaders: every family restores its own saved folder, refuses a folder of another family (naming both),
applies exactly the overrides it declares and refuses the rest; the two loader bugs found by trying boltir as a new
user stay fixed."""

import pytest

from boltir.errors import FamilyError
from boltir.models.base import save_model_folder, weights_fingerprint
from boltir.models.loading import detect_family, load_module
from boltir.registry import FAMILIES, get_family

# one value per overridable setting, different from every family's default
OVERRIDE_VALUES = {
    "query_length": 7,
    "doc_length": 17,
    "query_top_k": 5,
    "doc_top_k": 6,
    "attend_to_expansion": False,
    "sample_missing_docs": True,
    "depth": 20,
    "attention_backend": {"set-encoder": "eager", "sparse-ce": "mask"},
}
BUILTIN = ["dpr", "splade", "unicoil", "colbert", "coil", "mvr", "mono", "set-encoder", "sparse-ce"]
SETTINGS = {
    "dpr": {"projection_dim": 8},
    "colbert": {"embedding_dim": 8},
    "coil": {"cls_dim": 8, "token_dim": 4},
    "mvr": {"views": 2},
    "splade": {},
}


@pytest.fixture(scope="module")
def saved(tiny_backbone, tmp_path_factory):
    """A saved tiny model of every built-in family (SPLADE from a tiny masked-LM)."""
    import torch
    from transformers import BertConfig, BertForMaskedLM

    from boltir.models.sources import load_tokenizer

    root = tmp_path_factory.mktemp("families")
    mlm = root / "mlm"
    torch.manual_seed(0)
    BertForMaskedLM(
        BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
    ).save_pretrained(mlm)
    load_tokenizer(tiny_backbone).save_pretrained(mlm)
    out = {}
    for name in BUILTIN:
        model, tok = load_module(str(mlm) if name == "splade" else tiny_backbone, family=name, **SETTINGS.get(name, {}))
        save_model_folder(model, tok, root / name)
        out[name] = str(root / name)
    return out


def test_every_family_is_registered_once_with_its_own_model_type():
    assert set(BUILTIN) <= set(FAMILIES)
    for name in BUILTIN:
        fam = FAMILIES[name]
        assert fam.model_type == f"boltir-{name}" and fam.config_cls().model_type == fam.model_type
        assert get_family(fam.model_type) is fam


@pytest.mark.parametrize("name", BUILTIN)
def test_saved_folder_restores_exactly_and_is_detected(saved, name):
    model, _ = load_module(saved[name])
    again, _ = load_module(saved[name], family=name)
    assert detect_family(saved[name]).name == name and model.config.model_type == f"boltir-{name}"
    assert weights_fingerprint(model) == weights_fingerprint(again)


@pytest.mark.parametrize("name", BUILTIN)
def test_wrong_family_folder_is_an_error_naming_both(saved, name):
    for other in BUILTIN:
        if other == name or name in FAMILIES[other].converts_from:
            continue
        with pytest.raises(FamilyError, match=rf"saved {name} model, not a {other} one"):
            load_module(saved[name], family=other)


@pytest.mark.parametrize("name", BUILTIN)
def test_each_allowed_override_round_trips(saved, name, tmp_path):
    family = FAMILIES[name]
    for setting in sorted(family.overridable):
        value = OVERRIDE_VALUES[setting]
        value = value[name] if isinstance(value, dict) else value
        model, tok = load_module(saved[name], family=name, **{setting: value})
        assert getattr(model.config, setting) == value, setting
        save_model_folder(model, tok, tmp_path / setting)
        again, _ = load_module(str(tmp_path / setting))
        assert getattr(again.config, setting) == value, setting


@pytest.mark.parametrize("name", BUILTIN)
def test_other_settings_of_a_saved_folder_are_refused(saved, name):
    setting, value = ("query_prefix", "query: ") if FAMILIES[name].role == "bi-encoder" else ("head_activation", "gelu")
    with pytest.raises(FamilyError, match=rf"cannot change {setting}"):
        load_module(saved[name], **{setting: value})
    model, _ = load_module(saved[name], **{setting: getattr(load_module(saved[name])[0].config, setting)})
    assert model.config.model_type == f"boltir-{name}"  # giving a setting its saved value is no change


def test_new_model_refuses_settings_its_family_lacks(tiny_backbone):
    with pytest.raises(FamilyError, match="views is not a setting of a coil model"):
        load_module(tiny_backbone, family="coil", views=3)
    with pytest.raises(FamilyError, match="window is not a setting of a mono model"):
        load_module(tiny_backbone, family="mono", window=2)


def test_regression_bi_encoder_loader_on_a_splade_folder(saved):
    """Before: ``load_bi_encoder(<saved SPLADE folder>)`` returned a DPR model with random encoder weights."""
    from boltir.models.loading import load_bi_encoder

    with pytest.raises(FamilyError, match="saved splade model, not a dpr one"):
        load_bi_encoder(saved["splade"])


@pytest.mark.parametrize("name", ["coil", "mvr"])
def test_regression_coil_and_mvr_overrides_are_applied(saved, name):
    """Before: ``load_coil(<saved COIL folder>, doc_length=17)`` (and MVR) dropped the override silently."""
    from boltir.models.loading import load_coil, load_mvr

    model, _ = (load_coil if name == "coil" else load_mvr)(saved[name], doc_length=17)
    assert model.config.doc_length == 17


def test_regression_save_pretrained_writes_tokenizer_and_card(saved, tmp_path):
    """Before: ``model.save_pretrained(dir)`` wrote no tokenizer, and boltir's loader then failed with a
    misleading sentencepiece error."""
    model, _ = load_module(saved["dpr"])
    model.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "tokenizer.json").is_file() and (tmp_path / "m" / "README.md").is_file()
    again, _ = load_module(str(tmp_path / "m"))
    assert weights_fingerprint(again) == weights_fingerprint(model)


def test_folder_without_tokenizer_is_a_clear_error(saved, tmp_path):
    import shutil

    from boltir.errors import ModelNotFoundError

    shutil.copytree(saved["dpr"], tmp_path / "m")
    for f in (tmp_path / "m").glob("*"):
        if "token" in f.name or f.name == "vocab.txt":
            f.unlink()
    with pytest.raises(ModelNotFoundError, match="no tokenizer files"):
        load_module(str(tmp_path / "m"))


def test_unknown_model_name_lists_the_short_names():
    from boltir.errors import ModelNotFoundError

    with pytest.raises(ModelNotFoundError, match="minilm-l6, splade-tiny"):
        load_module("minilm-l7")


def test_old_family_spellings_warn_and_resolve(tiny_backbone):
    with pytest.warns(DeprecationWarning, match="'cross-encoder' is deprecated; use 'mono'"):
        assert get_family("cross-encoder").name == "mono"
    with pytest.warns(DeprecationWarning):
        assert get_family("sparse-cross-encoder").name == "sparse-ce"
    assert get_family("boltir-unicoil").name == "unicoil"  # a model type is no old spelling


@pytest.mark.parametrize("name", ["dpr", "mono"])
def test_saved_folder_has_a_model_card_and_files_others_can_read(saved, name):
    import stat
    from pathlib import Path

    import yaml

    folder = Path(saved[name])
    card = (folder / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    assert header["library_name"] == "boltir" and name in header["tags"]
    assert header["pipeline_tag"] == ("sentence-similarity" if name == "dpr" else "text-ranking")
    assert "boltir.load_model('path/to/this/folder')" in card and "AutoModel.from_pretrained" in card
    assert f"model_type: boltir-{name}" in card and "## Settings" in card
    for f in folder.iterdir():
        assert f.stat().st_mode & stat.S_IROTH, f"{f.name} is not readable by others"
