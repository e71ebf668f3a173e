"""The compiled postings kernel against scipy's sparse product (the same positions and scores, bit for bit, with ties,
budgets, deletions and threads) and a hand computation; the postings build against a sort written out plainly."""

import json

import numpy as np
import pytest
import scipy.sparse as sp

from boltir.index.postings_kernel import compiled_search
from boltir.index.sparse import SparseSearcher, descending_key, write_postings
from boltir.index.storage import ShardedVectorWriter

VOCAB = 40


def write_collection(folder, shards: list) -> dict:
    """An index folder of CSR shards plus its postings; the searcher is opened on it without a model."""
    writer = ShardedVectorWriter(folder, {"kind": "sparse"})
    base = 0
    for m in shards:
        writer.add_sparse_shard(m, [f"d{base + i}" for i in range(m.shape[0])])
        base += m.shape[0]
    stats = write_postings(folder, {"shards": writer.shards}, VOCAB)
    return {"kind": "sparse", "dim": VOCAB, "postings": stats, "shards": writer.shards, "count": base}


def searcher_on(folder, manifest, kernel: bool, threads: int = 1, deleted=None) -> SparseSearcher:
    s = SparseSearcher.__new__(SparseSearcher)  # the searcher's own search code, queries given as term weights
    s.index_dir, s.threads, s.manifest = folder, threads, manifest
    s.deleted = np.zeros(manifest["count"], bool) if deleted is None else deleted
    s.open()
    if not kernel:
        s._kernel = None
    return s


def random_shards(rng, sizes=(70, 50, 33)) -> list:
    """Weights on a coarse grid (many equal scores) over a small vocabulary (long lists)."""
    out = []
    for n in sizes:
        dense = np.where(rng.random((n, VOCAB)) < 0.25, rng.integers(1, 5, (n, VOCAB)) / 4, 0).astype(np.float32)
        out.append(sp.csr_matrix(dense))
    return out


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    rng = np.random.default_rng(3)
    folder = tmp_path_factory.mktemp("postings")
    shards = random_shards(rng)
    queries = sp.csr_matrix(
        np.where(rng.random((12, VOCAB)) < 0.3, rng.integers(1, 4, (12, VOCAB)) / 2, 0).astype(np.float32)
    )
    return folder, write_collection(folder, shards), sp.vstack(shards).tocsr(), queries


def test_postings_are_term_major_by_weight_then_document(collection):
    folder, manifest, docs, _ = collection
    indptr = np.load(folder / "postings-indptr.npy")
    d, w = np.load(folder / "postings-docs.npy"), np.load(folder / "postings-weights.npy")
    by_term = docs.tocsc()
    for t in range(VOCAB):
        rows, vals = (
            by_term.indices[by_term.indptr[t] : by_term.indptr[t + 1]],
            by_term.data[by_term.indptr[t] : by_term.indptr[t + 1]],
        )
        expected = sorted(zip(-vals, rows))
        got = list(zip(-w[indptr[t] : indptr[t + 1]], d[indptr[t] : indptr[t + 1]]))
        assert got == expected
    assert manifest["postings"]["postings"] == docs.nnz


def test_descending_key_orders_floats_of_both_signs():
    w = np.array([0.5, -2.0, 3.25, 0.0, -0.125, 1e-30, -1e30, 7.0], np.float32)
    assert np.array_equal(w[np.argsort(descending_key(w), kind="stable")], np.sort(w)[::-1])


@pytest.mark.skipif(compiled_search() is None, reason="numba is not installed (the fast extra)")
@pytest.mark.parametrize("budget", [None, 4])
@pytest.mark.parametrize("threads", [1, 3])
def test_kernel_equals_the_scipy_product_bit_for_bit(collection, budget, threads):
    folder, manifest, _, queries = collection
    deleted = np.zeros(manifest["count"], bool)
    deleted[[0, 17, 101]] = True
    compiled = searcher_on(folder, manifest, kernel=True, threads=threads, deleted=deleted)
    product = searcher_on(folder, manifest, kernel=False, threads=threads, deleted=deleted)
    for k in (1, 7, 500):
        for (pos_a, s_a), (pos_b, s_b) in zip(
            compiled.search_matrix(queries, k, budget), product.search_matrix(queries, k, budget)
        ):
            assert pos_a.tolist() == pos_b.tolist()
            assert s_a.tobytes() == s_b.tobytes()
            assert not deleted[pos_a].any()


@pytest.mark.parametrize("kernel", [True, False])
def test_scores_and_ties_by_hand(tmp_path, kernel):
    if kernel and compiled_search() is None:
        pytest.skip("numba is not installed (the fast extra)")
    docs = sp.csr_matrix(
        np.array(
            [
                [0, 1.0, 0, 2.0] + [0] * (VOCAB - 4),
                [0, 0, 3.0, 0] + [0] * (VOCAB - 4),
                [0, 2.0, 0, 1.0] + [0] * (VOCAB - 4),
            ],
            np.float32,
        )
    )
    manifest = write_collection(tmp_path, [docs])
    s = searcher_on(tmp_path, manifest, kernel=kernel)
    q = sp.csr_matrix(([1.0, 1.0], [1, 3], [0, 2]), shape=(1, VOCAB), dtype=np.float32)
    ((pos, scores),) = s.search_matrix(q, 3)
    assert pos.tolist() == [0, 2] and scores.tolist() == [3.0, 3.0]  # d1 has neither term; the tie goes to d0
    q2 = sp.csr_matrix(([0.5, 2.0], [2, 3], [0, 2]), shape=(1, VOCAB), dtype=np.float32)
    ((pos, scores),) = s.search_matrix(q2, 2)
    assert pos.tolist() == [0, 2] and scores.tolist() == [4.0, 2.0]  # 2*2.0; then 2*1.0 beats d1's 0.5*3.0
    ((pos, scores),) = s.search_matrix(q2, 2, budget=1)  # term 3's best posting only (d0's 2.0)
    assert pos.tolist() == [0, 1] and scores.tolist() == [4.0, 1.5]


def test_postings_statistics(collection):
    folder, manifest, docs, _ = collection
    stats = json.loads(json.dumps(manifest["postings"]))
    assert stats["terms_used"] == int((np.diff(docs.tocsc().indptr) > 0).sum())
    assert stats["longest_list"] == int(np.diff(docs.tocsc().indptr).max())


@pytest.mark.skipif(compiled_search() is None, reason="numba is not installed (the fast extra)")
def test_kernel_refuses_another_vocabulary_and_returns_nothing_for_k_0(collection):
    from boltir.errors import ConfigError

    folder, manifest, _, queries = collection
    s = searcher_on(folder, manifest, kernel=True)
    wider = sp.csr_matrix(([1.0], [VOCAB + 5], [0, 1]), shape=(1, VOCAB + 10), dtype=np.float32)
    with pytest.raises(ConfigError, match=f"queries over {VOCAB + 10} terms, the index has {VOCAB}"):
        s.search_matrix(wider, 5)
    assert [len(p) for p, _ in s.search_matrix(queries, 0)] == [0] * queries.shape[0]
