"""The HTTP service: an index (any kind) optionally followed by a re-ranker, or a model alone.

``POST /search`` ``{"queries": [...], "k": 10}`` -> ``{"results": [[{"doc_id", "score"}, ...], ...]}``;
``POST /rerank`` ``{"query": "...", "documents": ["...", ...]}`` -> ``{"scores": [...], "ranking": [...]}``;
``POST /encode`` ``{"texts": [...], "kind": "query"}`` -> ``{"embeddings": [...]}``; ``GET /health``; ``GET /info``.
Concurrent requests of each endpoint are batched together (:mod:`boltir.serve.batching`); a new index generation
(after ``boltir index --add``) is picked up at the next search; shutdown finishes the requests in flight.

Every request is validated on its own before it joins a batch (unknown fields, empty or overlong texts, text that
is not valid Unicode, numbers out of range: a 422 naming the field), and a request that still fails inside a batch
gets its own error while the rest of the batch is answered. Every error has one body shape,
``{"detail": "<field>: <problem>", "errors": [{"field": ..., "message": ...}, ...]}``.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from boltir.errors import ConfigError
from boltir.serve.batching import DynamicBatcher


@dataclass
class Limits:
    """What a request may ask for; beyond it the answer is a 422 naming the field."""

    max_queries: int = 256
    max_query_chars: int = 2000
    max_candidates: int = 1000
    max_k: int = 1000


def strict(example: dict[str, Any]) -> ConfigDict:
    """A request model's settings: unknown fields and NaN / infinity refused, and an example for the docs."""
    return ConfigDict(extra="forbid", allow_inf_nan=False, json_schema_extra={"examples": [example]})


class SearchRequest(BaseModel):
    """``POST /search``: query texts and the number of documents per query."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={"examples": [{"queries": ["how long do cats sleep"], "k": 3}]},
    )
    queries: list[str] = Field(description="query texts, one result list each")
    k: int = Field(10, ge=1, description="documents per query")


class RerankRequest(BaseModel):
    """``POST /rerank``: one query and its candidate texts."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={
            "examples": [
                {"query": "how long do cats sleep", "documents": ["Cats sleep 12 to 16 hours.", "Stocks fell."]}
            ]
        },
    )
    query: str = Field(description="the query text")
    documents: list[str] = Field(description="candidate texts, scored in the order given")


class EncodeRequest(BaseModel):
    """``POST /encode``: texts and whether they are queries or documents."""

    model_config = ConfigDict(
        extra="forbid",
        allow_inf_nan=False,
        json_schema_extra={"examples": [{"texts": ["cats sleep"], "kind": "query"}]},
    )
    texts: list[str] = Field(description="texts to encode")
    kind: Literal["query", "doc"] = Field("query", description="encode the texts as queries or as documents")


class Hit(BaseModel):
    """One retrieved document."""

    doc_id: str = Field(description="the document's id in the index")
    score: float = Field(description="its score (higher ranks higher)")


class SearchResponse(BaseModel):
    """The hits of each query, best first, in the order of the request's queries."""

    results: list[list[Hit]]


class RerankResponse(BaseModel):
    """The candidates' scores in the order given, and the candidates' positions best first."""

    scores: list[float]
    ranking: list[int]


class EncodeResponse(BaseModel):
    """What each text encodes into, as the model's index kind writes it (a vector, term weights, ...)."""

    embeddings: list[Any]


class ErrorItem(BaseModel):
    """One problem of a request."""

    field: str = Field(description="the request field it concerns (empty: the request as a whole)")
    message: str


class ErrorBody(BaseModel):
    """Every error answer: the first problem as ``field: message``, and all of them."""

    detail: str
    errors: list[ErrorItem]


ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "the server has no index or model for this endpoint"},
    422: {"model": ErrorBody, "description": "the request is not valid (the field is named)"},
    500: {"model": ErrorBody, "description": "a bug in boltir (the server log has the traceback)"},
}


def error_body(status: int, errors: list[tuple[str, str]]) -> JSONResponse:
    """The one shape of every error answer: ``detail`` (``field: problem``, the first) and every ``errors`` item."""
    items = [{"field": f, "message": m} for f, m in errors] or [{"field": "", "message": "error"}]
    first = items[0]
    detail = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
    return JSONResponse({"detail": detail, "errors": items}, status_code=status)


def field_name(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as the request field it names: ``("body", "queries", 0)`` -> ``queries[0]``."""
    parts = [p for p in loc if p not in ("body", "query", "path")]
    name = ""
    for p in parts:
        name += f"[{p}]" if isinstance(p, int) else (f".{p}" if name else str(p))
    return name or "body"


class Service:
    """The loaded index / re-ranker / model and the batch functions the endpoints call (in one worker thread)."""

    def __init__(
        self,
        index: str | None = None,
        model: str | None = None,
        reranker: str | None = None,
        docs: str | None = None,
        depth: int = 100,
        batch_size: int = 32,
        quantize: str | None = None,
        backend: str | None = None,
    ):
        from boltir.models.api import load_model

        if not index and not model and not reranker:
            raise ConfigError("serve needs --index, --model or --reranker")
        if reranker and index and not docs:
            raise ConfigError("--reranker after --index needs --docs (the texts of the indexed documents)")
        self.index, self.depth, self.batch_size = index, depth, batch_size
        self.quantize, self.backend = quantize, backend
        self.lock = threading.Lock()
        self.searcher: Any = None
        self.generation = None
        if index:
            self._open_index()
        self.reranker: Any = None
        if reranker:
            from boltir.pipeline import Reranker

            self.reranker = Reranker(
                reranker, docs, depth, batch_size, show_progress=False, quantize=quantize, backend=backend
            )
        self.model: Any = None
        if model:
            self.model = load_model(model)
            from boltir.models.backends import prepare

            prepare(self.model.module, backend, quantize)
        elif self.searcher is not None:
            from boltir.models.api import BiEncoder

            self.model = BiEncoder(self.searcher.model, self.searcher.tokenizer)
        from boltir.models.backends import trace_backbone

        for loaded in (self.model and self.model.module, self.reranker and self.reranker.model):
            if loaded is not None and backend in (None, "torch") and quantize is None:
                trace_backbone(loaded, after=0)  # a server lives long: taken now, so no request waits for it

    def _open_index(self) -> None:
        from boltir.index.open import open_searcher

        assert self.index is not None
        loaded = (self.searcher.model, self.searcher.tokenizer) if self.searcher is not None else None
        self.searcher = open_searcher(
            self.index,
            loaded=loaded,
            batch_size=self.batch_size,
            quantize=None if loaded else self.quantize,
            backend=None if loaded else self.backend,
        )
        self.generation = self.searcher.manifest.get("generation", 0)

    def _current(self) -> None:
        """Reopen the index when an update published a new generation (the model stays loaded)."""
        assert self.index is not None and self.searcher is not None
        if self.searcher.published_generation() != self.generation:
            self._open_index()

    def search_batch(self, items: list[tuple[str, int]]) -> list[list[tuple[str, float]]]:
        """The hits (doc id, score) of a batch of (query, k) requests, re-ranked when the service has a re-ranker."""
        if self.searcher is None:
            raise HTTPException(404, "this server has no index: start it with --index")
        self._current()
        queries = {str(i): q for i, (q, _) in enumerate(items)}
        k = max(k for _, k in items)
        run = self.searcher.search(queries, max(k, self.depth if self.reranker else 0))
        if self.reranker is not None:
            run = self.reranker.rerank(run, queries)
        out = []
        for i, (_, ki) in enumerate(items):
            scored = run.get(str(i), {})
            out.append(sorted(scored.items(), key=lambda kv: (-kv[1], kv[0]))[:ki])
        return out

    def _scorer(self) -> tuple[Any, Any]:
        if self.reranker is not None:
            return self.reranker.model, self.reranker.tokenizer
        if self.model is not None:
            return self.model.module, self.model.tokenizer
        raise HTTPException(404, "this server has no model to score with: start it with --model or --reranker")

    def rerank_batch(self, items: list[tuple[str, list[str]]]) -> list[list[float]]:
        """The scores of a batch of (query, candidates) requests, in the candidates' order."""
        from boltir.models.scoring import RerankJob
        from boltir.registry import family_of, reranker_of

        module, tokenizer = self._scorer()
        queries = {str(i): q for i, (q, _) in enumerate(items)}
        docs = {f"{i}:{j}": d for i, (_, ds) in enumerate(items) for j, d in enumerate(ds)}
        lists = {str(i): [f"{i}:{j}" for j in range(len(ds))] for i, (_, ds) in enumerate(items)}
        job = RerankJob(module, tokenizer, lists, queries, docs, self.batch_size, show_progress=False)
        scored = reranker_of(family_of(module))(job)
        return [[scored[str(i)][f"{i}:{j}"] for j in range(len(ds))] for i, (_, ds) in enumerate(items)]

    def encode_batch(self, items: list[tuple[str, str]]) -> list[Any]:
        """What the model encodes each (text, query or doc) into, as its index kind's JSON."""
        from boltir.registry import get_index_kind

        if self.model is None or not hasattr(self.model, "encode_queries"):
            raise HTTPException(404, "this server has no bi-encoder to encode with: start it with --index or --model")
        representation = get_index_kind(self.model.family.index_kind).impl()  # it says its JSON
        out: list[Any] = [None] * len(items)
        for kind in ("query", "doc"):
            positions = [i for i, (_, k) in enumerate(items) if k == kind]
            if not positions:
                continue
            encoded = self.model.module.encode(
                [items[i][0] for i in positions], kind, self.batch_size, tokenizer=self.model.tokenizer
            )
            for row, i in enumerate(positions):
                out[i] = representation.to_json(encoded, row)
        return out

    def info(self) -> dict[str, Any]:
        """Versions, the index manifest and how each model runs (``GET /info``)."""
        from boltir.models.backends import describe
        from boltir.utils.provenance import package_versions

        out: dict[str, Any] = {"versions": package_versions()}
        if self.searcher is not None:
            m = self.searcher.manifest
            out["index"] = {
                "path": str(self.index),
                "kind": m.get("kind"),
                "count": m.get("count"),
                "generation": m.get("generation", 0),
                "model": m.get("model", {}).get("source"),
            }
        if self.model is not None:
            out["model"] = {
                "source": str(self.model.config.name_or_path),
                "family": self.model.family.name,
                "runs_on": describe(self.model.module),
            }
        if self.reranker is not None:
            source = str(self.reranker.model.config.name_or_path)
            out["reranker"] = {
                "source": source,
                "family": self.reranker.family,
                "depth": self.depth,
                "runs_on": describe(self.reranker.model),
            }
        return out


def create_app(
    service: Service, limits: Limits | None = None, max_batch: int = 32, max_wait_ms: float = 5.0, batching: bool = True
) -> FastAPI:
    """The FastAPI application around ``service`` (OpenAPI docs at /docs)."""
    from boltir.version import __version__

    limits = limits or Limits()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="boltir-model")
    settings: dict[str, Any] = {"max_batch": max_batch, "max_wait_ms": max_wait_ms, "enabled": batching}
    batchers = {
        "search": DynamicBatcher(service.search_batch, executor, **settings),
        "rerank": DynamicBatcher(service.rerank_batch, executor, **settings),
        "encode": DynamicBatcher(service.encode_batch, executor, **settings),
    }

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        for b in batchers.values():
            await b.start()
        yield
        for b in batchers.values():  # drain: every queued request is answered before the process ends
            await b.close()
        executor.shutdown(wait=True)

    from fastapi_offline import FastAPIOffline  # Swagger UI and ReDoc served from the package: /docs works offline

    app = FastAPIOffline(
        title="boltir",
        version=__version__,
        lifespan=lifespan,
        description="Search an index, re-rank candidates and encode texts with boltir models. Concurrent requests "
        "are batched together; each request is validated on its own, and one that fails gets its own error.",
    )
    app.state.service, app.state.batchers, app.state.limits = service, batchers, limits

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # the client's own input is never echoed back (it may not even be serialisable: NaN, lone surrogates)
        return error_body(422, [(field_name(tuple(e.get("loc", ()))), str(e.get("msg", ""))) for e in exc.errors()])

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        detail = str(exc.detail)
        field, sep, message = detail.partition(": ")
        return error_body(exc.status_code, [(field, message)] if sep and " " not in field else [("", detail)])

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        from boltir.errors import BoltirError

        if isinstance(exc, BoltirError):  # boltir refused this request's input
            return error_body(422, [("", str(exc))])
        return error_body(500, [("", f"internal error ({type(exc).__name__}); the server log has the traceback")])

    def check_texts(field: str, texts: list[str], most: int) -> None:
        if not texts:
            raise HTTPException(422, f"{field}: give at least one text")
        if len(texts) > most:
            raise HTTPException(422, f"{field}: {len(texts)} texts, at most {most} per request")
        for i, t in enumerate(texts):
            if not t.strip():
                raise HTTPException(422, f"{field}[{i}]: empty text")
            if len(t) > limits.max_query_chars:
                raise HTTPException(422, f"{field}[{i}]: {len(t)} characters, at most {limits.max_query_chars}")
            try:
                t.encode("utf-8")
            except UnicodeEncodeError as e:
                raise HTTPException(422, f"{field}[{i}]: not valid Unicode ({e.reason} at {e.start})") from None

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Whether the server is up."""
        return {"status": "ok"}

    @app.get("/info")
    async def info() -> dict[str, Any]:
        """Versions, the index and models served, batching settings and counts, request limits."""
        return {
            **service.info(),
            "batching": {**settings, "calls": {k: b.calls for k, b in batchers.items()}},
            "limits": limits.__dict__,
        }

    @app.post("/search", response_model=SearchResponse, responses=ERRORS)
    async def search(req: SearchRequest) -> dict[str, Any]:
        """The top ``k`` documents of each query from the index (re-ranked when the server has a re-ranker)."""
        check_texts("queries", req.queries, limits.max_queries)
        if req.k > limits.max_k:
            raise HTTPException(422, f"k: {req.k}, at most {limits.max_k}")
        results = await batchers["search"]([(q, req.k) for q in req.queries])
        return {"results": [[{"doc_id": d, "score": s} for d, s in r] for r in results]}

    @app.post("/rerank", response_model=RerankResponse, responses=ERRORS)
    async def rerank(req: RerankRequest) -> dict[str, Any]:
        """Scores of one query's candidate texts by the re-ranker (or the model), the same as ``boltir re-rank``."""
        check_texts("query", [req.query], 1)
        if len(req.documents) > limits.max_candidates:
            raise HTTPException(422, f"documents: {len(req.documents)}, at most {limits.max_candidates} per request")
        if not req.documents:
            raise HTTPException(422, "documents: give at least one candidate text")
        (scores,) = await batchers["rerank"]([(req.query, req.documents)])
        ranking = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
        return {"scores": scores, "ranking": ranking}

    @app.post("/encode", response_model=EncodeResponse, responses=ERRORS)
    async def encode(req: EncodeRequest) -> dict[str, Any]:
        """What the bi-encoder encodes each text into (what its index stores for documents)."""
        check_texts("texts", req.texts, limits.max_queries)
        return {"embeddings": await batchers["encode"]([(t, req.kind) for t in req.texts])}

    return app
