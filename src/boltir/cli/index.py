"""``boltir index``: encode a corpus with a bi-encoder into a sharded, resumable index of the kind its family
needs: dense (FAISS) for single-vector and MVR models, inverted for SPLADE / uniCOIL, multi-vector for ColBERT,
term-inverted tokens for COIL."""

from __future__ import annotations

import time

from boltir.cli.common import new_parser


def parser():
    p = new_parser(
        "index",
        "Encode documents with a bi-encoder into shards plus a FAISS index (single-vector and "
        "MVR models), an inverted index (SPLADE / uniCOIL), a PLAID-style multi-vector index (ColBERT) or "
        "a term-inverted token index (COIL). Rerunning an interrupted build resumes after its last "
        "complete shard.",
    )
    p.add_argument(
        "--model",
        type=str | None,
        default=None,
        help="model: short name, folder or Hub id (with --add: defaults to the index's own model)",
    )
    p.add_argument("--docs", type=str | None, default=None, help="documents: file, dataset name or irds:<id>")
    p.add_argument(
        "--add",
        type=bool,
        default=False,
        help="add --docs to the existing index in --output (new shards; the manifest records it)",
    )
    p.add_argument(
        "--delete",
        type=str | None,
        default=None,
        help="file of document ids (one per line) to delete from the existing index in --output",
    )
    p.add_argument("--output", type=str, required=True, help="index folder")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--shard-size", type=int, default=16384, help="documents per shard (the unit of resuming)")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader workers that tokenise")
    p.add_argument(
        "--family",
        type=str | None,
        default=None,
        help="model family for a model that is not a saved boltir folder: dpr, splade, unicoil, colbert, "
        "coil or mvr (default: read from the folder; a plain backbone is dpr)",
    )
    p.add_argument(
        "--factory",
        type=str | None,
        default=None,
        help="dense indexes: FAISS index factory string, inner product (default Flat): IVF1024,Flat, "
        "IVF1024,PQ32, PQ32, HNSW32, ...",
    )
    p.add_argument(
        "--train-size",
        type=int | None,
        default=None,
        help="vectors (dense, default 100,000: first shards first) or tokens (multi-vector, default "
        "262,144: sampled) to train IVF/PQ indexes or centroids on",
    )
    p.add_argument(
        "--num-centroids",
        type=int | None,
        default=None,
        help="multi-vector (ColBERT) indexes: k-means centroids (default: a power of two near "
        "16 * sqrt(tokens))",
    )
    p.add_argument(
        "--nbits",
        type=int | None,
        default=None,
        help="multi-vector (ColBERT) indexes: residual compression, 1/2/4/8 bits per dimension; search "
        "then scores decompressed tokens (default: float tokens, exact)",
    )
    p.add_argument("--doc-length", type=int | None, default=None, help="override the model's document length")
    p.add_argument("--overwrite", type=bool, default=False, help="delete an existing index first")
    p.add_argument(
        "--max-shards",
        type=int | None,
        default=None,
        help="stop after this many new shards (time-boxed builds; rerun to continue)",
    )
    return p


def main(argv: list[str]) -> int:
    from boltir.index.build import build_index
    from boltir.models.loading import load_model

    a = parser().parse_args(argv)
    if a.delete or a.add:
        return _update(a)
    if not a.model or not a.docs:
        raise ValueError("--model and --docs are needed to build an index")
    model, tokenizer = load_model(a.model, family=a.family, doc_length=a.doc_length)
    options = {
        "factory": a.factory,
        "train_size": a.train_size,
        "num_centroids": a.num_centroids,
        "nbits": a.nbits,
    }
    t0 = time.perf_counter()
    manifest = build_index(
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
        **options,
    )
    return _report(manifest, a, time.perf_counter() - t0)


def _update(a) -> int:
    from pathlib import Path

    from boltir.index.build import load_index_model
    from boltir.index.storage import read_manifest
    from boltir.index.update import add_documents, delete_documents

    if a.delete:
        ids = [
            line.strip() for line in Path(a.delete).read_text(encoding="utf-8").splitlines() if line.strip()
        ]
        m = delete_documents(a.output, ids)
        print(
            f"deleted {len(ids)} documents from {a.output} ({m['count'] - len(m['deleted'])} remain searchable)"
        )
    if a.add:
        if not a.docs:
            raise ValueError("--add needs --docs")
        model, tokenizer = load_index_model(Path(a.output), read_manifest(a.output), a.model)
        m = add_documents(a.output, model, tokenizer, a.docs, a.batch_size, a.shard_size)
        print(f"added {m['updates'][-1]['added']} documents to {a.output} ({m['count']} in all)")
    return 0


def _report(manifest, a, dt: float) -> int:
    if manifest is None:
        print(f"stopped after {a.max_shards} shards; rerun the same command to resume")
    else:
        print(f"indexed {manifest['count']} documents into {a.output} in {dt:.1f}s")
    return 0
