import pytest

import boltir


def test_every_lazy_export_resolves():
    for name in boltir.__all__:
        assert getattr(boltir, name) is not None, name


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


@pytest.mark.slow
def test_the_wheel_carries_data_and_configs_and_finds_them_installed(tmp_path):
    """Build the wheel, install it (no dependencies: they come from this environment) into a fresh virtualenv and
    run boltir from outside the checkout: the bundled data must be found inside the installed package."""
    import subprocess
    import sys
    import sysconfig
    import zipfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist), str(root)],
        check=True,
        cwd=tmp_path,
    )
    (wheel,) = dist.glob("boltir-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in (root / "data").rglob("*"):
        if f.is_file():
            assert f"boltir/bundled/data/{f.relative_to(root / 'data')}" in names
    for f in (root / "configs").glob("*.yaml"):
        assert f"boltir/bundled/configs/{f.name}" in names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", str(wheel)], check=True
    )
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # torch & co. from here
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("BOLTIR_DATA", "PYTHONPATH")}
    where = subprocess.run(
        [str(python), "-c", "import boltir.data.sources as s; print(s.data_root()); print(s.config_root())"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    ).stdout.split()
    assert all(Path(p).is_relative_to(Path(site)) and Path(p).is_dir() for p in where), where
    out = subprocess.run(
        [str(venv / "bin" / "boltir"), "evaluate", "trec-dl-2019:bm25", "--qrels", "trec-dl-2019"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    ).stdout
    assert "0.5058" in out
