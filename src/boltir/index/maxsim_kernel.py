"""Compiled centroid interaction for the multi-vector index kind: PLAID's first scoring stage.

Each candidate document scores the sum over query tokens of the best centroid similarity among its tokens' codes.
The numpy path gathers a [tokens, query tokens] row per document token and reduces it with ``maximum.reduceat``,
which dominates a search (60 % of it at 16k documents); the compiled loop reads each token's row of the centroid
table in place. Maxima do not depend on order, and each document's sum is numpy's own pairwise summation of a row
(eight running sums, combined pairwise, then the remainder), so the scores equal the numpy path's bit for bit.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from boltir.index.compiled import numba_jit

MAX_QUERY_TOKENS = 128  # numpy sums longer rows in blocks recursively; those stay on the numpy path


@cache
def compiled_centroid_maxsim() -> Any:
    """``kernel(sims, codes, starts, lengths, out)``: for document ``i``, ``out[i]`` = sum over columns of the
    maximum of ``sims[codes[starts[i] + t]]`` over its ``lengths[i]`` (>= 1) tokens; None without numba.

    Returns:
        The jitted function, or None.
    """
    jit = numba_jit()
    if jit is None:
        return None

    @jit
    def kernel(sims, codes, starts, lengths, out):
        width = sims.shape[1]
        best = np.empty(width, np.float32)
        acc = np.empty(8, np.float32)
        for i in range(lengths.shape[0]):
            first = starts[i]
            best[:] = sims[codes[first]]
            for t in range(first + 1, first + lengths[i]):
                row = sims[codes[t]]
                for j in range(width):
                    if row[j] > best[j]:
                        best[j] = row[j]
            if width < 8:  # numpy's pairwise sum of a row of up to 128 values
                total = np.float32(-0.0)
                for j in range(width):
                    total += best[j]
            else:
                acc[:] = best[:8]
                j = 8
                while j < width - width % 8:
                    for r in range(8):
                        acc[r] += best[j + r]
                    j += 8
                total = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
                while j < width:
                    total += best[j]
                    j += 1
            out[i] = total

    return kernel


def centroid_maxsim(sims: np.ndarray, codes: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray | None:
    """Centroid-interaction MaxSim of documents whose token codes are ``codes[starts[i] : starts[i] + lengths[i]]``.

    Args:
        sims: [centroids, query tokens] float32 similarities of each centroid to each query token.
        codes: every token's centroid id.
        starts: each document's first token in ``codes``.
        lengths: each document's number of tokens (at least 1).

    Returns:
        float32 scores, one per document, or None where the numpy path must run (numba missing, similarities
        not float32, or more than ``MAX_QUERY_TOKENS`` query tokens).
    """
    kernel = compiled_centroid_maxsim()
    if kernel is None or sims.dtype != np.float32 or sims.shape[1] > MAX_QUERY_TOKENS:
        return None
    out = np.empty(len(lengths), np.float32)
    kernel(np.ascontiguousarray(sims), codes, starts, lengths, out)
    return out
