"""``boltir index``: encode a corpus with a bi-encoder into a sharded, resumable index of the kind its family
needs: dense (FAISS) for single-vector and MVR models, inverted for SPLADE / uniCOIL, multi-vector for ColBERT,
term-inverted tokens for COIL."""

from __future__ import annotations

import time

from boltir.cli.common import new_parser


def parser():
    p = new_parser("index", "Encode documents with a bi-encoder into shards plus a FAISS index (single-vector and "
                   "MVR models), an inverted index (SPLADE / uniCOIL), a PLAID-style multi-vector index (ColBERT) or "
                   "a term-inverted token index (COIL). Rerunning an interrupted build resumes after its last "
                   "complete shard.")
    p.add_argument("--model", type=str | None, default=None,
                   help="model: short name, folder or Hub id (with --add: defaults to the index's own model)")
    p.add_argument("--docs", type=str | None, default=None, help="documents: file, dataset name or irds:<id>")
    p.add_argument("--add", type=bool, default=False,
                   help="add --docs to the existing index in --output (new shards; the manifest records it)")
    p.add_argument("--delete", type=str | None, default=None,
                   help="file of document ids (one per line) to delete from the existing index in --output")
    p.add_argument("--output", type=str, required=True, help="index folder")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--shard-size", type=int, default=16384, help="documents per shard (the unit of resuming)")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader workers that tokenise")
    p.add_argument("--factory", type=str, default="Flat",
                   help="FAISS index factory string, inner product: Flat, IVF1024,Flat, IVF1024,PQ32, PQ32, HNSW32, ...")
    p.add_argument("--train-size", type=int, default=100_000,
                   help="vectors sampled (first shards first) to train IVF/PQ indexes")
    p.add_argument("--num-centroids", type=int | None, default=None,
                   help="multi-vector (ColBERT) indexes: k-means centroids (default: a power of two near "
                        "16 * sqrt(tokens))")
    p.add_argument("--nbits", type=int | None, default=None,
                   help="multi-vector (ColBERT) indexes: residual compression, 1/2/4/8 bits per dimension; search "
                        "then scores decompressed tokens (default: float tokens, exact)")
    p.add_argument("--doc-length", type=int | None, default=None, help="override the model's document length")
    p.add_argument("--overwrite", type=bool, default=False, help="delete an existing index first")
    p.add_argument("--max-shards", type=int | None, default=None,
                   help="stop after this many new shards (time-boxed builds; rerun to continue)")
    return p


def _loader(kind: str, model: str = "the model"):
    """The loader of a bi-encoder family (as ``model_kind`` names it)."""
    from boltir.models import loading

    loaders = {"bi-encoder": loading.load_bi_encoder, "mvr": loading.load_mvr, "splade": loading.load_splade,
               "colbert": loading.load_colbert, "coil": loading.load_coil}
    if kind not in loaders:
        raise ValueError(f"{model} is a {kind}; index needs a bi-encoder (single-vector, MVR, SPLADE, uniCOIL, "
                         "COIL or ColBERT)")
    return loaders[kind]


def main(argv: list[str]) -> int:
    from boltir.models.loading import is_boltir_folder, model_kind, resolve_model

    a = parser().parse_args(argv)
    if a.delete or a.add:
        return _update(a)
    if not a.model or not a.docs:
        raise ValueError("--model and --docs are needed to build an index")
    kind = model_kind(a.model)
    if a.nbits is not None and kind != "colbert":
        raise ValueError(f"--nbits compresses multi-vector (ColBERT) indexes; {a.model} is a {kind}")
    model, tokenizer = _loader(kind, a.model)(a.model, doc_length=a.doc_length)
    plain = not is_boltir_folder(resolve_model(a.model))  # heads drawn at load time are saved beside the index
    if kind == "colbert":
        from boltir.index.multivector import build_multivector_index as build

        extra = {"num_centroids": a.num_centroids, "train_size": a.train_size, "nbits": a.nbits}
    elif kind == "splade":
        from boltir.index.sparse import build_sparse_index as build

        extra = {}
    elif kind == "coil":
        from boltir.index.coil import build_coil_index as build

        extra = {"fresh_heads": plain}
    else:
        from boltir.index.dense import build_dense_index as build

        extra = {"num_workers": a.num_workers, "factory": a.factory, "train_size": a.train_size,
                 "fresh_heads": plain and getattr(model, "projection", None) is not None}
    t0 = time.perf_counter()
    manifest = build(model, tokenizer, a.docs, a.output, model_source=a.model, batch_size=a.batch_size,
                     shard_size=a.shard_size, overwrite=a.overwrite, max_shards=a.max_shards, **extra)
    return _report(manifest, a, time.perf_counter() - t0)


def _update(a) -> int:
    from pathlib import Path

    from boltir.index.storage import read_manifest
    from boltir.index.update import add_documents, delete_documents

    if a.delete:
        ids = [line.strip() for line in Path(a.delete).read_text(encoding="utf-8").splitlines() if line.strip()]
        m = delete_documents(a.output, ids)
        print(f"deleted {len(ids)} documents from {a.output} ({m['count'] - len(m['deleted'])} remain searchable)")
    if a.add:
        if not a.docs:
            raise ValueError("--add needs --docs")
        manifest = read_manifest(a.output)
        rec = manifest["model"]
        source = a.model or (str(Path(a.output) / rec["saved_copy"]) if rec.get("saved_copy") else rec["source"])
        family = {"dense": "mvr" if manifest.get("views") else "bi-encoder", "sparse": "splade",
                  "multivector": "colbert", "coil": "coil"}[manifest["kind"]]
        model, tokenizer = _loader(family)(source, doc_length=rec.get("doc_length"))
        m = add_documents(a.output, model, tokenizer, a.docs, a.batch_size, a.shard_size)
        print(f"added {m['updates'][-1]['added']} documents to {a.output} ({m['count']} in all)")
    return 0


def _report(manifest, a, dt: float) -> int:
    if manifest is None:
        print(f"stopped after {a.max_shards} shards; rerun the same command to resume")
    else:
        print(f"indexed {manifest['count']} documents into {a.output} in {dt:.1f}s")
    return 0
