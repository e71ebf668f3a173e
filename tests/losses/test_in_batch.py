import math

import torch

from boltir.losses.in_batch import InBatchCrossEntropy


def test_in_batch_cross_entropy_by_hand():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    d = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.0, 2.0], [1.0, 1.0]])  # 2 docs per query, positives 0 and 2
    loss = InBatchCrossEntropy(temperature=0.5)(q, d, docs_per_query=2)
    s0 = [1.0 / 0.5, 0.5 / 0.5, 0.0, 1.0 / 0.5]
    s1 = [0.0, 0.5 / 0.5, 2.0 / 0.5, 1.0 / 0.5]
    l0 = -s0[0] + math.log(sum(math.exp(x) for x in s0))
    l1 = -s1[2] + math.log(sum(math.exp(x) for x in s1))
    assert loss.item() == torch.tensor((l0 + l1) / 2).item() or abs(loss.item() - (l0 + l1) / 2) < 1e-6
