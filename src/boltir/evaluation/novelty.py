"""Near-duplicate clusters (token-set Jaccard) and alpha-nDCG, for evaluating novelty-aware rankings."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

_TOKEN = re.compile(r"\w+")


def jaccard(a: set[str], b: set[str]) -> float:
    """The Jaccard similarity of two sets (1 for two empty sets)."""
    return len(a & b) / len(a | b) if a or b else 1.0


def jaccard_clusters(texts: Sequence[str], threshold: float = 0.5) -> list[int]:
    """Cluster ids by single-link clustering over lower-cased token sets: passages whose Jaccard similarity is
    at least ``threshold`` share a cluster (transitively)."""
    tokens = [set(_TOKEN.findall(t.lower())) for t in texts]
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            if jaccard(tokens[i], tokens[j]) >= threshold:
                parent[find(j)] = find(i)
    roots: dict[int, int] = {}
    return [roots.setdefault(find(i), len(roots)) for i in range(len(texts))]


def alpha_ndcg(
    ranking: Sequence[str], relevance: dict[str, int], clusters: dict[str, int], alpha: float = 0.5, k: int = 10
) -> float:
    """alpha-nDCG@k with each near-duplicate cluster as one nugget: a relevant passage gains
    ``(1 - alpha) ** (relevant passages of its cluster ranked above it)``; discount ``1 / log2(rank + 1)``;
    the ideal ranking is built greedily (the usual approximation)."""

    def dcg(order: Sequence[str]) -> float:
        seen: dict[int, int] = {}
        total = 0.0
        for rank, d in enumerate(order[:k], start=1):
            if relevance.get(d, 0) > 0:
                c = clusters.get(d, -1 - hash(d))
                total += (1 - alpha) ** seen.get(c, 0) / math.log2(rank + 1)
                seen[c] = seen.get(c, 0) + 1
        return total

    pool = [d for d in relevance if relevance[d] > 0]
    ideal: list[str] = []
    seen: dict[int, int] = {}
    while pool and len(ideal) < k:
        best = max(pool, key=lambda d: (1 - alpha) ** seen.get(clusters.get(d, -1 - hash(d)), 0))
        ideal.append(best)
        pool.remove(best)
        c = clusters.get(best, -1 - hash(best))
        seen[c] = seen.get(c, 0) + 1
    best_dcg = dcg(ideal)
    return dcg(ranking) / best_dcg if best_dcg > 0 else 0.0
