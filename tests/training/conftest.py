"""Training fixtures: a tiny tuple dataset with a validation run."""

import json

import pytest


@pytest.fixture
def tiny_tuples(tmp_path):
    docs = {f"d{i}": f"topic{i % 4} passage number {i} about subject {i % 4}" for i in range(24)}
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps({"doc_id": k, "text": v}) + "\n" for k, v in docs.items()))
    lines = []
    for i in range(16):
        lines.append(json.dumps({"query_id": f"q{i}", "query": f"subject {i % 4}", "positives": [f"d{i}"],
                                 "negatives": [f"d{(i + 1) % 24}", f"d{(i + 2) % 24}"]}))
    (tmp_path / "train.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "val.tsv").write_text("v1\tsubject 1\nv2\tsubject 2\n")
    (tmp_path / "val.qrels").write_text("v1 0 d1 1\nv1 0 d5 1\nv2 0 d2 1\n")
    (tmp_path / "val.run").write_text("".join(f"v{q} Q0 d{d} {r} {10 - r} bm25\n"
                                              for q in (1, 2) for r, d in enumerate(range(8), start=1)))
    return tmp_path
