"""The protocol every index kind implements; the kinds themselves live beside their storage code (dense, sparse,
multivector, coil) and are registered in :mod:`boltir.registry`. Building (:func:`boltir.index.build.build_index`),
adding documents (:func:`boltir.index.update.add_documents`) and opening a searcher go through these methods only,
so a new kind is one class plus one registry entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class IndexKindBase:
    """``name``: the kind written into manifests. ``options``: the build knobs the kind accepts, with defaults.
    ``derived_files``: the files a generation's derived structures are written to (kept per generation).
    ``searcher``: ``"module:Class"`` of the searcher (constructor ``(folder, model=None, loaded=None, **knobs)``)."""

    name: str = ""
    options: dict[str, Any] = {}
    derived_files: tuple[str, ...] = ()
    searcher: str = ""

    def check_options(self, model: Any, options: dict[str, Any]) -> dict[str, Any]:
        """The kind's options with defaults filled in; an option of another kind is an error."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            known = ", ".join(self.options) or "none"
            raise ValueError(
                f"{', '.join(unknown)}: not an option of a {self.name} index (its options: {known})"
            )
        return {**self.options, **options}

    def build_config(self, model: Any, options: dict[str, Any]) -> dict[str, Any]:
        """Settings a resumed build must share with the partial one (beyond model, documents and shard size)."""
        return {}

    def encode_shard(
        self,
        writer: Any,
        model: Any,
        tokenizer: Any,
        chunk: list,
        batch_size: int,
        progress: Any = None,
        num_workers: int = 0,
    ) -> None:
        """Encode one chunk of documents and append it to ``writer`` as a shard."""
        raise NotImplementedError

    def write_derived(
        self,
        folder: Path,
        shards: list[dict[str, Any]],
        generation: int,
        record: dict[str, Any],
        tokenizer: Any,
        options: dict[str, Any],
    ) -> dict[str, Any]:
        """Write the derived structures of ``generation`` over ``shards``; return the manifest fields they add."""
        raise NotImplementedError

    def extend_derived(
        self,
        folder: Path,
        manifest: dict[str, Any],
        shards: list[dict[str, Any]],
        first_new: int,
        generation: int,
        tokenizer: Any,
    ) -> dict[str, Any]:
        """After documents were added as ``shards[first_new:]``: write ``generation``'s derived structures from the
        previous generation's (no retraining); return the manifest fields that change."""
        raise NotImplementedError
