"""Batch plans: by count (length-sorted) and by a padded-token budget."""

from __future__ import annotations

import pytest

from boltir.data.collators import token_budget, token_budget_batches


def test_token_budget_batches_by_hand():
    # longest first; a batch grows while (size + 1) * its longest text fits the budget
    assert token_budget_batches([10, 3, 3, 3, 8, 1], 16) == [[0], [4, 1], [2, 3, 5]]


def test_every_batch_fits_its_budget_and_every_text_is_in_one():
    import random

    lengths = [random.Random(i).randint(1, 300) for i in range(500)]
    batches = token_budget_batches(lengths, 2048)
    assert sorted(i for b in batches for i in b) == list(range(500))
    assert all(len(b) * max(lengths[i] for i in b) <= 2048 for b in batches)
    short = token_budget_batches([5] * 100, 2048)
    assert len(short) == 1  # 100 short texts travel together, not in 4 batches of 32


def test_a_text_longer_than_the_budget_travels_alone():
    assert token_budget_batches([50, 4], 10) == [[0], [1]]
    with pytest.raises(ValueError, match="positive token budget"):
        token_budget_batches([1], 0)


def test_the_default_budget_is_a_full_batch_of_the_longest_texts():
    assert token_budget(None, 32, 256) == 32 * 256
    assert token_budget(0, 32, 256) is None  # 0: batches of batch_size texts
    assert token_budget(1000, 32, 256) == 1000
