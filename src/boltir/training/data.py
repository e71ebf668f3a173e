"""Training and validation data for bi-encoders: tuples with hard negatives, and a run to re-rank."""

from __future__ import annotations

import random
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from boltir.data.records import TrainingTuple
from boltir.errors import ConfigError


class TupleDataset(Dataset):
    """One item per training tuple: query text, its first positive and ``num_negatives`` negatives
    (the tuple's hard negatives first, then random corpus documents when it has too few)."""

    def __init__(self, tuples: list[TrainingTuple], docs: dict[str, str], num_negatives: int, seed: int = 0):
        self.tuples = [t for t in tuples if t.positives]
        if not self.tuples:
            raise ConfigError("no training tuple has a positive")
        self.docs = docs
        self.doc_ids = sorted(docs)
        self.num_negatives = num_negatives
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.tuples)

    def __getitem__(self, i: int) -> tuple[str, list[str]]:
        t = self.tuples[i]
        rng = random.Random(hash((self.seed, self.epoch, i)))
        pos = t.positives[0] if len(t.positives) == 1 else rng.choice(t.positives)
        negs = list(t.negatives)
        rng.shuffle(negs)
        negs = negs[: self.num_negatives]
        exclude = set(t.positives) | set(negs)
        while len(negs) < self.num_negatives:
            d = rng.choice(self.doc_ids)
            if d not in exclude:
                negs.append(d)
                exclude.add(d)
        return t.query, [self.docs[pos]] + [self.docs[n] for n in negs]


class PairCollator:
    """Tokenise queries and documents separately, each truncated to its own length."""

    def __init__(
        self, tokenizer: Any, query_length: int, doc_length: int, query_prefix: str = "", doc_prefix: str = ""
    ):
        self.tokenizer = tokenizer
        self.query_length, self.doc_length = query_length, doc_length
        self.query_prefix, self.doc_prefix = query_prefix, doc_prefix

    def _tok(self, texts: list[str], length: int) -> dict[str, torch.Tensor]:
        return dict(self.tokenizer(texts, padding=True, truncation=True, max_length=length, return_tensors="pt"))

    def __call__(self, items: list[tuple[str, list[str]]]) -> dict[str, Any]:
        queries = [self.query_prefix + q for q, _ in items]
        docs = [self.doc_prefix + d for _, ds in items for d in ds]
        return {
            "queries": self._tok(queries, self.query_length),
            "docs": self._tok(docs, self.doc_length),
            "docs_per_query": len(items[0][1]),
        }


class RerankListDataset(Dataset):
    """One item per query of a candidate run: (query id, doc ids, query text, doc texts), for validation and
    list-wise re-ranking."""

    def __init__(
        self, run: dict[str, dict[str, float]], queries: dict[str, str], docs: dict[str, str], depth: int | None
    ):
        from boltir.data.runs import top_k

        self.lists = [(q, ds) for q, ds in top_k(run, depth).items() if q in queries]
        self.queries, self.docs = queries, docs

    def __len__(self) -> int:
        return len(self.lists)

    def __getitem__(self, i: int):
        q, ds = self.lists[i]
        return q, ds, self.queries[q], [self.docs[d] for d in ds]


class RerankListCollator:
    """Tokenises batches of candidate lists for validation by re-ranking (in the DataLoader workers)."""

    def __init__(self, encode: Any):
        self.encode = encode

    def __call__(self, items):
        n = max(len(i[1]) for i in items)
        mask = torch.zeros(len(items), n, dtype=torch.bool)
        for b, i in enumerate(items):
            mask[b, : len(i[1])] = True
        inputs = self.encode([i[2] for i in items], [list(i[3]) + [""] * (n - len(i[3])) for i in items])
        if "list_mask" in inputs:
            inputs["list_mask"] = mask
        return {
            "inputs": inputs,
            "mask": mask,
            "query_ids": [i[0] for i in items],
            "doc_ids": [list(i[1]) for i in items],
        }


def bi_encoder_lists(collator: PairCollator):
    """``(queries, lists of docs) -> inputs`` for bi-encoder validation: each query tokenised once."""

    def encode(queries, docs):
        return {
            "queries": collator._tok([collator.query_prefix + q for q in queries], collator.query_length),
            "docs": collator._tok([collator.doc_prefix + d for ds in docs for d in ds], collator.doc_length),
        }

    return encode


class RankingDataModule(L.LightningDataModule):
    """What the training data modules share: the test-set guard, validation lists from a candidate run, and the
    loaders (training batches shuffled with ``drop_last`` so every process holds as many queries; validation lists
    in order). Subclasses fill ``train_set`` and the collators."""

    def __init__(self) -> None:
        super().__init__()
        self.train_set: Dataset | None = None
        self.val_set: RerankListDataset | None = None
        self.val_qrels: dict[str, dict[str, int]] | None = None
        self.collator: Any = None
        self.val_collator: Any = None

    @staticmethod
    def refuse_test_set(*specs: str | None) -> None:
        """Refuse training or validating on TREC DL 2019, the test set.

        Raises:
            ConfigError: the run or its queries are DL19's.
        """
        for spec in specs:
            if spec and (spec == "trec-dl-2019" or spec.startswith("trec-dl-2019:")):
                raise ConfigError("trec-dl-2019 is the test set: train and validate on trec-dl-2020 or dev-small")

    def training_queries(self, run: dict[str, dict[str, float]], spec: str) -> dict[str, dict[str, float]]:
        """The queries of a training run that may be trained on: a DL19 test query is an error (named); a query
        that is also a validation query is dropped (and logged), so model selection never sees a trained query."""
        from boltir.data.sources import load_queries
        from boltir.utils.log import log

        test = sorted(set(run) & set(load_queries("trec-dl-2019")))
        if test:
            raise ConfigError(
                f"{spec}: {len(test)} queries are TREC DL 2019 test queries (e.g. {test[0]}); "
                "trec-dl-2019 is the test set: train on other queries"
            )
        val = {q for q, _ in self.val_set.lists} if self.val_set is not None else set()
        held = [q for q in run if q in val]
        if held:
            log.info(f"{spec}: {len(held)} training queries are validation queries; left out of training")
            run = {q: ds for q, ds in run.items() if q not in val}
            if not run:
                raise ConfigError(f"{spec}: every training query is a validation query")
        return run

    def setup_validation(self) -> None:
        """Validation lists: the top ``val_depth`` candidates of ``val_run`` with their texts and qrels."""
        from boltir.data.runs import candidate_ids, read_run
        from boltir.data.sources import companion, doc_texts, load_qrels, load_queries

        h: Any = self.hparams
        if not h.val_run or self.val_set is not None:
            return
        run = read_run(h.val_run)
        qrels = load_qrels(companion(h.val_qrels, h.val_run, "data.val_qrels"))
        # the validation queries are those of the validation run: judged queries it lacks are not counted as 0
        self.val_qrels = {q: qrels[q] for q in run if q in qrels}
        docs = doc_texts(companion(h.val_docs, h.val_run, "data.val_docs"), candidate_ids(run, h.val_depth))
        queries = load_queries(companion(h.val_queries, h.val_run, "data.val_queries"))
        self.val_set = RerankListDataset(run, queries, docs, h.val_depth)

    def train_dataloader(self) -> DataLoader:
        """The training batches."""
        h: Any = self.hparams
        assert self.collator is not None, "the module attaches its tokenizer before training"
        assert self.train_set is not None, "setup('fit') reads the training data first"
        return DataLoader(
            self.train_set,
            batch_size=h.batch_size,
            shuffle=True,
            drop_last=True,
            collate_fn=self.collator,
            num_workers=h.num_workers,
            persistent_workers=h.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader | list:
        """The validation lists (none when no validation run is set)."""
        h: Any = self.hparams
        if self.val_set is None:
            return []
        return DataLoader(
            self.val_set,
            batch_size=h.val_queries_per_batch,
            shuffle=False,
            collate_fn=self.val_collator,
            num_workers=h.num_workers,
        )


class TupleDataModule(RankingDataModule):
    """Training tuples (jsonl or a bundled dataset) with doc texts, and optional validation by re-ranking.

    Args:
        train: training tuples: a jsonl file or a dataset name (e.g. ``msmarco-devsmall-sample``).
        docs: where the tuples' doc ids get their text (defaults to ``train`` when it is a dataset name).
        num_negatives: hard negatives per query (topped up with random documents).
        batch_size: queries per batch; each brings 1 + num_negatives documents.
        val_run: candidates to re-rank for validation, e.g. ``trec-dl-2020:bm25`` (never DL19: it is our test set).
        val_queries, val_qrels, val_docs: default to the dataset named in ``val_run``.
        val_depth: candidates per validation query; val_queries_per_batch: whole lists per validation batch.
    """

    def __init__(
        self,
        train: str = "msmarco-devsmall-sample",
        docs: str | None = None,
        num_negatives: int = 7,
        batch_size: int = 16,
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
        config = model.config
        self.collator = PairCollator(
            tokenizer, config.query_length, config.doc_length, config.query_prefix, config.doc_prefix
        )
        self.val_collator = RerankListCollator(bi_encoder_lists(self.collator))

    def setup(self, stage: str | None = None) -> None:
        """Read the training tuples and the validation run.

        Raises:
            ConfigError: a tuple file without ``data.docs``.
        """
        from boltir.data.sources import DATASETS, doc_texts, load_tuples

        h: Any = self.hparams
        self.refuse_test_set(h.val_run, h.val_qrels)
        if self.train_set is None:
            tuples = list(load_tuples(h.train))
            docs_spec = h.docs or (h.train if h.train in DATASETS else None)
            if docs_spec is None:
                raise ConfigError("data.docs is required when data.train is a file")
            self.train_set = TupleDataset(tuples, doc_texts(docs_spec), h.num_negatives, h.seed)
        self.setup_validation()
