import pytest

from boltir.evaluation.permutation import input_orders, permutation_robustness


def test_input_orders_by_hand():
    run = {"q": {"a": 4.0, "b": 3.0, "c": 2.0, "d": 1.0}}
    qrels = {"q": {"c": 2, "a": 1}}
    orders = input_orders(run, qrels, depth=None, seed=0)
    assert orders["original"]["q"] == ["a", "b", "c", "d"]
    assert orders["ideal"]["q"] == ["c", "a", "b", "d"]
    assert orders["inverse-ideal"]["q"] == ["d", "b", "a", "c"]
    assert sorted(orders["random"]["q"]) == ["a", "b", "c", "d"]


def test_set_encoder_is_robust_and_an_order_dependent_ranker_is_not(tiny_backbone):
    from boltir.models.loading import load_set_encoder
    from boltir.models.scoring import RerankJob, rerank_lists

    model, tok = load_set_encoder(tiny_backbone)
    docs = {f"d{i}": f"passage {i} about topic {i % 3}" for i in range(8)}
    run = {"q1": {f"d{i}": float(8 - i) for i in range(8)}, "q2": {f"d{i}": float(i) for i in range(8)}}
    qrels = {"q1": {"d1": 2, "d4": 1}, "q2": {"d7": 1, "d0": 2}}
    queries = {"q1": "topic 1", "q2": "topic 2"}
    robust = permutation_robustness(
        lambda order: rerank_lists(RerankJob(model, tok, order, queries, docs, show_progress=False)),
        run,
        qrels,
        depth=None,
    )
    values = list(robust.values())
    assert max(values) - min(values) < 1e-6
    # a "ranker" that trusts the input order is not robust: the protocol must show it
    by_position = permutation_robustness(
        lambda order: {q: {d: -i for i, d in enumerate(ds)} for q, ds in order.items()}, run, qrels, depth=None
    )
    assert by_position["ideal"] == pytest.approx(1.0) and by_position["inverse-ideal"] < 0.7
