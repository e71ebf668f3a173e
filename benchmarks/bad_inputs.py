"""Bad inputs, wrong combinations and damaged indexes, each run through the ``boltir`` command as a user would, and
what came of it: a clear one-line error (exit 1, the last stderr line ``boltir <command>: error: ...`` or the
option parser's ``error:`` line, no traceback), a traceback, or a silent wrong result (exit 0 where the input is
wrong). Inputs that boltir now accepts on purpose (empty documents, a byte-order mark) count as handled when the
result is right (checked per case).

  python benchmarks/bad_inputs.py   -> results/bad-inputs.json
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).parent / "results" / "bad-inputs.json"
ENV = {**os.environ, "BOLTIR_NO_PROGRESS": "1", "HF_HUB_OFFLINE": "1"}


def boltir(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "boltir", *argv], capture_output=True, text=True, env=ENV, timeout=600)


def classify(proc: subprocess.CompletedProcess, expect: str, ok_check=None) -> str:
    if "Traceback (most recent call last)" in proc.stderr:
        return "traceback"
    if expect == "ok":
        return "handled" if proc.returncode == 0 and (ok_check is None or ok_check()) else "wrong"
    if proc.returncode == 0:
        return "silent"
    last = (proc.stderr.strip().splitlines() or [""])[-1]
    return (
        "clear"
        if (last.startswith("boltir ") and ": error: " in last) or last.startswith("error:") or "error:" in last
        else "unclear"
    )


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bad-inputs-"))
    w = work.__truediv__
    docs = w("docs.jsonl")
    docs.write_text(
        "".join(
            json.dumps({"doc_id": f"d{i}", "text": f"passage {i} about cats and dogs {i % 5}"}) + "\n"
            for i in range(60)
        )
    )
    queries = w("q.tsv")
    queries.write_text("q1\tcats\nq2\tdogs\n")
    qrels = w("ok.qrels")
    qrels.write_text("q1 0 d1 2\nq1 0 d2 0\nq2 0 d3 1\n")
    run = w("ok.run")
    run.write_text("q1 Q0 d1 1 2.0 t\nq1 Q0 d2 2 1.0 t\nq2 Q0 d3 1 1.0 t\n")
    from boltir.models.api import load_model

    load_model("splade-tiny").save(w("splade-saved"))  # a saved boltir SPLADE folder (not a masked-LM checkpoint)
    assert boltir("index", "--model", "minilm-l6", "--docs", str(docs), "--output", str(w("idx"))).returncode == 0
    assert (
        boltir(
            "bm25",
            "--docs",
            str(docs),
            "--index-dir",
            str(w("bm25")),
            "--queries",
            str(queries),
            "--output",
            str(w("b.run")),
        ).returncode
        == 0
    )

    def text(name: str, content: str | bytes) -> str:
        p = w(name)
        p.write_bytes(content) if isinstance(content, bytes) else p.write_text(content, encoding="utf-8")
        return str(p)

    def index_copy(name: str, damage) -> str:
        dst = w(name)
        shutil.copytree(w("idx"), dst)
        damage(dst)
        return str(dst)

    def flip(path: Path) -> None:
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))

    def swap_ids(d: Path) -> None:
        ids = d / "shards" / "ids-00000.txt"
        lines = ids.read_text().split("\n")
        lines[0], lines[1] = lines[1], lines[0]  # same size, other documents
        ids.write_text("\n".join(lines))

    def manifest_without(key: str):
        def damage(d: Path) -> None:
            m = json.loads((d / "manifest.json").read_text())
            m.pop(key)
            (d / "manifest.json").write_text(json.dumps(m))

        return damage

    def not_utf8_ids(d: Path) -> None:
        ids = d / "shards" / "ids-00000.txt"
        data = bytearray(ids.read_bytes())
        data[1] = 0xFF
        ids.write_bytes(bytes(data))

    assert boltir("index", "--model", "splade-tiny", "--docs", str(docs), "--output", str(w("sparse"))).returncode == 0
    shutil.copytree(w("sparse"), w("sparseflip"))
    flip(w("sparseflip") / "postings-docs.npy")
    ivf = ["--factory", "IVF4,Flat", "--train-size", "60", "--ondisk"]
    assert boltir("index", "--model", "minilm-l6", "--docs", str(docs), "--output", str(w("ivf")), *ivf).returncode == 0
    shutil.copytree(w("ivf"), w("ivfflip"))
    flip(w("ivfflip") / "faiss.ivfdata")

    def search_argv(index: str, *extra: str) -> list[str]:
        return ["search", "--index", index, "--queries", str(queries), "--output", str(w("s.run")), *extra]

    def bm25_cut() -> str:
        dst = w("bmcut")
        shutil.copytree(w("bm25"), dst)
        ids = dst / "doc_ids.txt"
        ids.write_text("".join(ids.read_text().splitlines(keepends=True)[:-3]))
        return str(dst)

    gz_docs = gzip.compress(docs.read_bytes() * 20)
    gz_run = gzip.compress(("".join(f"q1 Q0 d{i} {i + 1} {100 - i}.0 t\n" for i in range(3000))).encode())
    evaluate = ["evaluate", "--qrels", str(qrels)]
    bm25 = ["bm25", "--queries", str(queries), "--output", str(w("out.run"))]
    cases = [
        # evaluation inputs
        ("qrels with a duplicate judgment", [*evaluate[:2], text("dup.qrels", "q1 0 d1 2\nq1 0 d1 0\n"), str(run)]),
        ("empty qrels", ["evaluate", "--qrels", text("empty.qrels", ""), str(run)]),
        ("qrels with 3 columns", ["evaluate", "--qrels", text("q3.qrels", "q1 d1 2\n"), str(run)]),
        ("qrels grade not a number", ["evaluate", "--qrels", text("g.qrels", "q1 0 d1 x\n"), str(run)]),
        ("qrels with a NUL in a doc id", ["evaluate", "--qrels", text("nul.qrels", "q1 0 d\x001 2\n"), str(run)]),
        ("qrels not UTF-8", ["evaluate", "--qrels", text("bin.qrels", b"q1 0 d1 2\n\xff\xfe 0 x 1\n"), str(run)]),
        ("run with 5 columns", [*evaluate, text("c5.run", "q1 Q0 d1 1 2.0\n")]),
        ("run score not a number", [*evaluate, text("s.run", "q1 Q0 d1 1 abc t\n")]),
        ("run score NaN", [*evaluate, text("nan.run", "q1 Q0 d1 1 nan t\n")]),
        ("run rank not an integer", [*evaluate, text("r.run", "q1 Q0 d1 x 1.0 t\n")]),
        ("run lists a document twice", [*evaluate, text("twice.run", "q1 Q0 d1 1 2 t\nq1 Q0 d1 2 1 t\n")]),
        ("run with a NUL in a doc id", [*evaluate, text("nulrun.run", "q1 Q0 d\x001 1 2 t\n")]),
        ("run file missing", [*evaluate, str(w("nope.run"))]),
        ("run is a directory", [*evaluate, str(w("idx"))]),
        ("run is a truncated .gz", [*evaluate, text("cut.run.gz", gz_run[: len(gz_run) // 2])]),
        ("unknown dataset run", [*evaluate, "trec-dl-2019:nope"]),
        ("unknown dataset", [*evaluate, "nosuchset:bm25"]),
        ("unknown metric", [*evaluate, "--metrics", "nDCG@x", str(run)]),
        ("abbreviated option swallowing the run", ["evaluate", "--qrels", str(qrels), "--metric", "nDCG@10", str(run)]),
        ("qrels file missing", ["evaluate", "--qrels", str(w("nope.qrels")), str(run)]),
        # documents and queries
        (
            "document id with U+2028",
            [*bm25, "--docs", text("ls.jsonl", json.dumps({"doc_id": "a\u2028b", "text": "x"}) + "\n")],
        ),
        ("document id with U+0085", [*bm25, "--docs", text("nel.jsonl", '{"doc_id": "a\\u0085b", "text": "x"}\n')]),
        ("document id with a space", [*bm25, "--docs", text("sp.jsonl", '{"doc_id": "a b", "text": "x"}\n')]),
        ("empty document id", [*bm25, "--docs", text("eid.jsonl", '{"doc_id": "", "text": "x"}\n')]),
        ("JSON id 1.0", [*bm25, "--docs", text("float.jsonl", '{"doc_id": 1.0, "text": "x"}\n')]),
        ("duplicate document id", [*bm25, "--docs", text("dupd.jsonl", '{"doc_id": "a", "text": "x"}\n' * 2)]),
        ("document without text field", [*bm25, "--docs", text("notext.jsonl", '{"doc_id": "a"}\n')]),
        ("document text not a string", [*bm25, "--docs", text("num.jsonl", '{"doc_id": "a", "text": 5}\n')]),
        ("invalid JSON line", [*bm25, "--docs", text("bad.jsonl", '{"doc_id": "a", "text": "x"\n')]),
        ("JSON array instead of object", [*bm25, "--docs", text("arr.jsonl", '["a", "x"]\n')]),
        ("documents in an unknown format", [*bm25, "--docs", text("d.csv", "a,x\n")]),
        ("documents are a truncated .gz", [*bm25, "--docs", text("cut.jsonl.gz", gz_docs[: len(gz_docs) // 3])]),
        ("tsv document without text column", [*bm25, "--docs", text("d.tsv", "a\n")]),
        ("every document empty", [*bm25, "--docs", text("allempty.jsonl", '{"doc_id": "a", "text": ""}\n')]),
        ("empty corpus", [*bm25, "--docs", text("none.jsonl", "")]),
        (
            "query without text",
            ["bm25", "--docs", str(docs), "--queries", text("qt.tsv", "q1\n"), "--output", str(w("o.run"))],
        ),
        (
            "duplicate query id",
            ["bm25", "--docs", str(docs), "--queries", text("qd.tsv", "q1\tx\nq1\ty\n"), "--output", str(w("o.run"))],
        ),
        (
            "query id with a NUL",
            ["bm25", "--docs", str(docs), "--queries", text("qn.tsv", "q\x001\tx\n"), "--output", str(w("o.run"))],
        ),
        ("unknown irds id", [*bm25, "--docs", "irds:no-such/dataset"]),
        ("irds id offline", [*bm25, "--docs", "irds:antique"]),
        ("neither docs nor index", bm25),
        # outputs
        (
            "output under a regular file",
            ["bm25", "--docs", str(docs), "--queries", str(queries), "--output", str(run / "x.run")],
        ),
        ("output is a directory", ["bm25", "--docs", str(docs), "--queries", str(queries), "--output", str(w("idx"))]),
        # models
        (
            "model name typo",
            [
                "re-rank",
                "--model",
                "minilm-l7",
                "--run",
                str(run),
                "--queries",
                str(queries),
                "--docs",
                str(docs),
                "--output",
                str(w("rr.run")),
            ],
        ),
        (
            "model folder without config",
            [
                "re-rank",
                "--model",
                str(work),
                "--run",
                str(run),
                "--queries",
                str(queries),
                "--docs",
                str(docs),
                "--output",
                str(w("rr.run")),
            ],
        ),
        (
            "unknown family",
            [
                "re-rank",
                "--model",
                "minilm-l6",
                "--family",
                "nope",
                "--run",
                str(run),
                "--queries",
                str(queries),
                "--docs",
                str(docs),
                "--output",
                str(w("rr.run")),
            ],
        ),
        (
            "saved SPLADE folder loaded as DPR",
            [
                "re-rank",
                "--model",
                str(w("splade-saved")),
                "--family",
                "dpr",
                "--run",
                str(run),
                "--queries",
                str(queries),
                "--docs",
                str(docs),
                "--output",
                str(w("x.run")),
            ],
        ),
        (
            "run document without text",
            [
                "re-rank",
                "--model",
                "minilm-l6",
                "--run",
                text("dx.run", "q1 Q0 zz 1 1 t\n"),
                "--queries",
                str(queries),
                "--docs",
                str(docs),
                "--output",
                str(w("y.run")),
            ],
        ),
        (
            "run query without text",
            [
                "re-rank",
                "--model",
                "minilm-l6",
                "--run",
                text("qx.run", "q9 Q0 d1 1 1 t\n"),
                "--queries",
                str(queries),
                "--docs",
                str(docs),
                "--output",
                str(w("y.run")),
            ],
        ),
        (
            "permutations for a bi-encoder",
            [
                "re-rank",
                "--model",
                "minilm-l6",
                "--run",
                str(run),
                "--queries",
                str(queries),
                "--docs",
                str(docs),
                "--output",
                str(w("p.run")),
                "--permutations",
                "--qrels",
                str(qrels),
            ],
        ),
        # indexes
        ("search a folder that is no index", search_argv(str(work))),
        (
            "truncated manifest",
            search_argv(
                index_copy("trm", lambda d: (d / "manifest.json").write_text((d / "manifest.json").read_text()[:50]))
            ),
        ),
        ("flipped bytes in faiss.index (search)", search_argv(index_copy("flip", lambda d: flip(d / "faiss.index")))),
        ("flipped bytes in faiss.index (verify)", ["index", "--verify", str(w("flip"))]),
        # same-size damage and stripped manifests (found on the search path, not only by --verify)
        *(
            (f"{what} (search)", search_argv(index_copy(name, damage)))
            for what, name, damage in [
                ("two ids swapped in an ids file", "swap", swap_ids),
                ("manifest without files", "nofiles", manifest_without("files")),
                ("manifest without model", "nomodel", manifest_without("model")),
                ("ids file not UTF-8", "notutf8", not_utf8_ids),
            ]
        ),
        ("flipped byte in sparse postings (search)", search_argv(str(w("sparseflip")))),
        ("flipped byte in sparse postings (verify)", ["index", "--verify", str(w("sparseflip"))]),
        ("flipped byte in on-disk IVF lists (search)", search_argv(str(w("ivfflip")))),
        ("flipped byte in on-disk IVF lists (verify)", ["index", "--verify", str(w("ivfflip"))]),
        # numeric options out of range, a misspelt metric, a folder as documents
        ("bm25 --k 0", [*bm25, "--docs", str(docs), "--k", "0"]),
        (
            "index --batch-size 0",
            ["index", "--model", "minilm-l6", "--docs", str(docs), "--output", str(w("b0")), "--batch-size", "0"],
        ),
        (
            "index --shard-size 0",
            ["index", "--model", "minilm-l6", "--docs", str(docs), "--output", str(w("s0")), "--shard-size", "0"],
        ),
        (
            "re-rank --depth 0",
            [
                "re-rank",
                "--model",
                "minilm-l6",
                "--run",
                str(run),
                "--queries",
                str(queries),
                "--docs",
                str(docs),
                "--output",
                str(w("d0.run")),
                "--depth",
                "0",
            ],
        ),
        ("search --threads 0", search_argv(str(w("sparse")), "--threads", "0")),
        ("evaluate --metrics nDCG@ten", [*evaluate, str(run), "--metrics", "nDCG@ten"]),
        ("--docs given a folder", [*bm25, "--docs", str(work)]),
        (
            "truncated vector shard",
            search_argv(
                index_copy(
                    "tv",
                    lambda d: (d / "shards" / "vectors-00000.npy").write_bytes(
                        (d / "shards" / "vectors-00000.npy").read_bytes()[:-40]
                    ),
                )
            ),
        ),
        (
            "deleted vector shard",
            search_argv(index_copy("dv", lambda d: (d / "shards" / "vectors-00000.npy").unlink())),
        ),
        (
            "swapped ids in a shard (verify)",
            [
                "index",
                "--verify",
                index_copy(
                    "sw",
                    lambda d: (d / "shards" / "ids-00000.txt").write_text(
                        "d1\nd0\n" + "".join(f"d{i}\n" for i in range(2, 60))
                    ),
                ),
            ],
        ),
        (
            "index build into an existing index",
            ["index", "--model", "minilm-l6", "--docs", str(docs), "--output", str(w("idx"))],
        ),
        ("add documents already indexed", ["index", "--output", str(w("idx")), "--add", "--docs", str(docs)]),
        ("delete an unknown document", ["index", "--output", str(w("idx")), "--delete", text("del.txt", "zz\n")]),
        ("search with a sparse-only setting", search_argv(str(w("idx")), "--budget", "10")),
        (
            "index with another kind's option",
            ["index", "--model", "minilm-l6", "--docs", str(docs), "--output", str(w("idx2")), "--nbits", "2"],
        ),
        (
            "bad FAISS factory",
            ["index", "--model", "minilm-l6", "--docs", str(docs), "--output", str(w("idx3")), "--factory", "Nope"],
        ),
        (
            "cross-encoder asked to index",
            ["index", "--model", "minilm-l6", "--family", "mono", "--docs", str(docs), "--output", str(w("idx4"))],
        ),
        (
            "bm25 index folder missing",
            ["bm25", "--index-dir", str(w("nobm25")), "--queries", str(queries), "--output", str(w("o.run"))],
        ),
        (
            "bm25 index with a truncated id list",
            ["bm25", "--index-dir", bm25_cut(), "--queries", str(queries), "--output", str(w("o.run"))],
        ),
        # fusion and mining
        (
            "fuse with mismatched weights",
            ["fuse", "--runs", str(run), str(run), "--weights", "1", "--output", str(w("f.run"))],
        ),
        ("fuse with an unknown method", ["fuse", "--runs", str(run), "--method", "nope", "--output", str(w("f.run"))]),
        (
            "mine with both run and index",
            [
                "mine",
                "--queries",
                str(queries),
                "--qrels",
                str(qrels),
                "--run",
                str(run),
                "--index",
                str(w("idx")),
                "--output",
                str(w("t.jsonl")),
            ],
        ),
        (
            "distill with an unknown teacher kind",
            [
                "distill",
                "build",
                "--teacher",
                "nope:x",
                "--first-stage",
                str(run),
                "--queries",
                str(queries),
                "--docs",
                str(docs),
                "--output",
                str(w("dist")),
            ],
        ),
    ]
    accepted = [
        (
            "qrels with a byte-order mark",
            ["evaluate", "--qrels", text("bom.qrels", "\ufeff" + qrels.read_text()), str(run), "--json"],
            lambda out: json.loads(out)["runs"][0]["judged_queries"] == 2,
        ),
        (
            "documents with one empty text",
            [*bm25, "--docs", text("oneempty.jsonl", docs.read_text() + '{"doc_id": "e", "text": ""}\n')],
            None,
        ),
        (
            "--json before a run (a bare flag)",
            [*evaluate, "--json", str(run)],
            lambda out: json.loads(out)["runs"][0]["name"].endswith("ok.run"),
        ),
        (
            "binary qrels (default metrics)",
            ["evaluate", "--qrels", text("bin2.qrels", "q1 0 d1 1\n"), str(run), "--json"],
            lambda out: json.loads(out)["runs"][0]["aggregate"]["RR@10"] == 1.0,
        ),
    ]
    results = []
    for name, argv in cases:
        t0 = time.perf_counter()
        proc = boltir(*argv)
        outcome = classify(proc, "error")
        results.append(
            {
                "case": name,
                "outcome": outcome,
                "exit": proc.returncode,
                "seconds": round(time.perf_counter() - t0, 2),
                "stderr_last_line": (proc.stderr.strip().splitlines() or [""])[-1][:300],
            }
        )
        print(f"{outcome:10s} {name}: {results[-1]['stderr_last_line'][:140]}", flush=True)
    for name, argv, check in accepted:
        proc = boltir(*argv)
        outcome = classify(proc, "ok", (lambda: check(proc.stdout)) if check else None)
        results.append(
            {
                "case": name,
                "outcome": outcome,
                "exit": proc.returncode,
                "stderr_last_line": (proc.stderr.strip().splitlines() or [""])[-1][:300],
            }
        )
        print(f"{outcome:10s} {name}", flush=True)
    counts: dict[str, int] = {}
    for r in results:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    summary = {"cases": len(results), "counts": counts, "results": results}
    OUT.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(counts))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
