"""Read folders saved by Lightning IR (the format of the Set-Encoder, Rank-DistiLLM and sparse cross-encoder
papers' published models) as boltir models, with Lightning IR's scores.

A Lightning IR ``config.json`` has its own ``model_type`` (``lir-dpr``, ``col``, ``splade``, ``unicoil``,
``coil``, ``mvr``, ``mono``, ``set-encoder``), the backbone's keys flat beside the family's and
``backbone_model_type``; the weights carry no backbone prefix (``embeddings.*``, ``encoder.layer.*``) beside the
family's heads; ``tokenizer_config.json`` names a Lightning IR tokenizer class plus ``backbone_tokenizer_class``.
Each family's settings map to a boltir family's (a setting boltir cannot reproduce is refused by name, never
ignored), the weights are renamed into the boltir model, and the tokenizer is built from the backbone class
(transformers' generic fallback drops ``token_type_ids``, which changes cross-encoder scores).
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

from boltir.errors import FamilyError
from boltir.utils.log import log

FAMILY_OF_TYPE = {
    "lir-dpr": "dpr",
    "col": "colbert",
    "splade": "splade",
    "unicoil": "unicoil",
    "coil": "coil",
    "mvr": "mvr",
    "mono": "mono",
    "set-encoder": "set-encoder",
}

# Lightning IR head weights -> the boltir model's (backbone weights go under the boltir model's backbone)
HEADS = {
    "dpr": {"projection.": "projection."},
    "colbert": {"projection.": "projection."},
    "splade": {"projection.": "encoder.cls."},  # the masked-LM head: projection.predictions.* (decoder tied)
    "unicoil": {"token_projection.": "weight_head."},
    "coil": {"cls_projection.": "cls_projection.", "token_projection.": "token_projection."},
    "mvr": {"projection.": "projection."},
    "mono": {"linear.": "head.out.", "bert_pool.0.": "head.dense."},
    "set-encoder": {"linear.": "head.out."},
    "mono-t5": {"linear.": "head."},
}


def is_lightning_ir(config: dict[str, Any]) -> bool:
    """Whether a ``config.json`` was written by Lightning IR."""
    return config.get("model_type") in FAMILY_OF_TYPE and "backbone_model_type" in config


def family_name(config: dict[str, Any]) -> str:
    """The boltir family a Lightning IR folder loads as (a mono model on T5 is boltir's encoder-decoder
    re-ranker)."""
    if config["model_type"] == "mono" and config.get("backbone_model_type") == "t5":
        return "mono-t5"
    return FAMILY_OF_TYPE[config["model_type"]]


def backbone_config(config: dict[str, Any]) -> Any:
    """The backbone's config from the keys Lightning IR writes flat beside its own."""
    from transformers import AutoConfig

    kind = config["backbone_model_type"]
    own = AutoConfig.for_model(kind).to_dict()
    skip = {"model_type", "architectures", "transformers_version", "name_or_path", "_name_or_path"}
    return AutoConfig.for_model(kind, **{k: config[k] for k in own if k in config and k not in skip})


def load_tokenizer(path: str, name: str) -> Any:
    """The backbone's own tokenizer class (``backbone_tokenizer_class``) over the saved files."""
    import transformers

    cfg_file = Path(path) / "tokenizer_config.json"
    cfg = json.loads(cfg_file.read_text()) if cfg_file.is_file() else {}
    cls_name = cfg.get("backbone_tokenizer_class")
    candidates = [cls_name, cls_name.removesuffix("Fast")] if cls_name else []
    for candidate in candidates:
        cls = getattr(transformers, candidate, None)
        if cls is not None:
            return _as_saved(cls.from_pretrained(path), Path(path))
    from boltir.models.sources import load_tokenizer as plain

    log.info(f"{name}: tokenizer class {cls_name!r} unknown to transformers; loading with AutoTokenizer")
    return plain(path, name)


def _as_saved(tokenizer: Any, folder: Path) -> Any:
    """A T5 tokenizer with the pre-tokenizer its ``tokenizer.json`` was saved with: transformers 5 rebuilds T5's as
    whitespace split + Metaspace, which drops a lone space between special tokens (``caf<unk> <unk>``) where the
    saved one (and Lightning IR, on transformers 4) keeps it as ``▁``; Lightning IR re-encodes decoded text, so
    such spaces reach the model."""
    saved = folder / "tokenizer.json"
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or not saved.is_file() or "T5" not in type(tokenizer).__name__:
        return tokenizer
    from tokenizers import Tokenizer

    backend.pre_tokenizer = Tokenizer.from_file(str(saved)).pre_tokenizer
    return tokenizer


ANY = None  # a key whose every value boltir reproduces (it maps the value, or the value does not change scores)
# keys every Lightning IR config may hold: adapters (refused when in use), lengths, the backbone's type
COMMON_KEYS: dict[str, tuple[Any, ...] | None] = {
    "backbone_model_type": ANY,
    "query_length": ANY,
    "doc_length": ANY,
    "use_adapter": (False, None),
    "adapter_config": ANY,  # used only with use_adapter
    "pretrained_adapter_name_or_path": ANY,  # used only with use_adapter
    "position_embedding_type": ("absolute", None),  # a BERT key transformers 4 wrote; other values change scores
    "decoder_start_token_id": ANY,  # T5's
    "k_train": ANY,  # training only
}
_BI_COMMON = {"similarity_function": ("dot",), "normalization_strategy": (None,), "sparsification_strategy": (None,)}
# what COIL and MVR (token-level models whose scoring boltir fixes) allow of Lightning IR's multi-vector keys
_TOKEN_COMMON: dict[str, tuple[Any, ...] | None] = {
    **_BI_COMMON,
    "add_marker_tokens": (False, None),
    "query_aggregation_function": ("sum", None),
    "doc_aggregation_function": ("max", None),
    "query_mask_scoring_tokens": (None,),
    "doc_mask_scoring_tokens": (None,),
}
# Per Lightning IR model type: every key its 0.0.6 config writes, with the values boltir reproduces (ANY: all).
# A key not listed, or a value not allowed, refuses the folder naming both (tests/models/test_lightning_ir_matrix.py
# checks the table against folders Lightning IR built with every non-default value; docs/lightning-ir.md shows it).
KEYS: dict[str, dict[str, tuple[Any, ...] | None]] = {
    "lir-dpr": {
        **_BI_COMMON,
        "similarity_function": ("dot", "cosine"),
        "normalization_strategy": ANY,  # written, but DPR normalises by normalize
        "normalize": ANY,
        "sparsification": ANY,  # written, but the sparsifier reads sparsification_strategy
        "add_marker_tokens": (False, None),
        "pooling_strategy": ("first", "mean", "max", "sum"),
        "query_pooling_strategy": ANY,  # written, but DPR pools by pooling_strategy
        "doc_pooling_strategy": ANY,
        "projection": (None, "linear", "linear_no_bias"),
        "embedding_dim": ANY,
    },
    "col": {
        **_BI_COMMON,
        "normalization_strategy": (None, "l2"),
        "sparsification_strategy": ANY,  # written, but ColBERT's embeddings are not sparsified
        "add_marker_tokens": ANY,
        "query_expansion": ANY,
        "attend_to_query_expanded_tokens": ANY,
        "doc_expansion": (False, None),
        "attend_to_doc_expanded_tokens": ANY,  # used only with doc_expansion
        "query_mask_scoring_tokens": (None,),
        "doc_mask_scoring_tokens": ANY,
        "query_aggregation_function": ("sum",),
        "doc_aggregation_function": ("max",),
        "projection": ("linear", "linear_no_bias"),
        "embedding_dim": ANY,
    },
    "splade": {
        **_BI_COMMON,
        "normalization_strategy": ANY,  # written, but SPLADE's weights are not normalised
        "sparsification_strategy": ("relu_log",),
        "pooling_strategy": ("max", "sum"),
        "query_weighting": ("contextualized",),
        "doc_weighting": ("contextualized",),
        "query_expansion": (True,),
        "doc_expansion": (True,),
        "add_marker_tokens": (False, None),
        "backbone_model_type": ("bert",),  # the masked-LM head layout the weights are mapped from
    },
    "unicoil": {
        **_BI_COMMON,
        "normalization_strategy": ANY,  # written, but uniCOIL's weights are not normalised
        "sparsification_strategy": ANY,  # written, but uniCOIL applies its own ReLU
        "pooling_strategy": ("mean",),
        "projection": ("linear",),
        "add_marker_tokens": (False, None),
    },
    "coil": {**_TOKEN_COMMON, "projection": ("linear",), "cls_embedding_dim": ANY, "token_embedding_dim": ANY},
    "mvr": {**_TOKEN_COMMON, "projection": ("linear", None), "num_viewer_tokens": ANY, "embedding_dim": ANY},
    "mono": {
        "pooling_strategy": ("first",),
        "_bert_pool": ANY,
        "linear_bias": ANY,
        "scoring_strategy": ("mono", "rank"),
        "tokenizer_pattern": (None,),
    },
    "set-encoder": {
        "pooling_strategy": ("first",),
        "_bert_pool": ANY,
        "linear_bias": ANY,
        "scoring_strategy": ("rank", None),
        "tokenizer_pattern": (None,),
        "add_extra_token": ANY,
        "depth": ANY,
        "sample_missing_docs": ANY,  # off in boltir (random padding), said in a log line
    },
}


def check_keys(name: str, config: dict[str, Any]) -> None:
    """Refuse a Lightning IR folder whose config holds a key, or a value of a key, that boltir does not reproduce.

    Raises:
        FamilyError: naming the key and value, and the values boltir reproduces.
    """
    from transformers import AutoConfig, PreTrainedConfig

    kind = config["model_type"]
    known = {**COMMON_KEYS, **KEYS[kind]}
    ignore = set(PreTrainedConfig().to_dict()) | set(AutoConfig.for_model(config["backbone_model_type"]).to_dict())
    for key, value in config.items():
        if key in known:
            allowed = known[key]
            if allowed is not ANY and value not in allowed:
                raise FamilyError(
                    f"{name}: Lightning IR {kind} setting {key}={value!r} is not supported by boltir "
                    f"(supported: {', '.join(repr(a) for a in allowed)})"
                )
        elif key not in ignore:
            raise FamilyError(
                f"{name}: Lightning IR {kind} setting {key}={value!r} is unknown to boltir, which cannot tell whether "
                "it changes the scores; the folder is refused"
            )


def _projection(name: str, config: dict[str, Any]) -> tuple[bool, bool]:
    """(has a projection layer, with bias) from Lightning IR's ``projection``."""
    return config.get("projection") is not None, config.get("projection") == "linear"


def _token_ids(tokenizer: Any, tokens: list[str], name: str) -> list[int]:
    vocab = tokenizer.get_vocab()
    missing = [t for t in tokens if t not in vocab]
    if missing:
        raise FamilyError(f"{name}: the tokenizer lacks {', '.join(missing)}, which the Lightning IR config needs")
    return [vocab[t] for t in tokens]


def _projection_dim(weights: dict[str, Any], key: str = "projection.weight") -> int | None:
    """The projection's output size (Lightning IR does not always write ``embedding_dim`` into config.json)."""
    return int(weights[key].shape[0]) if key in weights else None


def _dpr(config: dict[str, Any], tokenizer: Any, name: str, weights: dict[str, Any]) -> dict[str, Any]:
    # the model pools by pooling_strategy (query_/doc_pooling_strategy are written but unused) and normalises
    # by normalize; a sparsifier boltir's DPR has not
    has, bias = _projection(name, config)
    return {
        "pooling": config.get("pooling_strategy", "mean"),
        "projection_dim": _projection_dim(weights) if has else None,
        "projection_bias": bias,
        "normalize": bool(config.get("normalize")),
        "similarity": config.get("similarity_function", "dot"),
    }


def _colbert(config: dict[str, Any], tokenizer: Any, name: str, weights: dict[str, Any]) -> dict[str, Any]:
    has, bias = _projection(name, config)
    if not has:
        raise FamilyError(f"{name}: a Lightning IR ColBERT without projection is not supported by boltir")
    markers = bool(config.get("add_marker_tokens"))
    skip = config.get("doc_mask_scoring_tokens")
    if skip == "punctuation":
        skip = list(string.punctuation)
    query_marker, doc_marker = _token_ids(tokenizer, ["[QUE]", "[DOC]"], name) if markers else (None, None)
    return {
        "embedding_dim": _projection_dim(weights),
        "projection_bias": bias,
        "normalize": config.get("normalization_strategy") == "l2",
        # Lightning IR's lengths count the marker token, boltir's do not
        "query_length": config.get("query_length", 32) - markers,
        "doc_length": config.get("doc_length", 512) - markers,
        "query_marker_id": query_marker,
        "doc_marker_id": doc_marker,
        "mask_token_id": tokenizer.mask_token_id if config.get("query_expansion") else None,
        "pad_token_id": tokenizer.pad_token_id or 0,
        "query_expansion": bool(config.get("query_expansion")),
        "attend_to_expansion": bool(config.get("attend_to_query_expanded_tokens")),
        "skip_ids": _token_ids(tokenizer, skip, name) if skip else None,
    }


def _splade(config: dict[str, Any], tokenizer: Any, name: str, weights: dict[str, Any]) -> dict[str, Any]:
    return {"pooling": config.get("pooling_strategy", "max"), "skip_ids": None}


def _unicoil(config: dict[str, Any], tokenizer: Any, name: str, weights: dict[str, Any]) -> dict[str, Any]:
    # every token counts (special ones too) and a repeated term keeps its last occurrence's weight
    return {"skip_ids": None, "repeated_terms": "last"}


def _coil(config: dict[str, Any], tokenizer: Any, name: str, weights: dict[str, Any]) -> dict[str, Any]:
    # tokens after [CLS] match ([SEP] too); a query token without a positive match scores 0
    return {
        "cls_dim": _projection_dim(weights, "cls_projection.weight"),
        "token_dim": _projection_dim(weights, "token_projection.weight"),
        "skip_ids": [tokenizer.cls_token_id],
        "match_floor": 0.0,
    }


def _mvr(config: dict[str, Any], tokenizer: Any, name: str, weights: dict[str, Any]) -> dict[str, Any]:
    views = config.get("num_viewer_tokens") or 0
    has, _ = _projection(name, config)
    return {
        "view_token_ids": _token_ids(tokenizer, [f"[VIE{i}]" for i in range(views)], name),
        "projection_dim": _projection_dim(weights) if has else None,
        "doc_length": config.get("doc_length", 512) - views,  # Lightning IR's length counts the view tokens
    }


def _cross_encoder(config: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        "head_activation": "tanh" if config.get("_bert_pool") else None,
        "head_bias": bool(config.get("linear_bias")),
        "num_outputs": 2 if config.get("scoring_strategy") == "mono" else 1,
        "two_logit_score": "log_softmax",
    }


def _mono(config: dict[str, Any], tokenizer: Any, name: str, weights: dict[str, Any]) -> dict[str, Any]:
    return _cross_encoder(config, name)


def _set_encoder(config: dict[str, Any], tokenizer: Any, name: str, weights: dict[str, Any]) -> dict[str, Any]:
    settings = _cross_encoder(config, name)
    if config.get("sample_missing_docs"):
        log.info(
            f"{name}: sample_missing_docs is off in boltir (the saved model pads short lists with random passages, "
            "which makes scores random); pass sample_missing_docs=True to turn it on"
        )
    settings.update(
        int_token_id=_token_ids(tokenizer, ["[INT]"], name)[0] if config.get("add_extra_token") else None,
        depth=config.get("depth", 100),
        sample_missing_docs=False,
    )
    return settings


# Lightning IR's T5 prompts, as token pieces: "▁ Query : <q> ▁Document : <d> [▁Relevan t :] </s>"
T5_TEMPLATE = {
    "mono": [["\u2581", "Query", ":"], ["\u2581Document", ":"], ["\u2581Relevan", "t", ":"]],
    "rank": [["\u2581", "Query", ":"], ["\u2581Document", ":"], []],
}


def _mono_t5(config: dict[str, Any], tokenizer: Any, name: str, weights: dict[str, Any]) -> dict[str, Any]:
    template = T5_TEMPLATE[config["scoring_strategy"]]
    return {
        "head": "decoder_linear",
        "num_outputs": 2 if config["scoring_strategy"] == "mono" else 1,
        "head_bias": bool(config.get("linear_bias")),
        "template_ids": [_token_ids(tokenizer, part, name) for part in template],
        "truncate_by_decoding": True,  # Lightning IR cuts, decodes and re-encodes each text
    }


SETTINGS: dict[str, Callable[[dict[str, Any], Any, str, dict[str, Any]], dict[str, Any]]] = {
    "dpr": _dpr,
    "colbert": _colbert,
    "splade": _splade,
    "unicoil": _unicoil,
    "coil": _coil,
    "mvr": _mvr,
    "mono": _mono,
    "set-encoder": _set_encoder,
    "mono-t5": _mono_t5,
}


def saved_weights(path: str) -> dict[str, Any]:
    """The state dict saved in a Lightning IR folder (safetensors or a PyTorch file)."""
    import torch

    folder = Path(path)
    if (folder / "model.safetensors").is_file():
        from safetensors.torch import load_file

        return load_file(str(folder / "model.safetensors"))
    if (folder / "pytorch_model.bin").is_file():
        return torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    raise FamilyError(f"{path}: a Lightning IR folder without model.safetensors or pytorch_model.bin")


def renamed(weights: dict[str, Any], model: Any, family: str) -> dict[str, Any]:
    """Lightning IR weight names -> the boltir model's."""
    backbone = model.encoder
    base = backbone.base_model
    prefix = "encoder." + ("" if base is backbone else f"{backbone.base_model_prefix}.")
    heads = HEADS[family]
    out = {}
    for key, value in weights.items():
        head = next((h for h in heads if key.startswith(h)), None)
        out[heads[head] + key[len(head) :] if head else prefix + key] = value
    return out


def load(path: str, config: dict[str, Any], name: str, family: Any, overrides: dict[str, Any]):
    """``(model, tokenizer)`` of a Lightning IR folder as the boltir ``family`` it maps to; ``overrides`` change
    the settings the family lets a saved model change."""
    from boltir.models.base import seeded

    check_keys(name, config)
    tokenizer = load_tokenizer(path, name)
    weights = saved_weights(path)
    settings = SETTINGS[family.name](config, tokenizer, name, weights)
    settings["query_length"] = settings.get("query_length", config.get("query_length"))
    settings["doc_length"] = settings.get("doc_length", config.get("doc_length"))
    refused = sorted(k for k, v in overrides.items() if k not in family.overridable and settings.get(k) != v)
    if refused:
        raise FamilyError(
            f"{name} is a Lightning IR {family.name} model; cannot change {', '.join(refused)} (it may change only "
            f"{', '.join(sorted(family.overridable))})"
        )
    settings.update(overrides)
    settings = {k: v for k, v in settings.items() if v is not None or k not in ("query_length", "doc_length")}
    with seeded(0):
        model = family.model_cls()(family.config_cls()(encoder=backbone_config(config).to_dict(), **settings))
    missing, unexpected = model.load_state_dict(renamed(weights, model, family.name), strict=False)
    # tied to the word embeddings, so not saved: the MLM decoder, T5's per-stack token embeddings
    tied = {k for k in missing if k.endswith(("decoder.weight", "decoder.bias", "embed_tokens.weight"))}
    missing = [k for k in missing if k not in tied]
    if missing or unexpected:
        raise FamilyError(
            f"{name}: the Lightning IR {config['model_type']} weights do not fit a boltir {family.name} model "
            f"(missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    if tied:
        model.encoder.tie_weights()
    model.config.name_or_path = str(name)
    return model, tokenizer
