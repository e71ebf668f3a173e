import pytest
import torch

from boltir.data.pair_tokenizer import PairTokenizer
from boltir.models.base import weights_fingerprint
from boltir.models.loading import detect_family, load_cross_encoder
from boltir.models.sources import load_tokenizer, resolve_model

PAIRS = [
    ("what is a cat", "a cat is a small domesticated carnivorous mammal"),
    ("capital of france", "paris is the capital and largest city of france, on the seine"),
    ("why", "short"),
]


def tiny(kind: str, num_labels: int):
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        ElectraConfig,
        ElectraForSequenceClassification,
        RobertaConfig,
        RobertaForSequenceClassification,
    )

    common = dict(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=num_labels,
    )
    torch.manual_seed(0)
    if kind == "bert":
        return BertForSequenceClassification(BertConfig(**common))
    if kind == "electra":
        return ElectraForSequenceClassification(ElectraConfig(embedding_size=16, **common))
    return RobertaForSequenceClassification(RobertaConfig(pad_token_id=0, **common, max_position_embeddings=520))


@pytest.mark.parametrize("kind,num_labels", [("bert", 1), ("electra", 1), ("bert", 2), ("roberta", 1)])
def test_sequence_classification_folder_gives_transformers_logits(kind, num_labels, tmp_path):
    clf = tiny(kind, num_labels).eval()
    clf.save_pretrained(tmp_path / "clf")
    tok = load_tokenizer(resolve_model("minilm-l6"))
    tok.save_pretrained(tmp_path / "clf")
    assert detect_family(str(tmp_path / "clf")).name == "mono"
    model, tokenizer = load_cross_encoder(str(tmp_path / "clf"))
    enc = tokenizer([q for q, _ in PAIRS], [d for _, d in PAIRS], padding=True, return_tensors="pt")
    with torch.inference_mode():
        expected = clf(**enc).logits
        got = model.logits(**dict(enc))
        scores = model(**dict(enc))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    want = expected[:, 0] if num_labels == 1 else expected[:, 1] - expected[:, 0]
    torch.testing.assert_close(scores, want, atol=1e-5, rtol=1e-5)


def test_pair_tokenizer_matches_hf_pairs_and_truncates_each_side_on_ids():
    tok = load_tokenizer(resolve_model("minilm-l6"))
    pt = PairTokenizer(tok, query_length=32, doc_length=64)
    ours = pt([q for q, _ in PAIRS], [d for _, d in PAIRS])
    ref = tok([q for q, _ in PAIRS], [d for _, d in PAIRS], padding=True, return_tensors="pt")
    for k in ("input_ids", "attention_mask", "token_type_ids"):
        assert torch.equal(ours[k], ref[k]), k
    long_q = "retrieval " * 50
    long_d = "passage words " * 100
    cut = PairTokenizer(tok, query_length=4, doc_length=10)(["x " + long_q], [long_d])
    q_ids = tok(long_q.join(["x ", ""]), add_special_tokens=False)["input_ids"][:4]
    d_ids = tok(long_d, add_special_tokens=False)["input_ids"][:10]
    expected = [tok.cls_token_id, *q_ids, tok.sep_token_id, *d_ids, tok.sep_token_id]
    assert cut["input_ids"][0].tolist() == expected
    assert cut["token_type_ids"][0].tolist() == [0] * 6 + [1] * 11


def test_round_trip_and_fresh_head(tiny_backbone, tmp_path):
    from transformers import AutoModel

    from boltir.models.base import save_model_folder
    from boltir.models.cross_encoders.mono import MonoModel

    a, tok = load_cross_encoder(tiny_backbone, seed=1)
    b, _ = load_cross_encoder(tiny_backbone, seed=1)
    assert weights_fingerprint(a) == weights_fingerprint(b)
    save_model_folder(a, tok, tmp_path / "m")
    loaded = AutoModel.from_pretrained(tmp_path / "m")
    assert type(loaded) is MonoModel
    assert weights_fingerprint(loaded) == weights_fingerprint(a)
    again, _ = load_cross_encoder(str(tmp_path / "m"))
    assert weights_fingerprint(again) == weights_fingerprint(a) and detect_family(str(tmp_path / "m")).name == "mono"


def test_pair_scores_do_not_depend_on_batch(tiny_backbone):
    model, tok = load_cross_encoder(tiny_backbone, head_activation="tanh")
    pt = PairTokenizer(tok, 32, 64)
    with torch.inference_mode():
        together = model(**pt([q for q, _ in PAIRS], [d for _, d in PAIRS]))
        alone = torch.cat([model(**pt([q], [d])) for q, d in PAIRS])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)
