"""Rank-DistiLLM at small scale on CPU: distil LLM rankings of the TREC DL 2020 BM25 top-100 (54 queries) into
a MiniLM-L6 mono cross-encoder, then re-rank the DL19 BM25 top-100 (DL19 is never trained or tuned on).

  python benchmarks/distill_dl19.py [--only NAME ...] [--epochs 1]   -> results/distill-dl19.json

Variants: stage 1 only (InfoNCE, 1 positive + 7 BM25 negatives from the dev-small sample); stage 2 only (RankNet
over RankVicuna-7B's whole list, from minilm-l6); stage 1 + 2 with RankVicuna-7B (RankNet and ADR-MSE) and with
RankGPT-3.5 (sample 1); the candidate-depth ablation (teacher order kept within the BM25 top 10 / 20 / 50, from
`boltir distill subsample`). Each variant's model stays in runs/distill/ and is reused when present, so an
interrupted run resumes; its DL19 run is copied to results/runs/. Student cost = DL19 re-ranking seconds per query
on this machine; no LLM runs here (the teacher rankings are the bundled runs), so no teacher cost is measured.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "runs" / "distill"
BOLTIR = [sys.executable, "-c", "import sys; from boltir.cli import main; sys.exit(main())"]
STAGE1 = OUT / "stage1" / "model"

VARIANTS = {
    "stage1": {"config": "configs/distill-stage1-infonce.yaml"},
    "stage2-only.rankvicuna.ranknet": {"from": "minilm-l6", "teacher": "trec-dl-2020:rankvicuna-7b.bm25"},
    "stage1+2.rankvicuna.ranknet": {"from": "stage1", "teacher": "trec-dl-2020:rankvicuna-7b.bm25"},
    "stage1+2.rankvicuna.adrmse": {"from": "stage1", "teacher": "trec-dl-2020:rankvicuna-7b.bm25", "loss": "ADRMSE"},
    "stage1+2.rankgpt35.ranknet": {"from": "stage1", "teacher": "trec-dl-2020:rankgpt-3.5.bm25.s1"},
    "stage1+2.rankvicuna.ranknet.depth10": {
        "from": "stage1",
        "teacher": "trec-dl-2020:rankvicuna-7b.bm25",
        "depth": 10,
    },
    "stage1+2.rankvicuna.ranknet.depth20": {
        "from": "stage1",
        "teacher": "trec-dl-2020:rankvicuna-7b.bm25",
        "depth": 20,
    },
    "stage1+2.rankvicuna.ranknet.depth50": {
        "from": "stage1",
        "teacher": "trec-dl-2020:rankvicuna-7b.bm25",
        "depth": 50,
    },
}
REFERENCES = ["trec-dl-2019:bm25", "trec-dl-2019:rankvicuna-7b.bm25"] + [
    f"trec-dl-2019:rankgpt-3.5.bm25.s{i}" for i in range(1, 6)
]


def run(cmd: list[str], log: Path) -> float:
    t0 = time.perf_counter()
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        res = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    if res.returncode:
        raise SystemExit(f"failed ({res.returncode}): {' '.join(cmd)}; see {log}")
    return time.perf_counter() - t0


def train(name: str, spec: dict, epochs: int, log: Path) -> float | None:
    folder = OUT / name
    if (folder / "model" / "config.json").exists():
        return None
    folder.mkdir(parents=True, exist_ok=True)
    if "config" in spec:
        cmd = BOLTIR + ["fit", "--config", spec["config"]]
    else:
        start = str(STAGE1) if spec["from"] == "stage1" else spec["from"]
        train_run = spec["teacher"]
        if spec.get("depth"):
            train_run = str(folder / f"teacher.top{spec['depth']}.run")
            run(
                BOLTIR
                + [
                    "distill",
                    "subsample",
                    "--teacher-run",
                    spec["teacher"],
                    "--first-stage",
                    "trec-dl-2020:bm25",
                    "--depth",
                    str(spec["depth"]),
                    "--output",
                    train_run,
                ],
                log,
            )
        cmd = BOLTIR + [
            "fit",
            "--config",
            "configs/distill-stage2-rankvicuna.yaml",
            "--model.init_args.model",
            start,
            "--data.init_args.train_run",
            train_run,
            "--data.init_args.train_queries",
            "trec-dl-2020",
            "--data.init_args.train_docs",
            "trec-dl-2020",
            "--trainer.max_epochs",
            str(epochs),
        ]
        if spec.get("loss"):
            cmd += ["--model.init_args.loss", f"boltir.losses.{spec['loss']}"]
    cmd += ["--trainer.default_root_dir", str(folder), "--trainer.callbacks.init_args.dirpath", str(folder / "model")]
    return run(cmd, log)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--only", nargs="+", default=list(VARIANTS))
    p.add_argument("--epochs", type=int, default=1, help="stage-2 epochs over the 54 DL20 teacher lists")
    p.add_argument("--output", default=str(Path(__file__).parent / "results" / "distill-dl19.json"))
    a = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / "log.txt"
    results_path = Path(a.output)
    results = json.loads(results_path.read_text()) if results_path.exists() else {"variants": {}}
    for name in a.only:
        if name != "stage1" and VARIANTS[name].get("from") == "stage1":
            train("stage1", VARIANTS["stage1"], a.epochs, log)
        train_seconds = train(name, VARIANTS[name], a.epochs, log)
        out_run = OUT / name / "dl19.run"
        rerank_seconds = run(
            BOLTIR
            + [
                "re-rank",
                "--model",
                str(OUT / name / "model"),
                "--run",
                "trec-dl-2019:bm25",
                "--queries",
                "trec-dl-2019",
                "--docs",
                "trec-dl-2019",
                "--output",
                str(out_run),
            ],
            log,
        )
        entry = results["variants"].get(name, {})
        kept = ROOT / "benchmarks" / "results" / "runs" / f"distill.{name}.dl19.run"  # committed; runs/ is not
        kept.write_bytes(out_run.read_bytes())
        entry.update(
            {
                "spec": VARIANTS[name],
                "epochs": a.epochs,
                "dl19_run": str(kept.relative_to(ROOT)),
                "student_seconds_per_query": rerank_seconds / 43,
            }
        )
        if train_seconds is not None:
            entry["train_seconds"] = train_seconds
        results["variants"][name] = entry
        evaluate(results)
        results_path.parent.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(results, indent=2) + "\n")
        print(name, json.dumps(entry.get("dl19")), flush=True)


def evaluate(results: dict) -> None:
    from boltir.data.runs import read_run
    from boltir.data.sources import load_qrels
    from boltir.evaluation.measures import evaluate_many

    qrels = load_qrels("trec-dl-2019")
    runs = {r: read_run(r) for r in REFERENCES}
    for name, entry in results["variants"].items():
        path = ROOT / entry["dl19_run"]
        if not entry["dl19_run"].startswith("benchmarks/"):  # an older version of this script left it in runs/
            kept = ROOT / "benchmarks" / "results" / "runs" / f"distill.{name}.dl19.run"
            kept.write_bytes((OUT / name / "dl19.run").read_bytes())
            entry["dl19_run"], path = str(kept.relative_to(ROOT)), kept
        runs[name] = read_run(str(path))
    for ev in evaluate_many(runs, qrels, ["nDCG@10", "RR(rel=2)@10"]):
        name, agg = ev.name, {m: round(v, 4) for m, v in ev.aggregate.items()}
        if name in results["variants"]:
            results["variants"][name]["dl19"] = agg
        else:
            results.setdefault("references", {})[name] = agg


if __name__ == "__main__":
    main()
