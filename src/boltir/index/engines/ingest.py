"""Index straight into an engine: ``boltir index --output qdrant://...`` encodes the corpus shard by shard, as a
build into a folder does, and upserts each shard's points into the collection instead of writing files, so a
Lightning cluster (``--devices N`` / ``--num-nodes N``: each rank encodes and upserts its own shards) can fill a
Qdrant cluster without a local copy.

Point ids are document positions (shard ``i``'s row ``r`` is ``i * shard_size + r``), so the collection equals the
export of a folder index built with the same shard size, and a shard upserted twice is one copy. Each rank records
the shards it has finished in the collection (a metadata key of its own on a server, a file beside an embedded
shard); a rerun of the same command skips them, and a rerun with another model, corpus or shard size is refused.
Rank 0 marks the collection complete once every rank has finished; until then searches refuse it.
"""

from __future__ import annotations

from typing import Any

from boltir.errors import ConfigError, InvalidIndexError, UnsupportedError
from boltir.utils.distributed import SINGLE, Ranks


class CollectionShardWriter:
    """The shard writer of a build into a collection: the interface index kinds write shards through
    (``add_shard``, ``add_sparse_shard``, ``add_multivector_shard``), upserting each shard's points and recording
    the shard in this rank's progress once the engine has them."""

    def __init__(
        self,
        collection: Any,
        layout: dict[str, Any],
        build: dict[str, Any],
        rank: int = 0,
        world: int = 1,
        upsert_batch: int = 256,
    ):
        self.collection, self.layout, self.kind, self.build = collection, layout, layout["kind"], build
        self.upsert_batch = upsert_batch
        self.rank, self.world = rank, world
        self.next_index: int | None = None
        self.pending_empty = 0
        progress = collection.progress(rank)
        if progress.get("build") not in (None, build):  # rank 0 checked the record; a rank's own progress agrees
            raise InvalidIndexError(f"{collection.target.spec}: rank {rank}'s progress is of another build")
        self.shards: list[dict[str, Any]] = list(progress.get("shards", []))

    @property
    def done_indices(self) -> set[int]:
        """The shard numbers this rank has upserted."""
        return {s["index"] for s in self.shards}

    @property
    def done_count(self) -> int:
        """Documents in the shards this rank has upserted."""
        return sum(s["count"] for s in self.shards)

    @property
    def empty_count(self) -> int:
        """Documents with empty text among them."""
        return sum(s.get("empty", 0) for s in self.shards)

    def _upsert(self, shard: Any, ids: list[str]) -> None:
        from boltir.index.engines.qdrant import shard_points

        index = len(self.shards) if self.next_index is None else self.next_index
        first = index * self.build["shard_size"]
        points = list(shard_points(self.kind, shard))
        for start in range(0, len(points), self.upsert_batch):
            part = points[start : start + self.upsert_batch]
            self.collection.upsert(
                self.layout, [first + r for r, _ in part], [v for _, v in part], [ids[r] for r, _ in part]
            )
        entry = {"index": index, "count": len(ids), "points": len(points)}
        if self.pending_empty:
            entry["empty"], self.pending_empty = self.pending_empty, 0
        self.shards.append(entry)
        self.collection.write_progress(self.rank, {"build": self.build, "shards": self.shards})
        self.next_index = None

    def add_shard(self, vectors: Any, ids: list[str]) -> None:
        """Upsert a shard of one vector per document."""
        self._upsert(vectors, ids)

    def add_sparse_shard(self, matrix: Any, ids: list[str]) -> None:
        """Upsert a shard of sparse term weights (CSR)."""
        import scipy.sparse as sp

        self._upsert(sp.csr_matrix(matrix), ids)

    def add_multivector_shard(self, tokens: Any, offsets: Any, ids: list[str], **_: Any) -> None:
        """Upsert a shard of token vectors (``offsets[i]:offsets[i+1]`` are document ``i``'s)."""
        self._upsert((tokens, offsets), ids)


def index_into_collection(
    model: Any,
    tokenizer: Any,
    docs: str,
    spec: str,
    *,
    model_source: str,
    batch_size: int = 32,
    shard_size: int = 16384,
    num_workers: int = 0,
    overwrite: bool = False,
    max_shards: int | None = None,
    show_progress: bool = True,
    batch_tokens: int | None = None,
    quantize: str | None = None,
    backend: str | None = None,
    ranks: Ranks = SINGLE,
    upsert_batch: int = 256,
    **settings: Any,
) -> dict[str, Any] | None:
    """Encode the documents of ``docs`` with a bi-encoder straight into a Qdrant collection; resumable.

    Args:
        model: a loaded dense (single-vector), learned-sparse or multi-vector bi-encoder.
        tokenizer: its tokenizer.
        docs: the corpus (a file, folder or dataset name, as for a folder index).
        spec: the collection, ``qdrant-edge:FOLDER``, ``qdrant-local:FOLDER`` or ``qdrant://HOST:PORT/COLLECTION``.
        model_source: the model's name or folder, recorded so searches load the same weights; a model that draws
            head weights at load time is refused (save it first, then index with the saved folder).
        batch_size: documents per encoder batch.
        shard_size: documents per shard (the unit of resuming; point ids are ``shard * shard_size + row``).
        num_workers: tokenizer worker processes.
        overwrite: delete a collection this build (or another boltir build or export) made and start again.
        max_shards: stop after this many new shards (time-boxed; rerun to continue).
        show_progress: a progress bar over the documents (rank 0).
        batch_tokens: token-budget batches instead of ``batch_size`` documents.
        quantize: ``int8`` dynamic quantisation of the encoder, or ``bf16`` (a bfloat16 backbone).
        backend: ``torch`` (default) or ``onnx``.
        ranks: this process's place in a job of several; each rank upserts its own shards (a server target).
        upsert_batch: points per upsert request.
        **settings: the new collection's :class:`boltir.index.engines.qdrant.CollectionSettings` (``datatype``,
            ``quantization``, ``pooled_vector``, HNSW, ``shards``, ``replicas``).

    Returns:
        The collection's boltir record once complete, or None when ``max_shards`` stopped the build early.

    Raises:
        ConfigError: several ranks with an embedded or local-mode target (one process opens those), or a model
            whose weights cannot be loaded again by name.
        UnsupportedError: a COIL or MVR model.
        InvalidIndexError: the collection was made by another model, kind or build, or not by boltir.
    """
    import functools

    from boltir.index.build import (
        document_encoder,
        encode_shards,
        index_kind_of_model,
        model_record,
        reloads_identically,
    )
    from boltir.index.dense import document_views
    from boltir.index.engines.qdrant import CollectionSettings, collection_header, connect, parse_target
    from boltir.models.backends import prepare
    from boltir.registry import get_index_kind
    from boltir.utils.provenance import input_fingerprint

    target = parse_target(spec)
    if ranks.world > 1 and target.engine != "server":
        raise ConfigError(
            f"{spec}: one process opens an embedded or local-mode collection; index into a qdrant:// server with "
            "--devices / --num-nodes, or drop them"
        )
    kind = index_kind_of_model(model)
    impl = get_index_kind(kind).impl()
    if not reloads_identically(model, model_source):
        raise ConfigError(
            f"{model_source}: this model draws new head weights when loaded, so a search could not load the weights "
            f"the collection's vectors came from; save it (save_model_folder) and index with the saved folder"
        )
    record = model_record(model, model_source, tokenizer)
    if kind == "dense" and document_views(model):
        raise UnsupportedError(f"{model_source}: an MVR model (several views per document) has no Qdrant collection")
    chosen = CollectionSettings(**{k: v for k, v in settings.items() if v is not None})
    want = collection_header({"kind": kind, "model": record}, target.location, chosen)
    want["dim"] = int(record["embedding_dim"])
    build = {
        "model_fingerprint": record["fingerprint"],
        "docs": input_fingerprint(docs),
        "shard_size": shard_size,
        "doc_length": model.config.doc_length,
    }
    collection = connect(spec)
    try:
        # rank 0 checks or creates the collection before any rank writes to it
        ranks.check_on_main(
            lambda: _open_for_build(collection, want, build, overwrite, chosen), (InvalidIndexError, ConfigError)
        )
        if not ranks.is_main:  # see the collection rank 0 made
            collection.close()
            collection = connect(spec)
        prepare(model, backend, quantize)
        writer = CollectionShardWriter(collection, want, build, ranks.rank, ranks.world, upsert_batch)
        encode = document_encoder(model, tokenizer, batch_size, None, num_workers, batch_tokens)
        seconds = encode_shards(
            writer,  # type: ignore[arg-type]
            docs,
            target.location,  # type: ignore[arg-type]
            shard_size,
            max_shards,
            show_progress and ranks.is_main,
            lambda chunk, bar: impl.encode_shard(writer, model, chunk, functools.partial(encode, progress=bar)),
            impl.empty_documents,
        )
        if any(s is None for s in ranks.gather(seconds)):
            return None
        counts = ranks.gather(writer.done_count)
        ranks.barrier()  # every rank's points and progress are written
        if not ranks.is_main:
            return None
        count = sum(counts)
        collection.optimize()
        final = {**want, "streamed": build, "count": count, "exported": count, "generation": 0, "complete": True}
        final["points"] = collection.count()
        final["index_created"] = f"streamed {build['docs']}"
        collection.write_record(final)
        return final
    finally:
        collection.close()


def _open_for_build(
    collection: Any, want: dict[str, Any], build: dict[str, Any], overwrite: bool, settings: Any
) -> None:
    """Create the collection of a build, or check that the one there is this build's (a rerun resumes it);
    ``overwrite`` drops a boltir-made collection first."""
    from boltir.index.engines.qdrant import check_collection

    spec = collection.target.spec
    existing = collection.record()
    if existing is not None and overwrite:
        if not existing:
            raise InvalidIndexError(f"{spec}: the collection was not made by boltir; it is not overwritten")
        collection.drop()
        existing = None
    if existing is None:
        collection.create(want, settings)
        collection.write_record({**want, "complete": False, "exported": 0, "streamed": build})
        return
    check_collection(existing, want, spec)
    before = existing.get("streamed")
    if before is None:
        raise InvalidIndexError(
            f"{spec}: the collection mirrors the index {existing.get('index')} (boltir export); index into another "
            "collection, or pass overwrite to replace it"
        )
    if before != build:
        differ = sorted(k for k in set(build) | set(before) if build.get(k) != before.get(k))
        raise InvalidIndexError(
            f"{spec}: holds a build with different settings ({', '.join(differ)}); pass overwrite to start again"
        )
