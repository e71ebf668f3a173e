"""Indexing straight into a Qdrant collection (``boltir index --output qdrant-edge:...``), on the real embedded
engine: for the three representations the collection's exact search equals boltir's exact search over a folder
index of the same documents, a killed build resumes without duplicates, and builds that do not match the collection
are refused by name."""

from __future__ import annotations

import pytest

pytest.importorskip("qdrant_edge")

from boltir.cli import main as boltir
from boltir.errors import ConfigError, InvalidIndexError
from boltir.index.engines.ingest import index_into_collection
from boltir.index.engines.qdrant import QdrantSearcher
from boltir.index.open import open_searcher
from boltir.utils.distributed import Ranks


def _saved(loaded, folder):
    """The model saved and loaded again by folder: a collection records a source that reloads the same weights."""
    from boltir.models.base import save_model_folder
    from boltir.models.loading import load_module

    save_model_folder(*loaded, folder)
    return load_module(str(folder))


@pytest.mark.parametrize("kind", ["dense", "sparse", "multivector"])
def test_a_build_into_the_engine_searches_as_boltirs_exact_search(
    kind, tiny_backbone, pool, words, tmp_path, build_kind, same_run
):
    loaded, queries, knobs = build_kind(kind, tiny_backbone, pool, words, tmp_path / "idx")
    corpus = words if kind == "multivector" else pool
    target = f"qdrant-edge:{tmp_path / 'edge'}"
    model = _saved(loaded, tmp_path / "model")
    record = index_into_collection(
        *model, str(corpus), target, model_source=str(tmp_path / "model"), shard_size=16, show_progress=False
    )
    assert record is not None and record["complete"] and record["kind"] == kind
    assert record["points"] == record["count"] == sum(1 for _ in open(corpus))
    own = open_searcher(tmp_path / "idx", loaded=loaded, **knobs).search(queries, k=10)
    same_run(QdrantSearcher(target, loaded=model).search(queries, k=10), own)


def test_a_killed_build_resumes_without_duplicates(tiny_backbone, pool, words, tmp_path, build_kind, same_run):
    loaded, queries, _ = build_kind("dense", tiny_backbone, pool, words, tmp_path / "idx")
    model = _saved(loaded, tmp_path / "model")
    target = f"qdrant-edge:{tmp_path / 'edge'}"
    argv = ["index", "--model", str(tmp_path / "model"), "--docs", str(pool), "--output", target, "--shard-size", "16"]
    assert boltir([*argv, "--max-shards", "1"]) == 0  # stopped after one shard, as a kill would stop it
    with pytest.raises(InvalidIndexError, match="half-finished"):
        QdrantSearcher(target, loaded=model)
    assert boltir(argv) == 0
    assert boltir(argv) == 0  # a rerun of a complete build upserts nothing twice
    searcher = QdrantSearcher(target, loaded=model)
    assert searcher.collection.count() == 40
    own = open_searcher(tmp_path / "idx", loaded=loaded).search(queries, k=10)
    same_run(searcher.search(queries, k=10), own)


def test_builds_that_do_not_match_the_collection_are_refused(tiny_backbone, pool, words, tmp_path, build_kind):
    from boltir.index.engines.qdrant import export_index

    loaded, _, _ = build_kind("dense", tiny_backbone, pool, words, tmp_path / "idx")
    model = _saved(loaded, tmp_path / "model")
    source = str(tmp_path / "model")
    target = f"qdrant-edge:{tmp_path / 'edge'}"
    index_into_collection(*model, str(pool), target, model_source=source, shard_size=16, show_progress=False)
    with pytest.raises(InvalidIndexError, match="holds a build with different settings .shard_size."):
        index_into_collection(*model, str(pool), target, model_source=source, shard_size=8, show_progress=False)
    again = index_into_collection(
        *model, str(pool), target, model_source=source, shard_size=8, show_progress=False, overwrite=True
    )
    assert again is not None and again["points"] == 40
    with pytest.raises(InvalidIndexError, match="mirrors another index .boltir index of"):
        export_index(tmp_path / "idx", target, show_progress=False)
    exported = f"qdrant-edge:{tmp_path / 'exported'}"
    export_index(tmp_path / "idx", exported, show_progress=False)
    with pytest.raises(InvalidIndexError, match="mirrors the index .* .boltir export."):
        index_into_collection(*model, str(pool), exported, model_source=source, show_progress=False)
    with pytest.raises(ConfigError, match="draws new head weights"):
        index_into_collection(*loaded, str(pool), f"qdrant-edge:{tmp_path / 'x'}", model_source="tiny")
    with pytest.raises(ConfigError, match="one process opens an embedded"):
        index_into_collection(*model, str(pool), target, model_source=source, ranks=Ranks(rank=0, world=2))
    from boltir.cli.index import main as index_main

    with pytest.raises(ConfigError, match="apply to index folders"):
        index_main(["--model", source, "--docs", str(pool), "--output", target, "--nbits", "2"])


def test_index_build_and_open_take_a_collection(tiny_backbone, pool, words, tmp_path, build_kind, same_run):
    from boltir.errors import UnsupportedError
    from boltir.index.handle import Index

    loaded, queries, _ = build_kind("dense", tiny_backbone, pool, words, tmp_path / "idx")
    _saved(loaded, tmp_path / "model")
    target = f"qdrant-edge:{tmp_path / 'edge'}"
    built = Index.build(str(tmp_path / "model"), str(pool), target, shard_size=16, show_progress=False)
    opened = Index.open(target)
    assert (built.kind, len(built)) == (opened.kind, len(opened)) == ("dense", 40)
    same_run(opened.search(queries, k=10), open_searcher(tmp_path / "idx", loaded=loaded).search(queries, k=10))
    with pytest.raises(UnsupportedError, match="add documents to a qdrant collection through its index folder"):
        opened.add(str(pool))
