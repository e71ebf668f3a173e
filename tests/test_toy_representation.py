"""What a new representation (index kind) costs: this file alone defines one, a binary-code index (each document
stored as the signs of its vector; a query scores documents by the dot product of sign codes), and a family whose
documents go into it. Both are registered once; the kind then goes through ``boltir index``, ``boltir search``,
``boltir re-rank`` (scores equal the search's), ``boltir serve`` (``/search`` and ``/encode``) and a model card,
with no other file of boltir changing."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from boltir.cli import main as boltir
from boltir.data.runs import Run
from boltir.index.kinds import Generation, IndexKindBase
from boltir.index.searcher import IndexSearcher
from boltir.index.storage import iter_shards
from boltir.models.bi_encoders.dpr import DprConfig, DprModel
from boltir.models.scoring import RerankJob, encode_candidates_once
from boltir.pipeline import as_queries
from boltir.registry import (
    Family,
    IndexKind,
    register_family,
    register_index_kind,
    unregister_family,
    unregister_index_kind,
)


def signs(vectors: np.ndarray) -> np.ndarray:
    return np.where(np.asarray(vectors) >= 0, 1.0, -1.0).astype(np.float32)


class BinarySearcher(IndexSearcher):
    """Exact search over the sign codes: score = sign(query) . sign(document), ties by document position."""

    kind = "toy-binary"

    def open(self) -> None:
        self.codes = np.concatenate([vecs for vecs, _ in iter_shards(self.index_dir, self.manifest)])

    def search(self, queries: Any, k: int = 100) -> Run:
        queries = as_queries(queries)
        qids = list(queries)
        scores = signs(self.encode_queries([queries[q] for q in qids])) @ self.codes.T
        run: Run = {}
        for qid, row in zip(qids, scores):
            row = np.where(self.deleted, -np.inf, row)
            order = np.lexsort((np.arange(len(row)), -row))[:k]
            run[qid] = {self.doc_ids[i]: float(row[i]) for i in order if np.isfinite(row[i])}
        return run


class BinaryKind(IndexKindBase):
    name = "toy-binary"

    def searcher_class(self) -> type:
        return BinarySearcher

    def encode_shard(self, writer, model, chunk, encode) -> None:
        writer.add_shard(signs(encode([d.text for d in chunk])), [d.doc_id for d in chunk])

    def write_derived(self, g: Generation, record: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
        return {"dim": record["embedding_dim"]}

    def extend_derived(self, g: Generation, manifest: dict[str, Any], first_new: int) -> dict[str, Any]:
        return {}

    def rerank(self, job: RerankJob) -> Run:
        position, doc_vecs, qids, q_vecs = encode_candidates_once(job)
        out: Run = {}
        for qid, qv in zip(qids, signs(q_vecs)):
            cand = job.lists[qid]
            out[qid] = dict(zip(cand, (signs(doc_vecs[[position[d] for d in cand]]) @ qv).astype(float).tolist()))
        return out

    def to_json(self, encoded: Any, row: int) -> Any:
        return {"bits": "".join("1" if x > 0 else "0" for x in signs(encoded[row]))}


class BitsConfig(DprConfig):
    model_type = "toy-bits"


class BitsModel(DprModel):
    config_class = BitsConfig


def build_bits(path, name, tokenizer, seed, settings):
    from boltir.models.building import around_backbone

    return around_backbone(BitsModel, BitsConfig, path, name, seed, settings), tokenizer


@pytest.fixture
def binary_kind():
    register_index_kind(IndexKind("toy-binary", BinaryKind, "sign codes of a vector", "toy-binary-tag"))
    register_family(Family("toy-bits", "bi-encoder", "toy-bits", BitsConfig, BitsModel, build_bits, None, "toy-binary"))
    yield
    unregister_family("toy-bits")
    unregister_index_kind("toy-binary")


def test_a_kind_defined_here_goes_through_index_search_rerank_serve_and_a_card(
    binary_kind, tiny_backbone, tiny_tuples, tmp_path, live_server
):
    import httpx

    from boltir.data.runs import read_run
    from boltir.models.loading import load_module

    model, tok = load_module(tiny_backbone, family="toy-bits", projection_dim=16)
    model.save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    card = (tmp_path / "model" / "README.md").read_text()
    assert "pipeline_tag: toy-binary-tag" in card and "toy-binary-index" in card

    docs, queries = str(tiny_tuples / "docs.jsonl"), str(tiny_tuples / "val.tsv")
    m = str(tmp_path / "model")
    assert boltir(["index", "--model", m, "--docs", docs, "--output", str(tmp_path / "idx"), "--shard-size", "10"]) == 0
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["kind"] == "toy-binary" and manifest["count"] == 24 and len(manifest["shards"]) == 3
    search = ["search", "--index", str(tmp_path / "idx"), "--queries", queries, "--k", "6"]
    assert boltir(search + ["--output", str(tmp_path / "search.run")]) == 0
    searched = read_run(str(tmp_path / "search.run"))

    # the search by hand: sign codes of the model's own vectors
    loaded, _ = load_module(m)
    texts = {json.loads(line)["doc_id"]: json.loads(line)["text"] for line in open(docs)}
    codes = signs(loaded.encode(list(texts.values()), "doc"))
    qtexts = dict(line.rstrip("\n").split("\t") for line in open(queries))
    for qid, text in qtexts.items():
        by_hand = codes @ signs(loaded.encode([text], "query"))[0]
        best = sorted(range(len(texts)), key=lambda i: (-by_hand[i], i))[:6]
        assert searched[qid] == {list(texts)[i]: float(by_hand[i]) for i in best}  # ties go to the earlier doc

    rerank = ["re-rank", "--model", m, "--run", str(tmp_path / "search.run"), "--queries", queries, "--docs", docs]
    assert boltir(rerank + ["--output", str(tmp_path / "rerank.run"), "--depth", "6"]) == 0
    reranked = read_run(str(tmp_path / "rerank.run"))
    assert {q: dict(d) for q, d in reranked.items()} == {q: dict(d) for q, d in searched.items()}

    from boltir.serve.app import Service, create_app

    with live_server(create_app(Service(index=str(tmp_path / "idx"), docs=docs))) as s:
        r = httpx.post(s.url + "/search", json={"queries": list(qtexts.values()), "k": 6})
        assert r.status_code == 200, r.text
        for qid, hits in zip(qtexts, r.json()["results"]):
            assert {h["doc_id"]: h["score"] for h in hits} == searched[qid]
        r = httpx.post(s.url + "/encode", json={"texts": [qtexts["v1"]], "kind": "query"})
        bits = "".join("1" if x > 0 else "0" for x in signs(loaded.encode([qtexts["v1"]], "query"))[0])
        assert r.status_code == 200 and r.json()["embeddings"] == [{"bits": bits}]
