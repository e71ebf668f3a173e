"""One call shape for every stage, composable with ``>>``: retrievers ``search(queries, k) -> Run`` (BM25, every
index kind's searcher, a fixed run, a fusion of retrievers) and re-rankers ``rerank(run, queries, docs, depth) ->
Run`` (any boltir model). ``retriever >> reranker`` is a retriever again, so pipelines nest::

    pipeline = BM25("trec-dl-2019") >> Reranker("minilm-l6", docs="trec-dl-2019", depth=100)
    run = pipeline.search("trec-dl-2019", k=10)

Queries are ``{qid: text}``, a list of texts (ids "0", "1", ...) or anything :func:`boltir.data.sources.load_queries`
reads (a file, a bundled dataset, ``irds:<id>``). Per-kind knobs (FAISS parameters, a pruning budget, PLAID's
``nprobe``, batch sizes) live in the constructors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from boltir.data.runs import Run, candidate_ids, cut
from boltir.errors import ConfigError


def as_queries(queries: Any) -> dict[str, str]:
    """``{qid: text}`` from a dict, a list of texts or a query source spec."""
    if isinstance(queries, Mapping):
        return {str(q): t for q, t in queries.items()}
    if isinstance(queries, str):
        from boltir.data.sources import load_queries

        return load_queries(queries)
    return {str(i): t for i, t in enumerate(queries)}


class Retriever:
    """Anything with ``search(queries, k) -> Run``; ``retriever >> reranker`` re-ranks what it retrieves."""

    def search(self, queries: Any, k: int = 100) -> Run:
        """The top ``k`` documents of each query.

        Args:
            queries: ``{qid: text}``, a list of texts (ids "0", "1", ...) or a query source (a file, a bundled
                dataset, ``irds:<id>``).
            k: documents per query.

        Returns:
            The run ``{qid: {docid: score}}``."""
        raise NotImplementedError

    def __rshift__(self, other: Reranker) -> Pipeline:
        return Pipeline(self, [other])


class RunRetriever(Retriever):
    """A fixed run (a file, ``<dataset>:<run>`` or ``{qid: {docid: score}}``) as a first stage."""

    def __init__(self, run: str | Mapping[str, Mapping[str, float]]):
        from boltir.data.runs import read_run

        self.name = run if isinstance(run, str) else "run"
        self.run = read_run(run) if isinstance(run, str) else {q: dict(d) for q, d in run.items()}

    def search(self, queries: Any, k: int = 100) -> Run:
        """The run's top ``k`` documents of each query asked for (see :meth:`Retriever.search`)."""
        wanted = as_queries(queries)
        return cut({q: d for q, d in self.run.items() if q in wanted}, k)


class Fusion(Retriever):
    """Several retrievers fused per query (``rrf``, ``minmax`` or ``zscore``; see :func:`boltir.data.fusion.fuse`)."""

    def __init__(
        self,
        retrievers: Sequence[Retriever],
        method: str = "rrf",
        weights: Sequence[float] | None = None,
        rrf_k: int = 60,
    ):
        self.retrievers, self.method, self.weights, self.rrf_k = list(retrievers), method, weights, rrf_k

    def search(self, queries: Any, k: int = 100) -> Run:
        """Each retriever's top ``k``, fused per query, cut to ``k`` (see :meth:`Retriever.search`)."""
        from boltir.data.fusion import fuse

        queries = as_queries(queries)
        return cut(fuse([r.search(queries, k) for r in self.retrievers], self.method, self.weights, self.rrf_k), k)


class Reranking:
    """Anything with ``rerank(run, queries, docs=None, depth=-1) -> Run`` (``depth=-1``: the stage's own)."""

    depth: int | None = None

    def rerank(
        self, run: Mapping[str, Mapping[str, float]], queries: Any, docs: Any = None, depth: int | None = -1
    ) -> Run:
        """Scores of each query's top ``depth`` candidates; ``docs`` (a source or ``{docid: text}``) overrides the
        stage's own document texts."""
        return self.apply({q: dict(d) for q, d in run.items()}, as_queries(queries), docs, depth)

    def apply(self, run: Run, queries: dict[str, str], docs: Any, depth: int | None) -> Run:
        """Scores of each query's top ``depth`` candidates (:meth:`rerank` calls it with normalised inputs).

        Args:
            run: the candidates, ``{qid: {docid: score}}``.
            queries: ``{qid: text}``.
            docs: a document source or ``{docid: text}`` (None: the stage's own).
            depth: candidates per query (-1: the stage's own; None: all).

        Returns:
            The re-scored run."""
        raise NotImplementedError


class Reranker(Reranking):
    """Re-rank candidates with any boltir model (its family's re-ranker from the registry).

    ``model``: a short name, folder or Hub id (loaded as ``family``, or the folder's own family), or a model
    object loaded by boltir. ``docs``: where candidate texts come from (a file, bundled dataset, ``irds:<id>`` or
    ``{docid: text}``) unless ``rerank`` is given them. ``depth``: candidates re-ranked per query. ``batch_tokens``:
    padded tokens per forward pass (by default ``batch_size`` times the longest input; 0: ``batch_size`` texts
    per pass). ``quantize="int8"``: int8 linear layers on CPU; ``quantize="bf16"``: a bfloat16 backbone
    (:mod:`boltir.models.backends`). ``ranks``: this process's place in a job of several
    (:func:`boltir.utils.distributed.launch`); they share the batches and each gets the whole run.
    """

    def __init__(
        self,
        model: Any,
        docs: str | Mapping[str, str] | None = None,
        depth: int | None = 100,
        batch_size: int = 32,
        family: str | None = None,
        show_progress: bool = True,
        batch_tokens: int | None = None,
        quantize: str | None = None,
        ranks: Any = None,
        backend: str | None = None,
        **overrides: Any,
    ):
        if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
            from boltir.models.loading import load_module

            self.model, self.tokenizer = load_module(str(model), family=family, **overrides)
        else:
            self.model = getattr(model, "module", model)
            self.tokenizer = self.model.attached_tokenizer()
        from boltir.registry import family_of, reranker_of

        record = family_of(self.model)
        self.family = record.name
        from boltir.models.backends import prepare

        prepare(self.model, backend, quantize)
        self.docs, self.depth, self.batch_size, self.show_progress = docs, depth, batch_size, show_progress
        self.batch_tokens, self.ranks = batch_tokens, ranks
        if ranks is not None and ranks.device is not None:
            self.model.to(ranks.device)
        self._rerank = reranker_of(record)
        self._texts: dict[str, str] = {}

    def texts(self, doc_ids: set[str], docs: str | Mapping[str, str] | None = None) -> dict[str, str]:
        """Texts of ``doc_ids`` from ``docs`` (or the constructor's), read once and kept."""
        source = docs if docs is not None else self.docs
        if source is None:
            raise ConfigError("Reranker needs document texts: give docs= to the constructor or to rerank()")
        if isinstance(source, Mapping):
            return {d: source[d] for d in doc_ids}
        missing = doc_ids - self._texts.keys()
        if missing:
            from boltir.data.sources import doc_texts

            self._texts.update(doc_texts(source, missing))
        return {d: self._texts[d] for d in doc_ids}

    def apply(self, run: Run, queries: dict[str, str], docs: Any, depth: int | None) -> Run:
        """The model's scores of each query's top ``depth`` candidates (see :meth:`Reranking.apply`)."""
        depth = self.depth if depth == -1 else depth
        texts = self.texts(candidate_ids(run, depth), docs)
        from boltir.models.scoring import RerankJob

        settings = {
            "batch_size": self.batch_size,
            "show_progress": self.show_progress,
            "batch_tokens": self.batch_tokens,
            "ranks": self.ranks,
        }
        return self._rerank(RerankJob.from_run(self.model, self.tokenizer, run, queries, texts, depth, **settings))

    def __rshift__(self, other: Reranker) -> Pipeline:
        return Pipeline(None, [self, other])


class RerankFusion(Reranking):
    """Several re-rankers scoring the same candidates, fused per query (``rrf``, ``minmax`` or ``zscore``): e.g. a
    dense and a learned-sparse model as one stronger ranker (a local distillation teacher)."""

    def __init__(
        self,
        rerankers: Sequence[Reranking],
        method: str = "rrf",
        weights: Sequence[float] | None = None,
        rrf_k: int = 60,
    ):
        self.rerankers, self.method, self.weights, self.rrf_k = list(rerankers), method, weights, rrf_k
        depths = [r.depth for r in self.rerankers]
        self.depth = None if None in depths or not depths else max(d for d in depths if d is not None)

    def apply(self, run: Run, queries: dict[str, str], docs: Any, depth: int | None) -> Run:
        """Every re-ranker's scores of the same candidates, fused per query (see :meth:`Reranking.apply`)."""
        from boltir.data.fusion import fuse

        runs = [r.apply(run, queries, docs, depth) for r in self.rerankers]
        return fuse(runs, self.method, self.weights, self.rrf_k)

    def __rshift__(self, other: Reranker) -> Pipeline:
        return Pipeline(None, [self, other])


class Pipeline(Retriever, Reranking):
    """A first stage followed by re-rankers (or re-rankers alone). ``search(queries, k)`` retrieves
    ``max(k, depth of the first re-ranker)`` candidates, lets each re-ranker score its top ``depth`` in turn, and
    returns the top ``k``."""

    def __init__(self, first: Retriever | None, rerankers: Sequence[Reranking]):
        self.first, self.rerankers = first, list(rerankers)

    def search(self, queries: Any, k: int = 100) -> Run:
        """The first stage's ``max(k, first re-ranker's depth)`` candidates, re-ranked by each stage, cut to ``k``.

        Raises:
            ConfigError: the pipeline has no first stage."""
        if self.first is None:
            raise ConfigError("this pipeline has no first stage: use rerank(run, queries)")
        queries = as_queries(queries)
        depth = self.rerankers[0].depth if self.rerankers else None
        run = self.first.search(queries, max(k, depth or 0))
        return cut(self.rerank(run, queries), k)

    def apply(self, run: Run, queries: dict[str, str], docs: Any, depth: int | None) -> Run:
        """Each re-ranker in turn (``depth`` applies to the first; later ones use their own)."""
        for i, r in enumerate(self.rerankers):
            run = r.apply(run, queries, docs, depth if i == 0 else -1)
        return run

    def __rshift__(self, other: Reranking) -> Pipeline:
        return Pipeline(self.first, self.rerankers + [other])
