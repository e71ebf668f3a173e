"""Multi-vector search against fast-plaid (the Rust engine under PyLate), same token embeddings, same machine, one run.

  python benchmarks/bench_multivector.py --fast-plaid-python PYTHON [--docs 16384]   -> results/multivector-cpu.json

fast-plaid pins its own torch (2.11), so it runs in another virtualenv (``python -m venv fp && fp/bin/pip install
fast-plaid``), in a process of its own that times its build and each search pass. Data: ``--docs`` synthetic
documents of 16-48 clustered 128-d tokens (bench_search_scale.py's generator), 40 queries of 32 tokens, k = 100.
Measured on CPU, each side with its default threads on this machine (boltir's searcher ``threads=1`` with BLAS and
FAISS at their defaults; fast-plaid's torch and Rust at theirs):
- build seconds from the token arrays and index bytes: boltir at its default (full-precision tokens), boltir with
  ``nbits=4`` residuals (its searchable files, and the whole folder with the token shards it keeps), boltir with
  ``nbits=4`` and ``nbits=8`` and ``keep_vectors=False`` (the folder holds only what search reads), fast-plaid at
  its default (``nbits=4``);
- queries/s and recall@100 against exhaustive exact MaxSim (boltir, every centroid probed, every document
  scored on its full-precision tokens), at a few settings per system.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

K, QUERIES, Q_TOKENS = 100, 40, 32
BOLTIR_SETTINGS = {"nprobe4_cand1024": (4, 1024), "nprobe8_cand4096": (8, 4096), "nprobe4_all_probed": (4, None)}
FAST_PLAID_SETTINGS = {"probe8_full4096": (8, 4096), "probe32_full8192": (32, 8192)}

FAST_PLAID = r"""
import json, os, sys, time
import numpy as np, torch
from fast_plaid import search
folder, data = sys.argv[1], np.load(sys.argv[2])
tokens, offsets, queries = data["tokens"], data["offsets"], data["queries"]
docs = [torch.from_numpy(tokens[offsets[i]:offsets[i + 1]]) for i in range(len(offsets) - 1)]
t0 = time.perf_counter()
index = search.FastPlaid(index=folder, device="cpu")
index.create(documents_embeddings=docs)
build = time.perf_counter() - t0
size = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(folder) for f in fs)
out = {"build_seconds": build, "index_bytes": size, "torch": torch.__version__, "search": {}}
q = torch.from_numpy(queries)
for name, (probe, full) in json.loads(sys.argv[3]).items():
    setting = dict(top_k=100, n_ivf_probe=probe, n_full_scores=full, show_progress=False)
    index.search(queries_embeddings=q[:2], **setting)
    best, found = float("inf"), None
    for _ in range(2):
        t0 = time.perf_counter()
        found = index.search(queries_embeddings=q, **setting)
        best = min(best, time.perf_counter() - t0)
    out["search"][name] = {"seconds": best, "ids": [[int(d) for d, _ in r] for r in found]}
print(json.dumps(out))
"""


def folder_bytes(folder: Path, pattern: str = "*") -> int:
    return sum(p.stat().st_size for p in folder.rglob(pattern) if p.is_file())


def make_data(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from bench_search_scale import mv_centres, mv_draw

    rng, centres = np.random.default_rng(0), mv_centres()
    offsets = np.r_[0, np.cumsum(rng.integers(16, 49, n))]
    tokens = mv_draw(rng, centres, int(offsets[-1]))
    qrng = np.random.default_rng(1)
    queries = np.stack([mv_draw(qrng, centres, Q_TOKENS) for _ in range(QUERIES)])
    return tokens, offsets, queries


def build_boltir(folder: Path, tokens, offsets, nbits: int | None, keep_vectors: bool = True) -> float:
    from bench_search_scale import MV_DIM, MV_SHARD
    from boltir.index.kinds import Generation
    from boltir.index.multivector import MultiVectorKind
    from boltir.index.storage import ShardedVectorWriter

    t0 = time.perf_counter()
    writer = ShardedVectorWriter(folder, {"kind": "multivector", "synthetic": len(offsets) - 1})
    for start in range(0, len(offsets) - 1, MV_SHARD):
        stop = min(start + MV_SHARD, len(offsets) - 1)
        local = offsets[start : stop + 1] - offsets[start]
        writer.add_multivector_shard(
            tokens[offsets[start] : offsets[stop]], local, [f"d{i}" for i in range(start, stop)]
        )
    kind = MultiVectorKind()
    options = {**kind.options, "nbits": nbits, "keep_vectors": keep_vectors}
    derived = kind.write_derived(Generation(folder, writer.shards, 0, 0), {"embedding_dim": MV_DIM}, options)
    kind.published(folder, writer.finish({"kind": "multivector", **derived}))
    return time.perf_counter() - t0


def boltir_searcher(folder: Path):
    from bench_search_scale import synthetic_searcher
    from boltir.index.multivector import MultiVectorSearcher

    return synthetic_searcher(MultiVectorSearcher, folder, nprobe=4, ncandidates=1024)


def recall(found: list, truth: list) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, truth)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=16384)
    ap.add_argument("--fast-plaid-python", required=True)
    ap.add_argument("--output", default=str(Path(__file__).parent / "results" / "multivector-cpu.json"))
    a = ap.parse_args()
    tokens, offsets, queries = make_data(a.docs)
    result: dict = {
        "command": "python benchmarks/bench_multivector.py --fast-plaid-python PYTHON",
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "docs": a.docs,
        "tokens": int(offsets[-1]),
        "queries": QUERIES,
        "k": K,
        "threads": "each side's defaults",
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        np.savez(work / "data.npz", tokens=tokens, offsets=offsets, queries=queries)
        builds = {
            "boltir": build_boltir(work / "boltir", tokens, offsets, None),
            "boltir_nbits4": build_boltir(work / "boltir4", tokens, offsets, 4),
            "boltir_nbits4_compact": build_boltir(work / "boltir4c", tokens, offsets, 4, keep_vectors=False),
            "boltir_nbits8_compact": build_boltir(work / "boltir8c", tokens, offsets, 8, keep_vectors=False),
        }
        res = subprocess.run(
            [
                a.fast_plaid_python,
                "-c",
                FAST_PLAID,
                str(work / "fp"),
                str(work / "data.npz"),
                json.dumps(FAST_PLAID_SETTINGS),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        fp = json.loads(res.stdout.strip().splitlines()[-1])
        full = boltir_searcher(work / "boltir")
        every = full.centroids.shape[0]
        truth = [full.search_tokens(q, K, every, None)[0].tolist() for q in queries]
        search: dict = {}
        searched = {
            "boltir": work / "boltir",
            "boltir_nbits4": work / "boltir4",
            "boltir_nbits4_compact": work / "boltir4c",
            "boltir_nbits8_compact": work / "boltir8c",
        }
        for label, folder in searched.items():
            s = boltir_searcher(folder)
            for name, (nprobe, ncand) in BOLTIR_SETTINGS.items():
                s.search_tokens(queries[0], K, nprobe, ncand)  # warm-up (pages the token files in)
                best, found = float("inf"), []
                for _ in range(2):
                    t0 = time.perf_counter()
                    found = [s.search_tokens(q, K, nprobe, ncand)[0].tolist() for q in queries]
                    best = min(best, time.perf_counter() - t0)
                search[f"{label}_{name}"] = {"qps": QUERIES / best, "recall@100": recall(found, truth)}
        for name, r in fp["search"].items():
            search[f"fast_plaid_{name}"] = {"qps": QUERIES / r["seconds"], "recall@100": recall(r["ids"], truth)}
        result["build_seconds"] = {**builds, "fast_plaid": fp["build_seconds"]}
        result["index_mb"] = {
            "boltir_folder": folder_bytes(work / "boltir") / 2**20,
            "boltir_nbits4_folder": folder_bytes(work / "boltir4") / 2**20,
            "boltir_nbits4_without_token_shards": (
                folder_bytes(work / "boltir4") - folder_bytes(work / "boltir4" / "shards", "tokens-*")
            )
            / 2**20,
            "boltir_nbits4_compact_folder": folder_bytes(work / "boltir4c") / 2**20,
            "boltir_nbits8_compact_folder": folder_bytes(work / "boltir8c") / 2**20,
            "fast_plaid": fp["index_bytes"] / 2**20,
        }
        result["index_size_over_fast_plaid"] = {
            name: mb / result["index_mb"]["fast_plaid"]
            for name, mb in result["index_mb"].items()
            if name != "fast_plaid"
        }
        result["fast_plaid_torch"] = fp["torch"]
        result["search"] = search
    Path(a.output).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
