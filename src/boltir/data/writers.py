"""Writers for runs, qrels and training tuples; every write is atomic (temp file, then rename)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any

from boltir.data.ids import check_id
from boltir.data.records import RunRow, TrainingTuple
from boltir.utils.atomic import atomic_open, atomic_write_json


def write_trec_run(
    path: str | os.PathLike,
    run: Mapping[str, Mapping[str, float]],
    tag: str = "boltir",
    depth: int | None = None,
    meta: dict | None = None,
) -> None:
    """Write ``{qid: {docid: score}}`` as a TREC run, each query sorted by descending score; ids its reader would
    refuse (whitespace, control characters, empty) are refused before anything is written.

    With ``meta``, a ``<path>.meta.json`` sidecar records how the run was made (command, inputs, versions) and the
    run file's size and checksum; it is written after the run, so a sidecar never describes another run.
    """
    where = os.fspath(path)
    check_id(tag, where, None, "run tag")
    for qid, docs in run.items():
        check_id(qid, where, None, "query id")
        for docid in docs:
            check_id(docid, where, None, "document id")
    with atomic_open(path) as f:
        for qid, docs in run.items():
            ranked = sorted(docs.items(), key=lambda kv: (-kv[1], kv[0]))
            if depth is not None:
                ranked = ranked[:depth]
            for rank, (docid, score) in enumerate(ranked, start=1):
                f.write(f"{qid} Q0 {docid} {rank} {score:.6f} {tag}\n")
    if meta is not None:
        from boltir.utils.provenance import file_fingerprint, provenance

        record = {"bytes": os.path.getsize(path), "fingerprint": file_fingerprint(path)}
        atomic_write_json(f"{where}.meta.json", provenance(**meta, run_file=record))


def write_run_rows(path: str | os.PathLike, rows: Iterable[RunRow]) -> None:
    """Write run rows as they are (ranks and tags included), atomically."""
    with atomic_open(path) as f:
        for r in rows:
            f.write(f"{r.query_id} Q0 {r.doc_id} {r.rank} {r.score:.6f} {r.tag}\n")


def write_qrels(path: str | os.PathLike, qrels: Mapping[str, Mapping[str, int]]) -> None:
    """Write qrels ``{qid: {docid: grade}}`` in TREC format, atomically."""
    with atomic_open(path) as f:
        for qid, docs in qrels.items():
            for docid, rel in docs.items():
                f.write(f"{qid} 0 {docid} {rel}\n")


def write_tuples(path: str | os.PathLike, tuples: Iterable[TrainingTuple]) -> int:
    """Training tuples as JSON lines (the format ``read_tuples`` reads); returns how many were written."""
    n = 0
    with atomic_open(path) as f:
        for t in tuples:
            obj: dict[str, Any] = {k: getattr(t, k) for k in ("query_id", "query", "positives", "negatives")}
            if t.scores is not None:
                obj["scores"] = t.scores
            f.write(json.dumps(obj, ensure_ascii=False) + "\n")
            n += 1
    return n
