"""The one list of boltir model types, registered with transformers' Auto classes.

Registration runs when transformers is first imported (see ``boltir._hf_registration``). If a model module is
being imported at that moment (it imports transformers on its way in), importing the others could close an
import cycle, so registration waits: every model module calls ``register_all`` on its last line, and the last
one to finish registers everything. The order of imports therefore never matters.
"""

from __future__ import annotations

import importlib
import sys

MODELS = [
    ("boltir.models.bi_encoders.dpr", "DprConfig", "DprModel"),
    ("boltir.models.bi_encoders.splade", "SpladeConfig", "SpladeModel"),
    ("boltir.models.bi_encoders.colbert", "ColbertConfig", "ColbertModel"),
    ("boltir.models.bi_encoders.unicoil", "UniCoilConfig", "UniCoilModel"),
    ("boltir.models.bi_encoders.coil", "CoilConfig", "CoilModel"),
    ("boltir.models.bi_encoders.mvr", "MvrConfig", "MvrModel"),
    ("boltir.models.cross_encoders.mono", "MonoConfig", "MonoModel"),
    ("boltir.models.cross_encoders.sparse", "SparseCrossEncoderConfig", "SparseCrossEncoder"),
    ("boltir.models.cross_encoders.set_encoder", "SetEncoderConfig", "SetEncoder"),
]


def register(config_cls: type, model_cls: type) -> None:
    from transformers import AutoConfig, AutoModel

    AutoConfig.register(config_cls.model_type, config_cls, exist_ok=True)
    AutoModel.register(config_cls, model_cls, exist_ok=True)


def _mid_import() -> bool:
    return any(name in sys.modules and not hasattr(sys.modules[name], model) for name, _, model in MODELS)


def register_all() -> None:
    if _mid_import():
        return  # the module being imported calls register_all when it is complete
    for module_name, config_name, model_name in MODELS:
        module = importlib.import_module(module_name)
        register(getattr(module, config_name), getattr(module, model_name))
