"""Iterable datasets that split their items across DataLoader workers *and* distributed ranks.

The split is decided at iteration time, so N workers x M processes together see every item exactly once
(the reference framework yields every document once per worker).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import torch
from torch.utils.data import IterableDataset, get_worker_info

T = TypeVar("T")


def _dist_position() -> tuple[int, int] | None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return None


def shard_position(dist_position: tuple[int, int] | None = None) -> tuple[int, int]:
    """``(shard_index, num_shards)`` of the calling worker across all ranks and DataLoader workers.

    ``dist_position`` is the parent's ``(rank, world)`` for workers started by spawn, where the process group
    of the parent is not visible.
    """
    rank, world = _dist_position() or dist_position or (0, 1)
    info = get_worker_info()
    worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
    return rank * workers + worker, world * workers


class ShardedIterable(IterableDataset[T]):
    """Wrap a re-iterable source (a callable returning an iterator) and yield this worker's share of it."""

    def __init__(self, source: Callable[[], Iterable[T]]):
        super().__init__()
        self.source = source
        self._dist_position: tuple[int, int] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # pickled in the parent when DataLoader spawns workers: remember the parent's rank and world size
        state = self.__dict__.copy()
        state["_dist_position"] = _dist_position() or self._dist_position
        return state

    def __iter__(self) -> Iterator[T]:
        index, total = shard_position(self._dist_position)
        for i, item in enumerate(self.source()):
            if i % total == index:
                yield item
