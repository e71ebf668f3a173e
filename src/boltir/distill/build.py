"""Distillation data: sample training queries, take their first-stage candidates to a depth, let a teacher rank
them, and write the teacher run (score = depth - rank + 1) with a manifest saying how it was made. Teacher calls go
through the teacher's cache, so rerunning an interrupted build resumes it."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from boltir.data.runs import top_k
from boltir.data.writers import write_trec_run
from boltir.errors import ConfigError, MissingDataError
from boltir.utils.atomic import atomic_open, atomic_write_json
from boltir.utils.progress import progress_bar
from boltir.utils.provenance import provenance


def sample_queries(qids: list[str], num_queries: int | None, seed: int) -> list[str]:
    """``num_queries`` ids drawn with ``seed`` (all when None), in a stable order."""
    qids = sorted(qids)
    if num_queries is None or num_queries >= len(qids):
        return qids
    return sorted(random.Random(seed).sample(qids, num_queries))


def rank_scores(order: list[str]) -> dict[str, float]:
    """Scores that keep an order: the first of ``n`` documents gets ``n``, the last 1."""
    n = len(order)
    return {d: float(n - i) for i, d in enumerate(order)}


def build_distillation_data(
    teacher: Any,
    first_stage: dict[str, dict[str, float]],
    queries: dict[str, str],
    docs: dict[str, str],
    output_dir: str | Path,
    depth: int = 100,
    num_queries: int | None = None,
    seed: int = 0,
    first_stage_name: str = "",
    show_progress: bool = True,
    write: bool = True,
) -> dict[str, Any]:
    """Write ``teacher.run``, ``queries.tsv`` and ``manifest.json`` into ``output_dir``; return the manifest.
    ``write=False``: compute only (the ranks of a multi-process job other than rank 0)."""
    candidates = {q: ds for q, ds in top_k(first_stage, depth).items() if q in queries}
    if not candidates:
        raise ConfigError(f"first stage {first_stage_name or ''}: no query with text has candidates")
    chosen = sample_queries(list(candidates), num_queries, seed)
    missing = sorted({d for q in chosen for d in candidates[q] if d not in docs})
    if missing:
        raise MissingDataError(f"{len(missing)} candidate passages have no text (e.g. {missing[:5]})")
    run: dict[str, dict[str, float]] = {}
    t0 = time.perf_counter()
    if hasattr(teacher, "rank_all"):  # model and pipeline teachers rank every query in one pass
        orders = teacher.rank_all({q: candidates[q] for q in chosen}, queries, docs)
        run = {q: rank_scores(orders[q]) for q in chosen}
    else:
        with progress_bar(total=len(chosen), desc="teacher", unit="query", disable=not show_progress) as bar:
            for qid in chosen:
                run[qid] = rank_scores(teacher.rank(qid, queries[qid], candidates[qid], docs))
                bar.update(1)
    seconds = time.perf_counter() - t0
    out = Path(output_dir)
    if write:
        out.mkdir(parents=True, exist_ok=True)
        write_trec_run(out / "teacher.run", run, tag=teacher.name.replace(" ", "_")[:60])
        with atomic_open(out / "queries.tsv") as f:
            for qid in chosen:
                f.write(f"{qid}\t{queries[qid]}\n")
    manifest = {
        "teacher": teacher.describe(),
        "first_stage": first_stage_name,
        "depth": depth,
        "num_queries": len(chosen),
        "requested_queries": num_queries,
        "seed": seed,
        "query_ids": chosen,
        "teacher_seconds": round(seconds, 3),
        "teacher_seconds_per_query": round(seconds / len(chosen), 4),
        "teacher_stats": dict(getattr(teacher, "stats", {})),
        **provenance(),
    }
    if write:
        atomic_write_json(out / "manifest.json", manifest)
    return manifest


def subsample_depth(
    teacher_run: dict[str, dict[str, float]], first_stage: dict[str, dict[str, float]], depth: int
) -> dict[str, dict[str, float]]:
    """The teacher's order restricted to each query's first-stage top-``depth`` (for depth ablations: what the
    teacher would have been shown with a shallower candidate list, keeping its relative order)."""
    keep = top_k(first_stage, depth)
    out = {}
    for qid, scores in teacher_run.items():
        allowed = set(keep.get(qid, []))
        order = [d for d in sorted(scores, key=lambda d: (-scores[d], d)) if d in allowed]
        if order:
            out[qid] = rank_scores(order)
    return out
