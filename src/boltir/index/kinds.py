"""The protocol every index kind (representation) implements. Each kind is one module of :mod:`boltir.index`
(``dense``, ``sparse``, ``multivector``, ``coil``) that owns its representation end to end: encoding shards,
writing and extending a generation's derived files, its searcher, the exact re-ranking of a run with the scores
its search gives, and its JSON for ``boltir serve``; it is registered once in :mod:`boltir.registry`. Building
(:func:`boltir.index.build.build_index`), adding documents (:func:`boltir.index.update.add_documents`), opening
(:func:`boltir.index.open.open_searcher`), re-ranking and serving go through these methods only, so a new kind is
one module plus one registry entry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boltir.data.records import Doc
from boltir.errors import ConfigError


@dataclass
class Generation:
    """Where a generation's derived structures go: the index folder, the shards they cover, the generation's
    number, and the vocabulary size of the model's tokenizer (term-inverted kinds index by token id)."""

    folder: Path
    shards: list[dict[str, Any]]
    number: int
    vocab_size: int


class IndexKindBase:
    """The methods and attributes of an index kind.

    Attributes:
        name: the kind written into manifests.
        options: the build knobs the kind accepts, with their defaults.
        derived_files: the files a generation's derived structures are written to (kept per generation).
        read_whole: derived files a searcher reads completely (their checksums are checked on open).
        empty_documents: what the kind's search does with documents whose text is empty (the build's warning
            says it).
    """

    name: str = ""
    options: dict[str, Any] = {}
    derived_files: tuple[str, ...] = ()
    read_whole: tuple[str, ...] = ()
    empty_documents: str = "search can return them"

    def searcher_class(self) -> type:
        """The kind's searcher: a :class:`boltir.index.searcher.IndexSearcher` subclass, constructed as
        ``(folder, model=None, loaded=None, **knobs)``."""
        raise NotImplementedError

    def rerank(self, job: Any) -> dict[str, dict[str, float]]:
        """Scores of a :class:`boltir.models.scoring.RerankJob`'s candidates with this representation, equal to the
        scores the kind's exact search gives them."""
        raise NotImplementedError

    def to_json(self, encoded: Any, row: int) -> Any:
        """Row ``row`` of what the model's ``encode`` returned, as JSON (``boltir serve``'s ``/encode``): a
        list of floats unless the kind says otherwise."""
        import numpy as np

        return np.asarray(encoded[row]).tolist()

    def check_options(self, model: Any, options: dict[str, Any]) -> dict[str, Any]:
        """The kind's options with defaults filled in; an option of another kind is an error."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            known = ", ".join(self.options) or "none"
            raise ConfigError(f"{', '.join(unknown)}: not an option of a {self.name} index (its options: {known})")
        return {**self.options, **options}

    def build_config(self, model: Any, options: dict[str, Any]) -> dict[str, Any]:
        """Settings a resumed build must share with the partial one (beyond model, documents and shard size)."""
        return {}

    def encode_shard(self, writer: Any, model: Any, chunk: list[Doc], encode: Callable[[list[str]], Any]) -> None:
        """Append one chunk of documents to ``writer`` as a shard; ``encode(texts)`` is the model's document encoder
        (``model.encode`` with the build's batching)."""
        raise NotImplementedError

    def write_derived(self, g: Generation, record: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
        """Write the derived structures of generation ``g``; return the manifest fields they add."""
        raise NotImplementedError

    def extend_derived(self, g: Generation, manifest: dict[str, Any], first_new: int) -> dict[str, Any]:
        """After documents were added as ``g.shards[first_new:]``: write generation ``g``'s derived structures from
        the previous generation's (no retraining); return the manifest fields that change."""
        raise NotImplementedError

    def published(self, folder: Path, manifest: dict[str, Any]) -> None:
        """Called once ``manifest`` is in place (a build finished, documents added): remove the shard files it no
        longer lists (a shard's ``dropped`` keys). Until then they stay, so an interrupted job resumes from them."""
        for shard in manifest["shards"]:
            for key in shard.get("dropped", ()):
                (folder / shard[key]).unlink(missing_ok=True)
