"""Re-rank candidate runs with any boltir model: bi-encoders encode each candidate document once and score it
against its query; cross-encoders score each (query, document) pair or, for the Set-Encoder, each whole list."""

from __future__ import annotations

from typing import Any

import numpy as np

from boltir.utils.progress import progress_bar


def candidates_with_text(run: dict[str, dict[str, float]], queries: dict[str, str],
                         depth: int | None) -> dict[str, list[str]]:
    """Each run query's top ``depth`` candidates; a run query without text is an error."""
    candidates = top_k(run, depth)
    missing = [q for q in candidates if q not in queries]
    if missing:
        raise KeyError(f"{len(missing)} run queries have no text (e.g. {missing[:5]})")
    return candidates


def top_k(run: dict[str, dict[str, float]], depth: int | None) -> dict[str, list[str]]:
    """The first ``depth`` candidates of each query by descending score."""
    return {q: [d for d, _ in sorted(docs.items(), key=lambda kv: (-kv[1], kv[0]))[:depth]]
            for q, docs in run.items()}


def encode_candidates_once(run: dict[str, dict[str, float]], queries: dict[str, str], docs: dict[str, str],
                           depth: int | None, encode: Any, show_progress: bool = True):
    """``(candidates, position of each doc id, encoded docs, query ids, encoded queries)`` for the bi-encoder
    re-rankers: every candidate document is encoded once, however many queries list it.
    ``encode(texts, kind, progress)`` is the family's batch encoder."""
    candidates = candidates_with_text(run, queries, depth)
    doc_ids = sorted({d for ds in candidates.values() for d in ds})
    with progress_bar(total=len(doc_ids), desc="encode candidates", unit="doc", disable=not show_progress) as bar:
        d_out = encode([docs[d] for d in doc_ids], "doc", bar)
    qids = list(candidates)
    q_out = encode([queries[q] for q in qids], "query", None)
    return candidates, {d: i for i, d in enumerate(doc_ids)}, d_out, qids, q_out


def rerank_bi_encoder(model: Any, tokenizer: Any, run: dict[str, dict[str, float]], queries: dict[str, str],
                      docs: dict[str, str], depth: int | None = 100, batch_size: int = 32, num_workers: int = 0,
                      show_progress: bool = True) -> dict[str, dict[str, float]]:
    """Scores of the top ``depth`` candidates of each query in ``run`` (queries without text are an error)."""
    from boltir.models.bi_encoders.inference import encode_texts

    candidates, position, doc_vecs, qids, q_vecs = encode_candidates_once(
        run, queries, docs, depth, lambda texts, kind, bar: encode_texts(
            model, tokenizer, texts, kind, batch_size, num_workers=num_workers, progress=bar), show_progress)
    out: dict[str, dict[str, float]] = {}
    for qid, qv in zip(qids, q_vecs):
        cand = candidates[qid]
        scores = doc_vecs[[position[d] for d in cand]] @ qv
        out[qid] = dict(zip(cand, np.asarray(scores, dtype=np.float64).tolist()))
    return out


def _is_oom(e: BaseException) -> bool:
    import torch

    return isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e).lower()


def score_pairs(model: Any, pair_tokenizer: Any, queries: list[str], docs: list[str], batch_size: int = 32,
                progress: Any = None) -> np.ndarray:
    """Scores of (query, doc) pairs in input order. Pairs are batched by length; a batch that runs out of
    memory is split in halves and retried, down to single pairs."""
    import torch

    out = np.empty(len(queries), dtype=np.float64)
    order = sorted(range(len(queries)), key=lambda i: -(len(queries[i]) + len(docs[i])))
    device = next(model.parameters()).device
    start, size = 0, batch_size
    with torch.inference_mode():
        while start < len(order):
            idx = order[start:start + size]
            enc = {k: v.to(device) for k, v in pair_tokenizer([queries[i] for i in idx], [docs[i] for i in idx]).items()}
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


def rerank_cross_encoder(model: Any, tokenizer: Any, run: dict[str, dict[str, float]], queries: dict[str, str],
                         docs: dict[str, str], depth: int | None = 100, batch_size: int = 32,
                         show_progress: bool = True) -> dict[str, dict[str, float]]:
    """Score the top ``depth`` candidates of each query of ``run`` with a point-wise cross-encoder."""
    from boltir.data.pair_tokenizer import PairTokenizer

    candidates = candidates_with_text(run, queries, depth)
    pairs = [(q, d) for q, ds in candidates.items() for d in ds]
    pt = PairTokenizer(tokenizer, model.config.query_length, model.config.doc_length)
    with progress_bar(total=len(pairs), desc="score pairs", unit="pair", disable=not show_progress) as bar:
        scores = score_pairs(model, pt, [queries[q] for q, _ in pairs], [docs[d] for _, d in pairs], batch_size, bar)
    out: dict[str, dict[str, float]] = {}
    for (q, d), s in zip(pairs, scores.tolist()):
        out.setdefault(q, {})[d] = s
    return out


def rerank_sparse_cross_encoder(model: Any, tokenizer: Any, run: dict[str, dict[str, float]],
                                queries: dict[str, str], docs: dict[str, str], depth: int | None = 100,
                                batch_size: int = 32, show_progress: bool = True) -> dict[str, dict[str, float]]:
    """Score candidates with a sparse cross-encoder, one query per forward pass with up to ``batch_size`` of its
    documents, so the query is encoded once for them all."""
    import torch

    from boltir.data.pair_tokenizer import SegmentTokenizer

    candidates = candidates_with_text(run, queries, depth)
    st = SegmentTokenizer(tokenizer, model.config.query_length, model.config.doc_length)
    device = next(model.parameters()).device
    out: dict[str, dict[str, float]] = {}
    total = sum(len(v) for v in candidates.values())
    with progress_bar(total=total, desc="score pairs", unit="pair", disable=not show_progress) as bar, \
            torch.inference_mode():
        for qid, cand in candidates.items():
            for start in range(0, len(cand), batch_size):
                chunk = cand[start:start + batch_size]
                enc = st([queries[qid]], [[docs[d] for d in chunk]])
                enc = {k: v.to(device) if torch.is_tensor(v) else v for k, v in enc.items()}
                scores = model(**enc).float().cpu().tolist()
                out.setdefault(qid, {}).update(zip(chunk, scores))
                bar.update(len(chunk))
    return out


def rerank_set_encoder(model: Any, tokenizer: Any, run: dict[str, dict[str, float]], queries: dict[str, str],
                       docs: dict[str, str], depth: int | None = 100, show_progress: bool = True,
                       order: dict[str, list[str]] | None = None) -> dict[str, dict[str, float]]:
    """Score each query's whole top-``depth`` list in one forward pass (the list is never split: the
    Set-Encoder's scores depend on the other passages). ``order`` feeds the candidates in a given order."""
    import torch

    from boltir.data.pair_tokenizer import SetTokenizer

    candidates = candidates_with_text(run, queries, depth) if order is None else order
    if order is not None:
        candidates_with_text({q: {} for q in order}, queries, None)  # the same check on the given order
    st = SetTokenizer(tokenizer, model.config.query_length, model.config.doc_length, model.config.int_token_id)
    device = next(model.parameters()).device
    out: dict[str, dict[str, float]] = {}
    with progress_bar(total=len(candidates), desc="score lists", unit="query", disable=not show_progress) as bar, \
            torch.inference_mode():
        for qid, cand in candidates.items():
            enc = st([queries[qid]], [[docs[d] for d in cand]])
            enc = {k: v.to(device) if torch.is_tensor(v) else v for k, v in enc.items()}
            out[qid] = dict(zip(cand, model(**enc).float().cpu().tolist()))
            bar.update(1)
    return out


def rerank_splade(model: Any, tokenizer: Any, run: dict[str, dict[str, float]], queries: dict[str, str],
                  docs: dict[str, str], depth: int | None = 100, batch_size: int = 32,
                  show_progress: bool = True) -> dict[str, dict[str, float]]:
    """Scores (sparse dot products) of the top ``depth`` candidates of each query with a SPLADE model."""
    from boltir.models.bi_encoders.inference import encode_sparse

    candidates, position, d_mat, qids, q_mat = encode_candidates_once(
        run, queries, docs, depth, lambda texts, kind, bar: encode_sparse(
            model, tokenizer, texts, kind, batch_size, progress=bar), show_progress)
    out = {}
    for i, q in enumerate(qids):
        rows = [position[d] for d in candidates[q]]
        scores = (d_mat[rows] @ q_mat[i].T).toarray().ravel()
        out[q] = {d: float(s) for d, s in zip(candidates[q], scores)}
    return out


def rerank_colbert(model: Any, tokenizer: Any, run: dict[str, dict[str, float]], queries: dict[str, str],
                   docs: dict[str, str], depth: int | None = 100, batch_size: int = 32,
                   show_progress: bool = True) -> dict[str, dict[str, float]]:
    """MaxSim scores of the top ``depth`` candidates of each query with a multi-vector (ColBERT) model: per
    query one matrix product over its candidates' tokens and one segmented max (a document without tokens
    scores 0)."""
    from boltir.models.bi_encoders.inference import encode_multi

    candidates, position, d_emb, qids, q_emb = encode_candidates_once(
        run, queries, docs, depth, lambda texts, kind, bar: encode_multi(
            model, tokenizer, texts, kind, batch_size, progress=bar), show_progress)
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


def rerank_with_score(model: Any, tokenizer: Any, run: dict[str, dict[str, float]], queries: dict[str, str],
                      docs: dict[str, str], depth: int | None = 100, batch_size: int = 32,
                      show_progress: bool = True) -> dict[str, dict[str, float]]:
    """Re-rank with any bi-encoder whose ``forward(..., kind=)`` output goes into its ``score(query, docs)``
    (COIL, MVR): each query once, its candidates in batches."""
    import torch

    cfg = model.config
    candidates = candidates_with_text(run, queries, depth)

    def enc(texts, kind):
        length = cfg.query_length if kind == "query" else cfg.doc_length
        prefix = cfg.query_prefix if kind == "query" else cfg.doc_prefix
        batch = tokenizer([prefix + t for t in texts], padding=True, truncation=True, max_length=length,
                          return_tensors="pt")
        return model(batch["input_ids"], batch["attention_mask"], kind=kind)

    out = {}
    with torch.inference_mode(), progress_bar(total=len(candidates), desc="score", unit="query",
                                              disable=not show_progress) as bar:
        for q, ds in candidates.items():
            q_out = enc([queries[q]], "query")
            scores = []
            for i in range(0, len(ds), batch_size):
                scores += model.score(q_out, enc([docs[d] for d in ds[i:i + batch_size]], "doc"))[0].tolist()
            out[q] = dict(zip(ds, scores))
            bar.update(1)
    return out


RERANKER_KINDS = ("bi-encoder", "colbert", "splade", "coil", "mvr", "cross-encoder", "sparse-cross-encoder", "set-encoder")


def model_reranker(model_spec: str, kind: str = "auto", batch_size: int = 32, num_workers: int = 0) -> tuple[str, Any, Any, Any]:
    """Load any boltir model (folder or name) and return ``(kind, rerank, model, tokenizer)``, where
    ``rerank(run, queries, docs, depth, show_progress=True)`` scores the top ``depth`` candidates of ``run``."""
    from boltir.models.loading import (load_bi_encoder, load_colbert, load_cross_encoder, load_set_encoder,
                                       load_splade, load_sparse_cross_encoder, model_kind)

    kind = model_kind(model_spec) if kind == "auto" else kind
    if kind not in RERANKER_KINDS:
        raise ValueError(f"kind {kind!r}: choose auto or one of {', '.join(RERANKER_KINDS)}")
    if kind == "set-encoder":
        model, tokenizer = load_set_encoder(model_spec)
        fn = lambda run, q, d, depth, show_progress=True: rerank_set_encoder(  # noqa: E731
            model, tokenizer, run, q, d, depth, show_progress=show_progress)
    elif kind == "sparse-cross-encoder":
        model, tokenizer = load_sparse_cross_encoder(model_spec)
        fn = lambda run, q, d, depth, show_progress=True: rerank_sparse_cross_encoder(  # noqa: E731
            model, tokenizer, run, q, d, depth, batch_size, show_progress=show_progress)
    elif kind in ("coil", "mvr"):
        from boltir.models.loading import load_coil, load_mvr

        model, tokenizer = (load_coil if kind == "coil" else load_mvr)(model_spec)
        fn = lambda run, q, d, depth, show_progress=True: rerank_with_score(  # noqa: E731
            model, tokenizer, run, q, d, depth, batch_size, show_progress=show_progress)
    elif kind == "colbert":
        model, tokenizer = load_colbert(model_spec)
        fn = lambda run, q, d, depth, show_progress=True: rerank_colbert(  # noqa: E731
            model, tokenizer, run, q, d, depth, batch_size, show_progress=show_progress)
    elif kind == "splade":
        model, tokenizer = load_splade(model_spec)
        fn = lambda run, q, d, depth, show_progress=True: rerank_splade(  # noqa: E731
            model, tokenizer, run, q, d, depth, batch_size, show_progress=show_progress)
    elif kind == "cross-encoder":
        model, tokenizer = load_cross_encoder(model_spec)
        fn = lambda run, q, d, depth, show_progress=True: rerank_cross_encoder(  # noqa: E731
            model, tokenizer, run, q, d, depth, batch_size, show_progress=show_progress)
    else:
        model, tokenizer = load_bi_encoder(model_spec)
        fn = lambda run, q, d, depth, show_progress=True: rerank_bi_encoder(  # noqa: E731
            model, tokenizer, run, q, d, depth, batch_size, num_workers, show_progress=show_progress)
    return kind, fn, model, tokenizer
