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

from boltir.registry import FAMILIES, Family, on_register, resolve

_listening = False


def register(config_cls: type, model_cls: type) -> None:
    from transformers import AutoConfig, AutoModel

    AutoConfig.register(config_cls.model_type, config_cls, exist_ok=True)
    AutoModel.register(config_cls, model_cls, exist_ok=True)


def _module_and_class(ref: object) -> tuple[str, str] | None:
    if isinstance(ref, str) and ":" in ref:
        module, _, name = ref.partition(":")
        return module, name
    return None


def _mid_import() -> bool:
    for fam in FAMILIES.values():
        parts = _module_and_class(fam.model_class)
        if parts and parts[0] in sys.modules and not hasattr(sys.modules[parts[0]], parts[1]):
            return True
    return False


def register_family_classes(family: Family) -> None:
    register(resolve(family.config_class), resolve(family.model_class))


def register_all() -> None:
    global _listening
    if _mid_import():
        return  # the module being imported calls register_all when it is complete
    for fam in list(FAMILIES.values()):
        register_family_classes(fam)
    if not _listening:
        _listening = True
        on_register(register_family_classes)
