"""BM25 with bm25s: index any corpus into a folder (atomically), search it into a TREC run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from boltir.data.runs import Run
from boltir.errors import ConfigError, InvalidIndexError
from boltir.pipeline import Retriever, as_queries
from boltir.utils.progress import progress_bar
from boltir.utils.provenance import input_fingerprint, provenance

SEARCH_CHUNK = 256  # queries per bm25s call (the progress bar moves between calls)

MANIFEST = "manifest.json"


def _stemmer(language: str | None):
    if not language:
        return None
    import Stemmer

    return Stemmer.Stemmer(language)


class BM25Index(Retriever):
    """A bm25s index plus the doc-id list and the analysis settings it was built with."""

    def __init__(self, retriever: Any, doc_ids: list[str], settings: dict[str, Any], show_progress: bool = True):
        self.retriever = retriever
        self.doc_ids = np.array(doc_ids, dtype=object)
        self.settings = settings
        self.show_progress = show_progress

    @classmethod
    def build(
        cls,
        docs: str,
        k1: float = 0.9,
        b: float = 0.4,
        stemmer: str | None = "english",
        stopwords: str | None = "en",
        show_progress: bool = True,
    ) -> BM25Index:
        """A BM25 index of ``docs`` (bm25s; ``k1``, ``b``, a PyStemmer ``stemmer`` and a ``stopwords`` list).

        Raises:
            InvalidIndexError: the corpus is empty or has no text.
        """
        import bm25s

        from boltir.data.sources import count_docs, load_docs
        from boltir.index.build import check_empty

        ids, texts = [], []
        # one boltir bar for the whole build (bm25s's own bars stay off): reading, then tokenising and indexing
        with progress_bar(count_docs(docs), f"bm25 index {docs}", "doc", not show_progress) as bar:
            for d in load_docs(docs):
                ids.append(d.doc_id)
                texts.append(d.text)
                bar.update(1)
            empty = sum(1 for t in texts if not t.strip())
            check_empty(docs, len(ids), empty, "they have no term, so BM25 never returns them")
            bar.set_postfix_str("tokenising and indexing")
            tokens = bm25s.tokenize(texts, stopwords=stopwords, stemmer=_stemmer(stemmer), show_progress=False)
            retriever = bm25s.BM25(k1=k1, b=b)
            retriever.index(tokens, show_progress=False)
        settings = {
            "k1": k1,
            "b": b,
            "stemmer": stemmer,
            "stopwords": stopwords,
            "docs": input_fingerprint(docs),
            "empty_documents": empty,
        }
        return cls(retriever, ids, settings, show_progress)

    def save(self, folder: str | Path) -> None:
        """Write into a sibling temp folder, then swap it in (the old index stays whole until the new one is)."""
        from boltir.utils.atomic import atomic_dir

        with atomic_dir(folder) as tmp:
            self.retriever.save(str(tmp / "bm25s"))
            (tmp / "doc_ids.txt").write_text("".join(d + "\n" for d in self.doc_ids.tolist()), encoding="utf-8")
            manifest = {
                "kind": "bm25",
                "backend": "bm25s",
                "count": len(self.doc_ids),
                **self.settings,
                "provenance": provenance(),
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))

    @classmethod
    def load(cls, folder: str | Path, show_progress: bool = True) -> BM25Index:
        """A saved BM25 index.

        Raises:
            InvalidIndexError: the folder holds no complete BM25 index.
        """
        import bm25s

        folder = Path(folder)
        if not (folder / MANIFEST).is_file():
            raise FileNotFoundError(f"{folder} is not a boltir BM25 index (no {MANIFEST})")
        settings = json.loads((folder / MANIFEST).read_text())
        retriever = bm25s.BM25.load(str(folder / "bm25s"))
        from boltir.index.storage import read_id_file

        ids = read_id_file(folder / "doc_ids.txt")
        if len(ids) != settings.get("count", len(ids)):
            raise InvalidIndexError(f"{folder}: {len(ids)} document ids for {settings['count']} in the manifest")
        return cls(retriever, ids, settings, show_progress)

    def search(self, queries: Any, k: int = 1000) -> Run:
        import bm25s

        queries = as_queries(queries)
        qids = list(queries)
        tokens = bm25s.tokenize(
            [queries[q] for q in qids],
            stopwords=self.settings["stopwords"],
            stemmer=_stemmer(self.settings["stemmer"]),
            return_ids=False,
            show_progress=False,
        )
        k = min(k, len(self.doc_ids))
        run: dict[str, dict[str, float]] = {}
        with progress_bar(len(qids), "bm25 search", "query", not self.show_progress) as bar:
            for start in range(0, len(qids), SEARCH_CHUNK):
                chunk = tokens[start : start + SEARCH_CHUNK]
                idx, scores = self.retriever.retrieve(chunk, k=k, show_progress=False)
                for qid, i_row, s_row in zip(qids[start : start + SEARCH_CHUNK], idx, scores):
                    keep = s_row > 0
                    run[qid] = dict(zip(self.doc_ids[i_row[keep]].tolist(), s_row[keep].astype(float).tolist()))
                bar.update(len(chunk))
        return run


def BM25(source: str | Path, show_progress: bool = True, **analysis: Any) -> BM25Index:
    """A BM25 retriever: a saved boltir BM25 index folder is loaded, anything else (a documents file, a bundled
    dataset, ``irds:<id>``) is indexed with the ``analysis`` settings of :meth:`BM25Index.build` (``k1``, ``b``,
    ``stemmer``, ``stopwords``)."""
    if (Path(source) / MANIFEST).is_file():
        if analysis:
            raise ConfigError(f"{source} is a saved BM25 index: its {', '.join(analysis)} are fixed")
        return BM25Index.load(source, show_progress)
    return BM25Index.build(str(source), show_progress=show_progress, **analysis)
