"""Dense single-vector indexing: stream documents, encode in length-sorted batches, write shards, then a
FAISS index over them. Interrupted builds resume after the last complete shard."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from boltir.data.records import Doc
from boltir.index.storage import IndexError_, ShardedVectorWriter, derived_name, iter_shards, open_index_of_kind
from boltir.utils.atomic import atomic_path
from boltir.utils.progress import progress_bar
from boltir.utils.provenance import input_fingerprint, provenance

FAISS_FILE = "faiss.index"


def _chunks(docs: Iterator[Doc], size: int) -> Iterator[list[Doc]]:
    chunk: list[Doc] = []
    for d in docs:
        chunk.append(d)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def new_chunks(docs: str, writer: ShardedVectorWriter, output: Path, shard_size: int, max_shards: int | None
               ) -> Iterator[list[Doc] | None]:
    """The chunks of ``docs`` a (resumed) build still has to write, one per shard; yields None when
    ``max_shards`` new shards are written, so the caller stops early (a rerun resumes)."""
    from boltir.data.sources import load_docs

    stream = load_docs(docs)
    for _ in range(writer.done_count):
        if next(stream, None) is None:
            raise IndexError_(f"{docs} has fewer documents than the partial index in {output}")
    for written, chunk in enumerate(_chunks(stream, shard_size)):
        if max_shards is not None and written >= max_shards:
            yield None
            return
        yield chunk


def encode_shards(writer: ShardedVectorWriter, docs: str, output: Path, shard_size: int, max_shards: int | None,
                  show_progress: bool, add_chunk: Callable[[list[Doc], Any], None]) -> float | None:
    """The shard loop of every index kind: ``add_chunk(documents, progress)`` encodes and writes each shard the
    (resumed) build still needs. Returns the seconds it took, or None when ``max_shards`` stopped it early."""
    from boltir.data.sources import count_docs

    started = time.perf_counter()
    with progress_bar(total=count_docs(docs), desc=f"index {docs}", unit="doc", disable=not show_progress,
                      initial=writer.done_count) as bar:
        for chunk in new_chunks(docs, writer, output, shard_size, max_shards):
            if chunk is None:
                return None
            add_chunk(chunk, bar)
    if writer.done_count == 0:
        raise IndexError_(f"{docs}: the corpus is empty; nothing to index")
    return time.perf_counter() - started


def model_record(model: Any, source: str, tokenizer: Any = None) -> dict[str, Any]:
    """What an index records of the model that built it (any bi-encoder family); the weights and tokenizer
    fingerprints are checked whenever the index is searched or extended."""
    from boltir.models.base import tokenizer_fingerprint, weights_fingerprint

    cfg = model.config
    record = {"source": source, "model_type": cfg.model_type, "fingerprint": weights_fingerprint(model),
              "embedding_dim": cfg.embedding_dim, "doc_length": cfg.doc_length, "query_length": cfg.query_length}
    if tokenizer is not None:
        record["tokenizer_fingerprint"] = tokenizer_fingerprint(tokenizer)
    for optional in ("similarity", "doc_top_k"):
        if hasattr(cfg, optional):
            record[optional] = getattr(cfg, optional)
    return record


def index_model(index_dir: Path, manifest: dict[str, Any], loader: Any, model: str | None = None,
                loaded: tuple[Any, Any] | None = None) -> tuple[Any, Any]:
    """``(model, tokenizer)`` to search an index with: ``loaded``, else ``model``, else the copy saved beside the
    index, else the recorded source; its weights must be the ones that built the index."""
    rec = manifest["model"]
    if loaded is None:
        source = model or (str(index_dir / rec["saved_copy"]) if rec.get("saved_copy") else rec["source"])
        loaded = loader(source)
    check_model(index_dir, rec, *loaded)
    return loaded


def check_model(index_dir: Path, record: dict[str, Any], model: Any, tokenizer: Any) -> None:
    """Raise a clear error unless ``model`` and ``tokenizer`` are the ones the index was built with."""
    from boltir.models.base import tokenizer_fingerprint, weights_fingerprint

    got = weights_fingerprint(model)
    if got != record["fingerprint"]:
        raise IndexError_(f"{index_dir} was built with model {record['source']!r} (weights {record['fingerprint']}); "
                          f"the given model has different weights ({got})")
    want = record.get("tokenizer_fingerprint")  # indexes from before tokenizer fingerprints have none
    if want is not None and tokenizer is not None and tokenizer_fingerprint(tokenizer) != want:
        raise IndexError_(f"{index_dir} was built with the tokenizer of {record['source']!r}; the given tokenizer "
                          "turns text into different ids (other vocabulary, added tokens or normalisation)")


def start_build(kind: str, model: Any, tokenizer: Any, docs: str, output: Path, model_source: str, shard_size: int,
                overwrite: bool, fresh_heads: bool = False, **build_extra: Any):
    """``(model record, docs record, writer)`` of a new or resumed build of any index kind. With
    ``fresh_heads`` the model is saved beside the index once: heads drawn at load time would differ at search
    time, so search loads that copy."""
    record = model_record(model, model_source, tokenizer)
    docs_record = input_fingerprint(docs)
    build_config = {"kind": kind, "model_fingerprint": record["fingerprint"],
                    "tokenizer_fingerprint": record["tokenizer_fingerprint"], "docs": docs_record,
                    "shard_size": shard_size, "doc_length": model.config.doc_length, **build_extra}
    writer = ShardedVectorWriter(output, build_config, overwrite=overwrite)
    if fresh_heads:
        from boltir.models.base import save_model_folder

        if not (output / "model" / "config.json").exists():
            save_model_folder(model, tokenizer, output / "model", provenance(source=model_source))
        record["saved_copy"] = "model"
    return record, docs_record, writer


def build_dense_index(model: Any, tokenizer: Any, docs: str, output: str | Path, *, model_source: str,
                      batch_size: int = 32, shard_size: int = 16384, num_workers: int = 0,
                      factory: str = "Flat", train_size: int = 100_000, overwrite: bool = False,
                      max_shards: int | None = None, show_progress: bool = True,
                      fresh_heads: bool = False) -> dict[str, Any] | None:
    """Index the documents of ``docs`` into ``output``. Returns the manifest, or None when ``max_shards``
    stopped the build early (rerun to resume).

    Multi-view models (MVR) put each document's ``views`` vectors into FAISS; search maps them back to documents
    and keeps each document's best view, which is exact with a Flat index when it fetches ``k * views`` vectors."""
    output = Path(output)
    views = document_views(model)
    record, docs_record, writer = start_build("dense", model, tokenizer, docs, output, model_source, shard_size,
                                              overwrite, fresh_heads)
    encode_seconds = encode_shards(writer, docs, output, shard_size, max_shards, show_progress, lambda chunk, bar:
                                   add_encoded_shard(writer, model, tokenizer, chunk, batch_size, num_workers, bar))
    if encode_seconds is None:
        return None
    _write_faiss(output, writer, record, factory, train_size)
    return writer.finish({
        "kind": "dense", "backend": "faiss", "factory": factory, "dim": record["embedding_dim"],
        **({"views": views} if views else {}),
        "model": record, "docs": docs_record, "build": {"batch_size": batch_size,
        "shard_size": shard_size, "encode_seconds_this_run": round(encode_seconds, 3)},
        "provenance": provenance(),
    })


def document_views(model: Any) -> int:
    """Vectors per document of a multi-view (MVR) model; 0 for single-vector models."""
    return len(getattr(model.config, "view_token_ids", None) or [])


def add_encoded_shard(writer: ShardedVectorWriter, model: Any, tokenizer: Any, chunk: list[Doc], batch_size: int,
                      num_workers: int = 0, progress: Any = None) -> None:
    """Encode one chunk of documents and append it as a shard: one vector per document, or for a multi-view
    model its views as a fixed-stride multi-vector shard."""
    from boltir.models.bi_encoders.inference import encode_texts, encode_views

    texts, ids = [d.text for d in chunk], [d.doc_id for d in chunk]
    views = document_views(model)
    if views:
        vecs = encode_views(model, tokenizer, texts, "doc", batch_size, progress=progress)
        writer.add_multivector_shard(vecs.reshape(-1, vecs.shape[-1]), np.arange(len(ids) + 1) * views, ids)
    else:
        writer.add_shard(encode_texts(model, tokenizer, texts, "doc", batch_size, num_workers=num_workers,
                                      progress=progress), ids)


def _write_faiss(output: Path, writer: ShardedVectorWriter, record: dict[str, Any], factory: str,
                 train_size: int) -> None:
    import faiss

    dim = record["embedding_dim"]
    try:
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as e:
        raise IndexError_(f"FAISS factory {factory!r} for {dim}-d vectors: {str(e).splitlines()[0]}") from None
    manifest_like = {"shards": writer.shards}
    if not index.is_trained:
        sample, n = [], 0
        for vecs, _ in iter_shards(output, manifest_like):
            take = min(len(vecs), train_size - n)
            sample.append(np.asarray(vecs[:take]))
            n += take
            if n >= train_size:
                break
        try:
            index.train(np.ascontiguousarray(np.concatenate(sample)))
        except RuntimeError as e:
            raise IndexError_(f"FAISS factory {factory!r}: training on {n} vectors failed "
                              f"({str(e).splitlines()[0]}); raise --train-size or use fewer centroids") from None
    for vecs, _ in iter_shards(output, manifest_like):
        index.add(np.ascontiguousarray(vecs))
    write_faiss_file(output, index, 0)


def write_faiss_file(output: Path, index: Any, generation: int) -> None:
    import faiss

    with atomic_path(output / derived_name(FAISS_FILE, generation)) as tmp:
        faiss.write_index(index, str(tmp))


def load_faiss(folder: str | Path, manifest: dict[str, Any]):
    import faiss

    path = Path(folder) / derived_name(FAISS_FILE, manifest.get("generation", 0))
    if not path.is_file():
        raise IndexError_(f"{path}: FAISS file missing")
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as e:
        raise IndexError_(f"{path}: unreadable FAISS index ({str(e).splitlines()[0]})") from None
    rows = sum(s.get("tokens", s["count"]) for s in manifest["shards"])  # documents, or documents x views
    if index.ntotal != rows or index.d != manifest["dim"]:
        raise IndexError_(f"{path}: holds {index.ntotal} x {index.d}, manifest says {rows} x {manifest['dim']}")
    return index


def open_index(folder: str | Path) -> dict[str, Any]:
    return open_index_of_kind(folder, "dense")
