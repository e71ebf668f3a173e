"""Register boltir's model types with transformers' Auto classes without importing transformers eagerly.

If transformers is already imported we register at once; otherwise a one-shot import hook registers right
after transformers finishes importing. This keeps ``import boltir`` (and ``boltir --help``) free of torch.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys

_done = False


def register_now() -> None:
    """Register every boltir config/model pair with AutoConfig and AutoModel (idempotent)."""
    global _done
    if _done:
        return
    _done = True
    from boltir.models.hf_auto import register_all

    register_all()


class _AfterTransformersImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname != "transformers":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        self._loader = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        register_now()


def install() -> None:
    if "transformers" in sys.modules:
        register_now()
    elif not any(isinstance(f, _AfterTransformersImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterTransformersImport())
