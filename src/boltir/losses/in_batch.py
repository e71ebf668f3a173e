"""In-batch cross-entropy with hard negatives (DPR / MultipleNegativesRanking style)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from boltir.errors import ConfigError


class _GatherWithGrad(torch.autograd.Function):
    """All processes' rows, concatenated in rank order; the gradient of each process's rows is the sum of what
    every process's loss sends back to them (all_reduce, then the own slice)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.rank, ctx.rows = dist.get_rank(), x.shape[0]
        return torch.cat(parts, 0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


class InBatchCrossEntropy(nn.Module):
    """Each query's positive against every other document in the batch (other queries' positives and all
    hard negatives): ``CE(q_i . D^T / temperature, pos(i))``.

    Documents come grouped per query: ``docs_per_query`` rows for query i, its positive first.

    ``gather_across_devices``: under torch.distributed (DDP), every query also scores the documents of every
    other process (all_gather with gradients flowing back to the process that encoded them), so the negatives
    grow with the number of devices. Every process must hold the same number of queries (drop_last).
    """

    def __init__(self, temperature: float = 1.0, gather_across_devices: bool = True):
        super().__init__()
        if temperature <= 0:
            raise ConfigError("temperature must be positive")
        self.temperature = temperature
        self.gather_across_devices = gather_across_devices

    def forward(self, query_emb: torch.Tensor, doc_emb: torch.Tensor, docs_per_query: int) -> torch.Tensor:
        """Cross-entropy of each query against its own documents and every other query's documents (gathered
        from every device when several train together).

        Args:
            query_emb: the queries' outputs.
            doc_emb: ``docs_per_query`` documents per query, the positive first.
            docs_per_query: documents per query.

        Returns:
            The mean loss.
        """
        offset = 0
        if (
            self.gather_across_devices
            and torch.distributed.is_available()
            and torch.distributed.is_initialized()
            and torch.distributed.get_world_size() > 1
        ):
            offset = torch.distributed.get_rank() * doc_emb.shape[0]
            doc_emb = _GatherWithGrad.apply(doc_emb)
        return self.from_scores(query_emb @ doc_emb.T, docs_per_query, offset)

    def from_scores(self, scores: torch.Tensor, docs_per_query: int, offset: int = 0) -> torch.Tensor:
        """The same loss from a ready score matrix [queries, all documents] (e.g. ColBERT's MaxSim)."""
        targets = offset + torch.arange(scores.shape[0], device=scores.device) * docs_per_query
        return nn.functional.cross_entropy(scores / self.temperature, targets)


def _distributed() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather_outputs(out: Any) -> tuple[Any, int]:
    """Every process's document outputs (a bi-encoder output: any tensor fields) concatenated in rank order, with
    gradients flowing back to the process that encoded them, and this process's row offset in the result. Token
    dimensions that differ between processes are padded (embeddings with 0, masks with False, ids with -1), which
    no family scores. Outside torch.distributed, the outputs as they are and offset 0."""
    if not _distributed():
        return out, 0
    import torch.distributed as dist

    world = dist.get_world_size()
    shapes: list[Any] = [None] * world
    dist.all_gather_object(shapes, {k: tuple(v.shape) for k, v in out.items()})
    gathered = {}
    for name, value in out.items():
        if value.ndim >= 2:
            width = max(s[name][1] for s in shapes)
            if width > value.shape[1]:
                fill = False if value.dtype == torch.bool else (-1 if not value.is_floating_point() else 0.0)
                pad = value.new_full((value.shape[0], width - value.shape[1], *value.shape[2:]), fill)
                value = torch.cat([value, pad], 1)
        if value.is_floating_point():
            gathered[name] = _GatherWithGrad.apply(value)
        else:
            as_int = value.to(torch.int64)
            parts = [torch.empty_like(as_int) for _ in range(world)]
            dist.all_gather(parts, as_int.contiguous())
            gathered[name] = torch.cat(parts, 0).to(value.dtype)
    return type(out)(**gathered), dist.get_rank() * out.num_rows
