"""Iterable datasets that split their items across DataLoader workers *and* distributed ranks.

The split is decided at iteration time, so N workers x M processes together see every item exactly once
(the reference framework yields every document once per worker).
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator, TypeVar

import torch
from torch.utils.data import IterableDataset, get_worker_info

T = TypeVar("T")


def shard_position() -> tuple[int, int]:
    """``(shard_index, num_shards)`` of the calling worker across all ranks and DataLoader workers."""
    rank, world = 0, 1
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    info = get_worker_info()
    worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
    return rank * workers + worker, world * workers


class ShardedIterable(IterableDataset):
    """Wrap a re-iterable source (a callable returning an iterator) and yield this worker's share of it."""

    def __init__(self, source: Callable[[], Iterable[T]]):
        super().__init__()
        self.source = source

    def __iter__(self) -> Iterator[T]:
        index, total = shard_position()
        for i, item in enumerate(self.source()):
            if i % total == index:
                yield item
