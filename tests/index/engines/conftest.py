"""Shared by the engine tests: a DL19 sample and a small word corpus, an index of each kind on them, and the
check that two runs rank the same documents with the same scores."""

from __future__ import annotations

import json

import numpy as np
import pytest

QUERIES = {"a": "what is the boiling point of water", "b": "how do vaccines work", "c": "cost of solar panels"}
WORDS = {"a": "apple banana", "b": "kilo lima echo", "c": "golf hotel india"}


@pytest.fixture(scope="module")
def pool(dl19_sample):
    return dl19_sample[0] / "docs.jsonl"


@pytest.fixture(scope="module")
def words(tmp_path_factory):
    folder = tmp_path_factory.mktemp("words")
    vocab = "apple banana cherry delta echo foxtrot golf hotel india juliet kilo lima".split()
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(vocab, size=int(rng.integers(2, 20)))) for _ in range(37)]
    path = folder / "docs.jsonl"
    path.write_text("".join(json.dumps({"doc_id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    return path


def _build_kind(kind, tiny_backbone, pool, words, out):
    from boltir.index.build import build_index
    from boltir.models.loading import load_bi_encoder, load_colbert, load_splade

    if kind == "dense":
        loaded = load_bi_encoder(tiny_backbone, pooling="mean", projection_dim=16, similarity="cosine", doc_length=64)
        corpus, queries, knobs = pool, QUERIES, {}
    elif kind == "sparse":
        loaded, corpus, queries, knobs = load_splade("splade-tiny", doc_length=64), pool, QUERIES, {}
    else:
        loaded = load_colbert(tiny_backbone, embedding_dim=8, query_length=8, doc_length=32)
        corpus, queries, knobs = words, WORDS, {"nprobe": 10**9, "ncandidates": None}  # exhaustive MaxSim
    build_index(*loaded, str(corpus), out, model_source=f"tiny-{kind}", shard_size=16, show_progress=False)
    return loaded, queries, knobs


def _same_run(engine_run, own_run):
    assert engine_run.keys() == own_run.keys()
    for q in own_run:
        own = sorted(own_run[q].items(), key=lambda kv: (-kv[1], kv[0]))
        got = sorted(engine_run[q].items(), key=lambda kv: (-kv[1], kv[0]))
        assert [d for d, _ in got] == [d for d, _ in own], q
        assert np.allclose([s for _, s in got], [s for _, s in own], atol=1e-4), q


@pytest.fixture
def build_kind():
    """``build(kind, tiny_backbone, pool, words, out) -> (loaded, queries, exhaustive knobs)``: a folder index of a
    kind with a tiny model (the multi-vector one on the word corpus, where MaxSim ranks are well separated)."""
    return _build_kind


@pytest.fixture
def same_run():
    """``check(engine_run, own_run)``: the same documents in the same order, scores within 1e-4."""
    return _same_run
