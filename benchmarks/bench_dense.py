"""Dense pipeline benchmark: every boltir figure beside its baseline measured in the same run.

  python benchmarks/bench_dense.py [--num-docs 4096] [--output benchmarks/results/dense-cpu.json]

1. indexing: ``build_index`` at its defaults (streamed, length-sorted batches of at most 32 x 256 padded
   tokens, shards + FAISS) vs a plain transformers forward loop over the same passages in corpus order, same model
   and batch size; ``build_index`` with batches of 32 passages (``--batch-tokens 0``, the default before); and with
   a bfloat16 backbone (``--quantize bf16``); the four arms run INDEX_ROUNDS times, each taking every position in
   turn, and each arm's best run counts;
2. query encoding + search at batch size 1 and 32: ``DenseSearcher.search`` as it runs by default (the backbone
   traced), with ``backend="eager"`` and with ``quantize="bf16"`` vs a plain loop (tokenizer, model, mean pooling,
   FAISS IndexFlatIP over the same vectors) and the same loop with the model cast to bfloat16 by hand (recall@100
   of each bf16 arm against the fp32 results); and the encoder's useful GFLOP/s at batch 32 against a
   2048 x 2048 matrix product's on the same machine (float32 and bfloat16);
3. peak RSS of each part (each runs in its own process), and ``boltir --help`` wall time.

``--plain-python PYTHON`` adds a fourth arm to part 2: the same plain loop run by another interpreter (a virtualenv
with transformers 4.57, the version Lightning IR needs: ``pip install torch==2.13.0 transformers==4.57.6
faiss-cpu``), in a process of its own that times each pass and takes its turn with the other arms.
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
import tempfile
import time
from pathlib import Path
from typing import Any

MODEL = "minilm-l6"
BATCH = 32
TOKENS = BATCH * 256  # the token budget that holds one count-based batch of the longest passages
INDEX_ROUNDS = 3  # the indexing arms run this many times, rotated, each in its own process


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def passages(n: int) -> list[tuple[str, str]]:
    from boltir.data.sources import load_docs

    out = []
    for d in load_docs("trec-dl-2019"):
        out.append((d.doc_id, d.text))
        if n and len(out) == n:
            break
    return out


def bench_queries() -> dict[str, str]:
    from boltir.data.sources import load_queries

    qs = {**load_queries("trec-dl-2019"), **load_queries("trec-dl-2020")}
    dev = load_queries("msmarco-devsmall-sample")
    for qid in list(dev)[:223]:
        qs[qid] = dev[qid]
    return qs  # 320 real MS MARCO queries


def plain_encoder(dtype: str = "float32"):
    import torch
    from transformers import AutoModel, AutoTokenizer

    from boltir.models.sources import resolve_model

    path = resolve_model(MODEL)
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path, dtype=getattr(torch, dtype)).eval()

    def encode(texts: list[str], max_length: int):
        enc = tok(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        with torch.inference_mode():
            h = model(**enc).last_hidden_state
            m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
            e = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1)
        return e.float().numpy(), int(enc["input_ids"].numel())

    return encode


def part_index_plain(args) -> dict:
    import numpy as np

    docs = passages(args.num_docs)
    encode = plain_encoder()
    texts = [t for _, t in docs]
    t0 = time.perf_counter()
    vecs, tokens = [], 0
    for i in range(0, len(texts), BATCH):
        v, n = encode(texts[i : i + BATCH], 256)
        vecs.append(v)
        tokens += n
    np.save(Path(args.workdir) / "plain.npy", np.concatenate(vecs))
    dt = time.perf_counter() - t0
    # the plain loop's own rounding: the same passages one at a time instead of in batches of 32
    alone = np.concatenate([encode(texts[i : i + 1], 256)[0] for i in range(min(256, len(texts)))])
    return {
        "max_abs_diff_batch_1_vs_32": float(np.abs(alone - np.concatenate(vecs)[: len(alone)]).max()),
        "docs": len(texts),
        "seconds": dt,
        "docs_per_s": len(texts) / dt,
        "padded_tokens": tokens,
        "peak_rss_mb": peak_rss_mb(),
    }


def index_arm(args, name: str, **options: Any) -> dict:
    """``build_index`` over the benchmark passages with ``options`` into ``workdir/name``: its passages/s, padded
    tokens and largest vector difference from the plain loop's."""
    import numpy as np

    from boltir.data.collators import length_sorted_batches, token_budget, token_budget_batches, token_lengths
    from boltir.index.build import build_index
    from boltir.index.storage import iter_shards
    from boltir.models.loading import load_bi_encoder

    docs = passages(args.num_docs)
    corpus = Path(args.workdir) / "corpus.jsonl"
    if not corpus.exists():
        corpus.write_text("".join(json.dumps({"doc_id": i, "text": t}) + "\n" for i, t in docs))
    model, tok = load_bi_encoder(MODEL)
    texts = [t for _, t in docs]
    lengths = token_lengths(tok, texts, 256)
    budget = token_budget(options.get("batch_tokens"), BATCH, 256)
    if budget:
        batches = token_budget_batches(lengths, budget)
    else:  # count batches sort by characters
        batches = length_sorted_batches(texts, BATCH)
    tokens = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    t0 = time.perf_counter()
    manifest = build_index(
        model,
        tok,
        str(corpus),
        Path(args.workdir) / name,
        model_source=MODEL,
        batch_size=BATCH,
        show_progress=False,
        overwrite=True,
        **options,
    )
    dt = time.perf_counter() - t0
    ours = np.concatenate([np.asarray(v) for v, _ in iter_shards(Path(args.workdir) / name, manifest)])
    plain = np.load(Path(args.workdir) / "plain.npy")
    return {
        "docs": len(texts),
        "seconds": dt,
        "docs_per_s": len(texts) / dt,
        "options": options,
        "batches": len(batches),
        "padded_tokens": tokens,
        "max_abs_diff_vs_plain": float(np.abs(ours - plain).max()),
        "peak_rss_mb": peak_rss_mb(),
    }


def part_index_boltir(args) -> dict:
    return index_arm(args, "index")  # the defaults: the index that part 2 searches


def part_index_count(args) -> dict:
    return index_arm(args, "index-count", batch_tokens=0)


def part_index_bf16(args) -> dict:
    return index_arm(args, "index-bf16", quantize="bf16")


def matmul_peak_gflops(dtype: str = "float32") -> float:
    """The best of five 2048 x 2048 matrix products in ``dtype`` on this machine, in GFLOP/s (the ceiling an
    encoder made of matrix products could reach)."""
    import torch

    a, b = (torch.randn(2048, 2048).to(getattr(torch, dtype)) for _ in range(2))
    a @ b
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * 2048**3 / best / 1e9


def encoder_gflop(config, lengths: list[int]) -> float:
    """The useful work of a BERT-style encoder over texts of ``lengths`` tokens (no padding): per token and layer
    the four attention projections and the two feed-forward products, and the attention scores and their
    weighted sum over the text's own tokens."""
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    per_token = 2 * (4 * h * h + 2 * h * i)
    return sum(n * layers * (per_token + 4 * n * h) for n in lengths) / 1e9


PLAIN_ELSEWHERE = r"""
import json, sys, time
import faiss, numpy as np, torch, transformers
from transformers import AutoModel, AutoTokenizer
path, texts, vecs = sys.argv[1], json.load(open(sys.argv[2])), np.load(sys.argv[3])
tok, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
flat = faiss.IndexFlatIP(vecs.shape[1]); flat.add(vecs)
print(json.dumps({"transformers": transformers.__version__, "torch": torch.__version__}), flush=True)
for line in sys.stdin:
    bs = json.loads(line)["batch_size"]
    t0 = time.perf_counter()
    for i in range(0, len(texts), bs):
        enc = tok(texts[i : i + bs], padding=True, truncation=True, max_length=32, return_tensors="pt")
        with torch.inference_mode():
            h = model(**enc).last_hidden_state
            m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
            e = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1)
        flat.search(e.numpy(), 100)
    print(json.dumps({"seconds": time.perf_counter() - t0}), flush=True)
"""


def plain_elsewhere(python: str, texts: list[str], workdir: Path):
    """The plain loop in another interpreter (``PLAIN_ELSEWHERE``): returns (versions, pass(batch size) -> s)."""
    from boltir.models.sources import resolve_model

    (workdir / "queries.json").write_text(json.dumps(texts))
    files = [str(workdir / "queries.json"), str(workdir / "plain.npy")]
    proc = subprocess.Popen(
        [python, "-c", PLAIN_ELSEWHERE, resolve_model(MODEL), *files],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    versions = json.loads(proc.stdout.readline())

    def one_pass(bs: int) -> float:
        proc.stdin.write(json.dumps({"batch_size": bs}) + "\n")
        proc.stdin.flush()
        return json.loads(proc.stdout.readline())["seconds"]

    return versions, one_pass


def part_search(args) -> dict:
    import faiss
    import numpy as np

    from boltir.index.dense import DenseSearcher
    from boltir.models.backends import describe, trace_backbone

    queries = bench_queries()
    qids, texts = list(queries), list(queries.values())
    encoders = {"plain": plain_encoder(), "plain_bf16": plain_encoder("bfloat16")}
    vecs = np.load(Path(args.workdir) / "plain.npy")
    flat = faiss.IndexFlatIP(vecs.shape[1])
    flat.add(vecs)
    out = {
        "queries": len(qids),
        "k": 100,
        "matmul_peak_gflops": matmul_peak_gflops(),
        "matmul_peak_gflops_bf16": matmul_peak_gflops("bfloat16"),
    }
    elsewhere = plain_elsewhere(args.plain_python, texts, Path(args.workdir)) if args.plain_python else None
    if elsewhere:
        out["plain_elsewhere_versions"] = elsewhere[0]
    for bs in (1, 32):
        # boltir as it runs by default (the backbone traced on CPU) and with the trace turned off
        traced = DenseSearcher(Path(args.workdir) / "index", batch_size=bs)
        unpacked = DenseSearcher(Path(args.workdir) / "index", batch_size=bs)
        trace_backbone(unpacked.model, pack=False)  # the trace alone: padded batches run padded
        eager = DenseSearcher(Path(args.workdir) / "index", batch_size=bs, backend="eager")
        half = DenseSearcher(Path(args.workdir) / "index", batch_size=bs, quantize="bf16")
        runs: dict = {}
        plain_ids: dict = {}

        def plain_pass(name: str) -> Any:
            def run() -> float:
                t0 = time.perf_counter()
                found = []
                for i in range(0, len(texts), bs):
                    v, _ = encoders[name](texts[i : i + bs], 32)
                    found.append(flat.search(v, 100)[1])
                plain_ids[name] = np.concatenate(found)
                return time.perf_counter() - t0

            return run

        def searcher_pass(name: str, searcher) -> Any:
            def run() -> float:
                t0 = time.perf_counter()
                runs[name] = searcher.search(queries, 100)
                return time.perf_counter() - t0

            return run

        arms = {
            "plain": plain_pass("plain"),
            "boltir": searcher_pass("boltir", traced),
            "unpacked": searcher_pass("unpacked", unpacked),
            "eager": searcher_pass("eager", eager),
            "bf16": searcher_pass("bf16", half),
            "plain_bf16": plain_pass("plain_bf16"),
        }
        if elsewhere:
            arms["plain_elsewhere"] = lambda bs=bs: elsewhere[1](bs)
        for fn in arms.values():  # warm-up
            fn()
        best = dict.fromkeys(arms, float("inf"))
        for rep in range(6):  # each arm in each position in turn, so drift in machine speed favours none
            names = list(arms)[rep % len(arms) :] + list(arms)[: rep % len(arms)]
            for name in names:
                best[name] = min(best[name], arms[name]())
        assert len(runs["boltir"]) == len(qids)
        # the trace alone equals the eager backbone exactly; packing moves scores by float rounding
        same = max(abs(runs["unpacked"][q][d] - s) for q in qids for d, s in runs["eager"][q].items())

        def recall(got: dict, want: dict) -> float:
            return statistics.mean(len(set(got[q]) & set(want[q])) / len(want[q]) for q in qids)

        plain_recall = statistics.mean(
            len(set(a.tolist()) & set(b.tolist())) / len(set(b.tolist()))
            for a, b in zip(plain_ids["plain_bf16"], plain_ids["plain"])
        )
        out[f"batch_{bs}"] = {
            "plain_qps": len(qids) / best["plain"],
            "boltir_qps": len(qids) / best["boltir"],
            "boltir_eager_qps": len(qids) / best["eager"],
            "ratio": best["plain"] / best["boltir"],
            "eager_ratio": best["plain"] / best["eager"],
            "traced_over_eager": best["eager"] / best["boltir"],
            "max_score_difference_traced_vs_eager": same,
            "boltir_unpacked_qps": len(qids) / best["unpacked"],
            "unpacked_ratio": best["plain"] / best["unpacked"],
            "packed_over_unpacked": best["unpacked"] / best["boltir"],
            "max_score_difference_packed_vs_unpacked": max(
                abs(runs["boltir"][q].get(d, s) - s) for q in qids for d, s in runs["unpacked"][q].items()
            ),
            "recall_at_100_packed_vs_unpacked": recall(runs["boltir"], runs["unpacked"]),
            "runs_on": describe(traced.model),
            "bf16_qps": len(qids) / best["bf16"],
            "bf16_ratio": best["plain"] / best["bf16"],
            "bf16_recall_at_100_vs_fp32": recall(runs["bf16"], runs["boltir"]),
            "max_score_difference_bf16_vs_fp32": max(
                abs(runs["bf16"][q].get(d, s) - s) for q in qids for d, s in runs["boltir"][q].items()
            ),
            "plain_bf16_qps": len(qids) / best["plain_bf16"],
            "plain_bf16_recall_at_100_vs_fp32": plain_recall,
            "bf16_over_plain_bf16": best["plain_bf16"] / best["bf16"],
            **(
                {
                    "plain_elsewhere_qps": len(qids) / best["plain_elsewhere"],
                    "ratio_vs_plain_elsewhere": best["plain_elsewhere"] / best["boltir"],
                }
                if elsewhere
                else {}
            ),
        }
    # how close query encoding at batch 32 comes to the machine: useful encoder work over encoding time
    for name, options, peak in (
        ("", {}, "matmul_peak_gflops"),
        ("_bf16", {"quantize": "bf16"}, "matmul_peak_gflops_bf16"),
    ):
        searcher = DenseSearcher(Path(args.workdir) / "index", batch_size=32, **options)
        lengths = [len(ids) for ids in searcher.tokenizer(texts, truncation=True, max_length=32)["input_ids"]]
        searcher.encode_queries(texts)
        seconds = min(_timed(lambda: searcher.encode_queries(texts)) for _ in range(3))
        gflop = encoder_gflop(searcher.model.encoder.config, lengths)
        out[f"encoder_batch_32{name}"] = {
            "useful_gflop": gflop,
            "seconds": seconds,
            "gflops": gflop / seconds,
            "of_matmul_peak": gflop / seconds / out[peak],
            "mean_tokens": statistics.mean(lengths),
        }
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def startup() -> dict:
    def wall(cmd: list[str], n: int = 5) -> float:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    boltir = str(Path(sys.executable).with_name("boltir"))
    return {
        "boltir_help_s": wall([boltir, "--help"]),
        "python_startup_s": wall([sys.executable, "-c", "pass"]),
        "import_torch_transformers_s": wall(
            [sys.executable, "-c", "import torch, transformers; transformers.AutoModel"], 3
        ),
    }


def run_part(name: str, args) -> dict:
    cmd = [sys.executable, __file__, "--part", name, "--num-docs", str(args.num_docs), "--workdir", args.workdir]
    if args.plain_python:
        cmd += ["--plain-python", args.plain_python]
    res = subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ, "BOLTIR_NO_PROGRESS": "1"})
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--num-docs", type=int, default=4096, help="passages to index (0 = all 24,884)")
    p.add_argument("--output", default=str(Path(__file__).parent / "results" / "dense-cpu.json"))
    p.add_argument("--part")
    p.add_argument("--workdir")
    p.add_argument("--plain-python", help="another interpreter for a second plain loop (e.g. transformers 4.57)")
    args = p.parse_args()
    if args.part:
        print(json.dumps(globals()[f"part_{args.part}"](args)))
        return
    with tempfile.TemporaryDirectory() as wd:
        args.workdir = wd
        parts = ["index_plain", "index_boltir", "index_count", "index_bf16"]  # later ones read the first one's outputs
        runs: dict = {name: [] for name in parts}
        for rnd in range(INDEX_ROUNDS):  # each arm in each position in turn; each arm's best run counts
            for name in parts[rnd % len(parts) :] + parts[: rnd % len(parts)]:
                runs[name].append(run_part(name, args))
        plain, ours, by_count, half = (
            {**max(runs[n], key=lambda r: r["docs_per_s"]), "docs_per_s_each_round": [r["docs_per_s"] for r in runs[n]]}
            for n in parts
        )
        search = run_part("search", args)
    import torch

    result = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "torch_threads": torch.get_num_threads(),
        },
        "model": MODEL,
        "batch_size": BATCH,
        "indexing": {
            "plain_transformers_loop": plain,
            "boltir": ours,
            "speedup": ours["docs_per_s"] / plain["docs_per_s"],
            "padded_token_ratio_plain_over_boltir": plain["padded_tokens"] / ours["padded_tokens"],
            "boltir_count_batches": by_count,
            "speedup_count_batches": by_count["docs_per_s"] / plain["docs_per_s"],
            "token_budget_over_count": ours["docs_per_s"] / by_count["docs_per_s"],
            "boltir_bf16": half,
            "speedup_bf16": half["docs_per_s"] / plain["docs_per_s"],
        },
        "search": search,
        "startup": startup(),
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
