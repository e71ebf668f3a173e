"""Qdrant as the engine behind a boltir index: export the index's stored vectors into a Qdrant collection, then
search that collection with the index's own model, wherever an index path is accepted.

Targets (``pip install 'boltir[qdrant]'``):

- ``qdrant-edge:FOLDER``: Qdrant's shard engine embedded in this process (``qdrant-edge-py``, the server's data
  format), for tests and single-machine use;
- ``qdrant-local:FOLDER``: qdrant-client's local mode (collection ``boltir`` in FOLDER);
- ``qdrant://HOST:PORT/COLLECTION`` (``qdrants://`` for TLS): a Qdrant server or a sharded, replicated cluster.

One collection per index. Each document is one point: its id is the document's position in the index, its
payload ``{"doc_id": ...}``, its vector named after the kind: ``dense`` (one vector, dot product, or cosine when
the model's similarity is cosine), ``sparse`` (term ids of the model's vocabulary with their weights, no
engine-side IDF: scores are the same sparse dot products as boltir's) or ``multivector`` (token vectors compared
by MaxSim). The boltir record (kind, model, dimension, the index exported and how far the export got) is the
collection's metadata (for the embedded engine ``boltir-collection.json`` beside its shard), so a search knows
which model encodes its queries and refuses a half-finished export, and an export refuses a collection made by
another model or kind, or not by boltir at all. COIL has no engine equivalent and is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from boltir.errors import ConfigError, InvalidIndexError, UnsupportedError
from boltir.pipeline import Retriever, as_queries
from boltir.utils.progress import progress_bar

VECTOR = {"dense": "dense", "sparse": "sparse", "multivector": "multivector"}  # index kind -> vector name
RECORD_FILE = "boltir-collection.json"
RECORD_FORMAT = 1
DATATYPES = ("float32", "float16")


@dataclass(frozen=True)
class Target:
    """Where a collection lives: ``engine`` is ``edge``, ``local`` or ``server``; ``location`` a folder or URL."""

    engine: str
    location: str
    collection: str
    spec: str


def parse_target(spec: str) -> Target:
    """The target a ``qdrant-edge:``, ``qdrant-local:`` or ``qdrant://`` spec names.

    Raises:
        ConfigError: the spec has none of those forms, or lacks its folder or collection name.
    """
    for prefix, engine in (("qdrant-edge:", "edge"), ("qdrant-local:", "local")):
        if spec.startswith(prefix):
            folder = spec[len(prefix) :]
            if not folder:
                raise ConfigError(f"{spec!r}: give a folder after {prefix!r}")
            return Target(engine, folder, Path(folder).name if engine == "edge" else "boltir", spec)
    if spec.startswith(("qdrant://", "qdrants://")):
        url = urlparse(spec)
        collection = url.path.strip("/")
        if not url.hostname or not collection or "/" in collection:
            raise ConfigError(f"{spec!r}: write a server collection as qdrant://HOST:PORT/COLLECTION")
        scheme = "https" if url.scheme == "qdrants" else "http"
        return Target("server", f"{scheme}://{url.hostname}:{url.port or 6333}", collection, spec)
    raise ConfigError(
        f"{spec!r} is not a Qdrant target (qdrant-edge:FOLDER, qdrant-local:FOLDER or qdrant://HOST:PORT/C)"
    )


def _client_library(name: str, target: Target) -> Any:
    """The engine's Python package, or the error naming the extra that installs it."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise ModuleNotFoundError(f"{target.spec} needs {name}: pip install 'boltir[qdrant]'", name=name) from e


_EDGE_SHARDS: dict[Path, Any] = {}  # one open handle per shard folder in this process (its WAL admits one opener)


class EdgeCollection:
    """A collection in Qdrant's embedded shard engine: the shard in ``FOLDER/shard``, the record beside it.

    The embedded engine admits one opener per shard, so this process shares one handle per folder between its
    searchers and exports (another process gets the engine's lock error: serve a shard from one process).
    """

    def __init__(self, target: Target):
        self.q, self.target = _client_library("qdrant_edge", target), target
        self.folder = Path(target.location)
        self.key = (self.folder / "shard").resolve()
        self.shard: Any = _EDGE_SHARDS.get(self.key)
        if self.shard is None and self.key.exists():
            self.shard = _EDGE_SHARDS[self.key] = self.q.EdgeShard.load(str(self.key))

    def exists(self) -> bool:
        """Whether the collection was created."""
        return self.shard is not None

    def record(self) -> dict[str, Any] | None:
        """The boltir record, ``{}`` for a collection boltir did not make, None when there is no collection."""
        if self.shard is None:
            return None
        path = self.folder / RECORD_FILE
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def write_record(self, record: dict[str, Any]) -> None:
        """Replace the record (atomically), after the points it describes are flushed."""
        from boltir.utils.atomic import atomic_write_json

        self.shard.flush()
        atomic_write_json(self.folder / RECORD_FILE, record)

    def create(
        self, kind: str, dim: int, distance: str, datatype: str, hnsw_threshold_kb: int | None = None, **cluster: Any
    ) -> None:
        """Create the shard with the kind's named vector (an embedded shard is one shard, one copy);
        ``hnsw_threshold_kb``: segments above this size get an HNSW graph (Qdrant's default: 10,000 KB)."""
        if any(v is not None for v in cluster.values()):
            raise ConfigError(f"{self.target.spec}: shards and replicas are settings of a Qdrant server or cluster")
        q = self.q
        tuning: dict[str, Any] = {}
        if hnsw_threshold_kb is not None:
            tuning["hnsw_config"] = q.HnswIndexConfig(m=16, ef_construct=100, full_scan_threshold=hnsw_threshold_kb)
            tuning["optimizers"] = q.EdgeOptimizersConfig(indexing_threshold=hnsw_threshold_kb)
        name = VECTOR[kind]
        dtype = {"float32": q.VectorStorageDatatype.Float32, "float16": q.VectorStorageDatatype.Float16}[datatype]
        if kind == "sparse":
            config = q.EdgeConfig(sparse_vectors={name: q.EdgeSparseVectorParams(datatype=dtype)}, **tuning)
        else:
            multi = q.MultiVectorConfig(q.MultiVectorComparator.MaxSim) if kind == "multivector" else None
            metric = q.Distance.Cosine if distance == "cosine" else q.Distance.Dot
            params = q.EdgeVectorParams(size=dim, distance=metric, multivector_config=multi, datatype=dtype)
            config = q.EdgeConfig(vectors={name: params}, **tuning)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.shard = _EDGE_SHARDS[self.key] = q.EdgeShard.create(str(self.key), config)

    def upsert(self, kind: str, ids: list[int], vectors: list[Any], doc_ids: list[str]) -> None:
        """Insert or replace points (the same id twice is one point: a repeated batch never duplicates)."""
        q, name = self.q, VECTOR[kind]
        points = [
            q.Point(i, {name: q.SparseVector(*v) if kind == "sparse" else v}, {"doc_id": d})
            for i, v, d in zip(ids, vectors, doc_ids)
        ]
        self.shard.update(q.UpdateOperation.upsert_points(points))

    def optimize(self) -> None:
        """Build the engine's indexes now (HNSW graphs of segments above the threshold), blocking."""
        self.shard.optimize()

    def delete(self, ids: list[int]) -> None:
        """Delete points by id (absent ids are no error)."""
        if ids:
            self.shard.update(self.q.UpdateOperation.delete_points(list[Any](ids)))

    def count(self) -> int:
        """Points in the collection."""
        return int(self.shard.count(self.q.CountRequest(exact=True)))

    def query(self, kind: str, vector: Any, k: int, exact: bool, hnsw_ef: int | None) -> list[tuple[int, float, str]]:
        """The engine's top ``k`` (point id, score, doc id) for one query vector."""
        q = self.q
        v = q.SparseVector(*vector) if kind == "sparse" else vector
        request = q.QueryRequest(
            limit=k,
            query=q.Query.Nearest(v, using=VECTOR[kind]),
            with_payload=True,
            params=q.SearchParams(exact=exact, hnsw_ef=hnsw_ef),
        )
        return [(int(p.id), float(p.score), p.payload["doc_id"]) for p in self.shard.query(request)]

    def close(self) -> None:
        """Flush what was written; the shared handle stays open for the process's other users."""
        if self.shard is not None:
            self.shard.flush()


class ClientCollection:
    """A collection reached through qdrant-client: a server or cluster (``qdrant://``) or the local mode."""

    def __init__(self, target: Target):
        library = _client_library("qdrant_client", target)
        QdrantClient, models = library.QdrantClient, library.models
        self.models, self.target, self.name = models, target, target.collection
        if target.engine == "local":
            self.client = QdrantClient(path=target.location)
        else:
            self.client = QdrantClient(url=target.location, timeout=30)
        try:
            self._exists = self.client.collection_exists(self.name)
        except Exception as e:  # connection refused, DNS, TLS: the client raises its transport's errors
            raise InvalidIndexError(
                f"{target.spec}: cannot reach Qdrant at {target.location} ({type(e).__name__}: {e})"
            ) from None

    def exists(self) -> bool:
        """Whether the collection exists."""
        return self._exists

    def record(self) -> dict[str, Any] | None:
        """The boltir record, ``{}`` for a collection boltir did not make, None when there is no collection."""
        if not self._exists:
            return None
        metadata = self.client.get_collection(self.name).config.metadata or {}
        return dict(metadata.get("boltir") or {})

    def write_record(self, record: dict[str, Any]) -> None:
        """Replace the record in the collection's metadata."""
        self.client.update_collection(self.name, metadata={"boltir": record})

    def create(
        self, kind: str, dim: int, distance: str, datatype: str, hnsw_threshold_kb: int | None = None, **cluster: Any
    ) -> None:
        """Create the collection with the kind's named vector; ``shard_number`` and ``replication_factor`` (a
        server or cluster only) spread and copy its points; ``hnsw_threshold_kb`` as for the embedded engine."""
        m = self.models
        cluster = {k: v for k, v in cluster.items() if v is not None}
        if cluster and self.target.engine == "local":
            raise ConfigError(f"{self.target.spec}: shards and replicas are settings of a Qdrant server or cluster")
        if hnsw_threshold_kb is not None:
            cluster["hnsw_config"] = m.HnswConfigDiff(full_scan_threshold=hnsw_threshold_kb)
            cluster["optimizers_config"] = m.OptimizersConfigDiff(indexing_threshold=hnsw_threshold_kb)
        dtype = {"float32": m.Datatype.FLOAT32, "float16": m.Datatype.FLOAT16}[datatype]
        if kind == "sparse":
            self.client.create_collection(
                self.name, vectors_config={}, sparse_vectors_config={"sparse": m.SparseVectorParams()}
            )
        else:
            multi = m.MultiVectorConfig(comparator=m.MultiVectorComparator.MAX_SIM) if kind == "multivector" else None
            metric = m.Distance.COSINE if distance == "cosine" else m.Distance.DOT
            params = m.VectorParams(size=dim, distance=metric, multivector_config=multi, datatype=dtype)
            self.client.create_collection(self.name, vectors_config={VECTOR[kind]: params}, **cluster)
        self._exists = True

    def upsert(self, kind: str, ids: list[int], vectors: list[Any], doc_ids: list[str]) -> None:
        """Insert or replace points and wait until they are applied."""
        m, name = self.models, VECTOR[kind]
        points = [
            m.PointStruct(
                id=i,
                vector={name: m.SparseVector(indices=v[0], values=v[1]) if kind == "sparse" else v},
                payload={"doc_id": d},
            )
            for i, v, d in zip(ids, vectors, doc_ids)
        ]
        self.client.upsert(self.name, points=points, wait=True)

    def optimize(self) -> None:
        """Nothing to do: a server builds its indexes in the background."""

    def delete(self, ids: list[int]) -> None:
        """Delete points by id."""
        if ids:
            self.client.delete(self.name, points_selector=self.models.PointIdsList(points=list[Any](ids)), wait=True)

    def count(self) -> int:
        """Points in the collection."""
        return int(self.client.count(self.name, exact=True).count)

    def query(self, kind: str, vector: Any, k: int, exact: bool, hnsw_ef: int | None) -> list[tuple[int, float, str]]:
        """The engine's top ``k`` (point id, score, doc id) for one query vector."""
        m = self.models
        v = m.SparseVector(indices=vector[0], values=vector[1]) if kind == "sparse" else vector
        params = None if self.target.engine == "local" else m.SearchParams(exact=exact, hnsw_ef=hnsw_ef)  # local: exact
        found = self.client.query_points(
            self.name, query=v, using=VECTOR[kind], limit=k, with_payload=True, search_params=params
        )
        return [(int(p.id), float(p.score), (p.payload or {})["doc_id"]) for p in found.points]

    def close(self) -> None:
        """Close the client."""
        self.client.close()


def connect(spec: str) -> EdgeCollection | ClientCollection:
    """The collection a target spec names (it may not exist yet)."""
    target = parse_target(spec)
    return EdgeCollection(target) if target.engine == "edge" else ClientCollection(target)


def _header(manifest: dict[str, Any], index_dir: Path, datatype: str) -> dict[str, Any]:
    """What a collection must agree on with the index exported into it."""
    kind = manifest["kind"]
    if kind not in VECTOR:
        raise UnsupportedError(
            f"{index_dir}: a {kind} index has no Qdrant equivalent (Qdrant stores dense, sparse and multi-vector "
            "representations: export a dense, sparse or multi-vector index)"
        )
    if kind == "dense" and manifest.get("views"):
        raise UnsupportedError(f"{index_dir}: an MVR index (several views per document) is not exported to Qdrant yet")
    if datatype not in DATATYPES:
        raise ConfigError(f"datatype={datatype!r}: choose one of {', '.join(DATATYPES)}")
    model = {k: v for k, v in manifest["model"].items() if k != "saved_copy"}
    return {
        "format": RECORD_FORMAT,
        "kind": kind,
        "dim": int(manifest.get("dim") or model.get("embedding_dim") or 0),
        "distance": "cosine" if model.get("similarity") == "cosine" else "dot",
        "datatype": datatype,
        "model": model,
    }


def _check_same(record: dict[str, Any], want: dict[str, Any], spec: str) -> None:
    if not record:
        raise InvalidIndexError(
            f"{spec}: the collection was not made by boltir; choose another collection (or delete it)"
        )
    for key, what in (("kind", "kind"), ("dim", "dimension"), ("datatype", "storage type"), ("distance", "similarity")):
        if record.get(key) != want[key]:
            raise InvalidIndexError(
                f"{spec}: a collection of {what} {record.get(key)!r}, the index needs {want[key]!r}"
            )
    have, need = record.get("model", {}), want["model"]
    if have.get("fingerprint") != need.get("fingerprint"):
        raise InvalidIndexError(
            f"{spec}: the collection holds vectors of model {have.get('source')!r} ({have.get('fingerprint')}), the "
            f"index was built with {need.get('source')!r} ({need.get('fingerprint')})"
        )


def _documents(index_dir: Path, manifest: dict[str, Any], start: int) -> Iterator[tuple[int, Any, str]]:
    """``(position, vector, doc id)`` of every document from ``start`` on, in index order; documents without a
    representation (no term, no token) are skipped: the engine cannot store them and no search returns them."""
    from boltir.index.storage import iter_shards, iter_sparse_shards, read_id_file

    kind, position = manifest["kind"], 0
    if kind == "dense":
        for vectors, ids in iter_shards(index_dir, manifest):
            if position + len(ids) > start:
                for row in range(max(0, start - position), len(ids)):
                    yield position + row, np.asarray(vectors[row], dtype=np.float32).tolist(), ids[row]
            position += len(ids)
    elif kind == "sparse":
        for matrix, ids in iter_sparse_shards(index_dir, manifest):
            if position + len(ids) > start:
                for row in range(max(0, start - position), len(ids)):
                    lo, hi = matrix.indptr[row], matrix.indptr[row + 1]
                    if hi > lo:
                        yield position + row, (matrix.indices[lo:hi].tolist(), matrix.data[lo:hi].tolist()), ids[row]
            position += len(ids)
    else:
        for shard in manifest["shards"]:
            ids = read_id_file(index_dir / shard["ids"])
            if position + len(ids) > start:
                tokens = np.load(index_dir / shard["vectors"], mmap_mode="r")
                offsets = np.load(index_dir / shard["offsets"])
                for row in range(max(0, start - position), len(ids)):
                    if offsets[row + 1] > offsets[row]:
                        yield (
                            position + row,
                            np.asarray(tokens[offsets[row] : offsets[row + 1]], np.float32).tolist(),
                            ids[row],
                        )
            position += len(ids)


def export_index(
    index_dir: str | Path,
    spec: str,
    batch_size: int = 256,
    datatype: str = "float32",
    show_progress: bool = True,
    max_batches: int | None = None,
    shards: int | None = None,
    replicas: int | None = None,
    hnsw_threshold_kb: int | None = None,
) -> dict[str, Any]:
    """Copy a boltir index's stored vectors into a Qdrant collection, in streamed batches; resumable.

    A first export creates the collection. A rerun continues where the last one stopped (point ids are index
    positions, so a batch written twice is one copy), and after ``boltir index --add`` / ``--delete`` it exports
    the new documents and deletes the deleted ones: the collection mirrors the index's current generation.

    Args:
        index_dir: the index folder (dense, sparse or multi-vector).
        spec: the target, ``qdrant-edge:FOLDER``, ``qdrant-local:FOLDER`` or ``qdrant://HOST:PORT/COLLECTION``.
        batch_size: points per upsert.
        datatype: ``float32`` or ``float16`` storage in the engine.
        show_progress: a progress bar over the documents.
        max_batches: stop after this many batches (a time-boxed export; rerun to continue).
        shards: a new collection on a server or cluster: Qdrant shards to spread the points over.
        replicas: a new collection on a server or cluster: copies of each shard.
        hnsw_threshold_kb: a new collection: segments above this size get an HNSW graph for approximate search
            (Qdrant's default 10,000 KB leaves smaller collections to exact scans).

    Returns:
        The collection's boltir record after the export (``exported``, ``complete``, ``count``, ...).

    Raises:
        UnsupportedError: a COIL or MVR index.
        InvalidIndexError: the index is not as recorded; the collection was made by another model or kind, or not
            by boltir; the engine cannot be reached.
    """
    from boltir.index.open import open_index
    from boltir.index.storage import deleted_positions, read_doc_ids

    index_dir = Path(index_dir)
    manifest = open_index(index_dir)
    want = _header(manifest, index_dir, datatype)
    # which index this is, stable under --add / --delete: when it was built and what its first shard holds
    first = manifest["shards"][0]["ids"] if manifest["shards"] else ""
    created = (
        f"{manifest.get('provenance', {}).get('created', '')} {manifest['files'].get(first, {}).get('checksum', '')}"
    )
    collection = connect(spec)
    try:
        record = collection.record()
        if record is None:
            collection.create(
                want["kind"],
                want["dim"],
                want["distance"],
                datatype,
                hnsw_threshold_kb,
                shard_number=shards,
                replication_factor=replicas,
            )
            record = {**want, "exported": 0, "deleted": 0, "complete": False, "index_created": created}
            collection.write_record(record)
        _check_same(record, want, spec)
        if record.get("index_created", created) != created:
            raise InvalidIndexError(
                f"{spec}: the collection mirrors another index ({record.get('index')}), not {index_dir}; export to a "
                "new collection"
            )
        kind, count = want["kind"], int(manifest["count"])
        record.update(
            index=str(index_dir.resolve()), generation=manifest.get("generation", 0), count=count, complete=False
        )
        doc_ids = np.array(read_doc_ids(index_dir, manifest), dtype=object)
        gone = deleted_positions(manifest, doc_ids)
        start = int(record.get("exported", 0))
        batches = 0
        with progress_bar(
            total=count, initial=start, desc=f"export to {spec}", unit="doc", disable=not show_progress
        ) as bar:
            batch: list[tuple[int, Any, str]] = []
            for item in _documents(index_dir, manifest, start):
                if not gone[item[0]]:
                    batch.append(item)
                if len(batch) == batch_size:
                    collection.upsert(kind, *map(list, zip(*batch)))
                    record["exported"] = batch[-1][0] + 1
                    collection.write_record(record)
                    bar.update(record["exported"] - bar.n)
                    batch, batches = [], batches + 1
                    if max_batches is not None and batches >= max_batches:
                        return record
            if batch:
                collection.upsert(kind, *map(list, zip(*batch)))
            record["exported"] = count
            bar.update(count - bar.n)
        collection.delete([int(p) for p in np.nonzero(gone)[0]])  # deletions since an earlier export
        collection.optimize()
        record.update(deleted=int(gone.sum()), complete=True, points=collection.count())
        collection.write_record(record)
        return record
    finally:
        collection.close()


class QdrantSearcher(Retriever):
    """Search a Qdrant collection exported from a boltir index, encoding queries with the index's model.

    ``exact=True`` (default) scores every point exactly, as boltir's own exact search; ``exact=False`` lets the
    engine use its index (HNSW for dense and multi-vector, with ``hnsw_ef`` candidates). ``model`` and
    ``loaded`` are as for an index searcher: the weights must be the ones the collection's vectors came from.
    """

    def __init__(
        self,
        spec: str,
        model: str | None = None,
        loaded: tuple[Any, Any] | None = None,
        batch_size: int = 32,
        show_progress: bool = False,
        exact: bool = True,
        hnsw_ef: int | None = None,
        quantize: str | None = None,
        backend: str | None = None,
    ):
        self.spec, self.batch_size, self.show_progress = spec, batch_size, show_progress
        self.exact, self.hnsw_ef = exact, hnsw_ef
        self.collection = connect(spec)
        record = self.collection.record()
        if record is None:
            raise InvalidIndexError(f"{spec}: no such collection (boltir export --index IDX --to {spec} makes it)")
        if not record:
            raise InvalidIndexError(f"{spec}: the collection was not made by boltir (it has no boltir record)")
        if not record.get("complete"):
            done, total = record.get("exported", 0), record.get("count", "?")
            raise InvalidIndexError(
                f"{spec}: a half-finished export ({done} of {total} documents); rerun boltir export to finish it"
            )
        self.kind = record["kind"]
        self.manifest = {**record, "kind": self.kind}
        from boltir.index.open import load_index_model
        from boltir.models.backends import prepare

        self.model, self.tokenizer = load_index_model(Path(spec), {"model": record["model"]}, model, loaded)
        prepare(self.model, backend, quantize)

    def published_generation(self) -> int:
        """The index generation the collection mirrors (``serve`` reopens when it changes)."""
        record = self.collection.record() or {}
        return int(record.get("generation", 0))

    def _query_vectors(self, texts: list[str]) -> list[Any]:
        encoded = self.model.encode(texts, "query", self.batch_size, tokenizer=self.tokenizer)
        if self.kind == "sparse":
            rows = encoded.tocsr()
            return [
                (rows.indices[a:b].tolist(), rows.data[a:b].tolist()) for a, b in zip(rows.indptr[:-1], rows.indptr[1:])
            ]
        return [np.asarray(v, dtype=np.float32).tolist() for v in encoded]

    def search(self, queries: Any, k: int = 100) -> dict[str, dict[str, float]]:
        """``{qid: {docid: score}}``: the engine's top ``k`` of each query, ties by index position."""
        queries = as_queries(queries)
        qids = list(queries)
        run: dict[str, dict[str, float]] = {}
        with progress_bar(total=len(qids), desc="search", unit="query", disable=not self.show_progress) as bar:
            for start in range(0, len(qids), self.batch_size):
                part = qids[start : start + self.batch_size]
                for qid, vector in zip(part, self._query_vectors([queries[q] for q in part])):
                    empty = self.kind == "sparse" and not vector[0]
                    hits = [] if empty else self.collection.query(self.kind, vector, k, self.exact, self.hnsw_ef)
                    hits.sort(key=lambda h: (-h[1], h[0]))
                    run[qid] = {doc: score for _, score, doc in hits}
                bar.update(len(part))
        return run
