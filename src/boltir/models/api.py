"""The model objects :func:`boltir.load_model` returns: a loaded model with its tokenizer and the habits of
sentence-transformers (``encode_queries``, ``encode_documents``, ``score``, ``rank``, ``save``). The torch module
is ``.module``; scoring goes through the family's own re-ranker, so it equals ``boltir re-rank``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


class RetrievalModel:
    """A boltir model of any family; ``family`` is its registry record."""

    def __init__(self, module: Any, tokenizer: Any):
        from boltir.registry import family_of

        self.module, self.tokenizer = module, tokenizer
        module.tokenizer = tokenizer
        self.family = family_of(module)

    @property
    def config(self) -> Any:
        """The model's config (a Hugging Face ``PreTrainedConfig``)."""
        return self.module.config

    def to(self, device: Any) -> RetrievalModel:
        """Move the model to ``device``; returns the model."""
        self.module.to(device)
        return self

    def score(self, queries: str | Sequence[str], docs: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Scores [queries, docs] of every query against every document (a Set-Encoder sees each query's
        documents as one list)."""
        from boltir.registry import reranker_of

        queries = [queries] if isinstance(queries, str) else list(queries)
        qmap = {str(i): q for i, q in enumerate(queries)}
        dmap = {str(j): d for j, d in enumerate(docs)}
        from boltir.models.scoring import RerankJob

        lists = {q: list(dmap) for q in qmap}
        job = RerankJob(self.module, self.tokenizer, lists, qmap, dmap, batch_size, show_progress=False)
        scored = reranker_of(self.family)(job)
        return np.array([[scored[q][d] for d in dmap] for q in qmap], dtype=np.float64)

    def rank(
        self, query: str, docs: Sequence[str], top_k: int | None = None, return_documents: bool = False
    ) -> list[dict[str, Any]]:
        """``[{"corpus_id": i, "score": s(, "text": docs[i])}, ...]``, best first, the top ``top_k``."""
        scores = self.score(query, docs)[0]
        order = sorted(range(len(docs)), key=lambda i: (-scores[i], i))[:top_k]
        return [
            {"corpus_id": i, "score": float(scores[i]), **({"text": docs[i]} if return_documents else {})}
            for i in order
        ]

    def save(self, path: str | os.PathLike, provenance: dict[str, Any] | None = None) -> Path:
        """Weights, tokenizer and a model card, written atomically; boltir and ``transformers.AutoModel`` (after
        ``import boltir``) load the folder back."""
        from boltir.models.base import save_model_folder

        return save_model_folder(self.module, self.tokenizer, path, provenance)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(family={self.family.name!r}, source={self.config.name_or_path!r})"


class BiEncoder(RetrievalModel):
    """A bi-encoder: queries and documents are encoded apart, into what the family's index stores (dense
    vectors, sparse term weights, token vectors, ...)."""

    def encode_queries(self, texts: Sequence[str], batch_size: int = 32) -> Any:
        """What the model's index kind stores for each query text (e.g. float32 [n, dim] for a dense model)."""
        return self.module.encode(list(texts), "query", batch_size, tokenizer=self.tokenizer)

    def encode_documents(self, texts: Sequence[str], batch_size: int = 32) -> Any:
        """What the model's index kind stores for each document text (e.g. float32 [n, dim] for a dense model)."""
        return self.module.encode(list(texts), "doc", batch_size, tokenizer=self.tokenizer)


class CrossEncoder(RetrievalModel):
    """A cross-encoder: each query is read together with each document (or its whole list)."""

    def predict(self, pairs: Sequence[tuple[str, str]], batch_size: int = 32) -> np.ndarray:
        """One score per (query, document) pair."""
        return np.array([self.score(q, [d], batch_size)[0, 0] for q, d in pairs])


def load_model(
    name_or_path: str | os.PathLike, family: str | None = None, seed: int = 0, **overrides: Any
) -> BiEncoder | CrossEncoder:
    """Any boltir model by short name (``minilm-l6``, ``splade-tiny``), folder or Hub id; ``family`` asks for a
    family (default: the folder's own, see :func:`boltir.models.loading.detect_family`); ``overrides`` change
    settings (a saved folder only the ones its family allows)."""
    from boltir.models.loading import load_module as load

    module, tokenizer = load(str(name_or_path), family=family, seed=seed, **overrides)
    cls = BiEncoder if _role(module) == "bi-encoder" else CrossEncoder
    return cls(module, tokenizer)


def _role(module: Any) -> str:
    from boltir.registry import family_of

    return family_of(module).role
