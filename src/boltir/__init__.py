"""boltir: fine-tune, index, search, re-rank and evaluate transformer models for information retrieval.

The public API lives on this module::

    import boltir

    queries, qrels = boltir.load_queries("trec-dl-2019"), boltir.load_qrels("trec-dl-2019")
    bm25 = boltir.BM25("trec-dl-2019")
    pipeline = bm25 >> boltir.Reranker("minilm-l6", docs="trec-dl-2019", depth=20)
    print(boltir.evaluate({"bm25": bm25.search(queries, 100), "reranked": pipeline.search(queries, 100)}, qrels))

Importing boltir is cheap: torch and transformers load only when a model or a command needs them. boltir's model
types are registered with transformers' Auto classes whenever boltir loads a model, or explicitly with
:func:`register_auto_classes`; after that ``AutoModel.from_pretrained(folder)`` returns boltir models.
"""

from __future__ import annotations

import importlib
from typing import Any

from boltir.version import __version__

_LAZY = {
    # models
    "load_model": "boltir.models.api",
    "BiEncoder": "boltir.models.api",
    "CrossEncoder": "boltir.models.api",
    # retrieval, re-ranking and composition
    "BM25": "boltir.index.bm25",
    "Index": "boltir.index.handle",
    "DenseSearcher": "boltir.index.dense",
    "SparseSearcher": "boltir.index.sparse",
    "MultiVectorSearcher": "boltir.index.multivector",
    "CoilSearcher": "boltir.index.coil",
    "Reranker": "boltir.pipeline",
    "Pipeline": "boltir.pipeline",
    "Fusion": "boltir.pipeline",
    "RunRetriever": "boltir.pipeline",
    "fuse": "boltir.data.fusion",
    # data
    "load_docs": "boltir.data.sources",
    "load_queries": "boltir.data.sources",
    "load_qrels": "boltir.data.sources",
    "read_run": "boltir.data.runs",
    "write_run": "boltir.data.runs",
    "top_k": "boltir.data.runs",
    "Run": "boltir.data.runs",
    "Qrels": "boltir.data.runs",
    "run_to_frame": "boltir.data.frames",
    "run_from_frame": "boltir.data.frames",
    "qrels_to_frame": "boltir.data.frames",
    "qrels_from_frame": "boltir.data.frames",
    "topics_frame": "boltir.data.frames",
    # evaluation
    "evaluate": "boltir.evaluation.results",
    "Results": "boltir.evaluation.results",
    # families and errors
    "Family": "boltir.registry",
    "register_family": "boltir.registry",
    "families": "boltir.registry",
    "register_index_kind": "boltir.registry",
    "IndexKind": "boltir.registry",
    "register_auto_classes": "boltir.models.hf_auto",
    "BoltirError": "boltir.errors",
    "DataFormatError": "boltir.errors",
    "InvalidIndexError": "boltir.errors",
    "FamilyError": "boltir.errors",
    "ModelNotFoundError": "boltir.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'boltir' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
