"""Set-Encoder: permutation equivariance, batching, one passage == mono, fused == eager, padding, options."""

import pytest
import torch

from boltir.data.pair_tokenizer import SetTokenizer
from boltir.models.loading import load_set_encoder

QUERY = "how do cats sleep"
DOCS = [
    "cats sleep up to sixteen hours a day, mostly in short naps",
    "dogs bark at strangers",
    "a cat curls into a ball to keep warm while sleeping",
    "the stock market fell today",
    "kittens sleep even more than adult cats",
]


@pytest.fixture(scope="module")
def set_encoder(tiny_backbone):
    return load_set_encoder(tiny_backbone, seed=0)


def encode(model, tok, queries, docs, **kw):
    st = SetTokenizer(tok, 32, 64, model.config.int_token_id)
    with torch.inference_mode():
        return model(**st(queries, docs), **kw)


def test_permutation_equivariance(set_encoder):
    model, tok = set_encoder
    base = encode(model, tok, [QUERY], [DOCS])
    perm = [3, 0, 4, 2, 1]
    permuted = encode(model, tok, [QUERY], [[DOCS[i] for i in perm]])
    torch.testing.assert_close(permuted, base[perm], atol=1e-5, rtol=0)


def test_passages_interact(set_encoder):
    """Scores depend on the other passages (else it would be a mono model)."""
    model, tok = set_encoder
    full = encode(model, tok, [QUERY], [DOCS])
    fewer = encode(model, tok, [QUERY], [DOCS[:3]])
    assert (full[:3] - fewer).abs().max() > 1e-6


def test_two_queries_batched_equal_each_alone(set_encoder):
    model, tok = set_encoder
    other_q, other_docs = "stock prices", ["the stock market fell today", "cats sleep a lot", "bonds rose"]
    together = encode(model, tok, [QUERY, other_q], [DOCS, other_docs])  # second list padded to 5
    alone_a = encode(model, tok, [QUERY], [DOCS])
    alone_b = encode(model, tok, [other_q], [other_docs])
    torch.testing.assert_close(together[:5], alone_a, atol=1e-5, rtol=0)
    torch.testing.assert_close(together[5:8], alone_b, atol=1e-5, rtol=0)


def test_one_passage_equals_mono_with_the_same_weights(set_encoder):
    from boltir.models.cross_encoders.mono import MonoConfig, MonoModel

    model, tok = set_encoder
    mono = MonoModel(MonoConfig(encoder=model.config.encoder.to_dict(), head_activation=None, head_bias=False))
    mono.load_state_dict(model.state_dict())
    mono.eval()
    st = SetTokenizer(tok, 32, 64, model.config.int_token_id)
    enc = st([QUERY], [[DOCS[0]]])
    with torch.inference_mode():
        ours = model(**enc)
        plain = mono(enc["input_ids"], enc["attention_mask"], enc.get("token_type_ids"))
    torch.testing.assert_close(ours, plain, atol=1e-5, rtol=0)


@pytest.mark.parametrize("backend", ["fused", "flex"])
@pytest.mark.parametrize("padded", [True, False])
def test_fused_and_flex_equal_eager(set_encoder, backend, padded):
    model, tok = set_encoder
    # padded: ragged passages and a short second list (keys masked); unpadded: equal-length passages, full
    # lists, so the attention runs without any mask
    queries, docs = (
        ([QUERY, "x"], [DOCS, DOCS[:2]])
        if padded
        else ([QUERY], [["red apple pie", "blue river bank", "old stone wall"]])
    )
    enc = SetTokenizer(tok, 32, 64, model.config.int_token_id)(queries, docs)
    fully_real = bool(enc["attention_mask"].all()) and bool(enc["list_mask"].all())
    assert fully_real is not padded
    out = {}
    try:
        for name in (backend, "eager"):
            model.config.attention = name
            out[name] = encode(model, tok, queries, docs)
    finally:
        model.config.attention = "fused"
    torch.testing.assert_close(out[backend], out["eager"], atol=1e-5, rtol=0)


def test_input_layout_and_int_token(set_encoder):
    model, tok = set_encoder
    enc = SetTokenizer(tok, 32, 64, model.config.int_token_id)([QUERY], [DOCS[:2]])
    assert tok.convert_ids_to_tokens(int(enc["input_ids"][0, 1])) == "[INT]"
    assert enc["input_ids"][0, 0] == tok.cls_token_id
    types = enc["token_type_ids"][0][enc["attention_mask"][0].bool()].tolist()
    first_sep = enc["input_ids"][0].tolist().index(tok.sep_token_id)
    assert types == [0] * (first_sep + 1) + [1] * (len(types) - first_sep - 1)


def test_pseudo_int_padding_is_opt_in(set_encoder):
    model, tok = set_encoder
    a = encode(model, tok, [QUERY], [DOCS])
    b = encode(model, tok, [QUERY], [DOCS])
    torch.testing.assert_close(a, b, atol=0, rtol=0)
    model.config.sample_missing_docs, model.config.depth = True, 20
    try:
        c = encode(model, tok, [QUERY], [DOCS], generator=torch.Generator().manual_seed(1))
        d = encode(model, tok, [QUERY], [DOCS], generator=torch.Generator().manual_seed(2))
    finally:
        model.config.sample_missing_docs = False
    # a tiny random model barely reacts to other passages, so any change at all shows the option acts
    assert not torch.equal(c, d) and not torch.equal(c, a)
    k, v = torch.randn(5, 2, 5, 4), torch.randn(5, 2, 5, 4)
    mask = torch.ones(1, 5, dtype=torch.bool)
    k2, v2 = model._pseudo(k, v, mask, 5, 3, torch.Generator().manual_seed(0))
    assert k2.shape == (5, 2, 8, 4) and torch.equal(k2[:, :, :5], k) and torch.equal(v2[:, :, :5], v)


def test_round_trip(set_encoder, tmp_path):
    from transformers import AutoModel

    from boltir.models.base import save_model_folder, weights_fingerprint
    from boltir.models.cross_encoders.set_encoder import SetEncoder

    model, tok = set_encoder
    save_model_folder(model, tok, tmp_path / "m")
    assert type(AutoModel.from_pretrained(tmp_path / "m")) is SetEncoder
    again, tok2 = load_set_encoder(str(tmp_path / "m"))
    assert weights_fingerprint(again) == weights_fingerprint(model)
    assert tok2.convert_tokens_to_ids("[INT]") == model.config.int_token_id
