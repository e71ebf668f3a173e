"""Every item exactly once across DataLoader workers and distributed processes."""

import collections
import os
import socket

import pytest
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import DataLoader

from boltir.data.sharding import ShardedIterable

N = 101


def items():
    return range(N)


def test_two_workers_see_every_item_once():
    loader = DataLoader(ShardedIterable(items), batch_size=None, num_workers=2)
    counts = collections.Counter(int(x) for x in loader)
    assert len(counts) == N and set(counts.values()) == {1}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        loader = DataLoader(ShardedIterable(items), batch_size=None, num_workers=2)
        seen = [int(x) for x in loader]
        with open(os.path.join(out_dir, f"rank{rank}.txt"), "w") as f:
            f.write("\n".join(map(str, seen)))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_processes_times_two_workers(tmp_path):
    mp.spawn(_rank_main, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    seen = []
    for r in range(2):
        part = [int(x) for x in (tmp_path / f"rank{r}.txt").read_text().split()]
        assert part, f"rank {r} saw nothing"
        seen += part
    counts = collections.Counter(seen)
    assert len(counts) == N and set(counts.values()) == {1}


def test_doc_dataset_over_a_bundled_corpus_with_workers():
    from boltir.data.datasets import DocDataset, QueryDataset

    loader = DataLoader(DocDataset("vaswani"), batch_size=None, num_workers=2)
    ids = collections.Counter(d.doc_id for d in loader)
    assert len(ids) == 11429 and set(ids.values()) == {1}
    queries = [q.query_id for q in DataLoader(QueryDataset("trec-dl-2019"), batch_size=None, num_workers=2)]
    assert len(queries) == len(set(queries)) == 43
