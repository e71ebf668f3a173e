"""The compiled centroid interaction against the numpy reduction it replaces: equal scores, bit for bit, for query
lengths around numpy's summation blocks; the numpy path where the kernel does not apply."""

import numpy as np
import pytest

from boltir.index.maxsim_kernel import MAX_QUERY_TOKENS, centroid_maxsim, compiled_centroid_maxsim
from boltir.index.multivector import maxsim_rows, token_rows

needs_numba = pytest.mark.skipif(compiled_centroid_maxsim() is None, reason="numba is not installed (the fast extra)")


def numpy_path(sims, codes, starts, lengths):
    return maxsim_rows(sims[codes[token_rows(starts, lengths)]], lengths)


@needs_numba
@pytest.mark.parametrize("query_tokens", [1, 5, 8, 13, 32, 33, 64, MAX_QUERY_TOKENS])
def test_equals_the_numpy_reduction_bit_for_bit(query_tokens):
    rng = np.random.default_rng(query_tokens)
    sims = (rng.standard_normal((300, query_tokens)) * 3).astype(np.float32)
    lengths = rng.integers(1, 40, 500)
    codes = rng.integers(0, 300, int(lengths.sum()) + 50).astype(np.int32)
    starts = np.r_[0, np.cumsum(lengths)[:-1]] + rng.integers(0, 50, len(lengths))  # gaps, never past the end
    got = centroid_maxsim(sims, codes, starts, lengths)
    assert got.tobytes() == numpy_path(sims, codes, starts, lengths).tobytes()


def test_by_hand_and_where_the_numpy_path_runs():
    sims = np.array([[1.0, -2.0], [0.5, 3.0], [-1.0, 0.0]], np.float32)
    codes = np.array([0, 1, 2, 2], np.int32)
    starts, lengths = np.array([0, 2]), np.array([2, 2])
    got = centroid_maxsim(sims, codes, starts, lengths)
    expected = np.array([1.0 + 3.0, -1.0 + 0.0], np.float32)  # best of codes 0, 1 per column; then code 2 twice
    if compiled_centroid_maxsim() is None:
        assert got is None
    else:
        assert got.tolist() == expected.tolist()
    assert numpy_path(sims, codes, starts, lengths).tolist() == expected.tolist()
    assert centroid_maxsim(sims.astype(np.float64), codes, starts, lengths) is None  # float64: numpy's precision
    wide = np.zeros((3, MAX_QUERY_TOKENS + 1), np.float32)
    assert centroid_maxsim(wide, codes, starts, lengths) is None  # numpy sums long rows in recursive blocks
