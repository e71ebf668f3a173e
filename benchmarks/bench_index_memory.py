"""Peak memory of index building at scale, against the size of the index it produces (target: peak RSS <= 1.5x).

  python benchmarks/bench_index_memory.py [--docs 1000000]   -> results/index-memory.json

Synthetic inputs, so the measurement is about the index code, not a model: 1M 128-d float32 vectors (dense, FAISS
Flat) and 1M sparse documents with up to 64 terms each drawn Zipf-like from a 30,522-term vocabulary (inverted index),
both written in shards of 16,384 documents through the same writers `boltir index` uses. Each case runs in its
own process; peak RSS is that process's maximum resident set (ru_maxrss, which also counts memory-mapped file
pages it touched), and "baseline" is its RSS after imports, before any work.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARD = 16384


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def folder_bytes(folder: Path, pattern: str = "*") -> int:
    return sum(p.stat().st_size for p in folder.rglob(pattern) if p.is_file())


def dense(n: int, folder: Path) -> dict:
    import numpy as np

    from boltir.index.dense import FAISS_FILE, DenseKind
    from boltir.index.kinds import Generation
    from boltir.index.storage import ShardedVectorWriter

    base = rss_mb()
    t0 = time.perf_counter()
    writer = ShardedVectorWriter(folder, {"kind": "dense", "synthetic": n})
    rng = np.random.default_rng(0)
    for start in range(0, n, SHARD):
        m = min(SHARD, n - start)
        v = rng.standard_normal((m, 128), dtype=np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        writer.add_shard(v, [f"d{start + i}" for i in range(m)])
    g = Generation(folder, writer.shards, 0, 0)
    DenseKind().write_derived(g, {"embedding_dim": 128}, {"factory": "Flat", "train_size": 100_000})
    writer.finish({"kind": "dense", "factory": "Flat", "dim": 128})
    return {
        "case": "dense 128-d, FAISS Flat",
        "docs": n,
        "seconds": time.perf_counter() - t0,
        "baseline_rss_mb": base,
        "peak_rss_mb": rss_mb(),
        "searchable_structure_mb": (folder / FAISS_FILE).stat().st_size / 2**20,
        "index_folder_mb": folder_bytes(folder) / 2**20,
    }


def sparse(n: int, folder: Path, terms_per_doc: int = 64, vocab: int = 30522) -> dict:
    import numpy as np
    import scipy.sparse as sp

    from boltir.index.sparse import write_postings
    from boltir.index.storage import ShardedVectorWriter

    base = rss_mb()
    t0 = time.perf_counter()
    writer = ShardedVectorWriter(folder, {"kind": "sparse", "synthetic": n})
    rng = np.random.default_rng(0)
    cdf = np.cumsum(1.0 / np.arange(1, vocab + 1) ** 0.8)
    cdf /= cdf[-1]
    for start in range(0, n, SHARD):
        m = min(SHARD, n - start)
        cols = np.minimum(np.searchsorted(cdf, rng.random((m, terms_per_doc))), vocab - 1)
        data = rng.random(cols.size, dtype=np.float32) * 3
        mat = sp.csr_matrix((data, cols.ravel(), np.arange(0, cols.size + 1, terms_per_doc)), shape=(m, vocab))
        mat.sum_duplicates()  # Zipf draws repeat frequent terms: at most terms_per_doc distinct terms
        writer.add_sparse_shard(mat, [f"d{start + i}" for i in range(m)])
    stats = write_postings(folder, {"shards": writer.shards}, vocab)
    writer.finish({"kind": "sparse", "dim": vocab, "postings": stats})
    return {
        "case": f"sparse, up to {terms_per_doc} terms per document, inverted index",
        "docs": n,
        "seconds": time.perf_counter() - t0,
        "baseline_rss_mb": base,
        "peak_rss_mb": rss_mb(),
        "searchable_structure_mb": folder_bytes(folder, "postings-*.npy") / 2**20,
        "index_folder_mb": folder_bytes(folder) / 2**20,
        "postings": stats["postings"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--one", choices=["dense", "sparse"])
    ap.add_argument("--folder")
    ap.add_argument("--output", default=str(Path(__file__).parent / "results" / "index-memory.json"))
    a = ap.parse_args()
    if a.one:
        fn = dense if a.one == "dense" else sparse
        print(json.dumps(fn(a.docs, Path(a.folder))))
        return
    rows = []
    for case in ("dense", "sparse"):
        with tempfile.TemporaryDirectory() as tmp:
            res = subprocess.run(
                [sys.executable, __file__, "--one", case, "--docs", str(a.docs), "--folder", str(Path(tmp) / case)],
                capture_output=True,
                text=True,
            )
            if res.returncode:
                raise SystemExit(res.stderr)
            row = json.loads(res.stdout.strip().splitlines()[-1])
        row["peak_vs_searchable_structure"] = row["peak_rss_mb"] / row["searchable_structure_mb"]
        row["peak_vs_index_folder"] = row["peak_rss_mb"] / row["index_folder_mb"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = {"target": "peak RSS <= 1.5x the final index size", "cpu_count": os.cpu_count(), "rows": rows}
    Path(a.output).parent.mkdir(parents=True, exist_ok=True)
    Path(a.output).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
