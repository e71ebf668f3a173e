"""Compiled term-at-a-time search over impact-ordered postings, for the learned-sparse index kind.

A learned-sparse query has 10-40 terms; exact search adds each query weight times each posting's weight into one
score per document, then keeps the best ``k``. The scipy sparse product does the same additions, but each call pays
for building matrices, for an output matrix as long as the candidate list and for a Python top-k over it. This
module does the additions and a bounded heap in one compiled loop (numba, the ``fast`` extra), with per-thread
scratch arrays that are reset as they are read, so one query costs only its postings. Results equal the scipy
path's bit for bit: the same float32 products are added in the same order (query terms in the order given), and
equal scores are ordered by document position in both.

Without numba, :func:`compiled_search` returns None and the sparse searcher uses the scipy product.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import numpy as np

from boltir.errors import ConfigError
from boltir.index.compiled import numba_jit


@cache
def compiled_search() -> Any:
    """The compiled batch kernel, or None when numba is not installed.

    ``kernel(indptr, docs, weights, q_indptr, q_terms, q_values, k, budget, deleted, acc, seen, touched, out_pos,
    out_scores, out_n)`` searches each query of a CSR batch and writes its best ``k`` into row ``i`` of ``out_pos``
    / ``out_scores`` (best first, equal scores by position) and their number into ``out_n[i]``.

    Returns:
        The jitted function, compiled on first use (cached on disk by numba), or None.
    """
    jit = numba_jit()
    if jit is None:
        return None

    @jit
    def below(s1, p1, s2, p2):  # (s1, p1) ranks below (s2, p2): lower score, or equal score and later position
        return s1 < s2 or (s1 == s2 and p1 > p2)

    @jit
    def sift_down(heap_s, heap_p, n, s, d):  # put (s, d) at the root of a min-heap of n and restore the order
        i = 0
        while True:
            c = 2 * i + 1
            if c >= n:
                break
            if c + 1 < n and below(heap_s[c + 1], heap_p[c + 1], heap_s[c], heap_p[c]):
                c += 1
            if not below(heap_s[c], heap_p[c], s, d):
                break
            heap_s[i], heap_p[i] = heap_s[c], heap_p[c]
            i = c
        heap_s[i], heap_p[i] = s, d

    @jit
    def one_query(indptr, docs, weights, terms, values, k, budget, deleted, acc, seen, touched, heap_s, heap_p):
        n_touched = 0
        for i in range(terms.shape[0]):
            t, w = terms[i], values[i]
            lo, hi = indptr[t], indptr[t + 1]
            if budget >= 0 and hi - lo > budget:  # impact-ordered lists: the budget best postings come first
                hi = lo + budget
            for p in range(lo, hi):  # branch-free: a document is kept in ``touched`` only on its first posting
                d = docs[p]
                touched[n_touched] = d
                n_touched += 1 - seen[d]
                seen[d] = 1
                acc[d] += w * weights[p]
        n = 0
        for j in range(n_touched):  # a min-heap of the k best; the scratch is reset as it is read
            d = touched[j]
            s = acc[d]
            acc[d] = 0
            seen[d] = 0
            if deleted[d]:
                continue
            if n < k:
                i = n
                n += 1
                while i > 0:
                    parent = (i - 1) >> 1
                    if not below(s, d, heap_s[parent], heap_p[parent]):
                        break
                    heap_s[i], heap_p[i] = heap_s[parent], heap_p[parent]
                    i = parent
                heap_s[i], heap_p[i] = s, d
            elif below(heap_s[0], heap_p[0], s, d):
                sift_down(heap_s, heap_p, n, s, d)
        for m in range(n - 1, 0, -1):  # heap sort: the worst goes last, so the row ends best first
            s, d = heap_s[0], heap_p[0]
            sift_down(heap_s, heap_p, m, heap_s[m], heap_p[m])
            heap_s[m], heap_p[m] = s, d
        return n

    @jit
    def kernel(
        indptr,
        docs,
        weights,
        q_indptr,
        q_terms,
        q_values,
        k,
        budget,
        deleted,
        acc,
        seen,
        touched,
        out_pos,
        out_scores,
        out_n,
    ):
        for q in range(q_indptr.shape[0] - 1):
            lo, hi = q_indptr[q], q_indptr[q + 1]
            out_n[q] = one_query(
                indptr,
                docs,
                weights,
                q_terms[lo:hi],
                q_values[lo:hi],
                k,
                budget,
                deleted,
                acc,
                seen,
                touched,
                out_scores[q],
                out_pos[q],
            )

    return kernel


class Scratch(threading.local):
    """Per-thread score accumulators for ``n_docs`` documents (float32 scores, a seen flag, the touched list),
    allocated on a thread's first query and kept zeroed between queries by the kernel."""

    def __init__(self, n_docs: int):
        self.n_docs = n_docs
        self.arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def get(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """This thread's (scores, seen, touched) arrays."""
        if self.arrays is None:
            n = self.n_docs
            self.arrays = (np.zeros(n, np.float32), np.zeros(n, np.uint8), np.empty(n + 1, np.int32))
        return self.arrays


def search_postings(
    kernel: Any,
    postings: tuple[np.ndarray, np.ndarray, np.ndarray],
    q_mat: Any,
    k: int,
    budget: int | None,
    deleted: np.ndarray,
    scratch: Scratch,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The top ``k`` (positions, scores) of each query of a batch, best first, equal scores by position.

    Args:
        kernel: :func:`compiled_search`'s function.
        postings: (indptr, docs, weights) of the impact-ordered inverted index.
        q_mat: the queries' term weights, a float32 scipy CSR matrix [queries, vocabulary].
        k: how many documents to return per query.
        budget: read only this many highest-weight postings per term; None reads every posting (exact).
        deleted: a flag per document position; flagged documents are never returned.
        scratch: the per-thread accumulators.

    Returns:
        Per query, document positions (int64) and their float32 scores, best first.

    Raises:
        ConfigError: the queries' vocabulary is not the index's.
    """
    indptr, docs, weights = postings
    n_q = q_mat.shape[0]
    if q_mat.shape[1] != len(indptr) - 1:  # the kernel reads term pointers unchecked: never past the vocabulary
        raise ConfigError(f"queries over {q_mat.shape[1]} terms, the index has {len(indptr) - 1}")
    if k < 1 or n_q == 0:
        return [(np.empty(0, np.int64), np.empty(0, np.float32)) for _ in range(n_q)]
    acc, seen, touched = scratch.get()
    out_pos, out_scores, out_n = np.empty((n_q, k), np.int64), np.empty((n_q, k), np.float32), np.empty(n_q, np.int64)
    kernel(
        indptr, docs, weights, q_mat.indptr.astype(np.int64), q_mat.indices.astype(np.int64), q_mat.data, k,
        -1 if budget is None else budget, deleted, acc, seen, touched, out_pos, out_scores, out_n,
    )  # fmt: skip
    return [(out_pos[i, : out_n[i]], out_scores[i, : out_n[i]]) for i in range(n_q)]
