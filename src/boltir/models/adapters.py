"""LoRA adapters (through ``peft``) on the backbone of any family: train a few low-rank matrices instead of every
weight, save only them (plus the family's small heads), load base + adapter, and merge them into plain weights.

An adapter folder holds the model's boltir ``config.json`` and tokenizer, ``adapter_config.json`` (peft's LoRA
config plus ``base_model_name_or_path``: where the frozen weights come from), ``adapter_model.safetensors`` (the LoRA
matrices under peft's own key names, so ``peft.PeftModel.from_pretrained(backbone, folder)`` also reads them) and
``heads.safetensors`` (the family's heads, trained in full).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from boltir.errors import ConfigError

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
HEAD_WEIGHTS = "heads.safetensors"


@dataclass
class LoraSettings:
    """``r``: rank; ``alpha``: scale (the update is ``alpha / r * B A``); ``dropout`` on the adapter input;
    ``target_modules``: names of the backbone's linear layers to adapt (default: peft's choice for the backbone
    type, e.g. ``query`` and ``value`` for BERT/ELECTRA, ``q`` and ``v`` for T5)."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: list[str] | None = field(default=None)


def _targets(backbone: Any, settings: LoraSettings) -> list[str]:
    if settings.target_modules:
        return list(settings.target_modules)
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as DEFAULTS

    kind = backbone.config.model_type
    if kind not in DEFAULTS:
        raise ConfigError(f"no default LoRA target modules for a {kind} backbone: set peft.target_modules")
    return list(DEFAULTS[kind])


def attach_lora(model: Any, settings: LoraSettings) -> Any:
    """Put LoRA layers into ``model.encoder`` (the backbone) in place; the backbone's own weights are frozen, the
    family's heads stay trainable."""
    try:
        from peft import LoraConfig, inject_adapter_in_model
    except ImportError:
        raise ModuleNotFoundError("LoRA adapters need peft: pip install 'boltir[peft]'", name="peft") from None
    if settings.r <= 0:
        raise ConfigError(f"peft.r={settings.r}: the LoRA rank must be positive")
    targets = _targets(model.encoder, settings)
    config = LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout, target_modules=targets)
    try:
        inject_adapter_in_model(config, model.encoder)
    except ValueError as e:  # e.g. target modules the backbone does not have
        raise ConfigError(f"peft: {e}") from None
    for name, p in model.encoder.named_parameters():
        p.requires_grad = "lora_" in name
    model.lora_settings = LoraSettings(settings.r, settings.alpha, settings.dropout, targets)
    return model


def has_lora(model: Any) -> bool:
    """Whether :func:`attach_lora` put (unmerged) adapters into ``model``."""
    return getattr(model, "lora_settings", None) is not None


def merge_lora(model: Any) -> Any:
    """Fold every LoRA update into its base layer and put the plain layer back (same outputs, no peft left)."""
    from peft.tuners.lora import LoraLayer

    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLayer):
            module.merge()
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name) if parent_name else model, child, module.get_base_layer())
    if hasattr(model, "lora_settings"):
        del model.lora_settings
    return model


def adapter_weights(model: Any) -> dict[str, Any]:
    """The LoRA matrices of the backbone under peft's key names (``base_model.model.<path>.lora_A.weight``)."""
    return {
        "base_model.model." + k.replace(".default", ""): v.detach().cpu().contiguous()
        for k, v in model.encoder.state_dict().items()
        if "lora_" in k
    }


def head_weights(model: Any) -> dict[str, Any]:
    """Every weight outside the backbone (the family's heads)."""
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items() if not k.startswith("encoder.")}


def save_adapter(model: Any, tokenizer: Any, path: str | Path, base: str) -> Path:
    """Write the adapter folder atomically; ``base``: the model the frozen weights come from (a short name, a
    folder or a Hub id)."""
    from safetensors.torch import save_file

    from boltir.utils.atomic import atomic_dir

    settings: LoraSettings = model.lora_settings
    path = Path(path)
    with atomic_dir(path) as tmp:
        model.config.save_pretrained(tmp)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        spec = {
            "peft_type": "LORA",
            "base_model_name_or_path": str(base),
            "r": settings.r,
            "lora_alpha": settings.alpha,
            "lora_dropout": settings.dropout,
            "target_modules": settings.target_modules,
            "bias": "none",
        }
        (tmp / ADAPTER_CONFIG).write_text(json.dumps(spec, indent=2) + "\n")
        save_file(adapter_weights(model), str(tmp / ADAPTER_WEIGHTS))
        save_file(head_weights(model), str(tmp / HEAD_WEIGHTS))
        (tmp / "README.md").write_text(
            f"# LoRA adapter ({model.config.model_type})\n\nrank {settings.r}, alpha {settings.alpha}, on "
            f"{', '.join(settings.target_modules or [])} of `{base}`.\n\n"
            f'```python\nimport boltir\nmodel = boltir.load_model("{path.name}")            # base + adapter\n'
            f'merged = boltir.load_model("{path.name}", merge=True)  # adapter folded in\n```\n',
            encoding="utf-8",
        )
    return path


def is_adapter(path: str) -> bool:
    """Whether a folder holds a boltir LoRA adapter (adapter config and head weights)."""
    return (Path(path) / ADAPTER_CONFIG).is_file() and (Path(path) / HEAD_WEIGHTS).is_file()


def adapter_base(path: str) -> str:
    """The base model (name or path) an adapter folder was trained on."""
    return json.loads((Path(path) / ADAPTER_CONFIG).read_text())["base_model_name_or_path"]


def load_adapter(path: str, name: str, base: Any, merge: bool = False) -> Any:
    """The model of an adapter folder: ``base``'s backbone (the loaded base model of :func:`adapter_base`), the
    adapter on it (merged when ``merge``) and the heads saved with the adapter.

    Raises:
        FamilyError: the folder's config.json belongs to no boltir family.
        ValueError: the adapter's weights do not fit its base.
    """
    from safetensors.torch import load_file

    from boltir.errors import FamilyError
    from boltir.registry import family_of_model_type

    spec = json.loads((Path(path) / ADAPTER_CONFIG).read_text())
    config = json.loads((Path(path) / "config.json").read_text())
    family = family_of_model_type(config.get("model_type"))
    if family is None:
        raise FamilyError(f"{name}: {ADAPTER_CONFIG} beside a config.json of no boltir family")
    model = family.model_cls()(family.config_cls().from_pretrained(path))
    model.encoder.load_state_dict(base.encoder.state_dict())
    settings = LoraSettings(spec["r"], spec["lora_alpha"], spec.get("lora_dropout", 0.0), spec["target_modules"])
    attach_lora(model, settings)
    lora = {k.removeprefix("base_model.model."): v for k, v in load_file(str(Path(path) / ADAPTER_WEIGHTS)).items()}
    lora = {
        k.replace(".lora_A.", ".lora_A.default.").replace(".lora_B.", ".lora_B.default."): v for k, v in lora.items()
    }
    missing, unexpected = model.encoder.load_state_dict(lora, strict=False)
    missing = [k for k in missing if "lora_" in k]
    heads = load_file(str(Path(path) / HEAD_WEIGHTS))
    head_missing, head_unexpected = model.load_state_dict(heads, strict=False)
    head_missing = [k for k in head_missing if not k.startswith("encoder.")]
    if missing or unexpected or head_missing or head_unexpected:
        raise ConfigError(
            f"{name}: the adapter does not fit its base {spec['base_model_name_or_path']!r} "
            f"(missing {(missing + head_missing)[:5]}, unexpected {(unexpected + head_unexpected)[:5]})"
        )
    if merge:
        merge_lora(model)
    model.config.name_or_path = str(name)
    return model.eval()


__all__ = [
    "LoraSettings",
    "adapter_base",
    "attach_lora",
    "has_lora",
    "is_adapter",
    "load_adapter",
    "merge_lora",
    "save_adapter",
]
