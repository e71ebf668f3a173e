"""Training lists for cross-encoders: candidate lists sampled from a run (targets from relevance, teacher rank
or teacher score) and training tuples; a query's whole list always stays in one batch."""

from __future__ import annotations

import math
import random
from typing import Any

import torch
from torch.utils.data import ConcatDataset, Dataset

from boltir.data.runs import read_run
from boltir.errors import ConfigError
from boltir.training.data import RankingDataModule, RerankListCollator, TupleDataset

SAMPLINGS = ("top", "single_relevant", "random", "log_random")
TARGETS = ("relevance", "rank", "score")


def sample_list(
    ranked: list[str], size: int, how: str, rng: random.Random, relevant: set[str] | None = None
) -> list[str] | None:
    """Pick ``size`` candidates from ``ranked`` (best first); None when ``single_relevant`` finds no relevant.

    top: the first ``size``; random: uniform without replacement; log_random: without replacement with weight
    ``1 / log2(rank + 1)`` (deep candidates stay possible but rarer); single_relevant: one random relevant
    candidate plus the highest-ranked non-relevant ones.
    """
    if how == "top":
        return ranked[:size]
    if how == "random":
        return rng.sample(ranked, min(size, len(ranked)))
    if how == "log_random":
        pool = list(enumerate(ranked, start=1))
        chosen: list[str] = []
        while pool and len(chosen) < size:
            weights = [1.0 / math.log2(r + 1) for r, _ in pool]
            pick = rng.choices(range(len(pool)), weights=weights)[0]
            chosen.append(pool.pop(pick)[1])
        return sorted(chosen, key=ranked.index)
    if how == "single_relevant":
        rel = [d for d in ranked if relevant and d in relevant]
        if not rel:
            return None
        non = [d for d in ranked if not relevant or d not in relevant]
        return [rng.choice(rel)] + non[: size - 1]
    raise ConfigError(f"sampling={how!r}: choose one of {', '.join(SAMPLINGS)}")


class RunListDataset(Dataset):
    """One item per query: (query text, candidate texts, targets) sampled from the top ``depth`` of a run."""

    def __init__(
        self,
        run: dict[str, dict[str, float]],
        queries: dict[str, str],
        docs: dict[str, str],
        qrels: dict[str, dict[str, int]] | None = None,
        depth: int = 100,
        sample_size: int = 8,
        sampling: str = "top",
        targets: str = "relevance",
        seed: int = 0,
    ):
        from boltir.data.runs import top_k

        if sampling not in SAMPLINGS:
            raise ConfigError(f"sampling={sampling!r}: choose one of {', '.join(SAMPLINGS)}")
        if targets not in TARGETS:
            raise ConfigError(f"targets={targets!r}: choose one of {', '.join(TARGETS)}")
        if targets == "relevance" and qrels is None:
            raise ConfigError("targets='relevance' needs qrels")
        self.ranked = {q: ds for q, ds in top_k(run, depth).items() if q in queries}
        self.run, self.queries, self.docs, self.qrels = run, queries, docs, qrels or {}
        self.depth, self.sample_size, self.sampling, self.targets, self.seed = (
            depth,
            sample_size,
            sampling,
            targets,
            seed,
        )
        if sampling == "single_relevant":
            self.ranked = {
                q: ds for q, ds in self.ranked.items() if any(self.qrels.get(q, {}).get(d, 0) > 0 for d in ds)
            }
        self.qids = list(self.ranked)

    def __len__(self) -> int:
        return len(self.qids)

    def target(self, qid: str, doc: str) -> float:
        """The targets of a query's list (relevance grades or teacher order)."""
        if self.targets == "relevance":
            return float(self.qrels.get(qid, {}).get(doc, 0))
        if self.targets == "rank":
            return float(self.depth - self.ranked[qid].index(doc))  # depth - rank + 1, rank starting at 1
        return float(self.run[qid][doc])

    def __getitem__(self, i: int) -> tuple[str, list[str], list[float]]:
        qid = self.qids[i]
        rng = random.Random(hash((self.seed, i)))
        relevant = {d for d, g in self.qrels.get(qid, {}).items() if g > 0}
        chosen = sample_list(self.ranked[qid], self.sample_size, self.sampling, rng, relevant)
        assert chosen is not None
        return self.queries[qid], [self.docs[d] for d in chosen], [self.target(qid, d) for d in chosen]


class TupleListDataset(Dataset):
    """Training tuples as lists: the positive (target 1) then the negatives (target 0)."""

    def __init__(self, tuples: TupleDataset):
        self.tuples = tuples

    def __len__(self) -> int:
        return len(self.tuples)

    def __getitem__(self, i: int) -> tuple[str, list[str], list[float]]:
        q, docs = self.tuples[i]
        return q, docs, [1.0] + [0.0] * (len(docs) - 1)


class ListCollator:
    """B lists (padded with empty documents to the longest, padding masked) -> model inputs + targets."""

    def __init__(self, encode: Any):
        self.encode = encode

    def __call__(self, items: list[tuple[str, list[str], list[float]]]) -> dict[str, Any]:
        n = max(len(docs) for _, docs, _ in items)
        targets = torch.zeros(len(items), n)
        mask = torch.zeros(len(items), n, dtype=torch.bool)
        padded = []
        for b, (_, ds, ts) in enumerate(items):
            padded.append(list(ds) + [""] * (n - len(ds)))
            targets[b, : len(ts)] = torch.tensor(ts)
            mask[b, : len(ds)] = True
        inputs = self.encode([q for q, _, _ in items], padded)
        if "list_mask" in inputs:
            inputs["list_mask"] = mask
        return {"inputs": inputs, "targets": targets, "mask": mask, "list_size": n}


class ListDataModule(RankingDataModule):
    """Lists for cross-encoder training from a run and/or training tuples, with validation by re-ranking.

    Args:
        train_run: candidates, e.g. ``trec-dl-2020:bm25`` or ``trec-dl-2020:rankvicuna-7b.bm25`` (never DL19).
        train_queries, train_qrels, train_docs: default to the dataset named in ``train_run``.
        depth, sample_size, sampling, targets: how each query's list is drawn and labelled
            (sampling: top, single_relevant, random, log_random; targets: relevance, rank, score).
        train_tuples, tuple_docs, num_negatives: training tuples (positive + hard negatives), optional.
        batch_size: queries per batch; each brings its whole list (never split).
        val_run, val_queries, val_qrels, val_docs, val_depth: validation by re-ranking (never DL19).
    """

    def __init__(
        self,
        train_run: str | None = None,
        train_queries: str | None = None,
        train_qrels: str | None = None,
        train_docs: str | None = None,
        depth: int = 100,
        sample_size: int = 8,
        sampling: str = "top",
        targets: str = "relevance",
        train_tuples: str | None = None,
        tuple_docs: str | None = None,
        num_negatives: int = 7,
        batch_size: int = 4,
        num_workers: int = 0,
        val_run: str | None = None,
        val_queries: str | None = None,
        val_qrels: str | None = None,
        val_docs: str | None = None,
        val_depth: int = 100,
        val_queries_per_batch: int = 1,
        seed: int = 0,
    ):
        super().__init__()
        self.save_hyperparameters()

    def attach_tokenizer(self, tokenizer: Any, model: Any) -> None:
        """Take the model's tokenizer and settings for the collators."""
        encode = model.list_inputs(tokenizer)
        self.collator, self.val_collator = ListCollator(encode), RerankListCollator(encode)

    def setup(self, stage: str | None = None) -> None:
        """Read the training lists (from a run and/or tuples) and the validation run.

        Raises:
            ConfigError: no training data, or a tuple file without ``data.tuple_docs``.
        """
        from boltir.data import sources as src
        from boltir.data.runs import candidate_ids

        h: Any = self.hparams
        self.refuse_test_set(h.train_run, h.val_run, h.train_qrels, h.val_qrels)
        self.setup_validation()
        if self.train_set is None:
            parts: list[Dataset] = []
            if h.train_run:
                run = self.training_queries(read_run(h.train_run), h.train_run)
                wanted = candidate_ids(run, h.depth)
                qrels_spec = h.train_qrels or src.dataset_of_run(h.train_run)
                qrels = src.load_qrels(qrels_spec) if qrels_spec else None
                parts.append(
                    RunListDataset(
                        run,
                        src.load_queries(src.companion(h.train_queries, h.train_run, "data.train_queries")),
                        src.doc_texts(src.companion(h.train_docs, h.train_run, "data.train_docs"), wanted),
                        qrels,
                        h.depth,
                        h.sample_size,
                        h.sampling,
                        h.targets,
                        h.seed,
                    )
                )
            if h.train_tuples:
                docs_spec = h.tuple_docs or (h.train_tuples if h.train_tuples in src.DATASETS else None)
                if docs_spec is None:
                    raise ConfigError("data.tuple_docs is required when data.train_tuples is a file")
                parts.append(
                    TupleListDataset(
                        TupleDataset(
                            list(src.load_tuples(h.train_tuples)), src.doc_texts(docs_spec), h.num_negatives, h.seed
                        )
                    )
                )
            if not parts:
                raise ConfigError("give data.train_run and/or data.train_tuples")
            self.train_set = parts[0] if len(parts) == 1 else ConcatDataset(parts)
