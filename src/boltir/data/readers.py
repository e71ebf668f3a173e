"""Readers for docs (jsonl, jsonl.gz, tsv), queries (tsv), qrels, runs and training tuples.

Every reader streams, decodes bytes strictly as UTF-8 and raises :class:`DataFormatError` naming the file and
line for any malformed record, so bad input never turns into silently wrong numbers.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

from boltir.data.ids import check_id, check_ids
from boltir.data.records import Doc, Query, RunRow, TrainingTuple
from boltir.errors import DataFormatError

ID_FIELDS = ("doc_id", "docid", "docno", "id", "_id", "pid")
TEXT_FIELDS = ("text", "contents", "body", "passage")


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def iter_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    r"""Yield ``(line_number, text)`` for non-blank lines, without the newline (lines end at ``\n`` only; a UTF-8
    byte-order mark at the start is dropped); errors name the line, and a truncated ``.gz`` is an error."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise DataFormatError(path, None, "is a directory, not a file")
    lineno = 0
    try:
        with _open_binary(path) as f:
            for lineno, raw in enumerate(f, start=1):
                try:
                    line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
                except UnicodeDecodeError as e:
                    raise DataFormatError(path, lineno, f"not valid UTF-8 ({e.reason} at byte {e.start})") from None
                line = line.rstrip("\r\n")
                if line.strip():
                    yield lineno, line
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise DataFormatError(path, lineno + 1, f"compressed data is truncated or corrupt ({e})") from None


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
    elif path.is_dir():
        raise DataFormatError(
            path,
            None,
            "a folder, not a documents file (give a .jsonl, .jsonl.gz or .tsv file, a bundled dataset or irds:<id>)",
        )
    else:
        raise DataFormatError(path, None, f"unknown document format {kind!r} (expected .jsonl, .jsonl.gz or .tsv)")
    for lineno, doc in records:
        if seen is not None:
            if doc.doc_id in seen:
                raise DataFormatError(path, lineno, f"duplicate document id {doc.doc_id!r}")
            seen.add(doc.doc_id)
        yield doc


def json_object(path: Path, lineno: int, line: str) -> dict:
    """One line of a JSON-lines file as an object, or a :class:`DataFormatError` naming the file and line."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise DataFormatError(path, lineno, f"invalid JSON ({e.msg})") from None
    if not isinstance(obj, dict):
        raise DataFormatError(path, lineno, "expected a JSON object per line")
    return obj


def _read_jsonl_docs(path: Path) -> Iterator[tuple[int, Doc]]:
    for lineno, line in iter_lines(path):
        obj = json_object(path, lineno, line)
        field = next((k for k in ID_FIELDS if k in obj), None)
        if field is None:
            raise DataFormatError(path, lineno, f"missing document id field (one of {', '.join(ID_FIELDS)})")
        doc_id = check_id(obj[field], path, lineno, "document id")
        text = next((obj[k] for k in TEXT_FIELDS if k in obj), None)
        if text is None:
            raise DataFormatError(path, lineno, f"missing text field (one of {', '.join(TEXT_FIELDS)})")
        if not isinstance(text, str):
            raise DataFormatError(path, lineno, "text field is not a string")
        title = obj.get("title")
        if title:
            text = f"{title} {text}"
        yield lineno, Doc(doc_id, text)


def _read_tsv_docs(path: Path) -> Iterator[tuple[int, Doc]]:
    for lineno, line in iter_lines(path):
        parts = line.split("\t")
        if len(parts) < 2:
            raise DataFormatError(path, lineno, "expected 'doc_id<TAB>text' (missing text column)")
        text = parts[1] if len(parts) == 2 else f"{parts[2]} {parts[1]}"
        yield lineno, Doc(check_id(parts[0], path, lineno, "document id"), text)


def read_queries(path: str | os.PathLike) -> Iterator[Query]:
    """Queries from ``query_id<TAB>text`` lines."""
    path = Path(path)
    seen: set[str] = set()
    for lineno, line in iter_lines(path):
        parts = line.split("\t")
        if len(parts) < 2:
            raise DataFormatError(path, lineno, f"query {parts[0]!r} has no text (expected 'query_id<TAB>text')")
        qid, text = check_id(parts[0], path, lineno, "query id"), parts[1]
        if not text.strip():
            raise DataFormatError(path, lineno, f"query {qid!r} has empty text")
        if qid in seen:
            raise DataFormatError(path, lineno, f"duplicate query id {qid!r}")
        seen.add(qid)
        yield Query(qid, text)


def read_qrels(path: str | os.PathLike) -> dict[str, dict[str, int]]:
    """TREC qrels ``qid iteration docid grade`` into ``{qid: {docid: grade}}``; a (query, document) judged twice
    and a file without judgments are errors."""
    path = Path(path)
    qrels: dict[str, dict[str, int]] = {}
    first_line: dict[tuple[str, str], int] = {}
    for lineno, line in iter_lines(path):
        parts = line.split()
        if len(parts) != 4:
            raise DataFormatError(path, lineno, f"expected 4 columns 'qid 0 docid grade', found {len(parts)}")
        qid, docid = check_id(parts[0], path, lineno, "query id"), check_id(parts[2], path, lineno, "document id")
        try:
            rel = int(parts[3])
        except ValueError:
            raise DataFormatError(path, lineno, f"relevance grade {parts[3]!r} is not an integer") from None
        if (qid, docid) in first_line:
            raise DataFormatError(
                path, lineno, f"query {qid!r} judges document {docid!r} again (first at line {first_line[qid, docid]})"
            )
        first_line[qid, docid] = lineno
        qrels.setdefault(qid, {})[docid] = rel
    if not qrels:
        raise DataFormatError(path, None, "holds no judgments")
    return qrels


def iter_run(path: str | os.PathLike) -> Iterator[RunRow]:
    """Rows of a TREC run ``qid Q0 docid rank score tag``."""
    for _, row in _numbered_run_rows(Path(path)):
        yield row


def _numbered_run_rows(path: Path) -> Iterator[tuple[int, RunRow]]:
    for lineno, line in iter_lines(path):
        parts = line.split()
        if len(parts) != 6:
            raise DataFormatError(path, lineno, f"expected 6 columns 'qid Q0 docid rank score tag', found {len(parts)}")
        qid, _, docid, rank, score, tag = parts
        qid, docid = check_id(qid, path, lineno, "query id"), check_id(docid, path, lineno, "document id")
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
        yield lineno, RunRow(qid, docid, rank_i, score_f, tag)


def read_trec_run(path: str | os.PathLike) -> dict[str, dict[str, float]]:
    """A TREC run as ``{qid: {docid: score}}``; a doc listed twice for one query is an error."""
    run: dict[str, dict[str, float]] = {}
    for lineno, row in _numbered_run_rows(Path(path)):
        per_q = run.setdefault(row.query_id, {})
        if row.doc_id in per_q:
            raise DataFormatError(path, lineno, f"document {row.doc_id!r} appears twice for query {row.query_id!r}")
        per_q[row.doc_id] = row.score
    return run


def read_tuples(path: str | os.PathLike) -> Iterator[TrainingTuple]:
    """Training tuples, one JSON object per line: ``query_id``, ``query``, ``positives``, ``negatives``
    (doc id lists) and optional ``scores`` (teacher scores by doc id)."""
    path = Path(path)
    for lineno, line in iter_lines(path):
        obj = json_object(path, lineno, line)
        for key in ("query_id", "query", "positives"):
            if key not in obj:
                raise DataFormatError(path, lineno, f"missing field {key!r}")
        qid = check_id(obj["query_id"], path, lineno, "query id")
        if not isinstance(obj["query"], str) or not obj["query"].strip():
            raise DataFormatError(path, lineno, f"query {qid!r} has empty text")
        positives = check_ids(obj["positives"], path, lineno, "positives")
        negatives = check_ids(obj.get("negatives") or [], path, lineno, "negatives")
        scores = obj.get("scores")
        if scores is not None:
            if not isinstance(scores, dict):
                raise DataFormatError(path, lineno, "'scores' must map doc ids to numbers")
            try:
                scores = {check_id(k, path, lineno, "document id"): float(v) for k, v in scores.items()}
            except (TypeError, ValueError) as e:
                if isinstance(e, DataFormatError):
                    raise
                raise DataFormatError(path, lineno, "'scores' holds a value that is not a number") from None
        yield TrainingTuple(qid, obj["query"], positives, negatives, scores)
