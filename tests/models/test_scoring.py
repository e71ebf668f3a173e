import numpy as np

from boltir.data.runs import top_k
from boltir.index.dense import rerank_dense
from boltir.models.bi_encoders.inference import encode_dense
from boltir.models.scoring import RerankJob


def test_rerank_equals_direct_scores(tiny_dpr):
    model, tok = tiny_dpr
    docs = {"a": "apple pie", "b": "banana split with cream", "c": "cherry", "d": "never retrieved"}
    run = {"q1": {"a": 3.0, "b": 2.0, "c": 1.0, "d": 0.5}, "q2": {"c": 1.0, "a": 0.0}}
    queries = {"q1": "fruit dessert", "q2": "red fruit"}
    out = rerank_dense(RerankJob.from_run(model, tok, run, queries, docs, 3, batch_size=2, show_progress=False))
    assert set(out["q1"]) == {"a", "b", "c"} and set(out["q2"]) == {"c", "a"}
    for qid, cands in out.items():
        qv = encode_dense(model, tok, [queries[qid]], "query")[0]
        for d, s in cands.items():
            dv = encode_dense(model, tok, [docs[d]], "doc")[0]
            assert abs(s - float(np.dot(qv, dv))) < 1e-5


def test_top_k_breaks_ties_by_doc_id():
    assert top_k({"q": {"b": 1.0, "a": 1.0, "c": 2.0}}, 2) == {"q": ["c", "a"]}


def test_cross_encoder_rerank_and_oom_splitting(tiny_backbone, monkeypatch):
    import torch

    from boltir.data.pair_tokenizer import PairTokenizer
    from boltir.models.loading import load_cross_encoder
    from boltir.models.scoring import RerankJob, rerank_pairs

    model, tok = load_cross_encoder(tiny_backbone, head_activation="tanh")
    docs = {f"d{i}": f"document {i} " + "word " * i for i in range(10)}
    run = {"q1": {f"d{i}": float(-i) for i in range(10)}, "q2": {"d3": 1.0, "d4": 0.0}}
    queries = {"q1": "first query", "q2": "second"}
    pt = PairTokenizer(tok, 32, 256)
    with torch.inference_mode():
        expected = {q: {d: float(model(**pt([queries[q]], [docs[d]]))[0]) for d in ds} for q, ds in run.items()}
    out = rerank_pairs(RerankJob.from_run(model, tok, run, queries, docs, None, batch_size=8, show_progress=False))
    for q in expected:
        assert out[q].keys() == expected[q].keys()
        assert all(abs(out[q][d] - expected[q][d]) < 1e-5 for d in out[q])
    real_forward = type(model).forward
    sizes = []

    def tight_memory(self, input_ids, attention_mask, token_type_ids=None):
        sizes.append(len(input_ids))
        if len(input_ids) > 3:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_forward(self, input_ids, attention_mask, token_type_ids)

    monkeypatch.setattr(type(model), "forward", tight_memory)
    split = rerank_pairs(RerankJob.from_run(model, tok, run, queries, docs, None, batch_size=8, show_progress=False))
    assert sizes[0] == 12  # 8 x the longest pair allowed holds all 12 short pairs: one batch, split on OOM
    assert max(s for s in sizes if s <= 3) <= 3 and sizes[1:3] == [6, 3]
    assert all(abs(split[q][d] - out[q][d]) < 1e-5 for q in out for d in out[q])


def test_sparse_rerank_equals_pairwise_scores(tiny_backbone):
    import torch

    from boltir.attention.patterns import SparsePattern
    from boltir.data.pair_tokenizer import SegmentTokenizer
    from boltir.models.loading import load_sparse_cross_encoder
    from boltir.models.scoring import RerankJob, rerank_segments

    model, tok = load_sparse_cross_encoder(tiny_backbone, pattern=SparsePattern(window=2), head_activation="tanh")
    docs = {f"d{i}": f"document {i} " + "word " * i for i in range(7)}
    run = {"q1": {f"d{i}": float(-i) for i in range(7)}}
    out = rerank_segments(
        RerankJob.from_run(model, tok, run, {"q1": "a query"}, docs, None, batch_size=3, show_progress=False)
    )
    st = SegmentTokenizer(tok, 32, 256)
    with torch.inference_mode():
        for d, s in out["q1"].items():
            assert abs(s - float(model(**st(["a query"], [[docs[d]]]))[0])) < 1e-5


def test_token_budget_batches_give_the_same_scores(tiny_backbone, tiny_dpr):
    """Batches by padded tokens (the default for pairs and documents: ``batch_size`` x the longest input) give
    the scores of batches by count (``batch_tokens=0``) to float rounding; queries stay in count batches."""
    import numpy as np

    from boltir.data.collators import token_budget_batches
    from boltir.data.pair_tokenizer import PairTokenizer
    from boltir.models.bi_encoders.inference import encoded_batches
    from boltir.models.loading import load_cross_encoder
    from boltir.models.scoring import RerankJob, pair_batches, rerank_pairs

    docs = {f"d{i}": f"document {i} " + "word " * (3 * i) for i in range(12)}
    run = {"q1": {f"d{i}": float(-i) for i in range(12)}}
    queries = {"q1": "a query about words"}
    model, tok = load_cross_encoder(tiny_backbone)

    def scores(**batching):
        return rerank_pairs(RerankJob.from_run(model, tok, run, queries, docs, None, show_progress=False, **batching))

    by_count = scores(batch_size=4, batch_tokens=0)
    for by_tokens in (scores(batch_tokens=64), scores(batch_size=4)):
        assert all(abs(by_tokens["q1"][d] - by_count["q1"][d]) < 1e-5 for d in docs)
    pt = PairTokenizer(tok, model.config.query_length, model.config.doc_length)
    assert pt.max_length == model.config.query_length + model.config.doc_length + 3  # [CLS] q [SEP] d [SEP]
    texts = list(docs.values())
    lengths = pt.lengths(["a query about words"] * 12, texts)
    assert pair_batches(pt, ["a query about words"] * 12, texts, 4, None) == token_budget_batches(
        lengths, 4 * pt.max_length
    )
    assert [len(b) for b in pair_batches(pt, ["q"] * 12, texts, 4, 0)] == [4, 4, 4]
    bi, bi_tok = tiny_dpr
    count = bi.encode(texts, batch_size=3, batch_tokens=0, tokenizer=bi_tok)
    assert np.allclose(count, bi.encode(texts, batch_tokens=50, tokenizer=bi_tok), atol=1e-6)
    assert np.allclose(count, bi.encode(texts, batch_size=3, tokenizer=bi_tok), atol=1e-6)
    doc_sizes = [len(i) for i, _ in encoded_batches(bi, bi_tok, texts, "doc", batch_size=3)]
    query_sizes = [len(i) for i, _ in encoded_batches(bi, bi_tok, texts, "query", batch_size=3)]
    assert max(doc_sizes) > 3 and len(doc_sizes) < 4 and query_sizes == [3, 3, 3, 3]
