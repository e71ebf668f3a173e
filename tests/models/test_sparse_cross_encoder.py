"""Sparse (windowed) cross-encoder: equals transformers with every link on, banded == masked reference."""

import pytest
import torch

from boltir.attention.patterns import SparsePattern, full_mask
from boltir.data.pair_tokenizer import SegmentTokenizer
from boltir.models.loading import load_sparse_cross_encoder
from boltir.models.sources import load_tokenizer, resolve_model

QUERIES = ["what is a cat", "capital city of france and its river"]
DOCS = [
    [
        "a cat is a small domesticated carnivorous mammal with soft fur",
        "dogs bark",
        "the cat sat on the mat while the other cat slept in the warm sun by the window",
    ],
    [
        "paris",
        "paris is the capital and largest city of france, on the seine river in the north",
        "berlin is in germany",
    ],
]


@pytest.fixture(scope="module")
def clf_folder(tmp_path_factory):
    from transformers import BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("clf")
    torch.manual_seed(0)
    BertForSequenceClassification(
        BertConfig(
            vocab_size=30522,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            num_labels=1,
        )
    ).save_pretrained(folder)
    load_tokenizer(resolve_model("minilm-l6")).save_pretrained(folder)
    return str(folder)


def batch(tok, ql=32, dl=64):
    return SegmentTokenizer(tok, ql, dl)(QUERIES, DOCS)


@pytest.mark.parametrize("backend", ["banded", "mask"])
def test_all_links_no_window_equals_transformers(clf_folder, backend):
    from transformers import AutoModelForSequenceClassification

    model, tok = load_sparse_cross_encoder(clf_folder, pattern=SparsePattern.dense(), attention_backend=backend)
    ref = AutoModelForSequenceClassification.from_pretrained(clf_folder).eval()
    pairs = [(q, d) for q, ds in zip(QUERIES, DOCS) for d in ds]
    enc = tok([q for q, _ in pairs], [d for _, d in pairs], padding=True, return_tensors="pt")
    with torch.inference_mode():
        expected = ref(**enc).logits[:, 0]
        got = model(**batch(tok))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("window", [0, 1, 4, 64, 10_000])
def test_banded_equals_dense_attention_with_the_same_mask(clf_folder, window):
    pattern = SparsePattern(window=window)
    banded, tok = load_sparse_cross_encoder(clf_folder, pattern=pattern, attention_backend="banded")
    masked, _ = load_sparse_cross_encoder(clf_folder, pattern=pattern, attention_backend="mask")
    b = batch(tok)
    with torch.inference_mode():
        s1, q1 = banded(**b, return_query_states=True)
        s2, q2 = masked(**b, return_query_states=True)
    torch.testing.assert_close(s1, s2, atol=1e-5, rtol=1e-5)
    valid = b["query_mask"].bool()
    torch.testing.assert_close(q1[valid], q2[valid], atol=1e-5, rtol=1e-5)


def test_pattern_changes_what_tokens_see(clf_folder):
    """Sanity check that the pattern is applied: with every link on, query states depend on the document."""
    sparse, tok = load_sparse_cross_encoder(clf_folder, pattern=SparsePattern(window=1))
    dense, _ = load_sparse_cross_encoder(clf_folder, pattern=SparsePattern.dense())
    b = batch(tok)
    with torch.inference_mode():
        _, q_sparse = sparse(**b, return_query_states=True)  # one per query
        _, q_dense = dense(**b, return_query_states=True)  # one per pair
    assert q_sparse.shape[0] == 2 and q_dense.shape[0] == 6
    valid = b["query_mask"][0].bool()
    assert (q_dense[0][valid] - q_dense[1][valid]).abs().max() > 1e-3  # same query, other document
    assert (q_dense[0][valid] - q_sparse[0][valid]).abs().max() > 1e-3


def test_query_states_do_not_depend_on_documents(clf_folder):
    model, tok = load_sparse_cross_encoder(clf_folder, pattern=SparsePattern(window=4))
    st = SegmentTokenizer(tok, 32, 64)
    other = [["completely different text here"] * 3, ["nothing", "about", "anything at all, really"]]
    with torch.inference_mode():
        _, qa = model(**st(QUERIES, DOCS), return_query_states=True)
        _, qb = model(**st(QUERIES, other), return_query_states=True)
    assert qa.shape[0] == 2  # encoded once per query, not once per pair
    torch.testing.assert_close(qa, qb)


def test_full_mask_of_the_published_pattern():
    m = full_mask(SparsePattern(window=1), torch.tensor([[1, 1]]), torch.tensor([[1, 1, 1, 0]]))[0]
    # layout: 0 = [CLS], 1-2 = query, 3-6 = document (6 is padding)
    assert m[0, :6].all() and not m[0, 6]  # [CLS] sees every real token
    assert m[1].tolist() == [False, True, True, False, False, False, False]  # query sees only the query
    assert m[3].tolist() == [True, True, True, True, True, False, False]  # doc: cls, query, window of 1
    assert m[5].tolist() == [True, True, True, False, True, True, False]
    assert m[6].tolist() == [False] * 6 + [True]  # a padding row keeps itself only


def test_round_trip(clf_folder, tmp_path):
    from transformers import AutoModel

    from boltir.models.base import weights_fingerprint
    from boltir.models.cross_encoders.sparse import SparseCrossEncoder

    model, tok = load_sparse_cross_encoder(clf_folder, pattern=SparsePattern(window=2))
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    loaded = AutoModel.from_pretrained(tmp_path / "m")
    assert type(loaded) is SparseCrossEncoder and loaded.config.window == 2
    assert weights_fingerprint(loaded) == weights_fingerprint(model)


def test_electra_backbone_with_every_link_equals_transformers(tmp_path):
    from transformers import AutoModelForSequenceClassification, ElectraConfig, ElectraForSequenceClassification

    torch.manual_seed(0)
    ElectraForSequenceClassification(
        ElectraConfig(
            vocab_size=30522,
            embedding_size=16,
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            num_labels=1,
        )
    ).save_pretrained(tmp_path)
    load_tokenizer(resolve_model("minilm-l6")).save_pretrained(tmp_path)
    model, tok = load_sparse_cross_encoder(str(tmp_path), pattern=SparsePattern.dense())
    ref = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    pairs = [(q, d) for q, ds in zip(QUERIES, DOCS) for d in ds]
    enc = tok([q for q, _ in pairs], [d for _, d in pairs], padding=True, return_tensors="pt")
    with torch.inference_mode():
        torch.testing.assert_close(model(**batch(tok)), ref(**enc).logits[:, 0], atol=1e-5, rtol=1e-5)
