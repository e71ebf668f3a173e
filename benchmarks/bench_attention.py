"""Sparse (windowed) cross-encoder attention vs full attention: time and peak memory by document length.

  python benchmarks/bench_attention.py                       # CPU, fp32  -> results/attention-cpu.json
  python benchmarks/bench_attention.py --device cuda --dtype bf16 --output results/attention-gpu.json

Model: a MiniLM-L6-sized BERT (6 layers, 384 hidden, 12 heads) with random weights and 4,608 positions (no
pre-trained checkpoint reads 4k tokens; speed and memory do not depend on the weights). Per document length L
(256, 512, 2048, 4096) one query of 32 tokens is scored against max(1, 4096 // L) documents of L tokens:
  baseline: transformers BertForSequenceClassification on ``[CLS] q [SEP] d [SEP]`` (SDPA attention);
  sparse:   boltir SparseCrossEncoder, published pattern, window 4, banded attention (query encoded once);
  dense:    boltir SparseCrossEncoder with every link on and no window (the same code path, full attention).
Set-Encoder vs mono: one query with 100 passages of 256 tokens, the same backbone, one forward pass each; the
Set-Encoder with SDPA ("set") and with compiled FlexAttention ("set-flex", compiled in the warm-up), once with
every passage 256 tokens long (no mask needed) and once ragged (lengths 64-256, padded, so keys are masked).
Each variant runs in its own process (CPU peak RSS is per process); time = best of 5 after a warm-up (the
least disturbed by other work on the machine; median and all five times are kept too).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

LENGTHS = (256, 512, 2048, 4096)
SET_VARIANTS = ("mono", "set", "set-flex", "mono-ragged", "set-ragged", "set-flex-ragged")
QUERY_LEN = 32


def build(variant: str, device: str, dtype):
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from boltir.attention.patterns import SparsePattern
    from boltir.models.cross_encoders.sparse import SparseCrossEncoder, SparseCrossEncoderConfig

    cfg = BertConfig(
        vocab_size=30522,
        hidden_size=384,
        num_hidden_layers=6,
        num_attention_heads=12,
        intermediate_size=1536,
        max_position_embeddings=4608,
        num_labels=1,
    )
    torch.manual_seed(0)
    kind = variant.removesuffix("-ragged")
    if kind in ("mono", "set", "set-flex"):
        from boltir.models.cross_encoders.mono import MonoConfig, MonoModel
        from boltir.models.cross_encoders.set_encoder import SetEncoder, SetEncoderConfig

        cfg.max_position_embeddings = 512
        model = (
            MonoModel(MonoConfig(encoder=cfg.to_dict()))
            if kind == "mono"
            else SetEncoder(
                SetEncoderConfig(
                    encoder=cfg.to_dict(), int_token_id=1, attention_backend="flex" if kind == "set-flex" else "fused"
                )
            )
        )
    elif variant == "baseline":
        model = BertForSequenceClassification(cfg)
    else:
        pattern = SparsePattern(window=4) if variant == "sparse" else SparsePattern.dense()
        model = SparseCrossEncoder(
            SparseCrossEncoderConfig(encoder=cfg.to_dict(), **pattern.as_dict(), attention_backend="banded")
        )
    return model.to(device=device, dtype=dtype).eval()


def inputs(variant: str, length: int, device: str):
    import torch

    if variant.removesuffix("-ragged") in ("mono", "set", "set-flex"):
        # 100 passages of `length` tokens (ragged: 64..length) for one query, [CLS] [INT] q [SEP] d [SEP]
        g = torch.Generator().manual_seed(0)
        n_docs = 100
        body = torch.randint(1000, 29000, (n_docs, length - 2), generator=g)
        ids = torch.cat([torch.full((n_docs, 1), 101), torch.full((n_docs, 1), 1), body], 1)
        types = torch.zeros_like(ids)
        types[:, 2 + QUERY_LEN :] = 1
        mask = torch.ones_like(ids)
        if variant.endswith("-ragged"):
            lengths = torch.randint(64, length + 1, (n_docs,), generator=g)
            mask = (torch.arange(length)[None] < lengths[:, None]).long()
            ids = ids * mask
        batch = {"input_ids": ids.to(device), "attention_mask": mask.to(device), "token_type_ids": types.to(device)}
        if variant.startswith("set"):
            batch["list_size"] = n_docs
        return batch, n_docs
    n_docs = max(1, 4096 // length)
    g = torch.Generator().manual_seed(0)
    q = torch.randint(1000, 29000, (1, QUERY_LEN), generator=g)
    d = torch.randint(1000, 29000, (n_docs, length), generator=g)
    if variant == "baseline":
        ids = torch.cat(
            [
                torch.full((n_docs, 1), 101),
                q.expand(n_docs, -1),
                torch.full((n_docs, 1), 102),
                d,
                torch.full((n_docs, 1), 102),
            ],
            1,
        )
        types = torch.cat(
            [torch.zeros(n_docs, QUERY_LEN + 2, dtype=torch.long), torch.ones(n_docs, length + 1, dtype=torch.long)], 1
        )
        return {
            "input_ids": ids.to(device),
            "attention_mask": torch.ones_like(ids).to(device),
            "token_type_ids": types.to(device),
        }, n_docs
    q_ids = torch.cat([q, torch.full((1, 1), 102)], 1)
    d_ids = torch.cat([d, torch.full((n_docs, 1), 102)], 1)
    return {
        "query_ids": q_ids.to(device),
        "query_mask": torch.ones_like(q_ids).to(device),
        "doc_ids": d_ids.to(device),
        "doc_mask": torch.ones_like(d_ids).to(device),
        "docs_per_query": n_docs,
        "cls_id": 101,
    }, n_docs


def one(variant: str, length: int, device: str, dtype_name: str) -> dict:
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype_name]
    model = build(variant, device, dtype)
    batch, n_docs = inputs(variant, length, device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base_alloc = torch.cuda.memory_allocated()
    times = []
    with torch.inference_mode():
        for rep in range(6):
            sync()
            t0 = time.perf_counter()
            out = model(**batch)
            sync()
            if rep:
                times.append(time.perf_counter() - t0)
    logits = out.logits if hasattr(out, "logits") else out
    assert torch.isfinite(logits.float()).all()
    if device == "cuda":
        peak_mb = (torch.cuda.max_memory_allocated() - base_alloc) / 2**20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss_before
    return {
        "variant": variant,
        "doc_length": length,
        "docs": n_docs,
        "seconds": min(times),
        "median_seconds": statistics.median(times),
        "all_seconds": times,
        "peak_extra_mb": peak_mb,
    }


def check(device: str) -> dict:
    """fp32 agreement on this device: banded == masked reference (w = 4) and every-link == transformers."""
    import torch

    base = build("baseline", device, torch.float32)
    out = {}
    for name, pattern_kw in (("banded_vs_mask_w4", {"window": 4}), ("dense_vs_transformers", None)):
        from boltir.attention.patterns import SparsePattern
        from boltir.models.cross_encoders.sparse import SparseCrossEncoder, SparseCrossEncoderConfig

        pattern = SparsePattern(**pattern_kw) if pattern_kw else SparsePattern.dense()
        models = []
        for backend in ("banded", "mask"):
            m = SparseCrossEncoder(
                SparseCrossEncoderConfig(
                    encoder=base.config.to_dict(),
                    head_activation="tanh",
                    **pattern.as_dict(),
                    attention_backend=backend,
                )
            )
            state = {
                k.replace("bert.", "encoder.", 1): v
                for k, v in base.state_dict().items()
                if k.startswith("bert.") and not k.startswith("bert.pooler")
            }
            state.update(
                {
                    "head.dense.weight": base.bert.pooler.dense.weight,
                    "head.dense.bias": base.bert.pooler.dense.bias,
                    "head.out.weight": base.classifier.weight,
                    "head.out.bias": base.classifier.bias,
                }
            )
            m.load_state_dict(state, strict=True)
            models.append(m.to(device).eval())
        batch, _ = inputs("sparse", 300, device)
        with torch.inference_mode():
            a, b = models[0](**batch), models[1](**batch)
            if pattern_kw is None:
                ref_batch, _ = inputs("baseline", 300, device)
                b = base(**ref_batch).logits[:, 0]
        out[name] = float((a - b).abs().max())
    return out


def set_ratios(rows: list[dict]) -> dict:
    """Time and memory of each Set-Encoder variant over the mono model with the same padding."""
    by = {r["variant"]: r for r in rows if "seconds" in r}
    out = {}
    for name, r in by.items():
        base = by.get("mono-ragged" if name.endswith("-ragged") else "mono")
        if name.startswith("set") and base:
            out[name] = {
                "time_vs_mono": r["seconds"] / base["seconds"],
                "memory_vs_mono": r["peak_extra_mb"] / max(base["peak_extra_mb"], 1e-9),
            }
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    p.add_argument("--output", default=str(Path(__file__).parent / "results" / "attention-cpu.json"))
    p.add_argument("--one", nargs=2, metavar=("VARIANT", "LENGTH"))
    p.add_argument("--check", action="store_true", help="also check fp32 agreement on the device first")
    p.add_argument("--set-variants", nargs="+", default=list(SET_VARIANTS), choices=SET_VARIANTS)
    a = p.parse_args()
    agreement = check(a.device) if a.check else None
    if agreement is not None:
        print(json.dumps({"fp32_max_abs_diff": agreement}), flush=True)
    if a.one:
        print(json.dumps(one(a.one[0], int(a.one[1]), a.device, a.dtype)))
        return
    rows = []
    set_rows = []
    for variant in a.set_variants:
        cmd = [sys.executable, __file__, "--device", a.device, "--dtype", a.dtype, "--one", variant, "256"]
        res = subprocess.run(cmd, capture_output=True, text=True)
        set_rows.append(
            json.loads(res.stdout.strip().splitlines()[-1])
            if res.returncode == 0
            else {"variant": variant, "error": res.stderr.strip().splitlines()[-1]}
        )
        print(json.dumps(set_rows[-1]), flush=True)
    for length in a.lengths:
        for variant in ("baseline", "dense", "sparse"):
            cmd = [sys.executable, __file__, "--device", a.device, "--dtype", a.dtype, "--one", variant, str(length)]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                rows.append({"variant": variant, "doc_length": length, "error": res.stderr.strip().splitlines()[-1]})
            else:
                rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    summary = {}
    for length in a.lengths:
        by = {r["variant"]: r for r in rows if r["doc_length"] == length and "error" not in r}
        if "baseline" in by and "sparse" in by:
            summary[str(length)] = {
                "sparse_time_vs_baseline": by["sparse"]["seconds"] / by["baseline"]["seconds"],
                "sparse_memory_vs_baseline": by["sparse"]["peak_extra_mb"] / max(by["baseline"]["peak_extra_mb"], 1e-9),
            }
    import torch

    result = {
        "device": a.device,
        "dtype": a.dtype,
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if a.device == "cuda" else None,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "published_claims": "sparse w=4 needs <=78% (passages) / <=41% (4k-token documents) of the memory "
        "and is 1% / 43% faster, on GPU",
        "fp32_max_abs_diff": agreement,
        "rows": rows,
        "summary": summary,
        "set_encoder_vs_mono_100x256": {
            "rows": set_rows,
            "ratios": set_ratios(set_rows),
            "target": "time <= 1.10x mono",
        },
    }
    Path(a.output).parent.mkdir(parents=True, exist_ok=True)
    Path(a.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
