"""``boltir.Index``: build, open, search and update an index of any kind from Python."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from boltir.data.runs import Run


class Index:
    """An index folder, or an engine collection (``qdrant-edge:FOLDER``, ``qdrant://HOST:PORT/COLLECTION``).
    :meth:`build` encodes documents with a model (the index kind follows its family), :meth:`open` reads a built
    one; :meth:`searcher` gives the kind's retriever with its knobs."""

    def __init__(self, path: str | os.PathLike):
        from boltir.index.storage import read_manifest
        from boltir.registry import engine_of, resolve

        self.engine = engine_of(str(path))
        if self.engine is not None:  # the collection's boltir record stands in for the manifest
            self.path: Any = str(path)
            self.manifest = resolve(self.engine.records)(self.path)
            return
        self.path = Path(path)
        self.manifest = read_manifest(self.path)

    @property
    def kind(self) -> str:
        """The index kind (representation) recorded in the manifest."""
        return self.manifest["kind"]

    def __len__(self) -> int:
        if self.engine is not None:
            return int(self.manifest.get("points", 0))
        return int(self.manifest["count"]) - len(self.manifest.get("deleted", []))

    @classmethod
    def open(cls, path: str | os.PathLike) -> Index:
        """The complete index in ``path``.

        Raises:
            InvalidIndexError: the folder holds no complete index, or its files are not as recorded."""
        return cls(path)

    @classmethod
    def build(
        cls,
        model: Any,
        docs: str,
        path: str | os.PathLike,
        *,
        family: str | None = None,
        batch_size: int = 32,
        shard_size: int = 16384,
        overwrite: bool = False,
        show_progress: bool = True,
        **options: Any,
    ) -> Index:
        """Index ``docs`` (a file, bundled dataset or ``irds:<id>``) with ``model`` (a name, folder, or a model
        boltir loaded); ``options`` are the index kind's knobs (``factory``, ``train_size`` for dense;
        ``num_centroids``, ``nbits``, ``keep_vectors`` for multi-vector). An interrupted build resumes. ``path``
        may be an engine collection (``qdrant-edge:FOLDER``, ...): the documents are encoded straight into it and
        ``options`` are its settings (``quantization``, ``pooled_vector``, ...)."""
        from boltir.index.build import build_index
        from boltir.registry import engine_of, resolve

        module, tokenizer, source = _loaded(model, family)
        engine = engine_of(str(path))
        build = build_index if engine is None else resolve(engine.indexer)
        build(
            module,
            tokenizer,
            docs,
            Path(path) if engine is None else str(path),
            model_source=source,
            batch_size=batch_size,
            shard_size=shard_size,
            overwrite=overwrite,
            show_progress=show_progress,
            **options,
        )
        return cls(path)

    def searcher(self, model: Any = None, **knobs: Any) -> Any:
        """The retriever of this index (``search(queries, k) -> Run``); ``knobs`` are its kind's search settings
        (``search_params``, ``budget``, ``nprobe``, ``ncandidates``, ``batch_size``)."""
        from boltir.index.open import open_searcher

        if model is None or isinstance(model, (str, os.PathLike)):
            return open_searcher(self.path, None if model is None else str(model), **knobs)
        module, tokenizer, _ = _loaded(model, None)
        return open_searcher(self.path, loaded=(module, tokenizer), **knobs)

    def search(self, queries: Any, k: int = 100, **knobs: Any) -> Run:
        """``searcher(**knobs).search(queries, k)``: the top ``k`` documents of each query."""
        return self.searcher(**knobs).search(queries, k)

    def _folder_only(self, what: str) -> None:
        if self.engine is not None:
            from boltir.errors import UnsupportedError

            raise UnsupportedError(
                f"{self.path}: {what} a {self.engine.name} collection through its index folder (then rerun boltir "
                "export), or rebuild it with boltir index --output"
            )

    def add(self, docs: str, batch_size: int = 32) -> Index:
        """Add documents (encoded with the index's own model), as a new generation.

        Raises:
            UnsupportedError: an engine collection (documents go into its index folder, then a re-export)."""
        from boltir.index.open import load_index_model

        self._folder_only("add documents to")
        from boltir.index.update import add_documents

        model, tokenizer = load_index_model(self.path, self.manifest)
        self.manifest = add_documents(self.path, model, tokenizer, docs, batch_size)
        return self

    def delete(self, doc_ids: Sequence[str]) -> Index:
        """Mark documents deleted (a new generation; searches no longer return them); returns the index.

        Raises:
            UnsupportedError: an engine collection (delete from its index folder, then re-export)."""
        from boltir.index.update import delete_documents

        self._folder_only("delete documents from")
        self.manifest = delete_documents(self.path, list(doc_ids))
        return self

    def __repr__(self) -> str:
        return f"Index({str(self.path)!r}, kind={self.kind!r}, documents={len(self)})"


def _loaded(model: Any, family: str | None) -> tuple[Any, Any, str]:
    """``(module, tokenizer, source name)`` of a model given by name or as a loaded boltir model."""
    if isinstance(model, (str, os.PathLike)):
        from boltir.models.loading import load_module

        module, tokenizer = load_module(str(model), family=family)
        return module, tokenizer, str(model)
    module = getattr(model, "module", model)
    return module, module.attached_tokenizer(), str(module.config.name_or_path or "python")
