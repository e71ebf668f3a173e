"""How each family builds a NEW model: around a plain backbone (fresh heads drawn from ``seed``, so the same call
always gives the same weights), or from a foreign checkpoint of the family (a sentence-transformers folder, a
masked-LM, a Stanford ColBERT checkpoint, a ``*ForSequenceClassification`` folder), or, for the Set-Encoder and
the sparse cross-encoder, from any mono source. Saved boltir folders are restored by :mod:`boltir.models.loading`,
never here. Every builder has the signature ``(path, name, tokenizer, seed, settings) -> (model, tokenizer)``;
the registry names each family's builder."""

from __future__ import annotations

import contextlib
import json
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from boltir.models.loading import config_json, optional_file


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Random draws inside come from ``seed``; the global generator is left as it was."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


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
        raise RuntimeError(f"{name}: backbone weights do not fit (missing {missing[:5]}, unexpected {unexpected[:5]})")
    model.config.name_or_path = str(name)
    return model


def sentence_transformers_settings(name_or_path: str) -> dict[str, Any]:
    """DprConfig settings read from a sentence-transformers folder (pooling, normalisation, dense layer)."""
    modules_file = optional_file(name_or_path, "modules.json")
    if modules_file is None:
        return {}
    settings: dict[str, Any] = {}
    for module in json.loads(modules_file.read_text()):
        kind = module["type"].rsplit(".", 1)[-1]
        if kind == "Pooling":
            cfg_file = optional_file(name_or_path, f"{module['path']}/config.json")
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


def punctuation_ids(tokenizer: Any) -> list[int]:
    vocab = tokenizer.get_vocab()
    return sorted({vocab[c] for c in string.punctuation if c in vocab})


def build_dpr(path: str, name: str, tokenizer: Any, seed: int, settings: dict[str, Any]):
    from boltir.models.bi_encoders.dpr import DprConfig, DprModel

    settings = {**sentence_transformers_settings(path), **settings}
    return around_backbone(DprModel, DprConfig, path, name, seed, settings), tokenizer


def build_splade(path: str, name: str, tokenizer: Any, seed: int, settings: dict[str, Any]):
    """From any masked-LM checkpoint (e.g. ``splade-tiny``): its MLM head becomes the vocabulary projection (from a
    backbone without one, the head is drawn from ``seed``)."""
    from transformers import AutoModelForMaskedLM

    from boltir.models.bi_encoders.splade import SpladeConfig, SpladeModel

    with seeded(seed):
        backbone = AutoModelForMaskedLM.from_pretrained(path)
    model = SpladeModel(
        SpladeConfig(encoder=backbone.config.to_dict(), **{"skip_ids": list(tokenizer.all_special_ids), **settings})
    )
    missing, unexpected = model.encoder.load_state_dict(backbone.state_dict(), strict=False)
    if missing or unexpected:
        raise RuntimeError(f"{name}: masked-LM weights do not fit (missing {missing[:5]}, unexpected {unexpected[:5]})")
    model.config.name_or_path = str(name)
    return model, tokenizer


def build_unicoil(path: str, name: str, tokenizer: Any, seed: int, settings: dict[str, Any]):
    from boltir.models.bi_encoders.unicoil import UniCoilConfig, UniCoilModel

    settings = {"skip_ids": list(tokenizer.all_special_ids), **settings}
    return around_backbone(UniCoilModel, UniCoilConfig, path, name, seed, settings), tokenizer


def colbert_token_settings(tokenizer: Any) -> dict[str, Any]:
    """Marker ids ([unused0] / [unused1] where the vocabulary has them), [MASK] and the punctuation skip-list."""
    vocab = tokenizer.get_vocab()
    return {
        "query_marker_id": vocab.get("[unused0]"),
        "doc_marker_id": vocab.get("[unused1]"),
        "mask_token_id": tokenizer.mask_token_id,
        "pad_token_id": tokenizer.pad_token_id or 0,
        "skip_ids": punctuation_ids(tokenizer),
    }


def stanford_colbert_state(path: str) -> dict[str, Any] | None:
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


def build_colbert(path: str, name: str, tokenizer: Any, seed: int, settings: dict[str, Any]):
    """From a Stanford ColBERT checkpoint folder (BERT + ``linear`` layer, e.g. colbert-ir/colbertv2.0 once
    downloaded), or around a plain backbone with a fresh projection."""
    import torch
    from transformers import AutoConfig

    from boltir.models.bi_encoders.colbert import ColbertConfig, ColbertModel

    settings = {**colbert_token_settings(tokenizer), **settings}
    stanford = stanford_colbert_state(path) if Path(path).is_dir() else None
    if stanford is None:
        return around_backbone(ColbertModel, ColbertConfig, path, name, seed, settings), tokenizer
    enc_cfg = AutoConfig.from_pretrained(path)
    dim = stanford["linear.weight"].shape[0]
    model = ColbertModel(ColbertConfig(encoder=enc_cfg.to_dict(), **{"embedding_dim": dim, **settings}))
    enc_state = {
        k[len("bert.") :]: v for k, v in stanford.items() if k.startswith("bert.") and not k.startswith("bert.pooler")
    }
    missing, unexpected = model.encoder.load_state_dict(enc_state, strict=False)
    if missing or unexpected:
        raise RuntimeError(
            f"{name}: ColBERT checkpoint does not fit (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    with torch.no_grad():
        model.projection.weight.copy_(stanford["linear.weight"])
    model.config.name_or_path = str(name)
    return model, tokenizer


def build_coil(path: str, name: str, tokenizer: Any, seed: int, settings: dict[str, Any]):
    from boltir.models.bi_encoders.coil import CoilConfig, CoilModel

    settings = {"skip_ids": sorted(set(tokenizer.all_special_ids) | set(punctuation_ids(tokenizer))), **settings}
    return around_backbone(CoilModel, CoilConfig, path, name, seed, settings), tokenizer


def build_mvr(path: str, name: str, tokenizer: Any, seed: int, settings: dict[str, Any]):
    """``views`` (default 4) view tokens taken from the vocabulary's ``[unused2]``, ``[unused3]``, ..."""
    from boltir.models.bi_encoders.mvr import MvrConfig, MvrModel

    settings = dict(settings)
    views = settings.pop("views", None) or 4
    vocab = tokenizer.get_vocab()
    ids = [vocab[f"[unused{i}]"] for i in range(2, 2 + views) if f"[unused{i}]" in vocab]
    if len(ids) < views:
        raise ValueError(f"{name}: the vocabulary lacks {views} [unusedN] tokens for MVR views")
    return around_backbone(MvrModel, MvrConfig, path, name, seed, {"view_token_ids": ids, **settings}), tokenizer


def classification_head(clf: Any) -> tuple[str | None, Any, Any]:
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


def is_classifier(path: str) -> bool:
    return any(a.endswith("ForSequenceClassification") for a in config_json(path).get("architectures") or [])


def build_mono(path: str, name: str, tokenizer: Any, seed: int, settings: dict[str, Any]):
    """From a ``*ForSequenceClassification`` checkpoint (same logits), or around a plain backbone."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from boltir.models.cross_encoders.mono import MonoConfig, MonoModel

    if not is_classifier(path):
        return around_backbone(MonoModel, MonoConfig, path, name, seed, settings), tokenizer
    clf = AutoModelForSequenceClassification.from_pretrained(path).eval()
    activation, dense, out = classification_head(clf)
    base = getattr(clf, clf.base_model_prefix)
    model = MonoModel(
        MonoConfig(
            encoder=base.config.to_dict(),
            head_activation=activation,
            num_outputs=clf.config.num_labels,
            head_bias=out.bias is not None,
            **settings,
        )
    )
    state = {k: v for k, v in base.state_dict().items() if not k.startswith("pooler.")}
    model.encoder.load_state_dict(state, strict=True)
    with torch.no_grad():
        if dense is not None and model.head.dense is not None:
            model.head.dense.load_state_dict(dense.state_dict())
        model.head.out.load_state_dict(out.state_dict())
    model.config.name_or_path = str(name)
    return model, tokenizer


def _mono_source(path: str, name: str, seed: int, settings: dict[str, Any]):
    """A mono model from any mono source: a saved mono folder, a classifier checkpoint or a plain backbone."""
    from boltir.models.loading import load_model

    return load_model(path, family="mono", seed=seed, display_name=name, **settings)


def from_mono(mono: Any, model_cls: type, config_cls: type, name: str, **settings: Any) -> Any:
    """A cross-encoder of another family holding a mono model's weights (backbone and head) and settings."""
    mc = mono.config
    keep = ("head_activation", "num_outputs", "head_bias", "query_length", "doc_length")
    config = config_cls(encoder=mono.encoder.config.to_dict(), **{k: getattr(mc, k) for k in keep}, **settings)
    model = model_cls(config)
    model.load_state_dict(mono.state_dict(), strict=True)
    model.config.name_or_path = str(name)
    return model


SET_ENCODER_ONLY = ("sample_missing_docs", "depth", "attention_backend")


def build_set_encoder(path: str, name: str, tokenizer: Any, seed: int, settings: dict[str, Any]):
    """From any mono source, with ``[INT]`` added to the tokenizer and the embeddings; a plain backbone gets a
    linear head without bias drawn from ``seed``."""
    from boltir.models.cross_encoders.set_encoder import INT_TOKEN, SetEncoder, SetEncoderConfig

    set_settings = {k: settings.pop(k) for k in SET_ENCODER_ONLY if k in settings}
    from boltir.models.loading import saved_family

    if saved_family(path) is None and not is_classifier(path):  # a plain backbone: a new head without bias
        settings.setdefault("head_bias", False)
    mono, tokenizer = _mono_source(path, name, seed, settings)
    if mono.config.num_outputs != 1:
        raise ValueError(f"{name}: a two-logit classifier cannot seed a Set-Encoder head")
    tokenizer.add_special_tokens({"additional_special_tokens": [INT_TOKEN]})
    int_id = tokenizer.convert_tokens_to_ids(INT_TOKEN)
    with seeded(seed):
        mono.encoder.resize_token_embeddings(len(tokenizer))
    return from_mono(mono, SetEncoder, SetEncoderConfig, name, int_token_id=int_id, **set_settings), tokenizer


def build_sparse_ce(path: str, name: str, tokenizer: Any, seed: int, settings: dict[str, Any]):
    """From any mono source with the attention pattern given in ``settings`` as ``pattern`` (a
    :class:`SparsePattern`) or as its fields (the published pattern by default: ``window`` 4, query tokens see
    only the query)."""
    from boltir.attention.patterns import SparsePattern
    from boltir.models.cross_encoders.sparse import SparseCrossEncoder, SparseCrossEncoderConfig

    fields = {k: settings.pop(k) for k in list(settings) if k in SparsePattern().as_dict()}
    pattern = settings.pop("pattern", None)
    if pattern is not None and fields:
        raise ValueError(f"{name}: give the attention pattern as pattern= or as {', '.join(fields)}, not both")
    pattern = pattern or SparsePattern(**fields)
    backend = settings.pop("attention_backend", "banded")
    mono, tokenizer = _mono_source(path, name, seed, settings)
    settings = {"attention_backend": backend, **pattern.as_dict()}
    return from_mono(mono, SparseCrossEncoder, SparseCrossEncoderConfig, name, **settings), tokenizer


def _single_token(tokenizer: Any, word: str, name: str) -> int:
    """The vocabulary id of ``word`` as one SentencePiece (``▁true``), as monoT5 reads it."""
    ids = tokenizer(word, add_special_tokens=False)["input_ids"]
    if len(ids) == 1:
        return int(ids[0])
    piece = tokenizer.convert_tokens_to_ids("\u2581" + word)
    if piece is None or piece == tokenizer.unk_token_id:
        raise ValueError(f"{name}: {word!r} is not one token of this tokenizer; monoT5 scores with its logit")
    return int(piece)


def build_mono_t5(path: str, name: str, tokenizer: Any, seed: int, settings: dict[str, Any]):
    """From a T5 checkpoint (castorini monoT5 ``T5ForConditionalGeneration`` folders give their own scores):
    ``head`` true_false (default), token (RankT5 encoder-decoder, ``<extra_id_10>`` unless ``score_token_id``) or
    encoder (RankT5 encoder-only, a new linear head drawn from ``seed``)."""
    import transformers

    from boltir.models.cross_encoders.mono_t5 import MonoT5, MonoT5Config

    head = settings.get("head", "true_false")
    if head == "true_false":
        settings.setdefault("true_token_id", _single_token(tokenizer, "true", name))
        settings.setdefault("false_token_id", _single_token(tokenizer, "false", name))
    elif head == "token" and settings.get("score_token_id") is None:
        settings["score_token_id"] = tokenizer.convert_tokens_to_ids("<extra_id_10>")
    backbone_cls = transformers.T5EncoderModel if head == "encoder" else transformers.T5ForConditionalGeneration
    backbone = backbone_cls.from_pretrained(path)
    with seeded(seed):
        model = MonoT5(MonoT5Config(encoder=backbone.config.to_dict(), **settings))
    model.encoder.load_state_dict(backbone.state_dict())
    model.config.name_or_path = str(name)
    return model, tokenizer
