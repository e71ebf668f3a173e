import math

import pytest
import torch

from boltir.evaluation.novelty import alpha_ndcg, jaccard_clusters
from boltir.losses.novelty import DuplicateAwareRankNet, novelty_targets
from boltir.losses.pairwise import RankNet


def test_novelty_targets_keep_the_highest_scored_copy():
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.3]])
    targets = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    clusters = torch.tensor([[0, 0, -1, -1]])
    assert novelty_targets(scores, targets, clusters).tolist() == [[0.0, 1.0, 1.0, 0.0]]
    loss = DuplicateAwareRankNet()(scores, targets, clusters=clusters)
    assert loss.item() == pytest.approx(RankNet()(scores, torch.tensor([[0.0, 1.0, 1.0, 0.0]])).item())


def test_jaccard_clusters():
    texts = ["the cat sat on the mat", "the cat sat on a mat", "stock markets fell sharply", "cat"]
    assert jaccard_clusters(texts, 0.5) == [0, 0, 1, 2]


def test_alpha_ndcg_by_hand():
    rel = {"a": 1, "a2": 1, "b": 1}
    clusters = {"a": 0, "a2": 0, "b": 1}
    # ranking a, a2, b: gains 1, 0.5, 1 at ranks 1-3; ideal a, b, a2: 1, 1, 0.5
    got = alpha_ndcg(["a", "a2", "b"], rel, clusters, alpha=0.5, k=10)
    dcg = 1 + 0.5 / math.log2(3) + 1 / math.log2(4)
    ideal = 1 + 1 / math.log2(3) + 0.5 / math.log2(4)
    assert got == pytest.approx(dcg / ideal)
    assert alpha_ndcg(["a", "b", "a2"], rel, clusters) == pytest.approx(1.0)
