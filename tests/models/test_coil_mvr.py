"""COIL and MVR: scores by hand from the model's own outputs, HF round trip, re-ranking through Reranker."""

import pytest
import torch
from transformers import AutoModel

from boltir.models.bi_encoders.mvr import MvrModel
from boltir.models.loading import detect_family, load_coil, load_mvr


def test_coil_scores_by_hand(tiny_backbone):
    model, tok = load_coil(tiny_backbone, cls_dim=8, token_dim=4)
    q = tok(["cats chase"], return_tensors="pt")
    d = tok(["cats, cats sleep", "dogs chase cats"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        qo, do = model(**q, kind="query"), model(**d, kind="doc")
        got = model.score(qo, do)[0]
    cats, chase = tok.convert_tokens_to_ids(["cats", "chase"])
    for j in range(2):
        expect = float(qo.cls[0] @ do.cls[j])
        for i, t in enumerate(q["input_ids"][0].tolist()):
            if t in (cats, chase):
                sims = [
                    float(qo.embeddings[0, i] @ do.embeddings[j, k])
                    for k, u in enumerate(d["input_ids"][j].tolist())
                    if u == t and d["attention_mask"][j, k]
                ]
                expect += max(sims) if sims else 0.0
        assert float(got[j]) == pytest.approx(expect, abs=1e-5)
    assert (qo.token_ids[0] == -1).sum() == 2  # [CLS] and [SEP] never match


def test_coil_match_floor_counts_a_negative_match_as_zero(tiny_backbone):
    """Lightning IR's COIL scores a query token's matches inside a maximum that also holds 0s (its non-matching
    document tokens), so a negative best match adds 0: ``match_floor=0``."""
    from boltir.models.bi_encoders.base import BiEncoderOutput

    model, _ = load_coil(tiny_backbone, cls_dim=2, token_dim=2)
    query = BiEncoderOutput(
        embeddings=torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]), cls=torch.zeros(1, 2), token_ids=torch.tensor([[7, 8]])
    )
    doc = BiEncoderOutput(
        embeddings=torch.tensor([[[-2.0, 0.0], [0.0, 3.0]]]), cls=torch.zeros(1, 2), token_ids=torch.tensor([[7, 8]])
    )
    assert model.score(query, doc).item() == pytest.approx(-2.0 + 3.0)
    model.config.match_floor = 0.0
    assert model.score(query, doc).item() == pytest.approx(0.0 + 3.0)


def test_mvr_views_and_scores(tiny_backbone, tmp_path):
    from boltir.models.base import save_model_folder
    from boltir.pipeline import Reranker

    model, tok = load_mvr(tiny_backbone, views=3, projection_dim=8)
    assert tok.convert_ids_to_tokens(model.config.view_token_ids) == ["[unused2]", "[unused3]", "[unused4]"]
    q = tok(["cats"], return_tensors="pt")
    d = tok(["cats sleep", "dogs"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        qe, de = model(**q, kind="query"), model(**d, kind="doc")
        scores = MvrModel.score(qe, de)[0]
    qe, de = qe.embeddings, de.embeddings
    assert qe.shape == (1, 8) and de.shape == (2, 3, 8)
    assert scores.tolist() == pytest.approx([max(float(qe[0] @ de[j, v]) for v in range(3)) for j in range(2)])
    save_model_folder(model, tok, tmp_path / "mvr")
    assert (
        type(AutoModel.from_pretrained(tmp_path / "mvr")) is MvrModel
        and detect_family(str(tmp_path / "mvr")).name == "mvr"
    )
    reranker = Reranker(str(tmp_path / "mvr"), depth=None, show_progress=False)
    out = reranker.rerank({"q": {"a": 0.0, "b": 0.0}}, {"q": "cats"}, {"a": "cats sleep", "b": "dogs"})["q"]
    assert reranker.family == "mvr" and [out["a"], out["b"]] == pytest.approx(scores.tolist(), abs=1e-5)
    coil, ctok = load_coil(tiny_backbone, cls_dim=8, token_dim=4)
    save_model_folder(coil, ctok, tmp_path / "coil")
    reranker = Reranker(str(tmp_path / "coil"), depth=None, show_progress=False)
    assert reranker.family == "coil"
    assert len(reranker.rerank({"q": {"a": 0.0}}, {"q": "cats"}, {"a": "cats"})["q"]) == 1
