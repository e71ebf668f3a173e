"""``boltir export``: copy a boltir index into a search engine's collection (Qdrant), so it can be searched,
re-ranked and served through the engine; resumable, and a rerun after ``--add`` / ``--delete`` mirrors them."""

from __future__ import annotations

from boltir.cli import options
from boltir.cli.common import new_parser
from boltir.cli.options import REQUIRED, Option


def parser():
    """The options of ``boltir export``."""
    p = new_parser(
        "export",
        "Copy an index's stored vectors into a Qdrant collection (one point per document: its position as id, "
        "the document id in the payload, the kind's named vector). Rerunning continues an interrupted export "
        "and mirrors documents added or deleted since; then search it with boltir search --index TARGET.",
    )
    options.add(
        p,
        "batch_size",
        *options.COLLECTION,
        index=Option(str, REQUIRED, "index folder made by 'boltir index' (dense, sparse or multi-vector)"),
        to=Option(
            str, REQUIRED, "qdrant-edge:FOLDER (embedded engine), qdrant-local:FOLDER or qdrant://HOST:PORT/COLLECTION"
        ),
        max_batches=Option(int | None, None, "stop after this many batches (time-boxed; rerun to continue)"),
    )
    return p


def main(argv: list[str]) -> int:
    """Run ``boltir export``."""
    from boltir.errors import ConfigError
    from boltir.registry import engine_of, resolve

    a = parser().parse_args(argv)
    engine = engine_of(a.to)
    if engine is None:
        raise ConfigError(f"--to {a.to!r}: not an engine target (qdrant-edge:FOLDER, qdrant://HOST:PORT/COLLECTION)")
    export = resolve(engine.exporter)
    record = export(a.index, a.to, batch_size=a.batch_size, max_batches=a.max_batches, **options.collection_settings(a))
    state = "complete" if record.get("complete") else f"stopped after {record['exported']} documents; rerun to continue"
    print(f"exported {a.index} to {a.to}: {record.get('points', record['exported'])} points ({state})")
    return 0
