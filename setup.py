"""Builds put the bundled datasets (data/) and the example configs (configs/) inside the package, as
boltir/bundled/data and boltir/bundled/configs, so an installed wheel finds them (see boltir.data.sources). All
other metadata is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildWithBundledData(build_py):
    def run(self):
        super().run()
        target = Path(self.build_lib) / "boltir" / "bundled"
        for folder in ("data", "configs"):
            source = HERE / folder
            if source.is_dir():
                shutil.copytree(
                    source, target / folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
                )


setup(cmdclass={"build_py": BuildWithBundledData})
