"""Register every family's config and model classes with transformers' Auto classes, so
``AutoModel.from_pretrained(folder)`` returns boltir models after ``import boltir``.

Registration runs when transformers is first imported (see ``boltir._hf_registration``). If a model module is being
imported at that moment (it imports transformers on its way in), importing the others could close an import
cycle, so registration waits: every model module calls ``register_all`` on its last line, and the last one to
finish registers everything. The order of imports therefore never matters. Families registered later (from user
code) are registered with the Auto classes as they arrive.
"""

from __future__ import annotations

import sys
from typing import Any

from boltir.registry import FAMILIES, Family, on_register, resolve

_listening = False


def register(config_cls: Any, model_cls: Any) -> None:
    from transformers import AutoConfig, AutoModel

    AutoConfig.register(config_cls.model_type, config_cls, exist_ok=True)
    AutoModel.register(config_cls, model_cls, exist_ok=True)


def _mid_import(finishing: str | None) -> bool:
    """Whether a model module other than ``finishing`` (which is on its last line) is still being imported."""
    for name, module in list(sys.modules.items()):
        if (
            name.startswith("boltir.models.")
            and name != finishing
            and getattr(getattr(module, "__spec__", None), "_initializing", False)
        ):
            return True
    return False


def register_family_classes(family: Family) -> None:
    config_cls = resolve(family.config_class)
    if config_cls.model_type != family.model_type:
        raise ValueError(
            f"family {family.name!r}: {config_cls.__name__}.model_type is {config_cls.model_type!r}, "
            f"the registry says {family.model_type!r}"
        )
    register(config_cls, resolve(family.model_class))


def register_all(finishing: str | None = None) -> None:
    global _listening
    if _mid_import(finishing):
        return  # the module being imported calls register_all when it is complete
    for fam in list(FAMILIES.values()):
        register_family_classes(fam)
    if not _listening:
        _listening = True
        on_register(register_family_classes)
