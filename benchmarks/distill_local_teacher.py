"""Rank-DistiLLM on one machine with a local teacher: the reciprocal-rank fusion of the two zero-shot models boltir
ships (minilm-l6 dense + splade-tiny sparse) ranks the BM25 top-50 of every bundled MS MARCO training query outside
DL19; MiniLM-L6 mono and Set-Encoder students learn it (stage 1 InfoNCE on labelled negatives, stage 2 list-wise
distillation) and re-rank the DL19 BM25 top-100. DL19 is never trained, tuned or selected on: DL20 selects the
checkpoint (its queries are left out of training) and the DL20-only ablations train without validation.

  python benchmarks/distill_local_teacher.py [--only NAME ...]   -> results/distill-local-teacher.json

Every step's output stays in runs/distill-local/ and is reused when present, so an interrupted run resumes. Each
variant's exact training config is written next to its model and named in the JSON; its DL19 run is committed to
results/runs/. Ablations (stage 2 from the same stage-1 model, same number of training steps unless noted):
teacher (local fusion vs RankVicuna-7B on the same 54 DL20 queries and BM25 top-50), number of training queries
(54 / 300 / all 1,278), candidate depth (teacher order within the BM25 top 10 / 20 / 50) and loss (RankNet,
ADR-MSE, KL divergence). Cost: DL19 re-ranking seconds per query on this machine, teacher and students measured in
the same process on the same candidates.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "runs" / "distill-local"
RESULTS = ROOT / "benchmarks" / "results"
BOLTIR = [sys.executable, "-c", "import sys; from boltir.cli import main; sys.exit(main())"]
BASE_CONFIG = ROOT / "configs" / "distill-local-teacher.yaml"
TEACHER = "rrf:minilm-l6,splade-tiny"
STEPS = 320  # one pass over the 1,278 training queries at 4 queries per step
METRICS = ["nDCG@10", "RR(rel=2)@10"]

MAIN = {"family": "mono", "lists": "all", "depth": 50, "sample": 20, "loss": "RankNet"}
VARIANTS: dict[str, dict[str, Any]] = {
    "mono": MAIN,
    "set-encoder": {**MAIN, "family": "set-encoder"},
    # learning rate, chosen on DL20 (the main recipe's validation flattens at 3e-5)
    "mono.lr1e-4": {**MAIN, "lr": 1e-4},
    # teacher: the same 54 DL20 queries and BM25 top-50, no validation (DL20 is what they train on)
    "teacher.rankvicuna-dl20": {**MAIN, "lists": "rankvicuna-dl20", "validate": False, "steps": 65},
    "teacher.local-dl20": {**MAIN, "lists": "local-dl20", "validate": False, "steps": 65},
    # the ablations below run half the main recipe's steps (CPU budget); compare them with the main run's DL20
    # validation at the same step (dl20_val) as well as by their DL19 numbers
    # training queries, same number of steps
    "queries.54": {**MAIN, "lists": "sample54", "steps": STEPS // 2},
    "queries.300": {**MAIN, "lists": "sample300", "steps": STEPS // 2},
    # candidate depth: the teacher's order within the BM25 top 10 / 20
    "depth.10": {**MAIN, "depth": 10, "sample": 10, "steps": STEPS // 2},
    "depth.20": {**MAIN, "depth": 20, "sample": 20, "steps": STEPS // 2},
    # loss
    "loss.adrmse": {**MAIN, "loss": "ADRMSE", "steps": STEPS // 2},
    "loss.kl": {**MAIN, "loss": "KLDivergence", "steps": STEPS // 2},
}


def run(cmd: list[str], log: Path) -> float:
    t0 = time.perf_counter()
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        res = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    if res.returncode:
        raise SystemExit(f"failed ({res.returncode}): {' '.join(cmd)}; see {log}")
    return time.perf_counter() - t0


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def teacher_lists(log: Path, timings: dict[str, float]) -> Path:
    """BM25 top-100 over every bundled passage for every training query, then the local teacher's top-50."""
    bm25, teacher = OUT / "bm25.run", OUT / "teacher"
    if not bm25.exists():
        cmd = ["bm25", "--docs", "msmarco-passages", "--queries", "msmarco-train-queries", "--k", "100"]
        timings["bm25_seconds"] = run(BOLTIR + cmd + ["--output", rel(bm25)], log)
    if not (teacher / "teacher.run").exists():
        cmd = ["distill", "build", "--teacher", TEACHER, "--first-stage", rel(bm25), "--queries"]
        cmd += ["msmarco-train-queries", "--docs", "msmarco-passages", "--depth", "50", "--batch-size", "64"]
        timings["teacher_seconds"] = run(BOLTIR + cmd + ["--output", rel(teacher)], log)
    return teacher / "teacher.run"


def list_file(name: str, depth: int, log: Path, timings: dict[str, float]) -> Path:
    """The teacher run a variant trains on (queries chosen, order cut to the BM25 top ``depth``)."""
    from boltir.data.runs import read_run, write_run
    from boltir.data.sources import load_queries
    from boltir.distill.build import sample_queries, subsample_depth

    path = OUT / "lists" / f"{name}.top{depth}.run"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    if name == "rankvicuna-dl20":
        cmd = ["distill", "subsample", "--teacher-run", "trec-dl-2020:rankvicuna-7b.bm25", "--first-stage"]
        run(BOLTIR + cmd + ["trec-dl-2020:bm25", "--depth", str(depth), "--output", rel(path)], log)
        return path
    if name == "local-dl20":
        folder = OUT / "teacher-dl20"
        if not (folder / "teacher.run").exists():
            cmd = ["distill", "build", "--teacher", TEACHER, "--first-stage", "trec-dl-2020:bm25", "--depth", "50"]
            timings["teacher_dl20_seconds"] = run(BOLTIR + cmd + ["--batch-size", "64", "--output", rel(folder)], log)
        first, teacher = read_run("trec-dl-2020:bm25"), read_run(str(folder / "teacher.run"))
    else:
        first, teacher = read_run(str(OUT / "bm25.run")), read_run(str(teacher_lists(log, timings)))
        dl20 = set(load_queries("trec-dl-2020"))
        pool = [q for q in teacher if q not in dl20]
        if name.startswith("sample"):
            pool = sample_queries(pool, int(name[len("sample") :]), seed=0)
        teacher = {q: teacher[q] for q in pool}
    write_run(path, subsample_depth(teacher, first, depth), tag=f"{name}.top{depth}", meta={"command": __file__})
    return path


def stage1(family: str, log: Path) -> tuple[Path, float | None]:
    folder = OUT / f"stage1-{family}"
    if (folder / "model" / "config.json").exists():
        return folder / "model", None
    cmd = ["fit", "--config", "configs/distill-stage1-infonce.yaml", "--model.init_args.family", family]
    cmd += ["--trainer.default_root_dir", rel(folder), "--trainer.callbacks.init_args.dirpath", rel(folder / "model")]
    return folder / "model", run(BOLTIR + cmd, log)


def variant_config(name: str, spec: dict[str, Any], start: Path, train_run: Path) -> Path:
    """The base recipe (configs/distill-local-teacher.yaml) with this variant's changes, written beside its model."""
    import yaml

    folder = OUT / name
    cfg = yaml.safe_load(BASE_CONFIG.read_text())
    trainer, model, data = cfg["trainer"], cfg["model"]["init_args"], cfg["data"]["init_args"]
    trainer["default_root_dir"] = rel(folder)
    trainer["max_epochs"], trainer["max_steps"] = -1, spec.get("steps", STEPS)
    checkpoint, export = trainer["callbacks"]
    checkpoint["init_args"]["dirpath"] = rel(folder / "checkpoints")
    export["init_args"]["dirpath"] = rel(folder / "model")
    if spec.get("validate", True):
        trainer["val_check_interval"], trainer["check_val_every_n_epoch"] = STEPS // 4, None
    else:
        trainer["callbacks"] = [export]
        trainer.pop("val_check_interval")
        trainer["num_sanity_val_steps"] = 0
        data["val_run"] = None
    model["model"], model["family"] = rel(start), spec["family"]
    model["loss"] = {"class_path": f"boltir.losses.{spec['loss']}"}
    model["lr"] = spec.get("lr", model["lr"])
    data.update(train_run=rel(train_run), depth=spec["depth"], sample_size=spec["sample"])
    if spec["lists"].endswith("dl20"):
        data.update(train_queries="trec-dl-2020", train_docs="trec-dl-2020")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def train(name: str, spec: dict[str, Any], log: Path, timings: dict[str, float]) -> float | None:
    folder = OUT / name
    if (folder / "model" / "config.json").exists():
        return None
    start, _ = stage1(spec["family"], log)
    config = variant_config(name, spec, start, list_file(spec["lists"], spec["depth"], log, timings))
    return run(BOLTIR + ["fit", "--config", rel(config)], log)


def validation_curve(folder: Path) -> dict[str, float]:
    """``{step: DL20 nDCG@10}`` from the run's Lightning CSV log (the checkpoint selection's evidence)."""
    import csv

    curve: dict[str, float] = {}
    for log in sorted(folder.glob("lightning_logs/version_*/metrics.csv")):
        with open(log, newline="") as f:
            for row in csv.DictReader(f):
                if row.get("val/nDCG@10"):
                    curve[str(int(row["step"]) + 1)] = round(float(row["val/nDCG@10"]), 4)
    return curve


class DL19:
    """The DL19 BM25 top-100 with texts, re-ranked in this process so every model's cost is measured alike."""

    def __init__(self) -> None:
        from boltir.data.runs import candidate_ids, read_run
        from boltir.data.sources import doc_texts, load_qrels, load_queries

        self.run = read_run("trec-dl-2019:bm25")
        self.qrels = load_qrels("trec-dl-2019")
        self.queries = {q: t for q, t in load_queries("trec-dl-2019").items() if q in self.run}
        self.docs = doc_texts("trec-dl-2019", candidate_ids(self.run, 100))

    def rerank(self, stage: Any) -> tuple[dict[str, dict[str, float]], float]:
        stage.rerank({q: self.run[q] for q in list(self.run)[:2]}, self.queries, self.docs, 100)  # warm up
        t0 = time.perf_counter()
        out = stage.rerank(self.run, self.queries, self.docs, 100)
        return out, (time.perf_counter() - t0) / len(self.run)


def reference_runs(dl19: DL19, results: dict[str, Any]) -> dict[str, str]:
    """DL19 runs of the teacher and the zero-shot bi-encoder (the students' starting point), with their cost."""
    from boltir.data.runs import write_run
    from boltir.pipeline import Reranker, RerankFusion

    made = {}
    for name, build in {
        "teacher": lambda: RerankFusion(
            [Reranker(m, depth=100, show_progress=False) for m in ("minilm-l6", "splade-tiny")], "rrf"
        ),
        "zero-shot-minilm-l6": lambda: Reranker("minilm-l6", depth=100, show_progress=False),
    }.items():
        kept = RESULTS / "runs" / f"distill-local.{name}.dl19.run"
        entry = results["references"].setdefault(name, {})
        if not kept.exists() or "seconds_per_query" not in entry:
            out, seconds = dl19.rerank(build())
            write_run(kept, out, tag=name, meta={"command": f"{rel(Path(__file__))} ({name})"})
            entry["seconds_per_query"] = round(seconds, 4)
        entry["dl19_run"] = rel(kept)
        made[name] = str(kept)
    return made


def student_run(name: str, dl19: DL19, entry: dict[str, Any]) -> str:
    from boltir.data.runs import write_run
    from boltir.pipeline import Reranker

    kept = RESULTS / "runs" / f"distill-local.{name}.dl19.run"
    if not kept.exists() or "seconds_per_query" not in entry:
        reranker = Reranker(OUT / name / "model", depth=100, show_progress=False)
        out, seconds = dl19.rerank(reranker)
        write_run(kept, out, tag=name, meta={"command": f"{rel(Path(__file__))} --only {name}"})
        entry["seconds_per_query"] = round(seconds, 4)
        if reranker.family == "set-encoder":
            entry["input_orders"] = permutations(reranker, dl19)
    entry["dl19_run"] = rel(kept)
    return str(kept)


def permutations(reranker: Any, dl19: DL19) -> dict[str, float]:
    """nDCG@10 with the candidates fed in ideal, inverse-ideal, random and original order."""
    from boltir.evaluation.permutation import permutation_robustness

    def rank(order: dict[str, list[str]]) -> dict[str, dict[str, float]]:
        as_run = {q: {d: float(-i) for i, d in enumerate(ds)} for q, ds in order.items()}  # fed in this order
        return reranker.rerank(as_run, dl19.queries, dl19.docs, 100)

    robust = permutation_robustness(rank, dl19.run, dl19.qrels, "nDCG@10", 100)
    return {k: round(v, 4) for k, v in robust.items()}


def evaluate(results: dict[str, Any], runs: dict[str, str]) -> None:
    """Aggregates, and paired t-tests (Holm over the runs in each family of tests) against BM25, the zero-shot
    bi-encoder and the teacher."""
    from boltir.data.runs import read_run
    from boltir.data.sources import load_qrels
    from boltir.evaluation.measures import evaluate_many
    from boltir.evaluation.significance import compare_to_baseline

    loaded = {"bm25": read_run("trec-dl-2019:bm25"), "trec-dl-2019:rankvicuna-7b.bm25": None}
    loaded["trec-dl-2019:rankvicuna-7b.bm25"] = read_run("trec-dl-2019:rankvicuna-7b.bm25")
    loaded.update({name: read_run(path) for name, path in runs.items()})
    evals = {ev.name: ev for ev in evaluate_many(loaded, load_qrels("trec-dl-2019"), METRICS)}
    for name, ev in evals.items():
        where = results["variants"] if name in results["variants"] else results["references"]
        where.setdefault(name, {})["dl19"] = {m: round(v, 4) for m, v in ev.aggregate.items()}
    students = [n for n in results["variants"] if n in evals]
    tests = []
    for baseline in ("bm25", "zero-shot-minilm-l6", "teacher"):
        if baseline in evals:
            others = [evals[n] for n in ["zero-shot-minilm-l6", "teacher"] + students if n in evals and n != baseline]
            tests += [
                {
                    "run": c.run,
                    "baseline": c.baseline,
                    "metric": c.metric,
                    "difference": round(c.difference, 4),
                    "p_value": round(c.p_value, 4),
                    "p_holm": round(c.p_holm, 4),
                    "significant": c.significant,
                }
                for c in compare_to_baseline([evals[baseline]] + others)
            ]
    results["significance"] = tests


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--only", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--output", default=str(RESULTS / "distill-local-teacher.json"))
    a = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / "log.txt"
    results_path = Path(a.output)
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    results.setdefault("variants", {})
    results.setdefault("references", {})
    timings = results.setdefault("timings", {})
    teacher_lists(log, timings)
    dl19 = DL19()
    runs = reference_runs(dl19, results)
    for name in a.only:
        spec = VARIANTS[name]
        start, stage1_seconds = stage1(spec["family"], log)
        if stage1_seconds is not None:
            timings[f"stage1_{spec['family']}_minutes"] = round(stage1_seconds / 60, 1)
        seconds = train(name, spec, log, timings)
        entry = results["variants"].setdefault(name, {})
        entry.update(spec=spec, config=rel(OUT / name / "config.yaml"), start=rel(start))
        if seconds is not None:
            entry["train_minutes"] = round(seconds / 60, 1)
        entry["dl20_val"] = validation_curve(OUT / name)
        runs[name] = student_run(name, dl19, entry)
        for other in results["variants"]:
            kept = RESULTS / "runs" / f"distill-local.{other}.dl19.run"
            if other not in runs and kept.exists():
                runs[other] = str(kept)
        evaluate(results, runs)
        results_path.write_text(json.dumps(results, indent=2) + "\n")
        print(name, json.dumps(entry.get("dl19")), flush=True)


if __name__ == "__main__":
    main()
