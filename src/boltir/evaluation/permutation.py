"""Permutation-robustness protocol: re-rank the same candidates fed in ideal, inverse-ideal, random and original
order and compare the effectiveness reached from each (a permutation-invariant model gives the same numbers)."""

from __future__ import annotations

import random
from collections.abc import Callable

from boltir.data.runs import top_k
from boltir.evaluation.measures import evaluate

ORDERS = ("original", "ideal", "inverse-ideal", "random")


def input_orders(
    run: dict[str, dict[str, float]], qrels: dict[str, dict[str, int]], depth: int | None, seed: int = 0
) -> dict[str, dict[str, list[str]]]:
    """For each protocol order, the candidate list of every query in that order (same candidates throughout).

    ideal: by descending judgment (unjudged as 0), ties in original order; inverse-ideal: its reverse;
    random: a seeded shuffle; original: the run's own order.
    """
    original = top_k(run, depth)
    rng = random.Random(seed)
    out: dict[str, dict[str, list[str]]] = {name: {} for name in ORDERS}
    for qid, cand in original.items():
        rel = qrels.get(qid, {})
        ideal = sorted(cand, key=lambda d: -rel.get(d, 0))
        shuffled = list(cand)
        rng.shuffle(shuffled)
        out["original"][qid], out["ideal"][qid] = list(cand), ideal
        out["inverse-ideal"][qid], out["random"][qid] = ideal[::-1], shuffled
    return out


def permutation_robustness(
    rerank: Callable[[dict[str, list[str]]], dict[str, dict[str, float]]],
    run: dict[str, dict[str, float]],
    qrels: dict[str, dict[str, int]],
    metric: str = "nDCG@10",
    depth: int | None = 100,
    seed: int = 0,
) -> dict[str, float]:
    """``{order: metric}`` where ``rerank(order)`` scores the candidates fed in ``order`` ({qid: [doc ids]})."""
    return {
        name: evaluate(rerank(order), qrels, [metric]).aggregate[metric]
        for name, order in input_orders(run, qrels, depth, seed).items()
    }
