"""boltir: fine-tune, index, search, re-rank and evaluate transformer models for information retrieval.

Importing boltir is cheap: torch and transformers load only when a model or a command needs them. Our model
types are registered with transformers' Auto classes as soon as transformers is imported (or right away if
it already is), so ``AutoModel.from_pretrained(dir)`` returns boltir models after ``import boltir``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from boltir._hf_registration import install as _install_hf_registration

_install_hf_registration()

_LAZY = {
    "DprConfig": "boltir.models.bi_encoders.dpr",
    "DprModel": "boltir.models.bi_encoders.dpr",
    "load_bi_encoder": "boltir.models.loading",
    "load_cross_encoder": "boltir.models.loading",
    "load_set_encoder": "boltir.models.loading",
    "load_sparse_cross_encoder": "boltir.models.loading",
    "evaluate": "boltir.evaluate.measures",
    "load_docs": "boltir.data.sources",
    "load_queries": "boltir.data.sources",
    "load_qrels": "boltir.data.sources",
    "load_run": "boltir.data.sources",
    "DataFormatError": "boltir.data.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'boltir' has no attribute {name!r}")
