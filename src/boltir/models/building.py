"""Helpers the families' builders share: a new model around a plain backbone (heads drawn from a seed), the
tokenizer's punctuation ids, whether a folder is a ``*ForSequenceClassification`` checkpoint, and a cross-encoder
of another family built from any mono source. Each family's own builder lives in its family file; saved boltir
folders are restored by :mod:`boltir.models.loading`, never by a builder. Every builder has the signature
``(path, name, tokenizer, seed, settings) -> (model, tokenizer)``."""

from __future__ import annotations

import string
from typing import Any

from boltir.errors import CheckpointError
from boltir.models.base import seeded
from boltir.models.sources import config_json


def around_backbone(model_cls: type, config_cls: type, path: str, name: str, seed: int, settings: dict[str, Any]):
    """A new model whose encoder holds the backbone's weights (its pooler dropped) and whose heads are drawn
    from ``seed``."""
    from transformers import AutoModel

    backbone = AutoModel.from_pretrained(path)
    with seeded(seed):
        model = model_cls(config_cls(encoder=backbone.config.to_dict(), **settings))
    state = {k: v for k, v in backbone.state_dict().items() if not k.startswith("pooler.")}
    missing, unexpected = model.encoder.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"{name}: backbone weights do not fit (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    model.config.name_or_path = str(name)
    return model


def punctuation_ids(tokenizer: Any) -> list[int]:
    """The vocabulary ids of ASCII punctuation characters."""
    vocab = tokenizer.get_vocab()
    return sorted({vocab[c] for c in string.punctuation if c in vocab})


def is_classifier(path: str) -> bool:
    """Whether a folder's config names a ``*ForSequenceClassification`` architecture."""
    return any(a.endswith("ForSequenceClassification") for a in config_json(path).get("architectures") or [])


def mono_source(path: str, name: str, seed: int, settings: dict[str, Any]):
    """A mono model from any mono source: a saved mono folder, a classifier checkpoint or a plain backbone."""
    from boltir.models.loading import load_module

    return load_module(path, family="mono", seed=seed, display_name=name, **settings)


def from_mono(mono: Any, model_cls: type, config_cls: type, name: str, **settings: Any) -> Any:
    """A cross-encoder of another family holding a mono model's weights (backbone and head) and settings."""
    mc = mono.config
    keep = ("head_activation", "num_outputs", "head_bias", "query_length", "doc_length")
    config = config_cls(encoder=mono.encoder.config.to_dict(), **{k: getattr(mc, k) for k in keep}, **settings)
    model = model_cls(config)
    model.load_state_dict(mono.state_dict(), strict=True)
    model.config.name_or_path = str(name)
    return model
