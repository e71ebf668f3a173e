import inspect

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


def test_ci_installs_every_core_dependency_at_its_declared_lower_bound():
    """.ci/lower-bounds pins each core dependency (torch aside) to the lowest version pyproject.toml allows."""
    import re
    from pathlib import Path

    import tomllib

    root = Path(__file__).resolve().parents[1]
    declared = {}
    for spec in tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"]:
        name, low = re.match(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?>=([0-9.]+)", spec).groups()
        declared[name.lower()] = low
    pins = {}
    for line in (root / ".ci" / "lower-bounds.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    assert set(pins) == set(declared) - {"torch"}

    def release(v: str) -> tuple[int, ...]:
        parts = [int(p) for p in v.split(".")]
        return tuple(parts + [0] * (4 - len(parts)))

    assert {n: release(v) for n, v in pins.items()} == {n: release(declared[n]) for n in pins}


def test_every_public_name_has_a_docstring():
    """The API reference is generated from docstrings: every public module, class, function and method has one
    (a method that overrides a documented one inherits its text, as the reference shows it)."""
    import importlib
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs"))
    try:
        from generate import public_modules
    finally:
        sys.path.pop(0)
    from boltir.cli import EXTRAS

    missing, total = [], 0
    for module_name in public_modules():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:  # an integration whose extra is not installed here
            assert (e.name or "").split(".")[0] in EXTRAS, e
            continue
        total += 1
        if not (module.__doc__ or "").strip():
            missing.append(module_name)
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module_name:
                continue
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            total += 1
            if not (obj.__doc__ or "").strip():
                missing.append(f"{module_name}.{name}")
            if inspect.isclass(obj):
                for attr, value in vars(obj).items():
                    function = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
                    if attr.startswith("_") or not inspect.isfunction(function):
                        continue
                    total += 1
                    if not (inspect.getdoc(getattr(obj, attr)) or "").strip():
                        missing.append(f"{module_name}.{name}.{attr}")
    assert total > 700 and missing == []
