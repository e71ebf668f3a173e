"""Plain record types passed between readers, datasets and collators."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Doc:
    """A document: its id and text."""

    doc_id: str
    text: str


@dataclass(frozen=True, slots=True)
class Query:
    """A query: its id and text."""

    query_id: str
    text: str


@dataclass(frozen=True, slots=True)
class RunRow:
    """One line of a TREC run: query id, document id, rank, score and tag."""

    query_id: str
    doc_id: str
    rank: int
    score: float
    tag: str = "boltir"


@dataclass(slots=True)
class TrainingTuple:
    """One training example: a query, its positive doc ids, negative doc ids and optional teacher scores."""

    query_id: str
    query: str
    positives: list[str]
    negatives: list[str] = field(default_factory=list)
    scores: dict[str, float] | None = None
