"""``boltir index``: encode a corpus with a bi-encoder into a sharded, resumable index of the kind its family
needs: dense (FAISS) for single-vector and MVR models, inverted for SPLADE / uniCOIL, multi-vector for ColBERT,
term-inverted tokens for COIL."""

from __future__ import annotations

import sys
import time

from boltir.cli import options
from boltir.cli.common import new_parser
from boltir.cli.options import Option
from boltir.errors import ConfigError
from boltir.registry import families


def parser():
    """The options of ``boltir index``."""
    p = new_parser(
        "index",
        "Encode documents with a bi-encoder into shards plus a FAISS index (single-vector and MVR models), an "
        "inverted index (SPLADE / uniCOIL), a PLAID-style multi-vector index (ColBERT) or a term-inverted token index "
        "(COIL). Rerunning an interrupted build resumes after its last complete shard.",
    )
    options.add(
        p,
        *options.DEVICES,
        *options.COLLECTION,
        "quantize",
        "backend",
        "batch_tokens",
        "limit",
        "docs",
        "batch_size",
        "num_workers",
        "overwrite",
        model=Option(str | None, None, "model: short name, folder or Hub id (--add: the index's own)"),
        output=Option(
            str | None,
            None,
            "index folder (required but with --verify), or a Qdrant collection to encode straight into "
            "(qdrant-edge:FOLDER, qdrant://HOST:PORT/COLLECTION)",
        ),
        add=Option(bool, False, "add --docs to the index in --output (new shards, recorded in the manifest)"),
        delete=Option(str | None, None, "file of document ids (one per line) to delete from --output"),
        shard_size=Option(int, 16384, "documents per shard (the unit of resuming)"),
        family=Option(
            str | None,
            None,
            "family of a model that is not a saved boltir folder (default dpr): "
            + ", ".join(f.name for f in families("bi-encoder")),
        ),
        factory=Option(str | None, None, "dense indexes: FAISS factory string (default Flat), e.g. IVF1024,PQ32"),
        train_size=Option(int | None, None, "vectors (dense) or tokens (multi-vector) to train IVF/PQ or centroids"),
        ondisk=Option(bool, False, "dense IVF indexes: inverted lists merged shard by shard into a memory-mapped file"),
        num_centroids=Option(int | None, None, "multi-vector indexes: k-means centroids (default ~16 sqrt(tokens))"),
        nbits=Option(int | None, None, "multi-vector indexes: residual compression, 1/2/4/8 bits per dimension"),
        keep_vectors=Option(
            bool,
            True,
            "multi-vector indexes with --nbits: keep the float token vectors (false: the folder keeps only what "
            "search reads; no export or re-compression)",
        ),
        doc_length=Option(int | None, None, "override the model's document length"),
        max_shards=Option(int | None, None, "stop after this many new shards (time-boxed; rerun to continue)"),
        verify=Option(str | None, None, "check every file of the index in this folder against its checksum"),
    )
    return p


def main(argv: list[str]) -> int:
    """Run ``boltir index``: build (or resume), add to, delete from or verify an index."""
    a = parser().parse_args(argv)
    from boltir.data.sources import set_limit

    set_limit(a.limit)
    if a.verify:
        return _verify(a.verify)
    if not a.output:
        raise ConfigError("--output (the index folder) is required")
    import contextlib

    from boltir.index.lock import writer_lock

    ranks = options.ranks_of(a)
    if ranks.world > 1 and (a.delete or a.add):
        raise ConfigError("--add and --delete run in one process: drop --devices / --num-nodes")
    from boltir.registry import engine_of

    engine = engine_of(a.output)
    if engine is not None:  # the engine guards its collection: no folder lock
        return _write(a, ranks, engine)
    given = options.collection_settings(a)
    if given:
        names = ", ".join("--" + n.replace("_", "-") for n in given)
        raise ConfigError(f"{names}: settings of an engine collection (--output qdrant-...), not of an index folder")
    # rank 0 locks the folder before loading the model: a second writer fails at once
    with writer_lock(a.output, "boltir index") if ranks.is_main else contextlib.nullcontext():
        return _write(a, ranks)


def _write(a, ranks, engine=None) -> int:
    """Build (or resume) an index folder, or, for an ``engine`` target, a collection filled straight from the
    encoder (each rank upserts its own shards)."""
    from boltir.index.build import build_index
    from boltir.models.loading import load_module
    from boltir.registry import resolve

    folder_options = {
        "factory": a.factory,
        "train_size": a.train_size,
        "ondisk": a.ondisk or None,
        "num_centroids": a.num_centroids,
        "nbits": a.nbits,
        "keep_vectors": None if a.keep_vectors else False,
    }
    if engine is not None and (a.delete or a.add or any(v is not None for v in folder_options.values())):
        raise ConfigError(
            f"--output {a.output}: an engine collection is built by the engine; --add, --delete and the index "
            "options (--factory, --ondisk, --num-centroids, --nbits, --keep-vectors, --train-size) apply to index "
            "folders (rerun the build to add documents)"
        )
    if a.delete or a.add:
        return _update(a)
    if not a.model or not a.docs:
        raise ConfigError("--model and --docs are needed to build an index")
    model, tokenizer = load_module(a.model, family=a.family, doc_length=a.doc_length)
    model.to(ranks.device)
    build, knobs = (build_index, folder_options) if engine is None else (resolve(engine.indexer), {})
    t0 = time.perf_counter()
    result = build(
        model,
        tokenizer,
        a.docs,
        a.output,
        model_source=a.model,
        batch_size=a.batch_size,
        shard_size=a.shard_size,
        num_workers=a.num_workers,
        overwrite=a.overwrite,
        max_shards=a.max_shards,
        batch_tokens=a.batch_tokens,
        quantize=a.quantize,
        backend=a.backend,
        ranks=ranks,
        **knobs,
        **options.collection_settings(a),
    )
    if not ranks.is_main:
        return 0
    return _report(result, a, time.perf_counter() - t0)


def _update(a) -> int:
    from pathlib import Path

    from boltir.index.open import load_index_model
    from boltir.index.storage import read_manifest
    from boltir.index.update import add_documents, delete_documents

    if a.delete:
        ids = [line.strip() for line in Path(a.delete).read_text(encoding="utf-8").splitlines() if line.strip()]
        m = delete_documents(a.output, ids)
        print(f"deleted {len(ids)} documents from {a.output} ({m['count'] - len(m['deleted'])} remain searchable)")
    if a.add:
        if not a.docs:
            raise ConfigError("--add needs --docs")
        model, tokenizer = load_index_model(Path(a.output), read_manifest(a.output), a.model)
        m = add_documents(a.output, model, tokenizer, a.docs, a.batch_size, a.shard_size, batch_tokens=a.batch_tokens)
        print(f"added {m['updates'][-1]['added']} documents to {a.output} ({m['count']} in all)")
    return 0


def _verify(folder: str) -> int:
    from pathlib import Path

    from boltir.errors import InvalidIndexError
    from boltir.index.integrity import verify
    from boltir.index.storage import read_manifest

    manifest = read_manifest(folder)
    problems = verify(Path(folder), manifest)
    for p in problems:
        print(f"{folder}: {p}", file=sys.stderr)
    if problems:
        raise InvalidIndexError(
            f"{folder}: {len(problems)} of {len(manifest.get('files') or {})} files are not as recorded (listed above)"
        )
    print(f"{folder}: all {len(manifest['files'])} files intact (sizes and checksums as recorded)")
    return 0


def _report(manifest, a, dt: float) -> int:
    if manifest is None:
        print(f"stopped after {a.max_shards} shards; rerun the same command to resume")
    else:
        points = f" ({manifest['points']} points)" if "points" in manifest else ""
        print(f"indexed {manifest['count']} documents into {a.output}{points} in {dt:.1f}s")
    return 0
