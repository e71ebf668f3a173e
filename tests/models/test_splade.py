"""SPLADE: term weights equal log(1 + ReLU(MLM logits)) max-pooled by hand, HF round trip, pruning, the
inference-free query side, and the packaged splade-tiny re-ranking DL19 at the independently measured 0.6750."""

import pytest
import torch
from transformers import AutoModel, AutoModelForMaskedLM

from boltir.models.loading import detect_family, load_splade
from boltir.models.sources import resolve_model

TEXTS = ["what is the boiling point of water", "Water boils at 100 degrees Celsius at sea level."]


@pytest.fixture(scope="module")
def splade():
    return load_splade("splade-tiny")


def test_weights_equal_the_mlm_logits_by_hand(splade):
    model, tok = splade
    mlm = AutoModelForMaskedLM.from_pretrained(resolve_model("splade-tiny")).eval()
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    with torch.inference_mode():
        ours = model(**enc).embeddings
        logits = mlm(**enc).logits
    expect = torch.stack(
        [torch.log1p(torch.relu(logits[i, enc["attention_mask"][i].bool()])).max(0).values for i in range(len(TEXTS))]
    )
    torch.testing.assert_close(ours, expect, atol=1e-5, rtol=1e-5)
    assert ours.shape == (2, 30522) and (ours > 0).sum(1).max() < 2000  # sparse
    water = tok.convert_tokens_to_ids("water")
    assert ours[0, water] > 0 and ours[1, water] > 0
    assert detect_family("splade-tiny").name == "splade"


def test_round_trip_and_pruning(splade, tmp_path):
    from boltir.models.base import save_model_folder
    from boltir.models.bi_encoders.splade import SpladeModel

    model, tok = splade
    save_model_folder(model, tok, tmp_path / "m")
    loaded = AutoModel.from_pretrained(tmp_path / "m")
    assert type(loaded) is SpladeModel
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    with torch.inference_mode():
        torch.testing.assert_close(loaded.eval()(**enc).embeddings, model(**enc).embeddings, atol=0, rtol=0)
        again, _ = load_splade(str(tmp_path / "m"), doc_top_k=10)
        pruned = again(**enc).embeddings
        full = model(**enc).embeddings
    assert ((pruned > 0).sum(1) == 10).all()
    top = full.topk(10, dim=1)
    torch.testing.assert_close(pruned.gather(1, top.indices), top.values)
    with pytest.raises(ValueError, match="cannot change pooling"):
        load_splade(str(tmp_path / "m"), pooling="sum")


def test_inference_free_queries_are_weighted_bags_of_tokens():
    model, tok = load_splade("splade-tiny", inference_free=True)
    with torch.no_grad():
        model.query_weights[tok.convert_tokens_to_ids("water")] = 2.5
    enc = tok(["water water boiling"], return_tensors="pt")
    with torch.inference_mode():
        q = model(**enc, kind="query").embeddings
    nz = {tok.convert_ids_to_tokens(int(i)): float(q[0, i]) for i in q[0].nonzero().flatten()}
    assert nz == {"water": 2.5, "boiling": 1.0}  # no [CLS]/[SEP], each term once


@pytest.mark.repro
def test_splade_tiny_reranks_dl19_at_the_reference_effectiveness():
    from boltir.data.runs import candidate_ids, read_run
    from boltir.data.sources import doc_texts, load_qrels, load_queries
    from boltir.evaluation.measures import evaluate
    from boltir.pipeline import Reranker

    run = read_run("trec-dl-2019:bm25")
    docs = doc_texts("trec-dl-2019", candidate_ids(run, 100))
    reranker = Reranker("splade-tiny", docs, depth=100, show_progress=False)
    out = reranker.rerank(run, load_queries("trec-dl-2019"))
    ev = evaluate(out, load_qrels("trec-dl-2019"), ["nDCG@10", "RR(rel=2)@10"])
    assert reranker.family == "splade"
    assert ev.aggregate["nDCG@10"] == pytest.approx(0.6750, abs=0.005)
    assert ev.aggregate["RR(rel=2)@10"] == pytest.approx(0.8380, abs=0.005)


def test_a_head_drawn_for_a_backbone_without_one_follows_the_seed(tiny_backbone):
    """A plain BERT folder has no MLM head: the one drawn for it is the same for the same seed, another for
    another seed."""
    heads = [
        load_splade(tiny_backbone, seed=seed)[0].encoder.cls.predictions.transform.dense.weight for seed in (0, 0, 1)
    ]
    assert torch.equal(heads[0], heads[1]) and not torch.equal(heads[0], heads[2])
