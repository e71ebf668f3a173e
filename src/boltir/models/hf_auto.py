"""Register boltir's model types with transformers' Auto classes, so ``AutoConfig`` / ``AutoModel.from_pretrained``
read a saved boltir folder. Registration is explicit: :func:`register_auto_classes` runs whenever boltir loads a model
(:func:`boltir.models.loading.load_module`) and users call it as ``boltir.register_auto_classes()``; families
registered later (from user code) are registered with the Auto classes as they arrive. ``import boltir`` alone
imports neither torch nor transformers."""

from __future__ import annotations

from typing import Any

from boltir.errors import FamilyError
from boltir.registry import FAMILIES, Family, on_register, resolve

_state = {"done": False}


def register(config_cls: Any, model_cls: Any) -> None:
    """Register one config class and its model class with ``AutoConfig`` and ``AutoModel``."""
    from transformers import AutoConfig, AutoModel

    AutoConfig.register(config_cls.model_type, config_cls, exist_ok=True)
    AutoModel.register(config_cls, model_cls, exist_ok=True)


def register_family_classes(family: Family) -> None:
    """Register a family's config and model classes.

    Raises:
        FamilyError: the config class's ``model_type`` is not the one the registry records.
    """
    config_cls = resolve(family.config_class)
    if config_cls.model_type != family.model_type:
        raise FamilyError(
            f"family {family.name!r}: {config_cls.__name__}.model_type is {config_cls.model_type!r}, "
            f"the registry says {family.model_type!r}"
        )
    register(config_cls, resolve(family.model_class))


def register_auto_classes() -> None:
    """Register every family's classes with the Auto classes (once; later families as they are registered)."""
    if _state["done"]:
        return
    _state["done"] = True
    for fam in list(FAMILIES.values()):
        register_family_classes(fam)
    on_register(register_family_classes)
