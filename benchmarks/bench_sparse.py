"""Learned-sparse search against the specialists a user would pick instead, same weights, same machine, same run.

  python benchmarks/bench_sparse.py [--docs 1000000] [--index FOLDER]   -> results/sparse-cpu.json

Two collections:
- ``synthetic``: ``--docs`` (1M) documents with up to 64 terms drawn Zipf-like from a 30,522-term vocabulary
  (bench_index_memory.py's generator), 200 queries of 16 terms (bench_search_scale.py's);
- ``dl_pool``: SPLADE-tiny on the 24,884-passage TREC DL 2019 + 2020 pool, the 97 DL19 + DL20 queries. ``--index``
  reuses a ``boltir index --model splade-tiny`` folder of the pool (encoding takes ~4 minutes on 2 cores).

Systems, each built from the same term weights:
- boltir exact search (the compiled kernel when numba is installed, which is the default path) and the scipy
  sparse product it replaced, in the same process;
- PISA (``pyterrier-pisa``): the quantised scorer (weights x 100 as integer impacts), MaxScore, block_simdbp;
- Seismic (``pyseismic-lsr``), approximate, at several (query_cut, heap_factor) settings.

Measured: queries/s over all queries (best of 3 passes, systems interleaved) at k = 10 and 100 with 1 and 2 threads;
recall@k of boltir's exact ranking; build seconds of the searchable structure from the encoded weights (boltir: the
postings from its shards; PISA and Seismic: their indexers fed from the same shards, the feeding included); index
bytes. Needs the ``bench`` packages: ``pip install pyterrier-pisa pyseismic-lsr numba``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

KS, THREADS, PASSES = (10, 100), (1, 2), 3
SEISMIC_SETTINGS = ((10, 0.9), (20, 0.9), (20, 1.0), (1000, 1.0))  # (query_cut, heap_factor)


def folder_bytes(folder: Path, pattern: str = "*") -> int:
    return sum(p.stat().st_size for p in folder.rglob(pattern) if p.is_file())


def shards(folder: Path):
    """The index's CSR shards, in order."""
    from boltir.index.storage import iter_sparse_shards

    manifest = json.loads((folder / "manifest.json").read_text())
    return [m.tocsr().astype(np.float32) for m, _ in iter_sparse_shards(folder, manifest)]


def recall(found: list, truth: list) -> float:
    return float(np.mean([len(set(a) & set(b)) / max(len(b), 1) for a, b in zip(found, truth)]))


class Boltir:
    """boltir's SparseSearcher over the index folder, queries given as term weights (no model)."""

    def __init__(self, folder: Path, scipy_path: bool = False):
        from bench_search_scale import synthetic_searcher
        from boltir.index.sparse import SparseSearcher

        self.s = synthetic_searcher(SparseSearcher, folder, budget=None)
        if scipy_path:
            self.s._kernel = None

    def run(self, q, k: int, threads: int) -> list:
        self.s.threads = threads
        return [ids.tolist() for ids, _ in self.s.search_matrix(q, k)]


class Pisa:
    """PISA through pyterrier-pisa: documents and queries as {term: weight} dicts, quantised scorer, MaxScore."""

    def __init__(self, folder: Path, mats: list):
        from pyterrier_pisa import PisaIndex

        def docs():
            base = 0
            for m in mats:
                for i in range(m.shape[0]):
                    lo, hi = m.indptr[i], m.indptr[i + 1]
                    yield {"docno": str(base + i), "toks": dict(zip(m.indices[lo:hi].astype(str), m.data[lo:hi]))}
                base += m.shape[0]

        t0 = time.perf_counter()
        for _ in docs():  # the Python side of the feeding alone, to tell it from PISA's own work
            pass
        self.feed_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        self.index = PisaIndex(str(folder), stemmer="none", threads=1)
        self.index.toks_indexer().index(docs())
        self.build_seconds = time.perf_counter() - t0
        self.bytes = folder_bytes(folder)
        self.retrievers = {}

    def run(self, q, k: int, threads: int) -> list:
        import pandas as pd

        key = (k, threads)
        if key not in self.retrievers:
            self.retrievers[key] = self.index.quantized(num_results=k, threads=threads, query_algorithm="maxscore")
        frame = pd.DataFrame(
            {
                "qid": [str(i) for i in range(q.shape[0])],
                "query_toks": [
                    dict(
                        zip(q.indices[q.indptr[i] : q.indptr[i + 1]].astype(str), q.data[q.indptr[i] : q.indptr[i + 1]])
                    )
                    for i in range(q.shape[0])
                ],
            }
        )
        res = self.retrievers[key](frame)
        out = {str(i): [] for i in range(q.shape[0])}
        for qid, docno in zip(res["qid"], res["docno"]):
            out[qid].append(int(docno))
        return [out[str(i)] for i in range(q.shape[0])]


class Seismic:
    """Seismic (approximate) over the same weights, at its default build settings."""

    def __init__(self, folder: Path, mats: list):
        from seismic import SeismicDataset, SeismicIndex, get_seismic_string

        self.string = get_seismic_string()
        t0 = time.perf_counter()
        data = SeismicDataset()
        base = 0
        for m in mats:
            for i in range(m.shape[0]):
                lo, hi = m.indptr[i], m.indptr[i + 1]
                data.add_document(str(base + i), m.indices[lo:hi].astype(self.string), m.data[lo:hi].astype(np.float32))
            base += m.shape[0]
        self.index = SeismicIndex.build_from_dataset(data, num_threads=1)
        self.build_seconds = time.perf_counter() - t0
        folder.mkdir(parents=True, exist_ok=True)
        self.index.save(str(folder / "seismic"))
        self.bytes = folder_bytes(folder)

    def run(self, q, k: int, threads: int, cut: int, heap: float) -> list:
        n = q.shape[0]
        res = self.index.batch_search(
            np.array([str(i) for i in range(n)], dtype=self.string),
            [q.indices[q.indptr[i] : q.indptr[i + 1]].astype(self.string) for i in range(n)],
            [q.data[q.indptr[i] : q.indptr[i + 1]].astype(np.float32) for i in range(n)],
            k,
            cut,
            heap,
            num_threads=threads,
        )
        by_query = {r[0][0]: [int(d) for _, _, d in r] for r in res if r}  # results are not in query order
        return [by_query.get(str(i), []) for i in range(n)]


def timed(fn) -> tuple[float, list]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def compare(name: str, folder: Path, q, work: Path, build_seconds: float, with_seismic: bool) -> dict:
    """Every system on one collection: build, size, then q/s and recall per k and thread count."""
    mats = shards(folder)
    ours, scipy_path = Boltir(folder), Boltir(folder, scipy_path=True)
    pisa = Pisa(work / f"{name}-pisa", mats)
    seismic = Seismic(work / f"{name}-seismic", mats) if with_seismic else None
    del mats
    n = q.shape[0]
    result: dict = {
        "queries": n,
        "build_seconds": {
            "boltir_postings": build_seconds,
            "pisa": pisa.build_seconds,
            "pisa_python_feeding_alone": pisa.feed_seconds,
            **({"seismic": seismic.build_seconds} if seismic else {}),
        },
        "index_mb": {
            "boltir_postings": folder_bytes(folder, "postings-*.npy") / 2**20,
            "boltir_folder_with_shards": folder_bytes(folder) / 2**20,
            "pisa": pisa.bytes / 2**20,
            **({"seismic": seismic.bytes / 2**20} if seismic else {}),
        },
        "search": {},
    }
    result["build_seconds"]["boltir_faster_than_pisa"] = pisa.build_seconds / build_seconds
    ours.run(q[:2], 10, 1)  # compiles the kernel (cached on disk after the first run)
    for k in KS:
        for threads in THREADS:
            arms = {
                "boltir": lambda: ours.run(q, k, threads),
                "boltir_scipy": lambda: scipy_path.run(q, k, threads),
                "pisa": lambda: pisa.run(q, k, threads),
                **{
                    f"seismic_cut{c}_heap{h}": (lambda c=c, h=h: seismic.run(q, k, threads, c, h))
                    for c, h in (SEISMIC_SETTINGS if seismic else ())
                },
            }
            best = {a: float("inf") for a in arms}
            found: dict = {}
            for _ in range(PASSES):
                for a, fn in arms.items():
                    seconds, found[a] = timed(fn)
                    best[a] = min(best[a], seconds)
            truth = found["boltir_scipy"]
            row = {
                a: {
                    "qps": n / best[a],
                    "recall": recall(found[a], truth),
                    "vs_boltir": (n / best[a]) / (n / best["boltir"]),
                }
                for a in arms
            }
            row["boltir_identical_to_scipy"] = found["boltir"] == truth
            row["boltir_vs_pisa"] = row["boltir"]["qps"] / row["pisa"]["qps"]
            row["boltir_vs_scipy"] = row["boltir"]["qps"] / row["boltir_scipy"]["qps"]
            good = [v["qps"] for a, v in row.items() if a.startswith("seismic") and v["recall"] >= 0.99]
            if good:  # Seismic's fastest setting at recall >= 0.99 of exact
                row["boltir_vs_fastest_seismic_at_recall_0.99"] = row["boltir"]["qps"] / max(good)
            result["search"][f"k{k}_threads{threads}"] = row
            print(name, k, threads, {a: round(v["qps"], 1) for a, v in row.items() if isinstance(v, dict)}, flush=True)
    return result


def synthetic(work: Path, n: int, existing: str | None):
    from bench_index_memory import sparse
    from bench_search_scale import sparse_queries
    from boltir.index.sparse import write_postings

    folder = Path(existing) if existing else work / "synthetic"
    if not existing:
        sparse(n, folder)
    manifest = json.loads((folder / "manifest.json").read_text())  # synthetic: no model, so not read_manifest
    t0 = time.perf_counter()
    write_postings(folder, manifest, manifest["dim"])
    return folder, sparse_queries().astype(np.float32).tocsr(), time.perf_counter() - t0


def dl_pool(work: Path, index: str | None):
    import torch

    from boltir.data.sources import load_queries
    from boltir.index.open import open_searcher
    from boltir.index.sparse import write_postings
    from boltir.index.storage import read_manifest

    folder = Path(index) if index else work / "dl-pool"
    if not index:
        from boltir.cli import main as cli

        cli(
            [
                "index",
                "--model",
                "splade-tiny",
                "--docs",
                "data/msmarco-trecdl-pool/docs.jsonl.gz",
                "--output",
                str(folder),
            ]
        )
    searcher = open_searcher(folder)
    queries = {**load_queries("trec-dl-2019"), **load_queries("trec-dl-2020")}
    with torch.no_grad():
        q = searcher.encode_queries([queries[x] for x in sorted(queries)]).astype(np.float32).tocsr()
    manifest = read_manifest(folder)
    rebuilt = work / "dl-pool-postings"  # the postings build, timed on a scratch copy of the manifest's shards
    rebuilt.mkdir()
    (rebuilt / "shards").symlink_to(folder / "shards")
    t0 = time.perf_counter()
    write_postings(rebuilt, manifest, manifest["dim"])
    return folder, q, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--index", help="an existing splade-tiny index of the DL pool")
    ap.add_argument("--synthetic", help="an existing synthetic folder (bench_index_memory.py's, of --docs documents)")
    ap.add_argument("--only", choices=["synthetic", "dl_pool"])
    ap.add_argument("--output", default=str(Path(__file__).parent / "results" / "sparse-cpu.json"))
    a = ap.parse_args()
    from importlib.metadata import version

    result: dict = {
        "command": "python benchmarks/bench_sparse.py",
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "packages": {name: version(name) for name in ("numba", "pyterrier-pisa", "pyseismic-lsr")},
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if a.only in (None, "dl_pool"):
            folder, q, build = dl_pool(work, a.index)
            result["dl_pool"] = {"docs": 24884, **compare("dl_pool", folder, q, work, build, with_seismic=True)}
        if a.only in (None, "synthetic"):
            folder, q, build = synthetic(work, a.docs, a.synthetic)
            result["synthetic"] = {"docs": a.docs, **compare("synthetic", folder, q, work, build, with_seismic=False)}
    Path(a.output).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
