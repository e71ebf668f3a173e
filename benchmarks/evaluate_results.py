"""Evaluate the committed DL19 runs of the trained models against BM25 and write effectiveness.json.

  python benchmarks/evaluate_results.py

Each run in results/runs/ was made by the command in its .meta.json sidecar (or in the tutorial config named
below); DL19 was never used for training or tuning.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent / "results"
MADE_BY = {
    "minilm-l6-zero-shot": "boltir demo (minilm-l6 bi-encoder, no training)",
    "minilm-l6-dpr-finetuned": "boltir fit --config configs/fit-minilm-dpr.yaml, then boltir re-rank",
    "minilm-l6-mono-ce": "boltir fit --config configs/fit-minilm-mono.yaml, then boltir re-rank",
    "minilm-l6-set-encoder": "boltir fit --config configs/fit-minilm-set-encoder.yaml, then boltir re-rank",
}


def main() -> None:
    from boltir.data.runs import read_run
    from boltir.data.sources import load_qrels
    from boltir.evaluation.measures import evaluate_many
    from boltir.evaluation.report import as_json, table
    from boltir.evaluation.significance import compare_to_baseline

    runs = {"bm25": read_run("trec-dl-2019:bm25")}
    for path in sorted((HERE / "runs").glob("*.dl19.run")):
        runs[path.name[: -len(".dl19.run")]] = read_run(str(path))
    evals = evaluate_many(runs, load_qrels("trec-dl-2019"), ["nDCG@10", "RR(rel=2)@10"])
    comps = compare_to_baseline(evals)
    print(table(evals, comps))
    out = as_json(evals, comps, per_query=False)
    out["made_by"] = {k: MADE_BY.get(k, "") for k in runs}
    (HERE / "effectiveness-dl19.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
