"""Several processes (devices, nodes) on one job after training, through Lightning Fabric: ``--devices N
--num-nodes M --accelerator --strategy`` as Lightning takes them; under ``torchrun`` or SLURM the launcher's
processes are used as they are. Each rank does a deterministic, disjoint share of the work (index shards, batches
of pairs) and rank 0 puts the shares together after a barrier; there is no process management of boltir's own.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from boltir.errors import InvalidIndexError


@dataclass
class Ranks:
    """This process's place in the job (one process: rank 0 of 1, and every collective is a no-op)."""

    rank: int = 0
    world: int = 1
    device: Any = None
    fabric: Any = None

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0 (the rank that writes shared files)."""
        return self.rank == 0

    def mine(self, i: int) -> bool:
        """Whether work item ``i`` (a shard, a batch) is this rank's: round-robin, the same on every run."""
        return i % self.world == self.rank

    def barrier(self) -> None:
        """Wait until every rank gets here (nothing with one process)."""
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if self.world == 1:
            return [obj]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if self.world == 1:
            return obj
        import torch.distributed as dist

        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def check_on_main(self, check: Callable[[], Any], errors: tuple[type[Exception], ...] = (Exception,)) -> None:
        """Run ``check`` on rank 0 alone (taking a lock, checking a target) and stop every rank when it fails, so
        no rank goes on to write while another has stopped.

        Args:
            check: what rank 0 runs.
            errors: the exceptions that stop the job (others propagate on rank 0 and leave the rest waiting, as
                any crash does).

        Raises:
            Exception: on rank 0 the error ``check`` raised; on the other ranks an ``InvalidIndexError`` with its
                message.
        """
        problem = None
        if self.is_main:
            try:
                check()
            except errors as e:
                problem = e
        refused = self.broadcast(None if problem is None else str(problem))
        if problem is not None:
            raise problem
        if refused is not None:
            raise InvalidIndexError(refused)


SINGLE = Ranks()


def launch(accelerator: str = "auto", devices: int | str = 1, num_nodes: int = 1, strategy: str = "auto") -> Ranks:
    """Start (or join, under torchrun / SLURM) the job's processes; every process returns with its own ranks.
    One device on one node without a launcher is a plain single process."""
    launched = any(v in os.environ for v in ("LOCAL_RANK", "SLURM_NTASKS", "TORCHELASTIC_RUN_ID"))
    if devices in (1, "1") and num_nodes == 1 and not launched:
        import torch

        if accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available():
            return Ranks(device=torch.device("cuda"))
        return Ranks(device=torch.device("cpu"))
    import lightning as L

    if strategy == "auto":
        strategy = "ddp"  # processes that each run the whole command (not ddp_spawn: the CLI is not picklable)
    fabric = L.Fabric(accelerator=accelerator, devices=devices, num_nodes=num_nodes, strategy=strategy)
    fabric.launch()
    return Ranks(fabric.global_rank, fabric.world_size, fabric.device, fabric)
