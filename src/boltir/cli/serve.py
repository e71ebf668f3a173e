"""``boltir serve``: an index (optionally followed by a re-ranker) or a model behind HTTP."""

from __future__ import annotations

from boltir.cli import options
from boltir.cli.common import new_parser
from boltir.cli.options import CATALOGUE, Option


def parser():
    """The options of ``boltir serve``."""
    p = new_parser(
        "serve",
        "Serve an index (any kind; --reranker re-scores its top --depth with --docs' texts) or a model: POST "
        "/search, /rerank, /encode, GET /health, /info (OpenAPI docs at /docs). Concurrent requests are batched "
        "into one forward pass; a new index generation is picked up without restart.",
    )
    options.add(
        p,
        "batch_size",
        "quantize",
        "backend",
        index=Option(str | None, None, "index folder to search"),
        model=CATALOGUE["model"].but(default=None, type=str | None, help="model for /rerank and /encode"),
        reranker=Option(str | None, None, "re-rank the index's top --depth with this model"),
        docs=CATALOGUE["docs"].but(help="texts of the indexed documents (needed by --reranker)"),
        depth=CATALOGUE["depth"].but(help="candidates the re-ranker scores per query"),
        host=Option(str, "127.0.0.1", "address to listen on (0.0.0.0: every interface)"),
        port=Option(int, 8000, "port to listen on"),
        batching=Option(bool, True, "batch concurrent requests together (--batching false: one call each)"),
        max_batch=Option(int, 32, "most items (queries, candidate lists, texts) in one batched call"),
        max_wait_ms=Option(float, 5.0, "how long a batch waits for more requests after its first"),
        max_queries=Option(int, 256, "most queries or texts per request"),
        max_query_chars=Option(int, 2000, "longest query or text accepted"),
        max_candidates=Option(int, 1000, "most candidate documents per /rerank request"),
    )
    return p


def main(argv: list[str]) -> int:
    """Run ``boltir serve``: the HTTP service over an index, a re-ranker or a model, until interrupted."""
    a = parser().parse_args(argv)
    import uvicorn

    from boltir.serve.app import Limits, Service, create_app

    service = Service(a.index, a.model, a.reranker, a.docs, a.depth, a.batch_size, a.quantize, a.backend)
    limits = Limits(a.max_queries, a.max_query_chars, a.max_candidates)
    app = create_app(service, limits, a.max_batch, a.max_wait_ms, a.batching)
    uvicorn.run(app, host=a.host, port=a.port, log_level="info")
    return 0
