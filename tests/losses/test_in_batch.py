import math

import pytest
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


def _gather_rank(rank: int, world: int, port: int, out_dir: str) -> None:
    import os

    import torch
    import torch.distributed as dist

    from boltir.losses.in_batch import InBatchCrossEntropy

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        g = torch.Generator().manual_seed(0)
        q_all, d_all = (torch.randn(4, 8, generator=g), torch.randn(12, 8, generator=g))  # 2 queries x 3 docs per rank
        q = q_all[2 * rank : 2 * rank + 2].clone().requires_grad_(True)
        d = d_all[6 * rank : 6 * rank + 6].clone().requires_grad_(True)
        loss = InBatchCrossEntropy(0.5)(q, d, 3)
        loss.backward()
        torch.save({"loss": loss.detach(), "q_grad": q.grad, "d_grad": d.grad}, os.path.join(out_dir, f"r{rank}.pt"))
        dist.barrier()  # neither process tears the group down while the other is still in a collective
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_negatives_gathered_across_two_gloo_processes(tmp_path):
    import socket

    import torch
    import torch.multiprocessing as mp

    from boltir.losses.in_batch import InBatchCrossEntropy

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_gather_rank, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    parts = [torch.load(tmp_path / f"r{r}.pt") for r in range(2)]

    # one process holding everything: each rank's queries against all 12 documents
    g = torch.Generator().manual_seed(0)
    q_all, d_all = torch.randn(4, 8, generator=g), torch.randn(12, 8, generator=g)
    q_all.requires_grad_(True)
    d_all.requires_grad_(True)
    full = InBatchCrossEntropy(0.5)
    per_rank = []
    for r in range(2):
        scores = q_all[2 * r : 2 * r + 2] @ d_all.T / 0.5
        targets = torch.tensor([6 * r, 6 * r + 3])
        per_rank.append(torch.nn.functional.cross_entropy(scores, targets))
    sum(per_rank).backward()
    for r in range(2):
        torch.testing.assert_close(parts[r]["loss"], per_rank[r].detach())
        torch.testing.assert_close(parts[r]["q_grad"], q_all.grad[2 * r : 2 * r + 2])
        # gradients reach the documents from the other process's queries too
        torch.testing.assert_close(parts[r]["d_grad"], d_all.grad[6 * r : 6 * r + 6])
    # without a process group the loss is the plain in-batch one
    assert torch.isclose(full(q_all[:2], d_all[:6], 3), InBatchCrossEntropy(0.5, False)(q_all[:2], d_all[:6], 3))
