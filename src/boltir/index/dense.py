"""Dense indexes: one vector per document (or, for multi-view models such as MVR, several) in shards, then a
FAISS index over them (any factory string, inner product)."""

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


def document_views(model: Any) -> int:
    """Vectors per document of a multi-view (MVR) model; 0 for single-vector models."""
    return len(getattr(model.config, "view_token_ids", None) or [])


class DenseKind(IndexKindBase):
    """FAISS over the shards' vectors. Multi-view models put each document's views into FAISS; search maps them
    back to documents and keeps each document's best view, which is exact with a Flat index when it fetches
    ``k * views`` vectors."""

    name = "dense"
    options = {"factory": "Flat", "train_size": 100_000}
    derived_files = (FAISS_FILE,)
    read_whole = (FAISS_FILE,)
    searcher = "boltir.search.dense:DenseSearcher"

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
        for vecs, _ in iter_shards(g.folder, manifest_like):
            index.add(np.ascontiguousarray(vecs))
        write_faiss_file(g.folder, index, g.number)
        views = sum(s.get("tokens", 0) for s in g.shards) // max(sum(s["count"] for s in g.shards), 1)
        return {"backend": "faiss", "factory": factory, "dim": dim, **({"views": views} if views else {})}

    def extend_derived(self, g: Generation, manifest: dict[str, Any], first_new: int) -> dict[str, Any]:
        index = load_faiss(g.folder, manifest)
        for vecs, _ in iter_shards(g.folder, {"shards": g.shards[first_new:]}):
            index.add(np.ascontiguousarray(vecs))
        write_faiss_file(g.folder, index, g.number)
        return {}


def write_faiss_file(output: Path, index: Any, generation: int) -> None:
    import faiss

    with atomic_path(output / derived_name(FAISS_FILE, generation)) as tmp:
        faiss.write_index(index, str(tmp))


def load_faiss(folder: str | Path, manifest: dict[str, Any]) -> Any:
    import faiss

    path = Path(folder) / derived_name(FAISS_FILE, manifest.get("generation", 0))
    if not path.is_file():
        raise InvalidIndexError(f"{path}: FAISS file missing")
    try:
        index = faiss.read_index(str(path))
    except RuntimeError as e:
        raise InvalidIndexError(f"{path}: unreadable FAISS index ({str(e).splitlines()[0]})") from None
    rows = sum(s.get("tokens", s["count"]) for s in manifest["shards"])  # documents, or documents x views
    if index.ntotal != rows or index.d != manifest["dim"]:
        raise InvalidIndexError(f"{path}: holds {index.ntotal} x {index.d}, manifest says {rows} x {manifest['dim']}")
    return index
