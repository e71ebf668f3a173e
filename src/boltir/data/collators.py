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
