"""Helpers the serve test files share (imported by name; pytest's conftest holds the fixtures)."""

from __future__ import annotations

from pathlib import Path

TOPICS = ["apple", "engine", "river", "music"]


def _app(folder: Path, **kwargs):
    from boltir.serve.app import Service, create_app

    service = Service(index=str(folder / "idx"), docs=str(folder / "docs.tsv"), **kwargs.pop("service", {}))
    return create_app(service, **kwargs)
