"""Hard-negative mining: from any ranking of candidates (a run, a run re-scored by any boltir model, or an
index search), take each query's judged positives and sample negatives among the candidates that are not
positive, optionally skipping the top ``skip_top`` (likely unjudged positives)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from boltir.data.records import TrainingTuple
from boltir.errors import ConfigError, MissingDataError

SAMPLINGS = ("random", "top")


@dataclass
class MiningReport:
    """What mining did: queries with tuples, queries skipped (no positive, no negative), negatives per query."""

    written: int = 0
    no_positive: list[str] = field(default_factory=list)
    too_few_negatives: list[str] = field(default_factory=list)


def mine_negatives(
    ranking: dict[str, dict[str, float]],
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    num_negatives: int = 7,
    depth: int = 100,
    skip_top: int = 0,
    sampling: str = "random",
    min_relevance: int = 1,
    keep_scores: bool = False,
    seed: int = 0,
) -> tuple[list[TrainingTuple], MiningReport]:
    """One tuple per query with a positive and at least one negative. Negatives come from the top ``depth``
    candidates after dropping positives and judged-relevant documents and then the first ``skip_top`` of the
    rest; ``sampling``: ``random`` (seeded per query) or ``top`` (the highest ranked). ``keep_scores`` stores the
    ranking's scores of positives and negatives (for Margin-MSE / KL distillation)."""
    if sampling not in SAMPLINGS:
        raise ConfigError(f"sampling={sampling!r}: choose one of {', '.join(SAMPLINGS)}")
    report = MiningReport()
    tuples = []
    for qid in sorted(ranking):
        if qid not in queries:
            raise MissingDataError(f"query {qid} of the ranking has no text")
        judged = qrels.get(qid, {})
        positives = sorted(d for d, r in judged.items() if r >= min_relevance)
        if not positives:
            report.no_positive.append(qid)
            continue
        scores = ranking[qid]
        ranked = sorted(scores, key=lambda d: (-scores[d], d))[:depth]
        pool = [d for d in ranked if judged.get(d, 0) < min_relevance][skip_top:]
        if len(pool) < num_negatives:
            report.too_few_negatives.append(qid)
        if not pool:
            continue
        if sampling == "top":
            negatives = pool[:num_negatives]
        else:
            rng = random.Random(f"{seed}:{qid}")
            negatives = sorted(rng.sample(pool, min(num_negatives, len(pool))), key=pool.index)
        kept = {d: scores[d] for d in positives + negatives if d in scores} if keep_scores else None
        tuples.append(TrainingTuple(qid, queries[qid], positives, negatives, kept))
    report.written = len(tuples)
    return tuples, report
