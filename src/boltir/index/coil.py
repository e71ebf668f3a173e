"""COIL indexing: per shard the documents' [CLS] vectors and their matchable token vectors with vocabulary ids
(multi-vector shard format plus per-document and per-token arrays), then one inverted file over vocabulary ids:
for every id the global rows of the tokens that carry it. Exact search reads only the lists of the query's
token ids. Interrupted builds resume after the last shard."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from boltir.data.records import Doc
from boltir.errors import InvalidIndexError
from boltir.index.kinds import Generation, IndexKindBase
from boltir.index.storage import derived_name
from boltir.utils.atomic import atomic_open

POSTINGS_FILE = "coil-postings.npz"


class CoilKind(IndexKindBase):
    """Per shard the documents' [CLS] vectors and matchable token vectors with vocabulary ids, then one inverted
    file over vocabulary ids."""

    name = "coil"
    derived_files = (POSTINGS_FILE,)
    read_whole = (POSTINGS_FILE,)
    searcher = "boltir.search.coil:CoilSearcher"

    def encode_shard(self, writer: Any, model: Any, chunk: list[Doc], encode: Callable[[list[str]], Any]) -> None:
        cls, tokens, ids = encode([d.text for d in chunk])
        offsets = np.concatenate([[0], np.cumsum([len(t) for t in tokens])])
        dim = model.config.token_dim
        writer.add_multivector_shard(
            np.concatenate(tokens) if offsets[-1] else np.zeros((0, dim), np.float32),
            offsets,
            [d.doc_id for d in chunk],
            doc_arrays={"cls": cls},
            token_arrays={"term_ids": np.concatenate(ids) if offsets[-1] else np.zeros(0, np.int32)},
        )

    def write_derived(self, g: Generation, record: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
        cls_dim = int(np.load(g.folder / g.shards[0]["doc_arrays"]["cls"], mmap_mode="r").shape[1])
        return {
            "backend": "term-inverted token vectors",
            "dim": record["embedding_dim"],
            "cls_dim": cls_dim,
            "postings": write_postings(g.folder, g.shards, g.vocab_size, g.number),
        }

    def extend_derived(self, g: Generation, manifest: dict[str, Any], first_new: int) -> dict[str, Any]:
        return {"postings": write_postings(g.folder, g.shards, g.vocab_size, g.number)}


def write_postings(output: Path, shards: list[dict[str, Any]], vocab_size: int, generation: int) -> dict[str, Any]:
    """Per vocabulary id, the global token rows (shards concatenated) that carry it, in row order."""
    term_ids = np.concatenate([np.load(output / s["token_arrays"]["term_ids"]) for s in shards]).astype(np.int64)
    if len(term_ids) and (term_ids.min() < 0 or term_ids.max() >= vocab_size):
        raise InvalidIndexError(f"{output}: token ids outside the vocabulary (0..{vocab_size - 1})")
    rows = np.argsort(term_ids, kind="stable").astype(np.int64)
    indptr = np.searchsorted(term_ids[rows], np.arange(vocab_size + 1)).astype(np.int64)
    with atomic_open(output / derived_name(POSTINGS_FILE, generation), "wb") as f:
        np.savez(f, indptr=indptr, rows=rows)
    lengths = np.diff(indptr)
    return {"tokens": int(len(term_ids)), "terms_used": int((lengths > 0).sum()), "longest_list": int(lengths.max())}
