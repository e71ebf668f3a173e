"""In-batch cross-entropy with hard negatives (DPR / MultipleNegativesRanking style)."""

from __future__ import annotations

import torch
from torch import nn


class InBatchCrossEntropy(nn.Module):
    """Each query's positive against every other document in the batch (other queries' positives and all
    hard negatives): ``CE(q_i . D^T / temperature, pos(i))``.

    Documents come grouped per query: ``docs_per_query`` rows for query i, its positive first.
    """

    def __init__(self, temperature: float = 1.0):
        super().__init__()
        if temperature <= 0:
            raise ValueError("temperature must be positive")
        self.temperature = temperature

    def forward(self, query_emb: torch.Tensor, doc_emb: torch.Tensor, docs_per_query: int) -> torch.Tensor:
        scores = query_emb @ doc_emb.T / self.temperature
        targets = torch.arange(query_emb.shape[0], device=scores.device) * docs_per_query
        return nn.functional.cross_entropy(scores, targets)
