import numpy as np

from boltir.models.bi_encoders.inference import encode_texts
from boltir.search.rerank import rerank_bi_encoder, top_k


def test_rerank_equals_direct_scores(tiny_dpr):
    model, tok = tiny_dpr
    docs = {"a": "apple pie", "b": "banana split with cream", "c": "cherry", "d": "never retrieved"}
    run = {"q1": {"a": 3.0, "b": 2.0, "c": 1.0, "d": 0.5}, "q2": {"c": 1.0, "a": 0.0}}
    queries = {"q1": "fruit dessert", "q2": "red fruit"}
    out = rerank_bi_encoder(model, tok, run, queries, docs, depth=3, batch_size=2, show_progress=False)
    assert set(out["q1"]) == {"a", "b", "c"} and set(out["q2"]) == {"c", "a"}
    for qid, cands in out.items():
        qv = encode_texts(model, tok, [queries[qid]], "query")[0]
        for d, s in cands.items():
            dv = encode_texts(model, tok, [docs[d]], "doc")[0]
            assert abs(s - float(np.dot(qv, dv))) < 1e-5


def test_top_k_breaks_ties_by_doc_id():
    assert top_k({"q": {"b": 1.0, "a": 1.0, "c": 2.0}}, 2) == {"q": ["c", "a"]}
