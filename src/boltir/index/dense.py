"""Dense indexes: one vector per document (or, for multi-view models such as MVR, several) in shards, then a
FAISS index over them (any factory string, inner product). With ``ondisk`` an IVF index keeps its inverted lists
in a file of their own, merged shard by shard and memory-mapped when searched, so neither building nor searching
holds every vector in memory.

Dense retrieval: encode queries with the index's model and search its FAISS index (one vector per document,
or several views per document for MVR, each document scored by its best view)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from boltir.data.records import Doc
from boltir.data.runs import Run
from boltir.errors import ConfigError, InvalidIndexError
from boltir.index.kinds import Generation, IndexKindBase
from boltir.index.searcher import IndexSearcher
from boltir.index.storage import derived_name, iter_shards
from boltir.models.scoring import RerankJob, encode_candidates_once
from boltir.pipeline import as_queries
from boltir.utils.atomic import atomic_path
from boltir.utils.progress import progress_bar

FAISS_FILE = "faiss.index"
IVFDATA_FILE = "faiss.ivfdata"  # an on-disk IVF index's inverted lists (named in FAISS_FILE, found beside it)
TRAINED_FILE = "faiss.trained"  # the trained, empty on-disk IVF index: additions fill new lists without retraining


def document_views(model: Any) -> int:
    """Vectors per document of a multi-view (MVR) model; 0 for single-vector models."""
    return len(getattr(model.config, "view_token_ids", None) or [])


class DenseKind(IndexKindBase):
    """FAISS over the shards' vectors. Multi-view models put each document's views into FAISS; search maps them
    back to documents and keeps each document's best view, which is exact with a Flat index when it fetches
    ``k * views`` vectors."""

    name = "dense"
    empty_documents = "they get the vector of an empty text, so dense search can still return them"
    options = {"factory": "Flat", "train_size": 100_000, "ondisk": False}
    derived_files = (FAISS_FILE, IVFDATA_FILE, TRAINED_FILE)
    read_whole = (FAISS_FILE,)

    def searcher_class(self) -> type:
        return DenseSearcher

    def rerank(self, job: RerankJob) -> Run:
        return rerank_dense(job)

    def check_options(self, model: Any, options: dict[str, Any]) -> dict[str, Any]:
        options = super().check_options(model, options)
        if options["ondisk"] and not options["factory"].startswith("IVF"):
            raise ConfigError(
                f"ondisk keeps IVF inverted lists on disk; factory {options['factory']!r} has none "
                "(use e.g. IVF4096,Flat, or --mmap at search time for a Flat index)"
            )
        return options

    def encode_shard(self, writer: Any, model: Any, chunk: list[Doc], encode: Callable[[list[str]], Any]) -> None:
        texts, ids = [d.text for d in chunk], [d.doc_id for d in chunk]
        vecs = encode(texts)
        views = document_views(model)
        if views:
            writer.add_multivector_shard(vecs.reshape(-1, vecs.shape[-1]), np.arange(len(ids) + 1) * views, ids)
        else:
            writer.add_shard(vecs, ids)

    def write_derived(self, g: Generation, record: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
        import faiss

        dim, factory, train_size = record["embedding_dim"], options["factory"], options["train_size"]
        try:
            index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as e:
            raise InvalidIndexError(
                f"FAISS factory {factory!r} for {dim}-d vectors: {str(e).splitlines()[0]}"
            ) from None
        manifest_like = {"shards": g.shards}
        if not index.is_trained:
            sample, n = [], 0
            for vecs, _ in iter_shards(g.folder, manifest_like):
                take = min(len(vecs), train_size - n)
                sample.append(np.asarray(vecs[:take]))
                n += take
                if n >= train_size:
                    break
            try:
                index.train(np.ascontiguousarray(np.concatenate(sample)))
            except RuntimeError as e:
                raise InvalidIndexError(
                    f"FAISS factory {factory!r}: training on {n} vectors failed "
                    f"({str(e).splitlines()[0]}); raise --train-size or use fewer centroids"
                ) from None
        views = sum(s.get("tokens", 0) for s in g.shards) // max(sum(s["count"] for s in g.shards), 1)
        fields = {"backend": "faiss", "factory": factory, "dim": dim, **({"views": views} if views else {})}
        if options.get("ondisk"):
            write_faiss_file(g.folder, index, g.number, TRAINED_FILE)
            write_faiss_file(g.folder, merge_lists_on_disk(g, index), g.number)
            return {**fields, "ondisk": True}
        for vecs, _ in iter_shards(g.folder, manifest_like):
            index.add(np.ascontiguousarray(vecs))
        write_faiss_file(g.folder, index, g.number)
        return fields

    def extend_derived(self, g: Generation, manifest: dict[str, Any], first_new: int) -> dict[str, Any]:
        if manifest.get("ondisk"):
            # inverted lists on disk are rewritten whole into the new generation's file (the shards' vectors are
            # read again, nothing is re-encoded or retrained); the previous generation's file stays for readers
            import faiss

            trained = faiss.read_index(str(g.folder / derived_name(TRAINED_FILE, manifest.get("generation", 0))))
            write_faiss_file(g.folder, trained, g.number, TRAINED_FILE)
            write_faiss_file(g.folder, merge_lists_on_disk(g, trained), g.number)
            return {}
        index = load_faiss(g.folder, manifest)
        for vecs, _ in iter_shards(g.folder, {"shards": g.shards[first_new:]}):
            index.add(np.ascontiguousarray(vecs))
        write_faiss_file(g.folder, index, g.number)
        return {}


def write_faiss_file(output: Path, index: Any, generation: int, name: str = FAISS_FILE) -> None:
    """Write a FAISS index as generation ``generation``'s file, atomically."""
    import faiss

    with atomic_path(output / derived_name(name, generation)) as tmp:
        faiss.write_index(index, str(tmp))


def merge_lists_on_disk(g: Generation, trained: Any) -> Any:
    """A copy of the trained, empty IVF index ``trained`` whose inverted lists hold every shard's vectors in
    generation ``g``'s ivfdata file: each shard is added to its own small index (written to a scratch folder),
    then FAISS merges their lists into the file (``faiss.contrib.ondisk``); only one shard is in memory at a time.
    The file is new to this generation, so no reader sees it before the manifest names the generation."""
    import shutil

    import faiss
    from faiss.contrib.ondisk import merge_ondisk

    scratch = g.folder / f".ivf-parts.g{g.number}"
    shutil.rmtree(scratch, ignore_errors=True)  # what a killed build left
    scratch.mkdir()
    parts, row = [], 0
    for i, (vecs, _) in enumerate(iter_shards(g.folder, {"shards": g.shards})):
        part = faiss.clone_index(trained)
        part.add_with_ids(np.ascontiguousarray(vecs), np.arange(row, row + len(vecs), dtype=np.int64))
        row += len(vecs)
        parts.append(str(scratch / f"{i:05d}.index"))
        faiss.write_index(part, parts[-1])
        del part
    data = g.folder / derived_name(IVFDATA_FILE, g.number)
    data.unlink(missing_ok=True)
    index = faiss.clone_index(trained)
    merge_ondisk(index, parts, str(data))
    shutil.rmtree(scratch)
    return index


def load_faiss(folder: str | Path, manifest: dict[str, Any], mmap: bool = False) -> Any:
    """The index's FAISS structure; ``mmap``: memory-mapped from disk instead of read into memory (searches an
    index larger than RAM; pages are read as searches touch them)."""
    import faiss

    path = Path(folder) / derived_name(FAISS_FILE, manifest.get("generation", 0))
    if not path.is_file():
        raise InvalidIndexError(f"{path}: FAISS file missing")
    try:
        if manifest.get("ondisk"):
            flags = faiss.IO_FLAG_ONDISK_SAME_DIR  # its inverted lists: the ivfdata file beside it, memory-mapped
        else:
            flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
        index = faiss.read_index(str(path), flags)
    except RuntimeError as e:
        raise InvalidIndexError(f"{path}: unreadable FAISS index ({str(e).splitlines()[0]})") from None
    rows = sum(s.get("tokens", s["count"]) for s in manifest["shards"])  # documents, or documents x views
    if index.ntotal != rows or index.d != manifest["dim"]:
        raise InvalidIndexError(f"{path}: holds {index.ntotal} x {index.d}, manifest says {rows} x {manifest['dim']}")
    return index


class DenseSearcher(IndexSearcher):
    """``search_params``: FAISS search-time parameters, e.g. ``nprobe=32`` (IVF) or ``efSearch=128`` (HNSW)."""

    kind = "dense"

    def __init__(self, index_dir: str | Path, search_params: str | None = None, mmap: bool = False, **common: Any):
        self.search_params, self.mmap = search_params, mmap
        super().__init__(index_dir, **common)

    def open(self) -> None:
        self.views = self.manifest.get("views", 0)
        self.index = load_faiss(self.index_dir, self.manifest, self.mmap)
        if self.search_params:
            self.set_search_params(self.search_params)
        self.n_deleted = int(self.deleted.sum())

    def set_search_params(self, params: str) -> None:
        """FAISS search-time parameters, comma-separated."""
        import faiss

        try:
            faiss.ParameterSpace().set_index_parameters(self.index, params)  # type: ignore[arg-type]
        except RuntimeError as e:
            raise ConfigError(
                f"search parameters {params!r} for a {self.manifest['factory']} index: {str(e).splitlines()[0]}"
            ) from None

    def search_vectors(self, query_vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (scores, document positions) per query, deleted documents skipped (-1 where fewer exist)."""
        q = np.ascontiguousarray(query_vectors, dtype=np.float32)
        if not self.n_deleted and not self.views:  # the common case: nothing between the caller and FAISS
            return self.index.search(q, min(k, self.index.ntotal))
        per_doc = self.views or 1
        scores, rows = self.index.search(q, min((k + self.n_deleted) * per_doc, self.index.ntotal))
        out_s, out_i = (np.full((len(q), k), -np.inf, dtype=np.float32), np.full((len(q), k), -1, dtype=np.int64))
        for r, (s_row, i_row) in enumerate(zip(scores, rows)):
            found = i_row >= 0
            docs, s_row = i_row[found] // per_doc, s_row[found]
            _, first = np.unique(docs, return_index=True)  # rows come best first: a document's first is its best
            first = np.sort(first)
            first = first[~self.deleted[docs[first]]][:k]
            out_s[r, : len(first)], out_i[r, : len(first)] = s_row[first], docs[first]
        return out_s, out_i

    def search(self, queries: Any, k: int = 100) -> Run:
        """``{qid: {docid: score}}`` with the top ``k`` documents of each query."""
        queries = as_queries(queries)
        qids = list(queries)
        run: Run = {}
        with progress_bar(total=len(qids), desc="search", unit="query", disable=not self.show_progress) as bar:
            for start in range(0, len(qids), self.batch_size):
                batch = qids[start : start + self.batch_size]
                scores, idx = self.search_vectors(self.encode_queries([queries[q] for q in batch]), k)
                for qid, s_row, i_row in zip(batch, scores, idx):
                    keep = i_row >= 0
                    run[qid] = dict(zip(self.doc_ids[i_row[keep]].tolist(), s_row[keep].tolist()))
                bar.update(len(batch))
        return run


def rerank_dense(job: RerankJob) -> Run:
    """Single-vector bi-encoders: dot products of each query's vector with its candidates' vectors."""
    position, doc_vecs, qids, q_vecs = encode_candidates_once(job)
    out: Run = {}
    for qid, qv in zip(qids, q_vecs):
        cand = job.lists[qid]
        scores = doc_vecs[[position[d] for d in cand]] @ qv
        out[qid] = dict(zip(cand, np.asarray(scores, dtype=np.float64).tolist()))
    return out
