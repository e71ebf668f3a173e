"""Re-rank candidate runs with a bi-encoder: encode each candidate document once, score against its query."""

from __future__ import annotations

from typing import Any

import numpy as np

from boltir.utils.progress import progress_bar


def top_k(run: dict[str, dict[str, float]], depth: int | None) -> dict[str, list[str]]:
    """The first ``depth`` candidates of each query by descending score."""
    return {q: [d for d, _ in sorted(docs.items(), key=lambda kv: (-kv[1], kv[0]))[:depth]]
            for q, docs in run.items()}


def rerank_bi_encoder(model: Any, tokenizer: Any, run: dict[str, dict[str, float]], queries: dict[str, str],
                      docs: dict[str, str], depth: int | None = 100, batch_size: int = 32, num_workers: int = 0,
                      show_progress: bool = True) -> dict[str, dict[str, float]]:
    """Scores of the top ``depth`` candidates of each query in ``run`` (queries without text are an error)."""
    from boltir.models.bi_encoders.inference import encode_texts

    candidates = top_k(run, depth)
    missing = [q for q in candidates if q not in queries]
    if missing:
        raise KeyError(f"{len(missing)} run queries have no text (e.g. {missing[:5]})")
    doc_ids = sorted({d for ds in candidates.values() for d in ds})
    position = {d: i for i, d in enumerate(doc_ids)}
    with progress_bar(total=len(doc_ids), desc="encode candidates", unit="doc", disable=not show_progress) as bar:
        doc_vecs = encode_texts(model, tokenizer, [docs[d] for d in doc_ids], "doc", batch_size,
                                num_workers=num_workers, progress=bar)
    qids = list(candidates)
    q_vecs = encode_texts(model, tokenizer, [queries[q] for q in qids], "query", batch_size)
    out: dict[str, dict[str, float]] = {}
    for qid, qv in zip(qids, q_vecs):
        cand = candidates[qid]
        scores = doc_vecs[[position[d] for d in cand]] @ qv
        out[qid] = dict(zip(cand, np.asarray(scores, dtype=np.float64).tolist()))
    return out
