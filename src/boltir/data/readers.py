"""Readers for docs (jsonl, jsonl.gz, tsv), queries (tsv), qrels, runs and training tuples.

Every reader streams, decodes bytes strictly as UTF-8 and raises :class:`DataFormatError` naming the file and
line for any malformed record, so bad input never turns into silently wrong numbers.
"""

from __future__ import annotations

import gzip
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path

from boltir.data.errors import DataFormatError
from boltir.data.records import Doc, Query, RunRow, TrainingTuple

ID_FIELDS = ("doc_id", "docid", "docno", "id", "_id", "pid")
TEXT_FIELDS = ("text", "contents", "body", "passage")


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def iter_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for non-blank lines, without the newline; errors name the line."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    with _open_binary(path) as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataFormatError(path, lineno, f"not valid UTF-8 ({e.reason} at byte {e.start})") from None
            line = line.rstrip("\r\n")
            if line.strip():
                yield lineno, line


def _kind(path: Path) -> str:
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def read_docs(path: str | os.PathLike, check_duplicates: bool = True) -> Iterator[Doc]:
    """Documents from ``.jsonl[.gz]`` (id and text fields) or ``.tsv[.gz]`` (``id<TAB>text[<TAB>title]``)."""
    path = Path(path)
    kind = _kind(path)
    seen: set[str] | None = set() if check_duplicates else None
    if kind in ("jsonl", "json"):
        records = _read_jsonl_docs(path)
    elif kind in ("tsv", "txt"):
        records = _read_tsv_docs(path)
    else:
        raise DataFormatError(path, None, f"unknown document format {kind!r} (expected .jsonl, .jsonl.gz or .tsv)")
    for lineno, doc in records:
        if not doc.text.strip():
            raise DataFormatError(path, lineno, f"document {doc.doc_id!r} has empty text")
        if seen is not None:
            if doc.doc_id in seen:
                raise DataFormatError(path, lineno, f"duplicate document id {doc.doc_id!r}")
            seen.add(doc.doc_id)
        yield doc


def _read_jsonl_docs(path: Path) -> Iterator[tuple[int, Doc]]:
    for lineno, line in iter_lines(path):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataFormatError(path, lineno, f"invalid JSON ({e.msg})") from None
        if not isinstance(obj, dict):
            raise DataFormatError(path, lineno, "expected a JSON object per line")
        doc_id = next((obj[k] for k in ID_FIELDS if k in obj), None)
        if doc_id is None:
            raise DataFormatError(path, lineno, f"missing document id field (one of {', '.join(ID_FIELDS)})")
        text = next((obj[k] for k in TEXT_FIELDS if k in obj), None)
        if text is None:
            raise DataFormatError(path, lineno, f"missing text field (one of {', '.join(TEXT_FIELDS)})")
        if not isinstance(text, str):
            raise DataFormatError(path, lineno, "text field is not a string")
        title = obj.get("title")
        if title:
            text = f"{title} {text}"
        yield lineno, Doc(str(doc_id), text)


def _read_tsv_docs(path: Path) -> Iterator[tuple[int, Doc]]:
    for lineno, line in iter_lines(path):
        parts = line.split("\t")
        if len(parts) < 2:
            raise DataFormatError(path, lineno, "expected 'doc_id<TAB>text' (missing text column)")
        text = parts[1] if len(parts) == 2 else f"{parts[2]} {parts[1]}"
        yield lineno, Doc(parts[0], text)


def read_queries(path: str | os.PathLike) -> Iterator[Query]:
    """Queries from ``query_id<TAB>text`` lines."""
    path = Path(path)
    seen: set[str] = set()
    for lineno, line in iter_lines(path):
        parts = line.split("\t")
        if len(parts) < 2:
            raise DataFormatError(path, lineno, f"query {parts[0]!r} has no text (expected 'query_id<TAB>text')")
        qid, text = parts[0].strip(), parts[1]
        if not text.strip():
            raise DataFormatError(path, lineno, f"query {qid!r} has empty text")
        if qid in seen:
            raise DataFormatError(path, lineno, f"duplicate query id {qid!r}")
        seen.add(qid)
        yield Query(qid, text)


def read_qrels(path: str | os.PathLike) -> dict[str, dict[str, int]]:
    """TREC qrels ``qid iteration docid grade`` into ``{qid: {docid: grade}}``."""
    path = Path(path)
    qrels: dict[str, dict[str, int]] = {}
    for lineno, line in iter_lines(path):
        parts = line.split()
        if len(parts) != 4:
            raise DataFormatError(path, lineno, f"expected 4 columns 'qid 0 docid grade', found {len(parts)}")
        qid, _, docid, grade = parts
        try:
            rel = int(grade)
        except ValueError:
            raise DataFormatError(path, lineno, f"relevance grade {grade!r} is not an integer") from None
        qrels.setdefault(qid, {})[docid] = rel
    return qrels


def iter_run(path: str | os.PathLike) -> Iterator[RunRow]:
    """Rows of a TREC run ``qid Q0 docid rank score tag``."""
    path = Path(path)
    for lineno, line in iter_lines(path):
        parts = line.split()
        if len(parts) != 6:
            raise DataFormatError(path, lineno, f"expected 6 columns 'qid Q0 docid rank score tag', found {len(parts)}")
        qid, _, docid, rank, score, tag = parts
        try:
            score_f = float(score)
        except ValueError:
            raise DataFormatError(path, lineno, f"score {score!r} is not a number") from None
        if math.isnan(score_f):
            raise DataFormatError(path, lineno, "score is NaN")
        try:
            rank_i = int(rank)
        except ValueError:
            raise DataFormatError(path, lineno, f"rank {rank!r} is not an integer") from None
        yield RunRow(qid, docid, rank_i, score_f, tag)


def read_run(path: str | os.PathLike) -> dict[str, dict[str, float]]:
    """A TREC run as ``{qid: {docid: score}}``; a doc listed twice for one query is an error."""
    run: dict[str, dict[str, float]] = {}
    for row in iter_run(path):
        per_q = run.setdefault(row.query_id, {})
        if row.doc_id in per_q:
            raise DataFormatError(path, None, f"document {row.doc_id!r} appears twice for query {row.query_id!r}")
        per_q[row.doc_id] = row.score
    return run


def read_tuples(path: str | os.PathLike) -> Iterator[TrainingTuple]:
    """Training tuples, one JSON object per line: ``query_id``, ``query``, ``positives``, ``negatives``
    (doc id lists) and optional ``scores`` (teacher scores by doc id)."""
    path = Path(path)
    for lineno, line in iter_lines(path):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataFormatError(path, lineno, f"invalid JSON ({e.msg})") from None
        for key in ("query_id", "query", "positives"):
            if key not in obj:
                raise DataFormatError(path, lineno, f"missing field {key!r}")
        if not isinstance(obj["query"], str) or not obj["query"].strip():
            raise DataFormatError(path, lineno, f"query {obj['query_id']!r} has empty text")
        positives = [str(p) for p in obj["positives"]]
        negatives = [str(n) for n in obj.get("negatives") or []]
        scores = obj.get("scores")
        if scores is not None:
            if not isinstance(scores, dict):
                raise DataFormatError(path, lineno, "'scores' must map doc ids to numbers")
            try:
                scores = {str(k): float(v) for k, v in scores.items()}
            except (TypeError, ValueError):
                raise DataFormatError(path, lineno, "'scores' holds a value that is not a number") from None
        yield TrainingTuple(str(obj["query_id"]), obj["query"], positives, negatives, scores)
