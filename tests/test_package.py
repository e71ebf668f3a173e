import pytest

import boltir


def test_every_lazy_export_resolves():
    for name in boltir.__all__:
        assert getattr(boltir, name) is not None, name


@pytest.mark.slow
def test_any_first_import_registers_every_model_type():
    """Whichever module a program imports first, all boltir types end up registered (no import cycle)."""
    import subprocess
    import sys

    for first in [
        "boltir.models.bi_encoders.dpr",
        "boltir.models.cross_encoders.mono",
        "boltir.models.cross_encoders.sparse",
        "boltir.models.cross_encoders.set_encoder",
        "boltir.models.base",
        "boltir.models.bi_encoders.base",
        "boltir.training",
        "transformers",
    ]:
        code = (
            f"import boltir, {first}\n"
            "from transformers.models.auto.configuration_auto import CONFIG_MAPPING\n"
            "types = ['boltir-dpr', 'boltir-mono', 'boltir-sparse-ce', 'boltir-set-encoder']\n"
            "assert all(t in CONFIG_MAPPING for t in types), [t for t in types if t not in CONFIG_MAPPING]"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.returncode == 0, (first, out.stderr[-500:])


def test_dir_lists_the_documented_typed_public_api():
    import inspect
    import types

    names = dir(boltir)
    for wanted in (
        "load_model",
        "BM25",
        "Reranker",
        "Pipeline",
        "Index",
        "evaluate",
        "fuse",
        "read_run",
        "write_run",
        "load_queries",
        "load_qrels",
        "BoltirError",
        "register_family",
        "families",
    ):
        assert wanted in names, wanted
    assert all(not n.startswith("_") or n == "__version__" for n in names)
    for name in boltir.__all__:
        obj = getattr(boltir, name)
        if isinstance(obj, (str, types.GenericAlias)):
            continue
        assert (obj.__doc__ or "").strip(), f"boltir.{name} has no docstring"
        if inspect.isfunction(obj):
            sig = inspect.signature(obj)
            untyped = [
                p
                for p in sig.parameters.values()
                if p.annotation is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            ]
            assert not untyped and sig.return_annotation is not inspect.Signature.empty, f"boltir.{name} untyped"


def test_version_is_declared_once():
    from importlib.metadata import version
    from pathlib import Path

    assert version("boltir") == boltir.__version__
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and "version = {" in pyproject


def test_boltir_errors_share_one_root():
    from boltir import errors

    for name in ("DataFormatError", "InvalidIndexError", "FamilyError", "ModelNotFoundError", "TeacherError"):
        assert issubclass(getattr(errors, name), errors.BoltirError)
