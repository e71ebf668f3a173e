"""COIL index: resumable build; exact search equals the model's own all-pairs score (brute force); mismatched
model and corrupted shards give clear errors."""

import json

import numpy as np
import pytest
import torch

from boltir.errors import InvalidIndexError
from boltir.index.build import build_index
from boltir.index.coil import CoilSearcher
from boltir.models.loading import load_coil

QUERIES = {"a": "apple banana", "b": "kilo lima echo kilo", "c": "golf hotel india zulu", "d": "?"}


@pytest.fixture
def corpus(tmp_path):
    words = "apple banana cherry delta echo foxtrot golf hotel india juliet kilo lima , .".split()
    rng = np.random.default_rng(0)
    docs = [" ".join(rng.choice(words, size=int(rng.integers(1, 20)))) for _ in range(41)] + [". ,"]
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps({"doc_id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(docs)))
    return str(path), docs


@pytest.fixture
def coil(tiny_backbone):
    return load_coil(tiny_backbone, cls_dim=16, token_dim=8, query_length=8, doc_length=32)


def brute_force(model, tok, queries, docs):
    def enc(texts, kind):
        length = model.config.query_length if kind == "query" else model.config.doc_length
        b = tok(texts, padding=True, truncation=True, max_length=length, return_tensors="pt")
        return model(b["input_ids"], b["attention_mask"], kind=kind)

    with torch.inference_mode():
        return model.score(enc(queries, "query"), enc(docs, "doc")).numpy()


def test_search_equals_brute_force_and_build_resumes(coil, corpus, tmp_path):
    path, texts = corpus
    model, tok = coil
    kw = dict(model_source="tiny", batch_size=8, shard_size=10, show_progress=False)
    assert build_index(model, tok, path, tmp_path / "idx", max_shards=2, **kw) is None
    m = build_index(model, tok, path, tmp_path / "idx", **kw)
    assert m["count"] == 42 and len(m["shards"]) == 5 and m["kind"] == "coil"
    words = {i for t in texts for i in tok(t, add_special_tokens=False)["input_ids"]} - {
        tok.convert_tokens_to_ids(p) for p in ",."
    }
    assert m["postings"]["terms_used"] == len(words)  # the corpus's word pieces: no punctuation or special tokens
    searcher = CoilSearcher(tmp_path / "idx", loaded=coil)
    run = searcher.search(QUERIES, k=42)
    want = brute_force(model, tok, list(QUERIES.values()), texts)
    for row, qid in enumerate(QUERIES):
        order = sorted(range(42), key=lambda j: (-want[row, j], j))
        assert list(run[qid]) == [f"d{j}" for j in order]
        np.testing.assert_allclose(list(run[qid].values()), want[row, order], rtol=1e-5, atol=1e-5)
    # a document of punctuation only and a query of punctuation only score by [CLS] alone
    assert run["d"]["d41"] == pytest.approx(float(want[3, 41]), abs=1e-5)


def test_mismatch_and_corruption(coil, corpus, tmp_path, tiny_backbone):
    path, _ = corpus
    model, tok = coil
    build_index(model, tok, path, tmp_path / "idx", model_source="tiny", shard_size=20, show_progress=False)
    with pytest.raises(InvalidIndexError, match="different weights"):
        CoilSearcher(tmp_path / "idx", loaded=load_coil(tiny_backbone, cls_dim=16, token_dim=8, seed=1))
    ids = tmp_path / "idx" / "shards" / "term_ids-00001.npy"
    np.save(ids, np.load(ids)[:-2])
    with pytest.raises(InvalidIndexError, match=r"term_ids-00001.npy: (holds|\d+ bytes, the manifest says)"):
        CoilSearcher(tmp_path / "idx", loaded=coil)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(InvalidIndexError, match="empty"):
        build_index(model, tok, str(empty), tmp_path / "e", model_source="tiny", show_progress=False)
