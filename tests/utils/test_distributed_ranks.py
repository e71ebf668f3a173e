"""Rank 0's checks stop every rank: rank 0 raises its own error, the others one with its message."""

from __future__ import annotations

import pytest

from boltir.errors import ConfigError, InvalidIndexError
from boltir.utils.distributed import Ranks


class Broadcasting(Ranks):
    """A rank of a two-process job whose broadcast hands out what rank 0 sent (``sent``), without processes."""

    sent: list = []

    def broadcast(self, obj):
        if self.is_main:
            Broadcasting.sent.append(obj)
            return obj
        return Broadcasting.sent[-1]


def test_rank_0_checks_and_every_rank_stops_on_its_error():
    calls = []

    def locked():
        calls.append("check")
        raise ConfigError("idx: locked by another build")

    with pytest.raises(ConfigError, match="locked by another build"):
        Broadcasting(rank=0, world=2).check_on_main(locked)
    with pytest.raises(InvalidIndexError, match="locked by another build"):  # rank 1 never ran the check
        Broadcasting(rank=1, world=2).check_on_main(locked)
    assert calls == ["check"]


def test_a_passing_check_lets_every_rank_go_on_and_others_errors_propagate():
    Broadcasting(rank=0, world=2).check_on_main(lambda: None)
    Broadcasting(rank=1, world=2).check_on_main(lambda: None)
    Ranks().check_on_main(lambda: None)  # one process: the check runs, nothing is sent

    def broken():
        raise KeyError("a bug, not a refusal")

    with pytest.raises(KeyError):
        Ranks().check_on_main(broken, (InvalidIndexError,))
