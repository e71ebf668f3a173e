"""Collators: tokenisation happens here, in DataLoader workers, never inside a model's forward."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from boltir.errors import ConfigError


class TextBatcher:
    """Tokenise a fixed list of texts batch by batch; item ``i`` of this dataset is batch ``i``.

    Used with ``DataLoader(batcher, batch_size=None, num_workers=n)`` so tokenisation runs in workers while
    the main process runs the model.
    """

    def __init__(
        self, tokenizer: Any, texts: Sequence[str], batches: Sequence[Sequence[int]], max_length: int, prefix: str = ""
    ):
        self.tokenizer = tokenizer
        self.texts = texts
        self.batches = batches
        self.max_length = max_length
        self.prefix = prefix

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> tuple[list[int], dict[str, torch.Tensor]]:
        idx = list(self.batches[i])
        texts = [self.prefix + self.texts[j] for j in idx]
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        return idx, dict(enc)


def length_sorted_batches(texts: Sequence[str], batch_size: int, sort: bool = True) -> list[list[int]]:
    """Batches of indices; with ``sort`` the texts are grouped by length (longest first) so batches pad little.

    Character length stands in for token length: it needs no tokenisation and orders English text almost
    the same way.
    """
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i])) if sort else list(range(len(texts)))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def token_lengths(tokenizer: Any, texts: Sequence[str], max_length: int, prefix: str = "") -> list[int]:
    """Each text's token count as the model will see it (special tokens included, cut at ``max_length``)."""
    enc = tokenizer([prefix + t for t in texts], truncation=True, max_length=max_length)["input_ids"]
    return [len(ids) for ids in enc]


def token_budget(batch_tokens: int | None, batch_size: int, max_length: int) -> int | None:
    """The padded-token budget of a batch of documents or pairs, or None for batches of ``batch_size`` texts.

    By default (``batch_tokens`` None) it is ``batch_size * max_length``: no batch pads to more tokens than a
    batch of ``batch_size`` of the longest texts allowed, so memory stays that of count batches, while short texts
    travel in larger batches (1.95x a plain loop's passages/s against 1.70x for count batches, benchmarks/
    bench_dense.py). The vectors equal those of count batches to float rounding (~1e-7), the same as a plain loop's
    own vectors differ between batches of 1, 16 or 32. ``batch_tokens`` 0 asks for batches of ``batch_size``.

    Args:
        batch_tokens: the budget given (None: the default, 0: none).
        batch_size: texts per batch of the longest texts.
        max_length: the longest input, in tokens, that the model is given.

    Returns:
        The budget in padded tokens, or None.
    """
    if batch_tokens is None:
        return batch_size * max_length
    return batch_tokens or None


def token_budget_batches(lengths: Sequence[int], max_tokens: int) -> list[list[int]]:
    """Batches of indices, longest first, each as large as fits ``max_tokens`` once padded to its longest text
    (``len(batch) * longest <= max_tokens``; a text longer than the budget travels alone): short texts travel in
    large batches instead of the same count as long ones."""
    if max_tokens <= 0:
        raise ConfigError(f"batch_tokens={max_tokens}: give a positive token budget")
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for i in order:
        if batches and (len(batches[-1]) + 1) * lengths[batches[-1][0]] <= max_tokens:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches
