"""The scoring core: what every re-ranker (the pipeline's :class:`boltir.pipeline.Reranker`, the model objects of
:func:`boltir.load_model`, ``boltir serve`` and ``boltir re-rank``) calls to score a run's candidates. Every
re-ranking function takes one :class:`RerankJob` and returns a run; a family names its own in the registry:
cross-encoders score each (query, document) pair (:func:`rerank_pairs`), each query's documents in segments
(:func:`rerank_segments`) or each whole list (:func:`rerank_lists`, the Set-Encoder); bi-encoders re-rank through
their index kind (:mod:`boltir.index`), which encodes each candidate once (:func:`encode_candidates_once`), or
through their own ``score`` (:func:`rerank_scored`)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from boltir.data.runs import Run, top_k
from boltir.errors import MissingDataError
from boltir.utils.progress import progress_bar


@dataclass
class RerankJob:
    """What every re-ranker gets: the model and tokenizer, each query's candidate list in the order it is fed, the
    query and document texts, and batching settings."""

    model: Any
    tokenizer: Any
    lists: dict[str, list[str]]
    queries: dict[str, str]
    docs: dict[str, str]
    batch_size: int = 32
    show_progress: bool = True
    batch_tokens: int | None = None  # batch by padded tokens instead of by count (bi-encoders, point-wise pairs)
    ranks: Any = (
        None  # several processes (boltir.utils.distributed.Ranks) share the work; every rank gets the whole run
    )

    def __post_init__(self) -> None:
        missing_q = [q for q in self.lists if q not in self.queries]
        if missing_q:
            raise MissingDataError(f"{len(missing_q)} run queries have no text (e.g. {missing_q[:5]})")
        missing_d = sorted({d for ds in self.lists.values() for d in ds if d not in self.docs})
        if missing_d:
            raise MissingDataError(f"{len(missing_d)} candidate documents have no text (e.g. {missing_d[:5]})")

    @classmethod
    def from_run(
        cls,
        model: Any,
        tokenizer: Any,
        run: Run,
        queries: dict[str, str],
        docs: dict[str, str],
        depth: int | None = 100,
        **settings: Any,
    ) -> RerankJob:
        """The top ``depth`` candidates of each query of ``run`` (best first)."""
        return cls(model, tokenizer, top_k(run, depth), queries, docs, **settings)

    def device(self) -> Any:
        """The device the model's parameters are on."""
        return next(self.model.parameters()).device


def by_query(fn: Callable[[RerankJob], Run]) -> Callable[[RerankJob], Run]:
    """For re-rankers that score each query apart: with several ranks each scores the queries ``i % world ==
    rank`` of the job, and every rank gets the whole run."""

    @functools.wraps(fn)
    def run(job: RerankJob) -> Run:
        if job.ranks is None or job.ranks.world == 1:
            return fn(job)
        qids = list(job.lists)
        own = {q: job.lists[q] for i, q in enumerate(qids) if job.ranks.mine(i)}
        scored: Run = {}
        for part in job.ranks.gather(fn(dataclasses.replace(job, lists=own))):
            scored.update(part)
        return {q: scored[q] for q in qids}

    return run


def encode_candidates_once(job: RerankJob):
    """``(position of each doc id, encoded docs, query ids, encoded queries)`` for the bi-encoder re-rankers: every
    candidate document is encoded once, however many queries list it."""
    doc_ids = sorted({d for ds in job.lists.values() for d in ds})
    with progress_bar(total=len(doc_ids), desc="encode candidates", unit="doc", disable=not job.show_progress) as bar:
        d_out = job.model.encode(
            [job.docs[d] for d in doc_ids],
            "doc",
            job.batch_size,
            progress=bar,
            tokenizer=job.tokenizer,
            batch_tokens=job.batch_tokens,
            ranks=job.ranks,
        )
    qids = list(job.lists)
    queries = [job.queries[q] for q in qids]
    q_out = job.model.encode(queries, "query", job.batch_size, tokenizer=job.tokenizer, ranks=job.ranks)
    return {d: i for i, d in enumerate(doc_ids)}, d_out, qids, q_out


@by_query
def rerank_scored(job: RerankJob) -> Run:
    """Any bi-encoder through its own ``score`` of ``forward`` outputs (COIL, MVR, families added later): each
    query once, its candidates in batches."""
    import torch

    model, cfg, device = job.model, job.model.config, job.device()

    def enc(texts, kind):
        batch = job.tokenizer(
            [cfg.text_prefix(kind) + t for t in texts],
            padding=True,
            truncation=True,
            max_length=cfg.text_length(kind),
            return_tensors="pt",
        )
        return model(batch["input_ids"].to(device), batch["attention_mask"].to(device), kind=kind)

    out = {}
    with torch.inference_mode(), query_progress(job, "score") as bar:
        for q, ds in job.lists.items():
            q_out = enc([job.queries[q]], "query")
            scores: list[float] = []
            for i in range(0, len(ds), job.batch_size):
                scores += model.score(q_out, enc([job.docs[d] for d in ds[i : i + job.batch_size]], "doc"))[0].tolist()
            out[q] = dict(zip(ds, scores))
            bar.update(1)
    return out


def query_progress(job: RerankJob, what: str) -> Any:
    """A progress bar over the job's queries (off unless the job shows progress)."""
    return progress_bar(total=len(job.lists), desc=what, unit="query", disable=not job.show_progress)


def _is_oom(e: BaseException) -> bool:
    import torch

    return isinstance(e, torch.OutOfMemoryError) or "out of memory" in str(e).lower()


def pair_batches(
    pair_tokenizer: Any, queries: list[str], docs: list[str], batch_size: int, batch_tokens: int | None
) -> list[list[int]]:
    """Length-sorted batches of pair positions: as many as fit ``batch_tokens`` padded tokens (each pair's length
    counted on token ids, as the pair tokenizer cuts it; by default ``batch_size`` times the longest pair:
    :func:`~boltir.data.collators.token_budget`), or with ``batch_tokens=0`` ``batch_size`` pairs."""
    from boltir.data.collators import token_budget, token_budget_batches

    batch_tokens = token_budget(batch_tokens, batch_size, pair_tokenizer.max_length)
    if batch_tokens:
        return token_budget_batches(pair_tokenizer.lengths(queries, docs), batch_tokens)
    order = sorted(range(len(queries)), key=lambda i: -(len(queries[i]) + len(docs[i])))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def score_pairs(
    model: Any,
    pair_tokenizer: Any,
    queries: list[str],
    docs: list[str],
    batch_size: int = 32,
    progress: Any = None,
    batch_tokens: int | None = None,
    ranks: Any = None,
) -> np.ndarray:
    """Scores of (query, doc) pairs in input order. Pairs are batched by length; a batch that runs out of
    memory is split in halves and retried, down to single pairs, and later batches stay at most that size. With
    several ``ranks`` each scores the batches ``b % world == rank`` of the one plan and all get every score."""
    import torch

    out = np.empty(len(queries), dtype=np.float64)
    plan = pair_batches(pair_tokenizer, queries, docs, batch_size, batch_tokens)
    shared = ranks is not None and ranks.world > 1
    if shared:
        plan = [b for i, b in enumerate(plan) if ranks.mine(i)]
    pending = plan[::-1]  # a stack, the next batch last
    device = next(model.parameters()).device
    cap = len(queries)  # the largest batch that has fit so far after an out-of-memory error
    with torch.inference_mode():
        while pending:
            idx = pending.pop()
            if len(idx) > cap:
                pending += [idx[i : i + cap] for i in range(0, len(idx), cap)][::-1]
                continue
            enc = {
                k: v.to(device) for k, v in pair_tokenizer([queries[i] for i in idx], [docs[i] for i in idx]).items()
            }
            try:
                scores = model(**enc).float().cpu().numpy()
            except (RuntimeError, MemoryError) as e:
                if not _is_oom(e) or len(idx) == 1:
                    raise
                half = len(idx) // 2
                cap = half
                pending += [idx[half:], idx[:half]]
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                continue
            out[idx] = scores
            if progress is not None:
                progress.update(len(idx))
    if shared:
        done = np.concatenate([np.asarray(b, dtype=np.int64) for b in plan]) if plan else np.zeros(0, np.int64)
        for positions, values in ranks.gather((done, out[done])):
            out[positions] = values
    return out


def rerank_pairs(job: RerankJob) -> Run:
    """Point-wise cross-encoders: every (query, candidate) pair scored on its own, batched by length."""
    from boltir.data.pair_tokenizer import PairTokenizer

    pairs = [(q, d) for q, ds in job.lists.items() for d in ds]
    pt = PairTokenizer(job.tokenizer, job.model.config.query_length, job.model.config.doc_length)
    with progress_bar(total=len(pairs), desc="score pairs", unit="pair", disable=not job.show_progress) as bar:
        queries, docs = [job.queries[q] for q, _ in pairs], [job.docs[d] for _, d in pairs]
        scores = score_pairs(job.model, pt, queries, docs, job.batch_size, bar, job.batch_tokens, job.ranks)
    out: Run = {}
    for (q, d), s in zip(pairs, scores.tolist()):
        out.setdefault(q, {})[d] = s
    return out


def _score_chunks(job: RerankJob, chunk_size: int | None) -> Run:
    """One query per forward pass with up to ``chunk_size`` of its documents (None: the whole list), through the
    family's own list tokenizer."""
    import torch

    encode = job.model.list_inputs(job.tokenizer)
    device = job.device()
    out: Run = {}
    with torch.inference_mode(), query_progress(job, "score lists") as bar:
        for qid, cand in job.lists.items():
            size = chunk_size or max(len(cand), 1)
            for start in range(0, len(cand), size):
                chunk = cand[start : start + size]
                enc = encode([job.queries[qid]], [[job.docs[d] for d in chunk]])
                enc = {k: v.to(device) if torch.is_tensor(v) else v for k, v in enc.items()}
                out.setdefault(qid, {}).update(zip(chunk, job.model(**enc).float().cpu().tolist()))
            bar.update(1)
    return out


@by_query
def rerank_segments(job: RerankJob) -> Run:
    """Sparse cross-encoders: one query per forward pass with up to ``batch_size`` of its documents, so the query
    is encoded once for them all."""
    return _score_chunks(job, job.batch_size)


@by_query
def rerank_lists(job: RerankJob) -> Run:
    """List-wise cross-encoders (Set-Encoder): each query's whole list in one forward pass, in the order given
    (the list is never split: the scores depend on the other passages; ``batch_size`` does not apply)."""
    return _score_chunks(job, None)
