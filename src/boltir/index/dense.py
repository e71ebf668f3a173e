"""Dense indexes: one vector per document (or, for multi-view models such as MVR, several) in shards, then a
FAISS index over them (any factory string, inner product). With ``ondisk`` an IVF index keeps its inverted lists
in a file of their own, merged shard by shard and memory-mapped when searched, so neither building nor searching
holds every vector in memory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from boltir.data.records import Doc
from boltir.errors import InvalidIndexError
from boltir.index.kinds import Generation, IndexKindBase
from boltir.index.storage import derived_name, iter_shards
from boltir.utils.atomic import atomic_path

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
    options = {"factory": "Flat", "train_size": 100_000, "ondisk": False}
    derived_files = (FAISS_FILE, IVFDATA_FILE, TRAINED_FILE)
    read_whole = (FAISS_FILE,)
    searcher = "boltir.search.dense:DenseSearcher"

    def check_options(self, model: Any, options: dict[str, Any]) -> dict[str, Any]:
        options = super().check_options(model, options)
        if options["ondisk"] and not options["factory"].startswith("IVF"):
            raise ValueError(
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
