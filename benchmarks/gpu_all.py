"""Every GPU measurement in one run (under 8 minutes on one GPU), into one JSON; not part of the test suite.

  python benchmarks/gpu_all.py [--output benchmarks/results/gpu-all.json] [--device cuda]

1. attention (bench_attention.py on CUDA in bf16, with the fp32 agreement checks first): sparse windowed vs full
   attention by document length, Set-Encoder vs mono on 100 passages;
2. indexing throughput: boltir's ``build_index`` (length-sorted batches; and batches sized by tokens) against a
   plain transformers forward loop over the same 4,096 passages, MiniLM-L6, fp32 and bf16 autocast;
3. re-ranking throughput: a mono cross-encoder over the DL19 BM25 top-100 (4,300 pairs), batch 32 vs
   ``--batch-tokens``;
4. FAISS on GPU (when ``faiss`` was built with GPU support): exact search of 1M 64-d vectors, GPU vs CPU.

Each part is timed against its baseline in the same run; a part that cannot run (no GPU FAISS) says why in the
JSON. ``--device cpu --quick`` runs a small version on CPU (a dry run that checks the script works).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def attention(device: str, out: Path, quick: bool = False) -> dict:
    args = [sys.executable, str(HERE / "bench_attention.py"), "--device", device, "--output", str(out)]
    if quick:
        args += ["--lengths", "128", "--set-variants", "mono", "set"]
    if device == "cuda":
        args += ["--dtype", "bf16", "--check"]
    subprocess.run(args, check=True, capture_output=True, text=True, timeout=600)
    return json.loads(out.read_text())


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def indexing(device: str, n: int = 4096) -> dict:
    import tempfile

    import torch
    from transformers import AutoModel, AutoTokenizer

    from boltir.data.sources import load_docs
    from boltir.index.build import build_index
    from boltir.models.loading import load_module
    from boltir.models.sources import resolve_model

    docs = [d for _, d in zip(range(n), load_docs("trec-dl-2019"))]
    texts = [d.text for d in docs]
    path = resolve_model("minilm-l6")
    tok, plain = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).to(device).eval()
    out: dict = {"passages": n}
    for precision in ("fp32", "bf16"):
        autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=precision == "bf16")
        with autocast, torch.inference_mode():
            _sync(device)
            t0 = time.perf_counter()
            for i in range(0, n, 32):
                enc = tok(texts[i : i + 32], padding=True, truncation=True, max_length=256, return_tensors="pt")
                plain(**{k: v.to(device) for k, v in enc.items()})
            _sync(device)
            base = time.perf_counter() - t0
        model, mtok = load_module("minilm-l6")
        model.to(device)
        row = {"plain_loop_passages_per_s": round(n / base, 1)}
        with tempfile.TemporaryDirectory() as wd:
            corpus = Path(wd) / "docs.jsonl"
            corpus.write_text("".join(json.dumps({"doc_id": d.doc_id, "text": d.text}) + "\n" for d in docs))
            for name, extra in (("boltir", {}), ("boltir_batch_tokens", {"batch_tokens": 32 * 256})):
                with autocast:
                    _sync(device)
                    t0 = time.perf_counter()
                    build_index(
                        model,
                        mtok,
                        str(corpus),
                        Path(wd) / name,
                        model_source="minilm-l6",
                        show_progress=False,
                        **extra,
                    )
                    _sync(device)
                seconds = time.perf_counter() - t0
                row[f"{name}_passages_per_s"] = round(n / seconds, 1)
                row[f"{name}_vs_plain"] = round(base / seconds, 2)
        out[precision] = row
    return out


def reranking(device: str, depth: int = 100) -> dict:
    from boltir.data.runs import candidate_ids, read_run
    from boltir.data.sources import doc_texts, load_queries
    from boltir.models.loading import load_module
    from boltir.models.scoring import RerankJob, rerank_pairs

    run = read_run("trec-dl-2019:bm25")
    queries = load_queries("trec-dl-2019")
    docs = doc_texts("trec-dl-2019", candidate_ids(run, depth))
    model, tok = load_module("minilm-l6", family="mono")
    model.to(device)
    out: dict = {}
    for name, settings in (("batch_32", {"batch_size": 32}), ("batch_tokens_8192", {"batch_tokens": 8192})):
        job = RerankJob.from_run(model, tok, run, queries, docs, depth, show_progress=False, **settings)
        rerank_pairs(job)  # warm-up
        _sync(device)
        t0 = time.perf_counter()
        rerank_pairs(job)
        _sync(device)
        out[name] = {"pairs_per_s": round(sum(len(v) for v in job.lists.values()) / (time.perf_counter() - t0), 1)}
    return out


def faiss_gpu() -> dict:
    import faiss
    import numpy as np

    if not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() == 0:
        return {"skipped": "faiss has no GPU support here (faiss-cpu); install faiss-gpu to measure it"}
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1_000_000, 64), dtype=np.float32)
    q = rng.standard_normal((1000, 64), dtype=np.float32)
    cpu = faiss.IndexFlatIP(64)
    cpu.add(x)
    gpu = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, cpu)
    times = {}
    for name, index in (("cpu", cpu), ("gpu", gpu)):
        index.search(q[:10], 100)
        t0 = time.perf_counter()
        _, ids = index.search(q, 100)
        times[name] = time.perf_counter() - t0
    return {
        "queries": 1000,
        "cpu_qps": round(1000 / times["cpu"], 1),
        "gpu_qps": round(1000 / times["gpu"], 1),
        "speedup": round(times["cpu"] / times["gpu"], 1),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--output", default=str(HERE / "results" / "gpu-all.json"))
    p.add_argument("--device", default="cuda")
    p.add_argument("--quick", action="store_true", help="a small dry run (e.g. on CPU)")
    a = p.parse_args()
    import torch

    started = time.perf_counter()
    result: dict = {"device": torch.cuda.get_device_name(0) if a.device == "cuda" else "cpu"}
    result["attention"] = attention(a.device, Path(a.output).with_name("gpu-all.attention.json"), a.quick)
    result["indexing"] = indexing(a.device, 256 if a.quick else 4096)
    result["reranking"] = reranking(a.device, 5 if a.quick else 100)
    result["faiss"] = faiss_gpu()
    result["seconds"] = round(time.perf_counter() - started, 1)
    Path(a.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
