"""ColBERT: MaxSim by hand, markers and [MASK] query augmentation, punctuation skip-list, padding independence,
Stanford checkpoint loading, HF round trip and re-ranking."""

import json

import pytest
import torch

from boltir.models.bi_encoders.colbert import ColbertModel, maxsim
from boltir.models.loading import detect_family, load_colbert


@pytest.fixture(scope="module")
def colbert(tiny_backbone):
    return load_colbert(tiny_backbone, embedding_dim=8, query_length=12, doc_length=32)


def test_maxsim_by_hand():
    q = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]])
    q_mask = torch.tensor([[True, True, False]])
    d = torch.tensor([[[0.5, 0.2], [0.1, 0.9], [9.0, 9.0]], [[0.3, 0.3], [0.0, 0.0], [0.0, 0.0]]])
    d_mask = torch.tensor([[True, True, False], [True, False, False]])
    got = maxsim(q, q_mask, d, d_mask)
    assert got[0].tolist() == pytest.approx([0.5 + 0.9, 0.3 + 0.3])


def test_markers_query_augmentation_and_skiplist(colbert):
    model, tok = colbert
    cfg = model.config
    assert tok.convert_ids_to_tokens([cfg.query_marker_id, cfg.doc_marker_id]) == ["[unused0]", "[unused1]"]
    enc = tok(["cats sleep"], return_tensors="pt")
    ids, attn, score = model.prepare(enc["input_ids"], enc["attention_mask"], "query")
    assert ids.shape[1] == 13 and ids[0, 1] == cfg.query_marker_id
    assert (ids[0, 5:] == tok.mask_token_id).all() and score.all() and attn.all()  # [CLS] [Q] cats sleep [SEP]
    model.config.attend_to_expansion = False
    try:
        _, attn, score = model.prepare(enc["input_ids"], enc["attention_mask"], "query")
        assert attn[0].tolist() == [1] * 5 + [0] * 8 and score.all()
    finally:
        model.config.attend_to_expansion = True
    d = tok(["cats, dogs."], return_tensors="pt")
    ids, _, score = model.prepare(d["input_ids"], d["attention_mask"], "doc")
    toks = tok.convert_ids_to_tokens(ids[0])
    assert toks[1] == "[unused1]"
    assert [t for t, s in zip(toks, score[0].tolist()) if not s] == [",", "."]


def test_markers_off_keeps_the_backbone_input_and_survives_a_reload(tiny_backbone, tmp_path):
    from boltir.models.base import save_model_folder

    model, tok = load_colbert(tiny_backbone, embedding_dim=8, markers=False, query_expansion=False)
    assert model.config.query_marker_id is None and model.config.doc_marker_id is None
    enc = tok(["cats sleep"], return_tensors="pt")
    for kind in ("query", "doc"):
        ids, attn, _ = model.prepare(enc["input_ids"], enc["attention_mask"], kind)
        assert torch.equal(ids, enc["input_ids"]) and torch.equal(attn, enc["attention_mask"])
    save_model_folder(model, tok, tmp_path / "m")
    again, _ = load_colbert(str(tmp_path / "m"))
    assert again.config.query_marker_id is None and again.config.doc_marker_id is None
    with pytest.raises(Exception, match="cannot change markers"):
        load_colbert(str(tmp_path / "m"), markers=True)


def test_token_embeddings_do_not_depend_on_batch_padding(colbert):
    from boltir.models.bi_encoders.inference import encode_multi

    model, tok = colbert
    texts = ["short one", "a much longer document about cats and dogs and birds"]
    both = encode_multi(model, tok, texts, "doc")
    alone = encode_multi(model, tok, texts[:1], "doc")
    torch.testing.assert_close(torch.from_numpy(both[0]), torch.from_numpy(alone[0]), atol=1e-5, rtol=0)
    norms = torch.from_numpy(both[1]).norm(dim=-1)
    torch.testing.assert_close(norms, torch.ones_like(norms))


def test_stanford_checkpoint_and_round_trip(tiny_backbone, tmp_path):
    from safetensors.torch import save_file
    from transformers import AutoModel, BertModel

    from boltir.models.base import save_model_folder
    from boltir.models.sources import load_tokenizer

    bert = BertModel.from_pretrained(tiny_backbone)
    linear = torch.randn(6, 32)
    state = {f"bert.{k}": v.contiguous() for k, v in bert.state_dict().items()}
    state["linear.weight"] = linear
    folder = tmp_path / "stanford"
    folder.mkdir()
    save_file(state, folder / "model.safetensors")
    cfg = json.loads((__import__("pathlib").Path(tiny_backbone) / "config.json").read_text())
    cfg["architectures"] = ["HF_ColBERT"]
    (folder / "config.json").write_text(json.dumps(cfg))
    load_tokenizer(tiny_backbone).save_pretrained(folder)
    assert detect_family(str(folder)).name == "colbert"
    model, tok = load_colbert(str(folder), doc_length=16)
    assert model.config.embedding_dim == 6 and torch.equal(model.projection.weight, linear)
    enc = tok(["cats sleep a lot"], return_tensors="pt")
    with torch.inference_mode():
        out = model(enc["input_ids"], enc["attention_mask"], kind="doc")
        emb, mask = out.embeddings, out.mask
        ids, attn, _ = model.prepare(enc["input_ids"], enc["attention_mask"], "doc")
        manual = torch.nn.functional.normalize(
            bert(input_ids=ids, attention_mask=attn).last_hidden_state @ linear.T, dim=-1
        )
    torch.testing.assert_close(emb[mask], manual[mask], atol=1e-5, rtol=0)

    save_model_folder(model, tok, tmp_path / "saved")
    again = AutoModel.from_pretrained(tmp_path / "saved")
    assert type(again) is ColbertModel and detect_family(str(tmp_path / "saved")).name == "colbert"
    with torch.inference_mode():
        torch.testing.assert_close(again.eval()(enc["input_ids"], enc["attention_mask"], kind="doc").embeddings, emb)


def test_rerank_scores_are_maxsim(colbert, tmp_path):
    from boltir.models.base import save_model_folder
    from boltir.pipeline import Reranker

    model, tok = colbert
    save_model_folder(model, tok, tmp_path / "m")
    docs = {"a": "cats sleep all day", "b": "the stock market, today.", "c": "dogs"}
    reranker = Reranker(str(tmp_path / "m"), depth=None, show_progress=False)
    out = reranker.rerank({"q": {d: 0.0 for d in docs}}, {"q": "do cats sleep"}, docs)["q"]
    assert reranker.family == "colbert"
    q = tok(["do cats sleep"], return_tensors="pt")
    d = tok(list(docs.values()), padding=True, return_tensors="pt")
    with torch.inference_mode():
        qo = reranker.model(q["input_ids"], q["attention_mask"], kind="query")
        do = reranker.model(d["input_ids"], d["attention_mask"], kind="doc")
        expect = ColbertModel.score(qo, do)[0]
    assert list(out.values()) == pytest.approx(expect.tolist(), abs=1e-5)


def test_xtr_scores_by_hand():
    from boltir.models.bi_encoders.colbert import xtr_scores

    q = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    q_mask = torch.tensor([[True, True]])
    d = torch.tensor([[[0.9, 0.1], [0.2, 0.3]], [[0.5, 0.8], [0.0, 0.0]]])
    d_mask = torch.tensor([[True, True], [True, False]])
    # token 1 sims: doc0 0.9, 0.2; doc1 0.5 -> top-2: 0.9 (doc0), 0.5 (doc1)
    # token 2 sims: doc0 0.1, 0.3; doc1 0.8 -> top-2: 0.8 (doc1), 0.3 (doc0)
    got = xtr_scores(q, q_mask, d, d_mask, k=2)[0]
    assert got.tolist() == pytest.approx([(0.9 + 0.3) / 2, (0.5 + 0.8) / 2])
    # k=1: doc0 keeps only token 1 (0.9), doc1 only token 2 (0.8): each normalised by 1
    assert xtr_scores(q, q_mask, d, d_mask, k=1)[0].tolist() == pytest.approx([0.9, 0.8])
    # with every token kept, XTR is MaxSim divided by the query length
    full = xtr_scores(q, q_mask, d, d_mask, k=4)[0]
    assert full.tolist() == pytest.approx((maxsim(q, q_mask, d, d_mask)[0] / 2).tolist())
