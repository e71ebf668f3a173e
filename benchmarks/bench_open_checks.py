"""What the content checks on open cost: a boltir dense index of 1M synthetic 64-d vectors (61 shards of 16,384,
FAISS Flat), opened and searched with one query, with the open-time checks (sizes, whole-file hashes of the small
files, sampled blocks of the large ones, the FAISS file a searcher reads whole) and with sizes only, in the same
run, interleaved, medians of 5.

  python benchmarks/bench_open_checks.py [--vectors 1000000]   -> results/open-checks.json

The vectors are synthetic (written through the writers ``boltir index`` uses); the model record is a real tiny
DPR model's (2 layers, 64-d projection), so opening loads and checks a model and a search encodes its query the
way ``boltir search`` does. Files are in the page cache after the first open (as on a server that searches often).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).parent / "results" / "open-checks.json"
SHARD, DIM = 16384, 64


def tiny_model(folder: Path):
    import torch
    from transformers import BertConfig, BertModel

    from boltir.models.loading import load_bi_encoder
    from boltir.models.sources import load_tokenizer, resolve_model

    torch.manual_seed(0)
    cfg = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    BertModel(cfg).save_pretrained(folder / "backbone")
    load_tokenizer(resolve_model("minilm-l6")).save_pretrained(folder / "backbone")
    model, tok = load_bi_encoder(str(folder / "backbone"), projection_dim=DIM, similarity="dot")
    model.save_pretrained(folder / "model")
    tok.save_pretrained(folder / "model")
    return load_bi_encoder(str(folder / "model"))


def build(n: int, folder: Path, model, tok) -> dict:
    import numpy as np

    from boltir.index.build import model_record
    from boltir.index.dense import DenseKind
    from boltir.index.integrity import index_files
    from boltir.index.kinds import Generation
    from boltir.index.storage import ShardedVectorWriter
    from boltir.utils.provenance import provenance

    record = model_record(model, str(folder.parent / "model"), tok)
    writer = ShardedVectorWriter(folder, {"kind": "dense", "synthetic": n})
    rng = np.random.default_rng(0)
    for start in range(0, n, SHARD):
        m = min(SHARD, n - start)
        writer.add_shard(rng.standard_normal((m, DIM), dtype=np.float32), [f"d{start + i}" for i in range(m)])
    impl = DenseKind()
    fields = impl.write_derived(Generation(folder, writer.shards, 0, len(tok)), record, dict(impl.options))
    files = index_files(folder, writer.shards, list(impl.derived_files))
    manifest = {"kind": "dense", **fields, "model": record, "docs": {"synthetic": n}, "build": {}}
    return writer.finish({**manifest, "provenance": provenance(), "files": files})


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--vectors", type=int, default=1_000_000)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()

    from boltir.index import integrity
    from boltir.index import open as index_open
    from boltir.index.open import open_searcher

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model, tok = tiny_model(folder)
        t0 = time.perf_counter()
        manifest = build(a.vectors, folder / "idx", model, tok)
        build_s = time.perf_counter() - t0
        files = manifest["files"]
        small = sum(1 for r in files.values() if r["bytes"] <= integrity.SMALL_FILE)
        real_checks = index_open.check_contents

        def sizes_only(*args, **kwargs) -> None:
            return None

        def before(folder, manifest, whole) -> None:  # what opening checked before: sizes, read-whole files
            from boltir.utils.provenance import file_fingerprint

            for rel in whole:
                if rel in files and file_fingerprint(folder / rel) != files[rel]["checksum"]:
                    raise AssertionError(rel)

        variants = {"checks": real_checks, "before": before, "sizes_only": sizes_only}

        def open_and_search(variant: str) -> tuple[float, float]:
            index_open.check_contents = variants[variant]
            t = time.perf_counter()
            searcher = open_searcher(folder / "idx", loaded=(model, tok))
            opened = time.perf_counter()
            searcher.search({"q": "what is the boiling point of water"}, k=10)
            return opened - t, time.perf_counter() - t

        open_and_search("checks")  # warm the page cache and the model
        times: dict[str, list[tuple[float, float]]] = {v: [] for v in variants}
        for _ in range(a.repeats):
            for variant in variants:
                times[variant].append(open_and_search(variant))
        index_open.check_contents = real_checks

    def med(variant: str, i: int) -> float:
        return statistics.median(t[i] for t in times[variant])

    result = {
        "vectors": a.vectors,
        "dim": DIM,
        "files": len(files),
        "files_hashed_whole": small + 1,  # the small ones and the FAISS file, which a searcher reads whole
        "files_sampled": len(files) - small - 1,
        "index_mb": round(sum(r["bytes"] for r in files.values()) / 2**20, 1),
        "build_seconds": round(build_s, 1),
        "open_ms": {v: round(1000 * med(v, 0), 1) for v in variants},
        "open_and_one_query_ms": {v: round(1000 * med(v, 1), 1) for v in variants},
        "ratio_checks_vs_before": round(med("checks", 1) / med("before", 1), 3),
        "ratio_checks_vs_sizes_only": round(med("checks", 1) / med("sizes_only", 1), 3),
        "note": "checks: this version (sizes, small files whole, large files sampled, the FAISS file whole); before: "
        "what opening checked until now (sizes, the FAISS file whole); sizes_only: no content check at all",
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
