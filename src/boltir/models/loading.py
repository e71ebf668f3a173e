"""Load any boltir model by short name, folder or Hub id through one code path.

A saved boltir folder is restored exactly, with only the settings its family declares overridable changed; a
folder of another family is refused with both families named (unless the family asked for converts it, as the
Set-Encoder converts a mono model); anything else (a plain backbone, a sentence-transformers folder, a masked-LM,
a classifier checkpoint) goes to the family's builder. Which family a folder is, and what each family's builder
and settings are, comes from :mod:`boltir.registry`.
"""

from __future__ import annotations

from typing import Any

from boltir.errors import FamilyError
from boltir.models.sources import config_json, load_tokenizer, model_source, resolve_model
from boltir.registry import Family, detect_foreign, family_of_model_type, get_family, resolve


def saved_family(name_or_path: str) -> Family | None:
    """The family of a saved boltir or Lightning IR folder, or None for anything else."""
    return own_family(config_json(resolve_model(name_or_path)))


def detect_family(name_or_path: str) -> Family:
    """The family a model loads as when none is asked for: a saved folder's own family (boltir's or Lightning
    IR's), else what the registry reads the folder as (masked-LMs as SPLADE, classifiers as mono, ...; a plain
    backbone as DPR)."""
    _, config = model_source(name_or_path)
    return own_family(config) or detect_foreign(config)


def own_family(config: dict[str, Any]) -> Family | None:
    """The family a folder was saved as, by boltir or by Lightning IR; None for anything else."""
    from boltir.models import lightning_ir

    if lightning_ir.is_lightning_ir(config):
        return get_family(lightning_ir.family_name(config))
    return family_of_model_type(config.get("model_type"))


def family_for(name_or_path: str, family: str, role: str) -> Family:
    """The family a training module builds: ``family`` (a registered name) or, for ``auto``, the model's own; it
    must have ``role`` (bi-encoder or cross-encoder)."""
    fam = detect_family(name_or_path) if family == "auto" else get_family(family)
    if fam.role != role:
        raise FamilyError(f"family {fam.name!r} is a {fam.role}; this module trains {role}s")
    return fam


def restore_saved(family: Family, path: str, name: str, overrides: dict[str, Any]):
    """A saved folder of ``family`` restored exactly; overrides that change a setting the family does not
    declare overridable are refused (giving a setting its saved value is not a change)."""
    cls = family.model_cls()
    saved = family.config_cls().from_pretrained(path)
    missing = object()
    changes = {k: v for k, v in overrides.items() if getattr(saved, k, missing) != v}
    refused = sorted(set(changes) - family.overridable)
    if refused:
        raise FamilyError(
            f"{name} is a saved {family.name} model; cannot change {', '.join(refused)} (a saved "
            f"{family.name} model may change only {', '.join(sorted(family.overridable))})"
        )
    for k, v in changes.items():
        setattr(saved, k, v)
    model = cls.from_pretrained(path, config=saved)
    check = getattr(model, "check_config", None)
    if check is not None:
        check(model.config)
    return model


def check_settings(family: Family, name: str, settings: dict[str, Any]) -> None:
    """Refuse settings a new model of ``family`` does not have (configs would otherwise keep them silently)."""
    import dataclasses

    allowed = {f.name for f in dataclasses.fields(family.config_cls())} | set(family.builder_settings)
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise FamilyError(f"{name}: {', '.join(unknown)} is not a setting of a {family.name} model")


def load_module(
    name_or_path: str, family: str | None = None, seed: int = 0, display_name: str | None = None, **overrides: Any
):
    """``(model, tokenizer)`` of any family, in eval mode, the tokenizer also attached as ``model.tokenizer``.

    ``family`` (a registered name) asks for a family; None takes the folder's own (see :func:`detect_family`).
    ``overrides`` set config fields: for a new model any of its family's settings, for a saved folder only the
    ones its family declares overridable. ``None`` values are ignored. Fresh heads are drawn from ``seed``. A LoRA
    adapter folder loads its base with the adapter on it (``merge=True`` folds the adapter in).
    """
    from transformers.utils import logging as hf_logging

    from boltir.models.hf_auto import register_auto_classes

    register_auto_classes()
    hf_logging.disable_progress_bar()
    name = display_name or str(name_or_path)
    path, config = model_source(name_or_path)
    merge = bool(overrides.pop("merge", False))
    from boltir.models import adapters

    if adapters.is_adapter(path):
        own = family_of_model_type(config.get("model_type"))
        if family and own is not None and get_family(family).name != own.name:
            raise FamilyError(f"{name} is a LoRA adapter of a {own.name} model, not a {get_family(family).name} one")
        base_family = own.name if own is not None else family
        base, _ = load_module(adapters.adapter_base(path), family=base_family)
        model, tokenizer = adapters.load_adapter(path, name, base, merge=merge), load_tokenizer(path, name)
        model.tokenizer = tokenizer
        return model, tokenizer
    saved = family_of_model_type(config.get("model_type"))
    want = get_family(family) if family else (own_family(config) or detect_foreign(config))
    overrides = {k: v for k, v in overrides.items() if v is not None}
    from boltir.models import lightning_ir

    if lightning_ir.is_lightning_ir(config):
        own = get_family(lightning_ir.family_name(config))
        if own.name != want.name:
            raise FamilyError(
                f"{name} holds a Lightning IR {config['model_type']} model (boltir family {own.name}), not a "
                f"{want.name} one; load it as {own.name} (or leave the family out)"
            )
        model, tokenizer = lightning_ir.load(path, config, name, own, overrides)
    elif saved is not None and saved.name == want.name:
        model, tokenizer = restore_saved(want, path, name, overrides), load_tokenizer(path, name)
    elif saved is not None and saved.name not in want.converts_from:
        raise FamilyError(
            f"{name} holds a saved {saved.name} model, not a {want.name} one; load it as "
            f"{saved.name} (or leave the family out)"
        )
    else:
        check_settings(want, name, overrides)
        model, tokenizer = resolve(want.builder)(path, name, load_tokenizer(path, name), seed, dict(overrides))
    model.tokenizer = tokenizer
    return model.eval(), tokenizer


def _family_loader(family: str, doc: str):
    def load(name_or_path: str, seed: int = 0, **overrides: Any):
        return load_module(name_or_path, family=family, seed=seed, **overrides)

    load.__name__ = load.__qualname__ = f"load_{family.replace('-', '_')}"
    load.__doc__ = f"``(model, tokenizer)`` of the {family} family: {doc} (see :func:`load_model`)."
    return load


load_bi_encoder = _family_loader(
    "dpr",
    "a saved DPR folder, or a new model around a backbone or a "
    "sentence-transformers folder (pooling and normalisation read from it)",
)
load_splade = _family_loader("splade", "a saved SPLADE folder or any masked-LM checkpoint")
load_unicoil = _family_loader("unicoil", "a saved uniCOIL folder, or a new one around a backbone")
load_colbert = _family_loader("colbert", "a saved ColBERT folder, a Stanford ColBERT checkpoint, or a backbone")
load_coil = _family_loader("coil", "a saved COIL folder, or a new one around a backbone")
load_mvr = _family_loader("mvr", "a saved MVR folder, or a new one around a backbone (``views`` view tokens)")
load_cross_encoder = _family_loader(
    "mono", "a saved mono folder, a ``*ForSequenceClassification`` checkpoint or a backbone"
)
load_set_encoder = _family_loader("set-encoder", "a saved Set-Encoder, or one built from any mono source")
load_sparse_cross_encoder = _family_loader(
    "sparse-ce", "a saved sparse cross-encoder, or one built from any mono source with the pattern given as settings"
)
