"""boltir stages as PyTerrier transformers (``pip install 'boltir[pyterrier]'``; no Java needed): a boltir
retriever (an index searcher, BM25, a fusion, a pipeline with a first stage, a bundled run) turns a topics frame
into a ranking frame, a boltir re-ranker (any model family, a fusion of re-rankers, a pipeline of them) re-scores
a ranking frame. They compose with PyTerrier's own operators and run in ``pt.Experiment``::

    import ir_measures
    import pyterrier as pt
    from boltir import BM25, Reranker
    from boltir.integrations.pyterrier import qrels, to_pyterrier, topics

    bm25 = to_pyterrier(BM25("trec-dl-2019"), k=100)
    mono = to_pyterrier(Reranker("minilm-l6", docs="trec-dl-2019", depth=100))
    ndcg = ir_measures.parse_measure("nDCG@10")
    pt.Experiment([bm25, bm25 >> mono], topics("trec-dl-2019"), qrels("trec-dl-2019"), [ndcg])

(docs/pyterrier.md runs this example.)
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyterrier as pt

from boltir.data.frames import qrels_to_frame, run_from_frame, run_to_frame, topics_frame
from boltir.errors import ConfigError, UnsupportedError
from boltir.pipeline import Reranking, Retriever


def topics(spec: str) -> pd.DataFrame:
    """PyTerrier topics (``qid``, ``query``) of any boltir query source: a bundled dataset name, a file, ``irds:``."""
    return topics_frame(spec)


def qrels(spec: str) -> pd.DataFrame:
    """PyTerrier qrels (``qid``, ``docno``, ``label``) of any boltir qrels source."""
    return qrels_to_frame(spec)


def _frame(run: dict[str, dict[str, float]], queries: dict[str, str]) -> pd.DataFrame:
    """A PyTerrier ranking frame (qid, query, docno, score, rank) of a boltir run, in the order of ``queries``."""
    frame = run_to_frame({q: run.get(q, {}) for q in queries}, queries)
    return frame[["qid", "query", "docno", "score", "rank"]]


def _topics(frame: pd.DataFrame) -> dict[str, str]:
    if "qid" not in frame.columns or "query" not in frame.columns:
        raise ConfigError(f"a PyTerrier frame with qid and query columns is needed, got {list(frame.columns)}")
    return dict(zip(frame["qid"].astype(str), frame["query"].astype(str)))


class BoltirRetriever(pt.Transformer):
    """Topics (qid, query) -> the top ``k`` documents of a boltir retriever per query."""

    def __init__(self, retriever: Retriever, k: int = 1000):
        super().__init__()
        self.retriever, self.k = retriever, k

    def transform(self, topics: pd.DataFrame) -> pd.DataFrame:
        """A topics frame (``qid``, ``query``) to a ranking frame (``qid``, ``docno``, ``score``, ``rank``)."""
        queries = _topics(topics.drop_duplicates("qid"))
        return _frame(self.retriever.search(queries, self.k), queries)

    def __repr__(self) -> str:
        return f"BoltirRetriever({type(self.retriever).__name__}, k={self.k})"


class BoltirReranker(pt.Transformer):
    """A ranking frame (qid, query, docno[, text]) -> the same candidates re-scored by a boltir re-ranker (only the
    top ``depth`` of each query when the stage has one). Texts come from a ``text`` column when the frame has one,
    else from the stage's own documents."""

    def __init__(self, reranker: Reranking, depth: int | None = -1):
        super().__init__()
        self.reranker, self.depth = reranker, depth

    def transform(self, ranking: pd.DataFrame) -> pd.DataFrame:
        """A ranking frame re-scored by the boltir re-ranker.

        Raises:
            ConfigError: the frame has no ``docno`` column.
        """
        if "docno" not in ranking.columns:
            raise ConfigError(f"a PyTerrier ranking frame with a docno column is needed, got {list(ranking.columns)}")
        queries = _topics(ranking.drop_duplicates("qid"))
        if "score" not in ranking.columns:  # an unscored ranking: its order is the score
            ranking = ranking.assign(score=-ranking.groupby("qid").cumcount())
        run = run_from_frame(ranking)
        docs = dict(zip(ranking["docno"].astype(str), ranking["text"].astype(str))) if "text" in ranking else None
        return _frame(self.reranker.rerank(run, queries, docs, self.depth), queries)

    def __repr__(self) -> str:
        return f"BoltirReranker({type(self.reranker).__name__})"


def to_pyterrier(stage: Any, k: int = 1000) -> pt.Transformer:
    """The PyTerrier transformer of a boltir stage: a retriever (it has ``search``) or a re-ranker."""
    if isinstance(stage, Retriever) and (getattr(stage, "first", True) is not None):
        return BoltirRetriever(stage, k)
    if isinstance(stage, Reranking):
        return BoltirReranker(stage)
    raise UnsupportedError(f"{type(stage).__name__} is neither a boltir retriever nor a re-ranker")


__all__ = ["BoltirReranker", "BoltirRetriever", "qrels", "to_pyterrier", "topics"]
