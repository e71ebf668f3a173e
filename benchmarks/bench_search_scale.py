"""Dense search past one machine's RAM, on 1M synthetic vectors: build peak memory, search QPS and recall@100 of
IVF in memory, IVF with its inverted lists merged on disk from per-rank parts and memory-mapped (as
``faiss.contrib.ondisk`` does), per-rank Flat parts searched together (``faiss.IndexShards``), and a memory-mapped
Flat index, each against exact Flat, measured in one run.

  python benchmarks/bench_search_scale.py [--vectors 1000000] [--output benchmarks/results/search-scale.json]

The vectors are clustered like embeddings (2,000 centres + noise, unit length, 64-d) so that IVF's recall means
something (the noise makes neighbouring clusters overlap, so IVF misses some neighbours); 200 queries from the
same distribution, k = 100. Each case runs in its own process: its peak RSS
(ru_maxrss, which counts the memory-mapped pages it touched) is its own. "Parts" stand for the shards 4 ranks
would write (``boltir index --devices 4``): they are combined without re-encoding.

``--sparse`` adds 1M synthetic sparse documents (exact and pruned search, one part against two searched by two
threads); ``--multivector DOCS`` adds a synthetic multi-vector index (16-48 clustered 128-d tokens per document,
16,384-document shards, PLAID-style centroids) searched with one thread against one per core (the shards' exact
MaxSim at once), recall@100 against exhaustive MaxSim. Both add their part to the same JSON.
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

DIM, CENTRES, QUERIES, K, PARTS, NLIST, NPROBE = 64, 2000, 200, 100, 4, 1024, 16
SPARSE_TERMS, BUDGETS = 16, (1000, 10_000)
MV_DIM, MV_SHARD, MV_QUERY_TOKENS, MV_CENTRES, MV_QUERIES = 128, 16384, 32, 4096, 40


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_data(n: int, folder: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((CENTRES, DIM), dtype=np.float32)

    def draw(m: int) -> np.ndarray:
        x = centres[rng.integers(0, CENTRES, m)] + 0.8 * rng.standard_normal((m, DIM), dtype=np.float32)
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    np.save(folder / "vectors.npy", np.concatenate([draw(min(100_000, n - s)) for s in range(0, n, 100_000)]))
    np.save(folder / "queries.npy", draw(QUERIES))


def case_make(folder: Path, n: int) -> dict:
    make_data(n, folder)
    return {"made": n}


def timed_search(index, queries) -> tuple[float, object]:
    index.search(queries[:10], K)  # warm-up
    t0 = time.perf_counter()
    _, ids = index.search(queries, K)
    return QUERIES / (time.perf_counter() - t0), ids


def recall(ids, folder: Path) -> float:
    import numpy as np

    truth = np.load(folder / "truth.npy")
    return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(ids, truth)]))


def case_flat(folder: Path) -> dict:
    import faiss
    import numpy as np

    v = np.load(folder / "vectors.npy", mmap_mode="r")
    index = faiss.IndexFlatIP(DIM)
    for s in range(0, len(v), 100_000):
        index.add(np.ascontiguousarray(v[s : s + 100_000]))
    build_peak = rss_mb()
    faiss.write_index(index, str(folder / "flat.index"))
    qps, ids = timed_search(index, np.load(folder / "queries.npy"))
    np.save(folder / "truth.npy", ids)
    return {"build_peak_rss_mb": build_peak, "qps": qps, "recall@100": 1.0}


def case_flat_mmap(folder: Path) -> dict:
    import faiss
    import numpy as np

    index = faiss.read_index(str(folder / "flat.index"), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    qps, ids = timed_search(index, np.load(folder / "queries.npy"))
    return {"search_peak_rss_mb": rss_mb(), "qps": qps, "recall@100": recall(ids, folder)}


def _trained(folder: Path):
    import faiss
    import numpy as np

    path = folder / "trained.index"
    if path.exists():
        return faiss.read_index(str(path))
    v = np.load(folder / "vectors.npy", mmap_mode="r")
    sample = np.ascontiguousarray(v[np.random.default_rng(1).choice(len(v), 50_000, replace=False)])
    index = faiss.index_factory(DIM, f"IVF{NLIST},Flat", faiss.METRIC_INNER_PRODUCT)
    index.train(sample)
    faiss.write_index(index, str(path))
    return index


def case_ivf(folder: Path) -> dict:
    import faiss
    import numpy as np

    index = _trained(folder)
    v = np.load(folder / "vectors.npy", mmap_mode="r")
    for s in range(0, len(v), 100_000):
        index.add(np.ascontiguousarray(v[s : s + 100_000]))
    build_peak = rss_mb()
    faiss.extract_index_ivf(index).nprobe = NPROBE
    qps, ids = timed_search(index, np.load(folder / "queries.npy"))
    return {"build_peak_rss_mb": build_peak, "nprobe": NPROBE, "qps": qps, "recall@100": recall(ids, folder)}


def case_ivf_part(folder: Path, part: int) -> dict:
    import faiss
    import numpy as np

    index = _trained(folder)
    v = np.load(folder / "vectors.npy", mmap_mode="r")
    size = len(v) // PARTS
    start, end = part * size, (part + 1) * size if part < PARTS - 1 else len(v)
    index.add_with_ids(np.ascontiguousarray(v[start:end]), np.arange(start, end, dtype=np.int64))
    faiss.write_index(index, str(folder / f"ivf-part{part}.index"))
    return {"part": part, "build_peak_rss_mb": rss_mb()}


def case_ivf_ondisk(folder: Path) -> dict:
    import faiss
    import numpy as np
    from faiss.contrib.ondisk import merge_ondisk

    t0 = time.perf_counter()
    index = _trained(folder)
    merge_ondisk(index, [str(folder / f"ivf-part{p}.index") for p in range(PARTS)], str(folder / "merged.ivfdata"))
    faiss.write_index(index, str(folder / "ondisk.index"))
    merge = {"merge_seconds": time.perf_counter() - t0, "merge_peak_rss_mb": rss_mb()}
    del index
    # the inverted lists stay in merged.ivfdata (memory-mapped), found beside the index file
    mapped = faiss.read_index(str(folder / "ondisk.index"), faiss.IO_FLAG_ONDISK_SAME_DIR)
    faiss.extract_index_ivf(mapped).nprobe = NPROBE
    qps, ids = timed_search(mapped, np.load(folder / "queries.npy"))
    return {**merge, "nprobe": NPROBE, "qps": qps, "recall@100": recall(ids, folder)}


def case_sharded(folder: Path) -> dict:
    import faiss
    import numpy as np

    v = np.load(folder / "vectors.npy", mmap_mode="r")
    size = len(v) // PARTS
    shards = faiss.IndexShards(DIM, True, True)  # threaded, ids are successive
    parts = []
    for p in range(PARTS):
        part = faiss.IndexFlatIP(DIM)
        part.add(np.ascontiguousarray(v[p * size : (p + 1) * size if p < PARTS - 1 else len(v)]))
        parts.append(part)
        shards.add_shard(part)
    qps, ids = timed_search(shards, np.load(folder / "queries.npy"))
    return {"parts": PARTS, "search_peak_rss_mb": rss_mb(), "qps": qps, "recall@100": recall(ids, folder)}


def synthetic_searcher(cls, folder: Path, threads: int = 1, **attributes):
    """A searcher of class ``cls`` opened on a synthetic index folder (no model, so no query encoder and no model
    record for ``read_manifest``): its own search code, fed query vectors directly."""
    import numpy as np

    searcher = cls.__new__(cls)
    searcher.index_dir, searcher.threads, searcher._pool = Path(folder), threads, None
    searcher.manifest = json.loads((Path(folder) / "manifest.json").read_text())
    searcher.deleted = np.zeros(searcher.manifest["count"], dtype=bool)
    for name, value in attributes.items():
        setattr(searcher, name, value)
    searcher.open()
    return searcher


def case_sparse_build(folder: Path, n: int) -> dict:
    """1M synthetic sparse documents through the writers ``boltir index`` uses (see bench_index_memory.py)."""
    from bench_index_memory import sparse

    return sparse(n, folder / "sparse")


def sparse_queries(vocab: int = 30522):
    """Query term weights (CSR): 16 distinct terms each, drawn with the documents' Zipf-like term frequencies but
    never among the 50 most frequent terms (a learned-sparse query puts little weight on stopword-like terms)."""
    import numpy as np
    import scipy.sparse as sp

    rng = np.random.default_rng(1)
    w = 1.0 / np.arange(1, vocab + 1) ** 0.8
    w[:50] = 0
    cols = np.stack([rng.choice(vocab, SPARSE_TERMS, replace=False, p=w / w.sum()) for _ in range(QUERIES)])
    data = rng.random(cols.size, dtype=np.float32) * 2 + 0.1
    return sp.csr_matrix((data, cols.ravel(), np.arange(0, cols.size + 1, SPARSE_TERMS)), shape=(QUERIES, vocab))


def case_sparse_search(folder: Path) -> dict:
    """boltir's SparseSearcher over the synthetic index (no model: queries are term weights): exact search and
    pruned search at each budget, recall@100 against exact; each with the documents in one part and split in
    two parts searched by two threads."""
    import numpy as np

    from boltir.index.sparse import SparseSearcher

    queries, out, truth = sparse_queries(), {}, None
    for threads in (1, 2):
        searcher = synthetic_searcher(SparseSearcher, folder / "sparse", threads, budget=None)
        for budget in (None, *BUDGETS):
            searcher.search_matrix(queries[:4], K, budget)  # warm-up (builds a pruned matrix once)
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                found = [
                    ids
                    for start in range(0, QUERIES, 32)
                    for ids, _ in searcher.search_matrix(queries[start : start + 32], K, budget)
                ]
                best = min(best, time.perf_counter() - t0)
            if truth is None:
                truth = found
            hit = np.mean([len(set(a.tolist()) & set(b.tolist())) / max(len(b), 1) for a, b in zip(found, truth)])
            name = ("exact" if budget is None else f"budget_{budget}") + ("" if threads == 1 else "_2_threads")
            out[name] = {"qps": QUERIES / best, "recall@100": float(hit)}
        searcher._parts.clear()
    return {**out, "search_peak_rss_mb": rss_mb()}


def mv_draw(rng, centres, n: int):
    """``n`` unit-length token embeddings around randomly chosen centres (noise overlaps neighbouring centres)."""
    import numpy as np

    t = centres[rng.integers(0, len(centres), n)] + 0.08 * rng.standard_normal((n, MV_DIM), dtype=np.float32)
    return t / np.linalg.norm(t, axis=1, keepdims=True)


def mv_centres():
    import numpy as np

    c = np.random.default_rng(7).standard_normal((MV_CENTRES, MV_DIM), dtype=np.float32)
    return c / np.linalg.norm(c, axis=1, keepdims=True)


def case_multivector_build(folder: Path, n: int) -> dict:
    """Synthetic multi-vector documents (16-48 tokens each, 128-d, clustered) in 16,384-document shards through the
    writers ``boltir index`` uses, then the PLAID-style centroids (``MultiVectorKind.write_derived``)."""
    import numpy as np

    from boltir.index.kinds import Generation
    from boltir.index.multivector import MultiVectorKind
    from boltir.index.storage import ShardedVectorWriter

    t0 = time.perf_counter()
    out = folder / "multivector"
    writer = ShardedVectorWriter(out, {"kind": "multivector", "synthetic": n})
    rng, centres = np.random.default_rng(0), mv_centres()
    for start in range(0, n, MV_SHARD):
        m = min(MV_SHARD, n - start)
        offsets = np.r_[0, np.cumsum(rng.integers(16, 49, m))]
        writer.add_multivector_shard(
            mv_draw(rng, centres, int(offsets[-1])), offsets, [f"d{start + i}" for i in range(m)]
        )
    kind = MultiVectorKind()
    derived = kind.write_derived(Generation(out, writer.shards, 0, 0), {"embedding_dim": MV_DIM}, dict(kind.options))
    manifest = writer.finish({"kind": "multivector", **derived})
    return {
        "seconds": time.perf_counter() - t0,
        "peak_rss_mb": rss_mb(),
        "shards": len(manifest["shards"]),
        "tokens": derived["centroids"]["tokens"],
        "num_centroids": derived["centroids"]["num_centroids"],
    }


def case_multivector_search(folder: Path) -> dict:
    """boltir's MultiVectorSearcher over the synthetic index (no model: queries are token embeddings), one thread
    against one per core, at the default candidate cut (1,024 by centroid interaction) and with every probed
    document scored exactly; recall@100 against exhaustive MaxSim."""
    import numpy as np

    from boltir.index.multivector import MultiVectorSearcher

    rng = np.random.default_rng(1)
    queries = [mv_draw(rng, mv_centres(), MV_QUERY_TOKENS) for _ in range(MV_QUERIES)]
    settings = {"ncandidates_1024": (4, 1024), "probed_all_exact": (4, None)}
    out: dict = {}
    truth = None
    for threads in (1, os.cpu_count() or 1):
        searcher = synthetic_searcher(MultiVectorSearcher, folder / "multivector", threads, nprobe=4, ncandidates=1024)
        if truth is None:  # exhaustive: every centroid probed, every document scored exactly
            every = searcher.centroids.shape[0]
            truth = [searcher.search_tokens(q, K, every, None)[0] for q in queries]
        for name, (nprobe, ncand) in settings.items():
            searcher.search_tokens(queries[0], K, nprobe, ncand)  # warm-up (pages the token files in)
            best, found = float("inf"), []
            for _ in range(2):
                t0 = time.perf_counter()
                found = [searcher.search_tokens(q, K, nprobe, ncand)[0] for q in queries]
                best = min(best, time.perf_counter() - t0)
            hit = np.mean([len(set(a.tolist()) & set(b.tolist())) / len(b) for a, b in zip(found, truth)])
            out[f"{name}_{threads}_threads"] = {"qps": MV_QUERIES / best, "recall@100": float(hit)}
    return {**out, "search_peak_rss_mb": rss_mb()}


def run_case(name: str, folder: Path, *extra: str) -> dict:
    cmd = [sys.executable, __file__, "--case", name, "--workdir", str(folder), *extra]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--vectors", type=int, default=1_000_000)
    p.add_argument("--output", default=str(Path(__file__).parent / "results" / "search-scale.json"))
    p.add_argument("--case")
    p.add_argument("--workdir")
    p.add_argument("--part", type=int, default=0)
    p.add_argument("--sparse", action="store_true", help="the sparse half: 1M synthetic sparse documents")
    p.add_argument("--multivector", type=int, metavar="DOCS", help="the multi-vector part: DOCS synthetic documents")
    a = p.parse_args()
    if a.case:
        folder = Path(a.workdir)
        fn = globals()[f"case_{a.case}"]
        if a.case in ("ivf_part", "make", "sparse_build", "multivector_build"):
            print(json.dumps(fn(folder, a.part if a.case == "ivf_part" else a.vectors)))
        else:
            print(json.dumps(fn(folder)))
        return
    if a.multivector:  # the multi-vector part, added to the JSON the dense half wrote
        result = json.loads(Path(a.output).read_text()) if Path(a.output).exists() else {}
        with tempfile.TemporaryDirectory() as wd:
            build = run_case("multivector_build", Path(wd), "--vectors", str(a.multivector))
            search = run_case("multivector_search", Path(wd))
        for name in [n for n in search if n.endswith("_1_threads")]:
            for other in [n for n in search if n.startswith(name[: -len("1_threads")]) and n != name]:
                search[other]["qps_vs_1_thread"] = round(search[other]["qps"] / search[name]["qps"], 2)
        result["multivector"] = {
            "docs": a.multivector,
            "dim": MV_DIM,
            "query_tokens": MV_QUERY_TOKENS,
            "queries": MV_QUERIES,
            "k": K,
            "nprobe": 4,
            "command": f"python benchmarks/bench_search_scale.py --multivector {a.multivector}",
            "build": build,
            "search": search,
        }
        Path(a.output).write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result["multivector"], indent=2))
        return
    if a.sparse:  # the sparse half, added to the JSON the dense half wrote
        result = json.loads(Path(a.output).read_text()) if Path(a.output).exists() else {}
        with tempfile.TemporaryDirectory() as wd:
            build = run_case("sparse_build", Path(wd), "--vectors", str(a.vectors))
            search = run_case("sparse_search", Path(wd))
        exact = search["exact"]["qps"]
        for name in search:
            if isinstance(search[name], dict):
                search[name]["qps_vs_exact"] = round(search[name]["qps"] / exact, 2)
        result["sparse"] = {
            "docs": a.vectors,
            "query_terms": SPARSE_TERMS,
            "queries": QUERIES,
            "k": K,
            "command": "python benchmarks/bench_search_scale.py --sparse",
            "build": {k: build[k] for k in ("seconds", "peak_rss_mb", "searchable_structure_mb", "postings")},
            "search": search,
        }
        Path(a.output).write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result["sparse"], indent=2))
        return
    with tempfile.TemporaryDirectory() as wd:
        folder = Path(wd)
        # every case in a process of its own, this one included: a child's ru_maxrss starts at its parent's peak
        run_case("make", folder, "--vectors", str(a.vectors))
        result: dict = {
            "vectors": a.vectors,
            "dim": DIM,
            "queries": QUERIES,
            "k": K,
            "cpu_count": os.cpu_count(),
            "vectors_mb": (folder / "vectors.npy").stat().st_size / 2**20,
            "command": "python benchmarks/bench_search_scale.py",
        }
        cases = {"flat_exact": run_case("flat", folder)}
        cases["flat_memory_mapped"] = run_case("flat_mmap", folder)
        cases["ivf_in_memory"] = run_case("ivf", folder)
        parts = [run_case("ivf_part", folder, "--part", str(i)) for i in range(PARTS)]
        cases["ivf_on_disk_from_parts"] = {
            **run_case("ivf_ondisk", folder),
            "part_build_peak_rss_mb": max(x["build_peak_rss_mb"] for x in parts),
        }
        cases["flat_parts_index_shards"] = run_case("sharded", folder)
        exact = cases["flat_exact"]["qps"]
        for c in cases.values():
            c["qps_vs_exact"] = round(c["qps"] / exact, 2)
        result["cases"] = cases
    Path(a.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
