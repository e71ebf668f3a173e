"""What every index searcher shares: open the index (of its kind), load and check the model that built it, and
read the document ids and deletions; subclasses implement ``search(queries, k)``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from boltir.errors import ConfigError, InvalidIndexError
from boltir.pipeline import Retriever


class IndexSearcher(Retriever):
    """``model``: defaults to the one recorded in the index (it must have the same weights and tokenizer);
    ``loaded``: an already loaded ``(model, tokenizer)``. A kind's searcher sets its knobs in ``__init__`` and passes
    the rest on (``**common``), and reads its structures in ``open``."""

    kind = ""
    check_shards = False

    def __init__(
        self,
        index_dir: str | Path,
        model: str | None = None,
        loaded: tuple[Any, Any] | None = None,
        batch_size: int = 32,
        show_progress: bool = False,
        quantize: str | None = None,
        backend: str | None = None,
    ):
        from boltir.index.open import load_index_model, open_index
        from boltir.index.storage import deleted_positions, read_doc_ids, read_manifest

        self.index_dir = Path(index_dir)
        self.batch_size, self.show_progress = batch_size, show_progress
        for attempt in range(3):  # an update may swap the manifest while this opens the generation it read
            self.manifest = open_index(self.index_dir, self.kind, check_shards=self.check_shards)
            try:
                if attempt == 0:
                    self.model, self.tokenizer = load_index_model(self.index_dir, self.manifest, model, loaded)
                    from boltir.models.backends import prepare

                    # after the weights were checked against the index; by default as the index was built
                    build = self.manifest.get("build", {})
                    prepare(self.model, backend or build.get("backend"), quantize or build.get("quantize"))
                self.doc_ids = np.array(read_doc_ids(self.index_dir, self.manifest), dtype=object)
                self.deleted = deleted_positions(self.manifest, self.doc_ids)
                self.open()
                return
            except (InvalidIndexError, OSError):
                if attempt == 2 or read_manifest(self.index_dir).get("generation") == self.manifest.get("generation"):
                    raise

    def published_generation(self) -> int:
        """The generation the index's manifest publishes now (``serve`` reopens the searcher when it moves on)."""
        from boltir.index.storage import read_manifest

        return int(read_manifest(self.index_dir).get("generation", 0))

    def open(self) -> None:
        """Read the kind's own structures (postings, FAISS file, centroids, ...) and check them."""

    def encode_queries(self, texts: list[str]) -> Any:
        """What the index's model encodes the query texts into (the representation the kind searches with)."""
        return self.model.encode(texts, "query", self.batch_size, tokenizer=self.tokenizer)

    def in_threads(self, fn: Any, items: list[Any]) -> list[Any]:
        """``[fn(item) for item in items]``, in ``self.threads`` threads (a kind's ``threads`` knob) when there is
        more than one item; the pool is made once per searcher."""
        threads = getattr(self, "threads", 1)
        if threads == 1 or len(items) < 2:
            return [fn(item) for item in items]
        if getattr(self, "_pool", None) is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(threads, thread_name_prefix=f"boltir-{self.kind}")
        return list(self._pool.map(fn, items))


def check_threads(threads: int) -> int:
    """A searcher's ``threads`` knob, refused below 1."""
    if threads < 1:
        raise ConfigError(f"threads={threads}: search with 1 or more threads")
    return threads
