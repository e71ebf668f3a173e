"""Re-rank candidate runs with any boltir model. Every function here has one signature,
``(model, tokenizer, run, queries, docs, depth=100, batch_size=32, show_progress=True) -> Run``, and each family
names its own in the registry: bi-encoders encode each candidate document once and score it against its query;
cross-encoders score each (query, document) pair, or, for the Set-Encoder, each whole list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from boltir.data.runs import Run, top_k
from boltir.utils.progress import progress_bar


def candidates_with_text(
    run: dict[str, dict[str, float]], queries: dict[str, str], depth: int | None
) -> dict[str, list[str]]:
    """Each run query's top ``depth`` candidates; a run query without text is an error."""
    candidates = top_k(run, depth)
    missing = [q for q in candidates if q not in queries]
    if missing:
        raise KeyError(f"{len(missing)} run queries have no text (e.g. {missing[:5]})")
    return candidates


def encode_candidates_once(
    model: Any,
    tokenizer: Any,
    run: Run,
    queries: dict[str, str],
    docs: dict[str, str],
    depth: int | None,
    batch_size: int,
    show_progress: bool = True,
):
    """``(candidates, position of each doc id, encoded docs, query ids, encoded queries)`` for the bi-encoder
    re-rankers: every candidate document is encoded once, however many queries list it."""
    candidates = candidates_with_text(run, queries, depth)
    doc_ids = sorted({d for ds in candidates.values() for d in ds})
    with progress_bar(
        total=len(doc_ids), desc="encode candidates", unit="doc", disable=not show_progress
    ) as bar:
        d_out = model.encode([docs[d] for d in doc_ids], "doc", batch_size, progress=bar, tokenizer=tokenizer)
    qids = list(candidates)
    q_out = model.encode([queries[q] for q in qids], "query", batch_size, tokenizer=tokenizer)
    return candidates, {d: i for i, d in enumerate(doc_ids)}, d_out, qids, q_out


def rerank_dense(
    model: Any,
    tokenizer: Any,
    run: Run,
    queries: dict[str, str],
    docs: dict[str, str],
    depth: int | None = 100,
    batch_size: int = 32,
    show_progress: bool = True,
) -> Run:
    """Single-vector bi-encoders: dot products of each query's vector with its candidates' vectors."""
    candidates, position, doc_vecs, qids, q_vecs = encode_candidates_once(
        model, tokenizer, run, queries, docs, depth, batch_size, show_progress
    )
    out: Run = {}
    for qid, qv in zip(qids, q_vecs):
        cand = candidates[qid]
        scores = doc_vecs[[position[d] for d in cand]] @ qv
        out[qid] = dict(zip(cand, np.asarray(scores, dtype=np.float64).tolist()))
    return out


def rerank_sparse(
    model: Any,
    tokenizer: Any,
    run: Run,
    queries: dict[str, str],
    docs: dict[str, str],
    depth: int | None = 100,
    batch_size: int = 32,
    show_progress: bool = True,
) -> Run:
    """Learned-sparse bi-encoders: sparse dot products of term weights."""
    candidates, position, d_mat, qids, q_mat = encode_candidates_once(
        model, tokenizer, run, queries, docs, depth, batch_size, show_progress
    )
    out = {}
    for i, q in enumerate(qids):
        rows = [position[d] for d in candidates[q]]
        scores = (d_mat[rows] @ q_mat[i].T).toarray().ravel()
        out[q] = {d: float(s) for d, s in zip(candidates[q], scores)}
    return out


def rerank_multivector(
    model: Any,
    tokenizer: Any,
    run: Run,
    queries: dict[str, str],
    docs: dict[str, str],
    depth: int | None = 100,
    batch_size: int = 32,
    show_progress: bool = True,
) -> Run:
    """Multi-vector (ColBERT) bi-encoders: MaxSim, per query one matrix product over its candidates' tokens and
    one segmented max (a document without tokens scores 0)."""
    candidates, position, d_emb, qids, q_emb = encode_candidates_once(
        model, tokenizer, run, queries, docs, depth, batch_size, show_progress
    )
    lengths = np.array([len(e) for e in d_emb])
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    tokens = np.concatenate(d_emb) if lengths.sum() else np.zeros((0, model.config.embedding_dim), np.float32)
    out = {}
    for q, qe in zip(qids, q_emb):
        cand = np.array([position[d] for d in candidates[q]], dtype=np.int64)
        scores = np.zeros(len(cand), dtype=np.float64)
        has = lengths[cand] > 0
        if has.any():
            c, n = cand[has], lengths[cand[has]]
            rows = np.repeat(starts[c] - np.cumsum(np.r_[0, n[:-1]]), n) + np.arange(n.sum())
            scores[has] = np.maximum.reduceat(qe @ tokens[rows].T, np.r_[0, np.cumsum(n)[:-1]], axis=1).sum(0)
        out[q] = dict(zip(candidates[q], scores.tolist()))
    return out


def rerank_scored(
    model: Any,
    tokenizer: Any,
    run: Run,
    queries: dict[str, str],
    docs: dict[str, str],
    depth: int | None = 100,
    batch_size: int = 32,
    show_progress: bool = True,
) -> Run:
    """Any bi-encoder through its own ``score`` of ``forward`` outputs (COIL, MVR, families added later): each
    query once, its candidates in batches."""
    import torch

    cfg = model.config
    candidates = candidates_with_text(run, queries, depth)
    device = next(model.parameters()).device

    def enc(texts, kind):
        batch = tokenizer(
            [cfg.text_prefix(kind) + t for t in texts],
            padding=True,
            truncation=True,
            max_length=cfg.text_length(kind),
            return_tensors="pt",
        )
        return model(batch["input_ids"].to(device), batch["attention_mask"].to(device), kind=kind)

    out = {}
    with (
        torch.inference_mode(),
        progress_bar(total=len(candidates), desc="score", unit="query", disable=not show_progress) as bar,
    ):
        for q, ds in candidates.items():
            q_out = enc([queries[q]], "query")
            scores: list[float] = []
            for i in range(0, len(ds), batch_size):
                scores += model.score(q_out, enc([docs[d] for d in ds[i : i + batch_size]], "doc"))[
                    0
                ].tolist()
            out[q] = dict(zip(ds, scores))
            bar.update(1)
    return out


def _is_oom(e: BaseException) -> bool:
    import torch

    return isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e).lower()


def score_pairs(
    model: Any,
    pair_tokenizer: Any,
    queries: list[str],
    docs: list[str],
    batch_size: int = 32,
    progress: Any = None,
) -> np.ndarray:
    """Scores of (query, doc) pairs in input order. Pairs are batched by length; a batch that runs out of
    memory is split in halves and retried, down to single pairs."""
    import torch

    out = np.empty(len(queries), dtype=np.float64)
    order = sorted(range(len(queries)), key=lambda i: -(len(queries[i]) + len(docs[i])))
    device = next(model.parameters()).device
    start, size = 0, batch_size
    with torch.inference_mode():
        while start < len(order):
            idx = order[start : start + size]
            enc = {
                k: v.to(device)
                for k, v in pair_tokenizer([queries[i] for i in idx], [docs[i] for i in idx]).items()
            }
            try:
                scores = model(**enc).float().cpu().numpy()
            except (RuntimeError, MemoryError) as e:
                if not _is_oom(e) or size == 1:
                    raise
                size = max(1, size // 2)
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                continue
            out[idx] = scores
            start += len(idx)
            if progress is not None:
                progress.update(len(idx))
    return out


def rerank_pairs(
    model: Any,
    tokenizer: Any,
    run: Run,
    queries: dict[str, str],
    docs: dict[str, str],
    depth: int | None = 100,
    batch_size: int = 32,
    show_progress: bool = True,
) -> Run:
    """Point-wise cross-encoders: every (query, candidate) pair scored on its own, batched by length."""
    from boltir.data.pair_tokenizer import PairTokenizer

    candidates = candidates_with_text(run, queries, depth)
    pairs = [(q, d) for q, ds in candidates.items() for d in ds]
    pt = PairTokenizer(tokenizer, model.config.query_length, model.config.doc_length)
    with progress_bar(total=len(pairs), desc="score pairs", unit="pair", disable=not show_progress) as bar:
        scores = score_pairs(
            model, pt, [queries[q] for q, _ in pairs], [docs[d] for _, d in pairs], batch_size, bar
        )
    out: Run = {}
    for (q, d), s in zip(pairs, scores.tolist()):
        out.setdefault(q, {})[d] = s
    return out


def rerank_segments(
    model: Any,
    tokenizer: Any,
    run: Run,
    queries: dict[str, str],
    docs: dict[str, str],
    depth: int | None = 100,
    batch_size: int = 32,
    show_progress: bool = True,
) -> Run:
    """Sparse cross-encoders: one query per forward pass with up to ``batch_size`` of its documents, so the query
    is encoded once for them all."""
    import torch

    candidates = candidates_with_text(run, queries, depth)
    encode = model.list_inputs(tokenizer)
    device = next(model.parameters()).device
    out: Run = {}
    total = sum(len(v) for v in candidates.values())
    with (
        progress_bar(total=total, desc="score pairs", unit="pair", disable=not show_progress) as bar,
        torch.inference_mode(),
    ):
        for qid, cand in candidates.items():
            for start in range(0, len(cand), batch_size):
                chunk = cand[start : start + batch_size]
                enc = encode([queries[qid]], [[docs[d] for d in chunk]])
                enc = {k: v.to(device) if torch.is_tensor(v) else v for k, v in enc.items()}
                scores = model(**enc).float().cpu().tolist()
                out.setdefault(qid, {}).update(zip(chunk, scores))
                bar.update(len(chunk))
    return out


def rerank_lists(
    model: Any,
    tokenizer: Any,
    run: Run,
    queries: dict[str, str],
    docs: dict[str, str],
    depth: int | None = 100,
    batch_size: int = 32,
    show_progress: bool = True,
    order: dict[str, list[str]] | None = None,
) -> Run:
    """List-wise cross-encoders (Set-Encoder): each query's whole top-``depth`` list in one forward pass (the
    list is never split: the scores depend on the other passages; ``batch_size`` does not apply). ``order``
    feeds the candidates in a given order."""
    import torch

    candidates = candidates_with_text(run, queries, depth) if order is None else order
    if order is not None:
        candidates_with_text({q: {} for q in order}, queries, None)  # the same check on the given order
    encode = model.list_inputs(tokenizer)
    device = next(model.parameters()).device
    out: Run = {}
    with (
        progress_bar(
            total=len(candidates), desc="score lists", unit="query", disable=not show_progress
        ) as bar,
        torch.inference_mode(),
    ):
        for qid, cand in candidates.items():
            enc = encode([queries[qid]], [[docs[d] for d in cand]])
            enc = {k: v.to(device) if torch.is_tensor(v) else v for k, v in enc.items()}
            out[qid] = dict(zip(cand, model(**enc).float().cpu().tolist()))
            bar.update(1)
    return out


def reranker_of(model: Any) -> Callable[..., Run]:
    """The re-ranking function of a loaded model's family (from the registry)."""
    from boltir.registry import family_of_model_type, resolve

    family = family_of_model_type(model.config.model_type)
    if family is None:
        raise ValueError(
            f"{type(model).__name__} ({model.config.model_type}) belongs to no registered family"
        )
    return resolve(family.reranker)
