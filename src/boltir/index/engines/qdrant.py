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
QUANTIZATIONS = (None, "int8")
HNSW_DEFAULTS = {"threshold_kb": 10000, "m": 16, "ef_construct": 100}  # Qdrant's own defaults


@dataclass(frozen=True)
class CollectionSettings:
    """How a new collection stores and indexes its points (the engine's own settings, named as Qdrant names them).

    Attributes:
        datatype: vector storage, ``float32`` or ``float16``.
        quantization: ``int8``: scalar-quantised copies of dense and multi-vector vectors kept in RAM, searched
            first and re-scored in full precision (approximate search only; exact search ignores them).
        pooled_vector: multi-vector collections: also store each document's pooled (mean) vector with an HNSW
            graph, for prefetch-then-MaxSim search; the token vectors then get no graph of their own.
        hnsw_threshold_kb: segments above this size get an HNSW graph (Qdrant's default 10,000 KB).
        hnsw_m: HNSW edges per node (Qdrant's default 16).
        hnsw_ef_construct: HNSW build-time candidates (Qdrant's default 100).
        shards: a server or cluster: shards to spread the points over.
        replicas: a server or cluster: copies of each shard.
    """

    datatype: str = "float32"
    quantization: str | None = None
    pooled_vector: bool = False
    hnsw_threshold_kb: int | None = None
    hnsw_m: int | None = None
    hnsw_ef_construct: int | None = None
    shards: int | None = None
    replicas: int | None = None

    def hnsw(self) -> dict[str, int]:
        """The HNSW settings given (the others stay Qdrant's)."""
        given = {"threshold_kb": self.hnsw_threshold_kb, "m": self.hnsw_m, "ef_construct": self.hnsw_ef_construct}
        return {k: v for k, v in given.items() if v is not None}

    def check(self, kind: str) -> None:
        """Refuse settings the engine has no meaning for with this kind.

        Raises:
            ConfigError: an unknown datatype or quantisation, quantisation of sparse vectors, or a pooled vector
                for a kind that is not multi-vector.
        """
        if self.datatype not in DATATYPES:
            raise ConfigError(f"datatype={self.datatype!r}: choose one of {', '.join(DATATYPES)}")
        if self.quantization not in QUANTIZATIONS:
            raise ConfigError(f"quantization={self.quantization!r}: choose int8 (or none)")
        if self.quantization and kind == "sparse":
            raise ConfigError("quantization: Qdrant quantises dense and multi-vector vectors, not sparse ones")
        if self.pooled_vector and kind != "multivector":
            raise ConfigError(f"pooled_vector: a multi-vector collection's option, not a {kind} one")


@dataclass(frozen=True)
class SearchMode:
    """How the engine searches: ``exact`` scores every point (full-precision vectors, quantisation ignored);
    otherwise its HNSW graph with ``hnsw_ef`` candidates, quantised vectors re-scored in full precision over
    ``oversampling`` times ``k``. ``prefetch`` (multi-vector collections with a pooled vector): that many
    candidates by the pooled vector, then MaxSim re-scoring of them (the pattern Qdrant recommends at scale)."""

    exact: bool = True
    hnsw_ef: int | None = None
    prefetch: int | None = None
    oversampling: float | None = None

    def params(self, library: Any) -> Any:
        """The mode's ``SearchParams`` in ``library`` (``qdrant_edge`` or ``qdrant_client.models``: both spell
        them alike): exact search ignores quantised copies; approximate search re-scores them in full."""
        quantization = (
            library.QuantizationSearchParams(ignore=True)
            if self.exact
            else library.QuantizationSearchParams(rescore=True, oversampling=self.oversampling)
        )
        return library.SearchParams(exact=self.exact, hnsw_ef=self.hnsw_ef, quantization=quantization)


def pooled_vector(tokens: Any) -> list[float]:
    """The unit-length mean of token vectors: a multi-vector document's (or query's) single pooled vector."""
    mean = np.asarray(tokens, dtype=np.float32).mean(axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).tolist()


def named_vectors(layout: dict[str, Any], vector: Any) -> dict[str, Any]:
    """A point's named vectors: the kind's (a numpy array becomes the lists the engine API takes), plus ``pooled``
    for a multi-vector layout that keeps one (computed from the array, before the conversion)."""
    named = {VECTOR[layout["kind"]]: vector.tolist() if isinstance(vector, np.ndarray) else vector}
    if layout.get("pooled"):
        named["pooled"] = pooled_vector(vector)
    return named


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

    def progress(self, rank: int) -> dict[str, Any]:
        """What rank ``rank`` of a build straight into the collection has written (``{}`` before it starts)."""
        path = self.folder / f"boltir-progress-rank{rank}.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def write_progress(self, rank: int, progress: dict[str, Any]) -> None:
        """Replace rank ``rank``'s progress (atomically), after the points it counts are flushed."""
        from boltir.utils.atomic import atomic_write_json

        self.shard.flush()
        atomic_write_json(self.folder / f"boltir-progress-rank{rank}.json", progress)

    def drop(self) -> None:
        """Delete the collection (its shard, record and progress files)."""
        import shutil

        if self.shard is not None:
            self.shard.close()
        _EDGE_SHARDS.pop(self.key, None)
        self.shard = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def create(self, layout: dict[str, Any], settings: CollectionSettings) -> None:
        """Create the shard for a :func:`collection_header` layout with ``settings`` (an embedded shard is one
        shard, one copy)."""
        if settings.shards or settings.replicas:
            raise ConfigError(f"{self.target.spec}: shards and replicas are settings of a Qdrant server or cluster")
        q, kind = self.q, layout["kind"]
        graph = {**HNSW_DEFAULTS, **settings.hnsw()}
        tuning: dict[str, Any] = {
            "hnsw_config": q.HnswIndexConfig(
                m=graph["m"], ef_construct=graph["ef_construct"], full_scan_threshold=graph["threshold_kb"]
            ),
            "optimizers": q.EdgeOptimizersConfig(indexing_threshold=graph["threshold_kb"]),
        }
        if layout.get("quantization") == "int8":
            tuning["quantization_config"] = q.ScalarQuantizationConfig(q.ScalarType.Int8, always_ram=True)
        dtype = {"float32": q.VectorStorageDatatype.Float32, "float16": q.VectorStorageDatatype.Float16}[
            layout["datatype"]
        ]
        if kind == "sparse":
            config = q.EdgeConfig(sparse_vectors={"sparse": q.EdgeSparseVectorParams(datatype=dtype)}, **tuning)
        else:
            metric = q.Distance.Cosine if layout["distance"] == "cosine" else q.Distance.Dot
            vectors = {}
            if kind == "multivector":
                no_graph = q.HnswIndexConfig(m=0, ef_construct=graph["ef_construct"], full_scan_threshold=0)
                vectors["multivector"] = q.EdgeVectorParams(
                    size=layout["dim"],
                    distance=metric,
                    multivector_config=q.MultiVectorConfig(q.MultiVectorComparator.MaxSim),
                    datatype=dtype,
                    hnsw_config=no_graph if layout.get("pooled") else None,  # re-scoring only: no graph
                )
                if layout.get("pooled"):
                    vectors["pooled"] = q.EdgeVectorParams(
                        size=layout["dim"], distance=q.Distance.Cosine, datatype=dtype
                    )
            else:
                vectors["dense"] = q.EdgeVectorParams(size=layout["dim"], distance=metric, datatype=dtype)
            config = q.EdgeConfig(vectors=vectors, **tuning)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.shard = _EDGE_SHARDS[self.key] = q.EdgeShard.create(str(self.key), config)

    def upsert(self, layout: dict[str, Any], ids: list[int], vectors: list[Any], doc_ids: list[str]) -> None:
        """Insert or replace points (the same id twice is one point: a repeated batch never duplicates)."""
        q = self.q
        sparse = layout["kind"] == "sparse"
        points = [
            q.Point(i, named_vectors(layout, q.SparseVector(*v) if sparse else v), {"doc_id": d})
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

    def query(self, kind: str, vector: Any, k: int, mode: SearchMode) -> list[tuple[int, float, str]]:
        """The engine's top ``k`` (point id, score, doc id) for one query vector, searched as ``mode`` says."""
        q = self.q
        v = q.SparseVector(*vector) if kind == "sparse" else vector
        params = mode.params(q)
        prefetches = None
        if mode.prefetch:  # candidates by the pooled vector, then exact MaxSim over them
            pooled = q.Query.Nearest(pooled_vector(vector), using="pooled")
            prefetches = [q.Prefetch(mode.prefetch, query=pooled, params=params)]
            params = SearchMode().params(q)
        request = q.QueryRequest(
            limit=k,
            query=q.Query.Nearest(v, using=VECTOR[kind]),
            prefetches=prefetches,
            with_payload=True,
            params=params,
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

    def progress(self, rank: int) -> dict[str, Any]:
        """What rank ``rank`` of a build straight into the collection has written (``{}`` before it starts)."""
        metadata = self.client.get_collection(self.name).config.metadata or {}
        return dict(metadata.get(f"boltir-progress-rank{rank}") or {})

    def write_progress(self, rank: int, progress: dict[str, Any]) -> None:
        """Replace rank ``rank``'s progress: its own metadata key, so ranks writing at once never overwrite each
        other (Qdrant merges metadata updates key by key)."""
        self.client.update_collection(self.name, metadata={f"boltir-progress-rank{rank}": progress})

    def drop(self) -> None:
        """Delete the collection."""
        self.client.delete_collection(self.name)
        self._exists = False

    def create(self, layout: dict[str, Any], settings: CollectionSettings) -> None:
        """Create the collection for a :func:`collection_header` layout with ``settings`` (shards and replicas on
        a server or cluster only)."""
        m, kind = self.models, layout["kind"]
        given = {"shard_number": settings.shards, "replication_factor": settings.replicas}
        cluster: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        if cluster and self.target.engine == "local":
            raise ConfigError(f"{self.target.spec}: shards and replicas are settings of a Qdrant server or cluster")
        if settings.hnsw():
            graph = {**HNSW_DEFAULTS, **settings.hnsw()}
            cluster["hnsw_config"] = m.HnswConfigDiff(
                m=graph["m"], ef_construct=graph["ef_construct"], full_scan_threshold=graph["threshold_kb"]
            )
            cluster["optimizers_config"] = m.OptimizersConfigDiff(indexing_threshold=graph["threshold_kb"])
        if layout.get("quantization") == "int8":
            cluster["quantization_config"] = m.ScalarQuantization(
                scalar=m.ScalarQuantizationConfig(type=m.ScalarType.INT8, always_ram=True)
            )
        dtype = {"float32": m.Datatype.FLOAT32, "float16": m.Datatype.FLOAT16}[layout["datatype"]]
        if kind == "sparse":
            self.client.create_collection(
                self.name, vectors_config={}, sparse_vectors_config={"sparse": m.SparseVectorParams()}, **cluster
            )
        else:
            metric = m.Distance.COSINE if layout["distance"] == "cosine" else m.Distance.DOT
            vectors = {}
            if kind == "multivector":
                vectors["multivector"] = m.VectorParams(
                    size=layout["dim"],
                    distance=metric,
                    multivector_config=m.MultiVectorConfig(comparator=m.MultiVectorComparator.MAX_SIM),
                    datatype=dtype,
                    hnsw_config=m.HnswConfigDiff(m=0) if layout.get("pooled") else None,
                )
                if layout.get("pooled"):
                    vectors["pooled"] = m.VectorParams(size=layout["dim"], distance=m.Distance.COSINE, datatype=dtype)
            else:
                vectors["dense"] = m.VectorParams(size=layout["dim"], distance=metric, datatype=dtype)
            self.client.create_collection(self.name, vectors_config=vectors, **cluster)
        self._exists = True

    def upsert(self, layout: dict[str, Any], ids: list[int], vectors: list[Any], doc_ids: list[str]) -> None:
        """Insert or replace points and wait until they are applied."""
        m = self.models
        sparse = layout["kind"] == "sparse"
        points = [
            m.PointStruct(
                id=i,
                vector=named_vectors(layout, m.SparseVector(indices=v[0], values=v[1]) if sparse else v),
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

    def query(self, kind: str, vector: Any, k: int, mode: SearchMode) -> list[tuple[int, float, str]]:
        """The engine's top ``k`` (point id, score, doc id) for one query vector, searched as ``mode`` says (the
        local mode always searches exactly)."""
        m = self.models
        v = m.SparseVector(indices=vector[0], values=vector[1]) if kind == "sparse" else vector
        local = self.target.engine == "local"
        params = None if local else mode.params(m)
        prefetch = None
        if mode.prefetch:  # candidates by the pooled vector, then exact MaxSim over them
            prefetch = m.Prefetch(query=pooled_vector(vector), using="pooled", limit=mode.prefetch, params=params)
            params = None if local else SearchMode().params(m)
        found = self.client.query_points(
            self.name, query=v, using=VECTOR[kind], prefetch=prefetch, limit=k, with_payload=True, search_params=params
        )
        return [(int(p.id), float(p.score), (p.payload or {})["doc_id"]) for p in found.points]

    def close(self) -> None:
        """Close the client."""
        self.client.close()


def connect(spec: str) -> EdgeCollection | ClientCollection:
    """The collection a target spec names (it may not exist yet)."""
    target = parse_target(spec)
    return EdgeCollection(target) if target.engine == "edge" else ClientCollection(target)


def collection_header(manifest: dict[str, Any], index_dir: Path | str, settings: CollectionSettings) -> dict[str, Any]:
    """What a collection must agree on with the index exported (or the build streamed) into it: kind, dimension,
    similarity, storage type and model record.

    Args:
        manifest: the index manifest (``kind``, ``model``, ``dim``; a streamed build gives these alone).
        index_dir: where the vectors come from, named in errors.
        settings: the collection's settings (its storage type, quantisation and pooled vector are recorded).

    Returns:
        The record fields a collection keeps and every later export or search checks.

    Raises:
        UnsupportedError: a COIL or MVR index (no engine equivalent).
        ConfigError: settings the kind has no meaning for.
    """
    kind = manifest["kind"]
    if kind not in VECTOR:
        raise UnsupportedError(
            f"{index_dir}: a {kind} index has no Qdrant equivalent (Qdrant stores dense, sparse and multi-vector "
            "representations: export a dense, sparse or multi-vector index)"
        )
    if kind == "dense" and manifest.get("views"):
        raise UnsupportedError(f"{index_dir}: an MVR index (several views per document) is not exported to Qdrant yet")
    settings.check(kind)
    model = {k: v for k, v in manifest["model"].items() if k != "saved_copy"}
    return {
        "format": RECORD_FORMAT,
        "kind": kind,
        "dim": int(manifest.get("dim") or model.get("embedding_dim") or 0),
        "distance": "cosine" if model.get("similarity") == "cosine" else "dot",
        "datatype": settings.datatype,
        "quantization": settings.quantization,
        "pooled": settings.pooled_vector,
        "model": model,
    }


def check_collection(record: dict[str, Any], want: dict[str, Any], spec: str) -> None:
    """Refuse a collection that does not hold what ``want`` (a :func:`collection_header`) describes.

    Raises:
        InvalidIndexError: not made by boltir, or of another kind, dimension, storage type, similarity or model;
            the message names the collection and what differs.
    """
    if not record:
        raise InvalidIndexError(
            f"{spec}: the collection was not made by boltir; choose another collection (or delete it)"
        )
    for key, what in (
        ("kind", "kind"),
        ("dim", "dimension"),
        ("datatype", "storage type"),
        ("distance", "similarity"),
        ("quantization", "quantization"),
        ("pooled", "pooled vector"),
    ):
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


def shard_points(kind: str, shard: Any) -> Iterator[tuple[int, Any]]:
    """``(row, vector)`` of each document of one shard as boltir stores it: a dense matrix (rows as lists); a sparse
    CSR matrix (``(ids, weights)`` lists); or multi-vector ``(tokens, offsets)`` (a token array per document, made
    into lists by :func:`named_vectors`). Documents without a representation (no term, no token) are
    skipped: the engine cannot store them and no search returns them."""
    if kind == "dense":
        for start in range(0, len(shard), 1024):  # one conversion per block of rows, not one per row
            block = np.asarray(shard[start : start + 1024], dtype=np.float32).tolist()
            yield from enumerate(block, start)
    elif kind == "sparse":
        for row in range(shard.shape[0]):
            lo, hi = shard.indptr[row], shard.indptr[row + 1]
            if hi > lo:
                yield row, (shard.indices[lo:hi].tolist(), np.asarray(shard.data[lo:hi], np.float32).tolist())
    else:
        tokens, offsets = shard
        for row in range(len(offsets) - 1):
            if offsets[row + 1] > offsets[row]:
                yield row, np.asarray(tokens[offsets[row] : offsets[row + 1]], np.float32)  # lists: named_vectors


def _documents(index_dir: Path, manifest: dict[str, Any], start: int) -> Iterator[tuple[int, Any, str]]:
    """``(position, vector, doc id)`` of every document from ``start`` on, in index order (see
    :func:`shard_points`)."""
    from boltir.index.storage import iter_shards, iter_sparse_shards, read_id_file

    kind = manifest["kind"]
    if kind == "dense":
        shards: Iterator[tuple[Any, list[str]]] = iter_shards(index_dir, manifest)
    elif kind == "sparse":
        shards = iter_sparse_shards(index_dir, manifest)
    else:
        shards = (
            (
                (np.load(index_dir / s["vectors"], mmap_mode="r"), np.load(index_dir / s["offsets"])),
                read_id_file(index_dir / s["ids"]),
            )
            for s in manifest["shards"]
        )
    position = 0
    for shard, ids in shards:
        if position + len(ids) > start:
            for row, vector in shard_points(kind, shard):
                if position + row >= start:
                    yield position + row, vector, ids[row]
        position += len(ids)


def export_index(
    index_dir: str | Path,
    spec: str,
    batch_size: int = 256,
    show_progress: bool = True,
    max_batches: int | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Copy a boltir index's stored vectors into a Qdrant collection, in streamed batches; resumable.

    A first export creates the collection. A rerun continues where the last one stopped (point ids are index
    positions, so a batch written twice is one copy), and after ``boltir index --add`` / ``--delete`` it exports
    the new documents and deletes the deleted ones: the collection mirrors the index's current generation.

    Args:
        index_dir: the index folder (dense, sparse or multi-vector).
        spec: the target, ``qdrant-edge:FOLDER``, ``qdrant-local:FOLDER`` or ``qdrant://HOST:PORT/COLLECTION``.
        batch_size: points per upsert.
        show_progress: a progress bar over the documents.
        max_batches: stop after this many batches (a time-boxed export; rerun to continue).
        **settings: the collection's :class:`CollectionSettings` (``datatype``, ``quantization``,
            ``pooled_vector``, ``hnsw_threshold_kb``, ``hnsw_m``, ``hnsw_ef_construct``, ``shards``,
            ``replicas``); a rerun must give the same storage settings.

    Returns:
        The collection's boltir record after the export (``exported``, ``complete``, ``count``, ...).

    Raises:
        UnsupportedError: a COIL or MVR index.
        ConfigError: a multi-vector index built with ``keep_vectors=False`` (no float token vectors to export).
        InvalidIndexError: the index is not as recorded; the collection was made by another model or kind, or not
            by boltir; the engine cannot be reached.
    """
    from boltir.index.multivector import has_vectors
    from boltir.index.open import open_index
    from boltir.index.storage import deleted_positions, read_doc_ids

    index_dir = Path(index_dir)
    manifest = open_index(index_dir)
    if manifest["kind"] == "multivector" and not has_vectors(manifest):
        raise ConfigError(
            f"{index_dir}: built with keep_vectors=false, it keeps no float token vectors to export; rebuild it "
            "with them (the default)"
        )
    chosen = CollectionSettings(**{k: v for k, v in settings.items() if v is not None})
    want = collection_header(manifest, index_dir, chosen)
    # which index this is, stable under --add / --delete: when it was built and what its first shard holds
    first = manifest["shards"][0]["ids"] if manifest["shards"] else ""
    created = (
        f"{manifest.get('provenance', {}).get('created', '')} {manifest['files'].get(first, {}).get('checksum', '')}"
    )
    collection = connect(spec)
    try:
        record = collection.record()
        if record is None:
            collection.create(want, chosen)
            record = {**want, "exported": 0, "deleted": 0, "complete": False, "index_created": created}
            collection.write_record(record)
        check_collection(record, want, spec)
        if record.get("index_created", created) != created:
            source = record.get("index") or f"boltir index of {record.get('streamed', {}).get('docs', {}).get('spec')}"
            raise InvalidIndexError(
                f"{spec}: the collection mirrors another index ({source}), not {index_dir}; export to a new collection"
            )
        count = int(manifest["count"])
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
                    collection.upsert(want, *map(list, zip(*batch)))
                    record["exported"] = batch[-1][0] + 1
                    collection.write_record(record)
                    bar.update(record["exported"] - bar.n)
                    batch, batches = [], batches + 1
                    if max_batches is not None and batches >= max_batches:
                        return record
            if batch:
                collection.upsert(want, *map(list, zip(*batch)))
            record["exported"] = count
            bar.update(count - bar.n)
        collection.delete([int(p) for p in np.nonzero(gone)[0]])  # deletions since an earlier export
        collection.optimize()
        record.update(deleted=int(gone.sum()), complete=True, points=collection.count())
        collection.write_record(record)
        return record
    finally:
        collection.close()


def complete_record(collection: EdgeCollection | ClientCollection) -> dict[str, Any]:
    """The boltir record of a collection that is ready to search.

    Raises:
        InvalidIndexError: no such collection, one boltir did not make, or a half-finished export or build.
    """
    spec = collection.target.spec
    record = collection.record()
    if record is None:
        raise InvalidIndexError(f"{spec}: no such collection (boltir export --index IDX --to {spec} makes it)")
    if not record:
        raise InvalidIndexError(f"{spec}: the collection was not made by boltir (it has no boltir record)")
    if not record.get("complete"):
        if "streamed" in record:
            raise InvalidIndexError(f"{spec}: a half-finished build; rerun the same boltir index command to finish it")
        done, total = record.get("exported", 0), record.get("count", "?")
        raise InvalidIndexError(
            f"{spec}: a half-finished export ({done} of {total} documents); rerun boltir export to finish it"
        )
    return record


def read_record(spec: str) -> dict[str, Any]:
    """The boltir record of the collection ``spec`` names (kind, model, ``points``, ...), ready to search.

    Raises:
        InvalidIndexError: as :func:`complete_record`, or the engine cannot be reached.
    """
    collection = connect(spec)
    try:
        return complete_record(collection)
    finally:
        collection.close()


class QdrantSearcher(Retriever):
    """Search a Qdrant collection exported from a boltir index, encoding queries with the index's model.

    ``exact=True`` (default) scores every point exactly, as boltir's own exact search; ``exact=False`` lets the
    engine use its index (HNSW for dense and multi-vector, with ``hnsw_ef`` candidates; int8-quantised vectors
    re-scored over ``oversampling`` times ``k``). ``prefetch=N`` (a multi-vector collection exported with a
    pooled vector): N candidates by the pooled vector, re-scored by exact MaxSim. ``model`` and ``loaded`` are as
    for an index searcher: the weights must be the ones the collection's vectors came from.
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
        prefetch: int | None = None,
        oversampling: float | None = None,
        quantize: str | None = None,
        backend: str | None = None,
    ):
        self.spec, self.batch_size, self.show_progress = spec, batch_size, show_progress
        self.mode = SearchMode(exact, hnsw_ef, prefetch, oversampling)
        self.collection = connect(spec)
        record = complete_record(self.collection)
        self.kind = record["kind"]
        if prefetch and not record.get("pooled"):
            raise ConfigError(
                f"{spec}: prefetch needs a multi-vector collection with pooled vectors (export with --pooled-vector)"
            )
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
                    hits = [] if empty else self.collection.query(self.kind, vector, k, self.mode)
                    hits.sort(key=lambda h: (-h[1], h[0]))
                    run[qid] = {doc: score for _, score, doc in hits}
                bar.update(len(part))
        return run
