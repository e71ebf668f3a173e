"""In-batch cross-entropy with hard negatives (DPR / MultipleNegativesRanking style)."""

from __future__ import annotations

import torch
from torch import nn


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
        return grad[ctx.rank * ctx.rows:(ctx.rank + 1) * ctx.rows]


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
            raise ValueError("temperature must be positive")
        self.temperature = temperature
        self.gather_across_devices = gather_across_devices

    def forward(self, query_emb: torch.Tensor, doc_emb: torch.Tensor, docs_per_query: int) -> torch.Tensor:
        offset = 0
        if self.gather_across_devices and torch.distributed.is_available() and torch.distributed.is_initialized() \
                and torch.distributed.get_world_size() > 1:
            offset = torch.distributed.get_rank() * doc_emb.shape[0]
            doc_emb = _GatherWithGrad.apply(doc_emb)
        return self.from_scores(query_emb @ doc_emb.T, docs_per_query, offset)

    def from_scores(self, scores: torch.Tensor, docs_per_query: int, offset: int = 0) -> torch.Tensor:
        """The same loss from a ready score matrix [queries, all documents] (e.g. ColBERT's MaxSim)."""
        targets = offset + torch.arange(scores.shape[0], device=scores.device) * docs_per_query
        return nn.functional.cross_entropy(scores / self.temperature, targets)
