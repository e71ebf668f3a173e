"""Resolve what the user names — a file, a bundled dataset name or an ``irds:`` ir_datasets id — to data.

Bundled datasets (see ``data/README.md``): ``trec-dl-2019``, ``trec-dl-2020``, ``msmarco-devsmall-sample``,
``msmarco-train-triples-sample``, ``vaswani``. Runs of a dataset are named ``<dataset>:<run>``, e.g.
``trec-dl-2019:bm25`` or ``trec-dl-2020:rankvicuna-7b.bm25``.
"""

from __future__ import annotations

import contextvars
import itertools
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from boltir.data.ids import check_id
from boltir.data.readers import read_docs, read_qrels, read_queries, read_tuples
from boltir.data.records import Doc, TrainingTuple
from boltir.errors import BoltirError, ConfigError, DataFormatError, MissingDataError

IRDS_PREFIX = "irds:"


def bundled(folder: str) -> Path:
    """A folder boltir ships (``data`` or ``configs``): inside the installed package (a wheel carries them as
    ``boltir/bundled/``), else in the source checkout the package runs from."""
    package = Path(__file__).resolve().parents[1]
    inside = package / "bundled" / folder
    return inside if inside.is_dir() else package.parents[1] / folder


def data_root() -> Path:
    """The folder of bundled datasets: ``$BOLTIR_DATA``, the installed package's, or the checkout's ``data/``."""
    env = os.environ.get("BOLTIR_DATA")
    root = Path(env) if env else bundled("data")
    if not root.is_dir():
        raise FileNotFoundError(
            f"bundled data folder {root} not found; set BOLTIR_DATA to the 'data' folder of a boltir checkout"
        )
    return root


def config_root() -> Path:
    """The folder of example training configs (``boltir fit --config <this>/fit-minilm-mono.yaml``)."""
    return bundled("configs")


@dataclass(frozen=True)
class NamedDataset:
    """A bundled dataset: where its documents, queries, qrels, runs and training data are."""

    name: str
    description: str
    folder: str
    docs: str | None = None
    queries: str | None = None
    qrels: str | None = None
    split: str | None = None
    train: str | None = None
    num_docs: int | None = None
    extra_runs: dict[str, str] = field(default_factory=dict)
    union: tuple[str, ...] = ()  # datasets whose documents (and queries and qrels, when union_queries) it combines
    union_queries: bool = True

    def path(self, rel: str) -> Path:
        """The path of a file of this dataset."""
        return data_root() / self.folder / rel

    def runs(self) -> dict[str, Path]:
        """Run files of this dataset by short name."""
        found: dict[str, Path] = {}
        if self.split:
            for sub in ("runs", "runs/teachers"):
                d = self.path(sub)
                if not d.is_dir():
                    continue
                for p in sorted(d.glob(f"*.{self.split}*.run")):
                    name = re.sub(rf"\.{self.split}(\.top100)?", "", p.name)[: -len(".run")]
                    found[name] = p
        for name, rel in self.extra_runs.items():
            found[name] = self.path(rel)
        return found

    def query_ids(self) -> frozenset[str] | None:
        """The query ids of this split, or None when the folder is not split."""
        if not self.split:
            return None
        return _split_ids(str(self.path("query_split.tsv")), self.split)


@lru_cache(maxsize=8)
def _split_ids(path: str, split: str) -> frozenset[str]:
    from boltir.data.readers import iter_lines

    ids = set()
    for lineno, line in iter_lines(path):
        parts = line.split("\t")
        if len(parts) != 2:
            raise DataFormatError(path, lineno, "expected 'query_id<TAB>split'")
        if parts[1].strip() == split:
            ids.add(parts[0])
    return frozenset(ids)


_POOL = "msmarco-trecdl-pool"
DATASETS: dict[str, NamedDataset] = {
    d.name: d
    for d in [
        NamedDataset(
            "trec-dl-2019",
            "TREC DL 2019 passages: 43 judged queries, graded qrels, 24,884-passage pool "
            "with first-stage and LLM teacher runs (test set)",
            _POOL,
            "docs.jsonl.gz",
            "queries.tsv",
            "qrels.txt",
            split="dl19",
            num_docs=24884,
        ),
        NamedDataset(
            "trec-dl-2020",
            "TREC DL 2020 passages: 54 judged queries, graded qrels, same pool and runs (train/tune set)",
            _POOL,
            "docs.jsonl.gz",
            "queries.tsv",
            "qrels.txt",
            split="dl20",
            num_docs=24884,
        ),
        NamedDataset(
            "msmarco-devsmall-sample",
            "1,178 MS MARCO dev-small queries, 12,392 passages, qrels, BM25 candidates and training tuples",
            "msmarco-devsmall-bm25-sample",
            "docs.jsonl.gz",
            "queries.tsv",
            "qrels.txt",
            train="train.jsonl.gz",
            num_docs=12392,
            extra_runs={"bm25-sample": "candidates.bm25-sample.run"},
        ),
        NamedDataset(
            "msmarco-train-triples-sample",
            "100 MS MARCO train triples (query, positive, negative)",
            "msmarco-train-misc",
            "triples-sample.docs.jsonl.gz",
            "triples-sample.queries.tsv",
            train="triples-sample.train.jsonl.gz",
            num_docs=146,
            extra_runs={"rankzephyr": "rank-distillm-rankzephyr.train100.run"},
        ),
        NamedDataset(
            "msmarco-passages",
            "every bundled MS MARCO passage (the TREC DL pool, the dev-small sample and the train triples: 37,331)",
            "",
            num_docs=37331,
            union=("trec-dl-2020", "msmarco-devsmall-sample", "msmarco-train-triples-sample"),
            union_queries=False,
        ),
        NamedDataset(
            "msmarco-train-queries",
            "every bundled MS MARCO query outside the DL19 test set: dev-small sample, train triples and DL20 (1,332), "
            "with their passages and qrels (distillation training queries)",
            "",
            num_docs=37331,
            union=("msmarco-devsmall-sample", "msmarco-train-triples-sample", "trec-dl-2020"),
        ),
        NamedDataset(
            "vaswani",
            "Vaswani (NPL): 11,429 physics abstracts, 93 queries, binary qrels",
            "vaswani",
            "docs.jsonl.gz",
            "queries.tsv",
            "qrels.txt",
            num_docs=11429,
        ),
    ]
}


def get_dataset(name: str) -> NamedDataset:
    """The bundled dataset of a name.

    Raises:
        MissingDataError: no bundled dataset has that name (the message lists them).
    """
    from boltir.utils.suggest import did_you_mean

    try:
        return DATASETS[name]
    except KeyError:
        raise MissingDataError(
            f"unknown dataset {name!r}{did_you_mean(name, DATASETS)}; bundled: {', '.join(DATASETS)} "
            f"(or give a file path, or an ir_datasets id as 'irds:<id>')"
        ) from None


def _irds(spec: str) -> Any:
    import ir_datasets

    try:
        return ir_datasets.load(spec[len(IRDS_PREFIX) :])
    except KeyError:
        raise DataFormatError(spec, None, "is not an ir_datasets id (they are listed at ir-datasets.com)") from None


def _irds_records(spec: str, what: str) -> Iterator[Any]:
    """The ``what`` records (docs, queries, qrels, scoreddocs) of an ir_datasets id, with clear errors when the id
    has none or ir_datasets cannot provide them (it downloads on first use, which needs network access)."""
    ds = _irds(spec)
    if not getattr(ds, f"has_{what}")():
        raise DataFormatError(spec, None, f"this ir_datasets id has no {what}")
    try:
        for record in getattr(ds, f"{what}_iter")():
            if hasattr(record, "query_id"):
                check_id(record.query_id, spec, None, "query id")
            if hasattr(record, "doc_id"):
                check_id(record.doc_id, spec, None, "document id")
            yield record
    except BoltirError:
        raise
    except Exception as e:
        raise DataFormatError(
            spec,
            None,
            f"ir_datasets could not provide its {what} ({type(e).__name__}: {(str(e).splitlines() or [''])[0][:120]}"
            "...); it "
            "downloads data on first use, which needs network access",
        ) from None


def _irds_table(records: Any, value: str) -> dict[str, Any]:
    """``{query_id: {doc_id: record.<value>}}`` of ir_datasets qrels or scored documents."""
    out: dict[str, Any] = {}
    for r in records:
        out.setdefault(r.query_id, {})[r.doc_id] = getattr(r, value)
    return out


def _component(spec: str, what: str) -> Path:
    """The file behind ``spec`` for component ``what`` (a path as given, or a dataset's file)."""
    p = Path(spec)
    if p.exists() or os.sep in spec or "." in p.name and spec not in DATASETS:
        return p
    ds = get_dataset(spec)
    rel = getattr(ds, what)
    if rel is None:
        raise ConfigError(f"dataset {spec!r} has no {what}")
    return ds.path(rel)


LIMIT: contextvars.ContextVar[int | None] = contextvars.ContextVar("boltir_limit", default=None)


def set_limit(n: int | None) -> None:
    """Read only the first ``n`` documents and queries (a small trial: ``--limit``) in the current context;
    lookups of documents by id (re-ranking, training) still see them all."""
    if n is not None and n <= 0:
        raise ConfigError(f"--limit {n}: give a positive number")
    LIMIT.set(n)


def load_docs(spec: str) -> Iterator[Doc]:
    """Stream documents from a file, a bundled dataset or ``irds:<id>`` (the first ``--limit`` only)."""
    n = LIMIT.get()
    return itertools.islice(_docs(spec), n) if n else _docs(spec)


def _docs(spec: str) -> Iterator[Doc]:
    if spec.startswith(IRDS_PREFIX):
        for d in _irds_records(spec, "docs"):
            yield Doc(d.doc_id, d.default_text())
        return
    if spec in DATASETS and DATASETS[spec].union:
        seen: set[str] = set()
        for part in DATASETS[spec].union:  # a passage in several collections is one document
            for d in _docs(part):
                if d.doc_id not in seen:
                    seen.add(d.doc_id)
                    yield d
        return
    yield from read_docs(_component(spec, "docs"))


def _union(spec: str, load: Any, what: str) -> dict[str, Any]:
    """The queries or qrels of a union dataset (of the parts that have them); one id holding different content in
    two parts is an error."""
    out: dict[str, Any] = {}
    for part in DATASETS[spec].union:
        if getattr(DATASETS[part], what) is None:
            continue
        for key, value in load(part).items():
            if key in out and out[key] != value:
                raise DataFormatError(spec, None, f"query {key!r} differs between the datasets it combines")
            out[key] = value
    return out


def count_docs(spec: str) -> int | None:
    """Number of documents when cheaply known (bundled datasets, ir_datasets), else None."""
    if spec.startswith(IRDS_PREFIX):
        try:
            count = _irds(spec).docs_count()
            return min(count, LIMIT.get() or count)
        except Exception:
            return None
    total = DATASETS[spec].num_docs if spec in DATASETS else None
    n = LIMIT.get()
    return min(total, n) if total is not None and n else total


def load_queries(spec: str) -> dict[str, str]:
    """Queries ``{qid: text}`` (file order) from a file, a dataset (its split only) or ``irds:<id>`` (the first
    ``--limit`` only)."""
    queries = _queries(spec)
    n = LIMIT.get()
    return dict(itertools.islice(queries.items(), n)) if n else queries


def _queries(spec: str) -> dict[str, str]:
    if spec.startswith(IRDS_PREFIX):
        return {q.query_id: q.default_text() for q in _irds_records(spec, "queries")}
    if spec in DATASETS and DATASETS[spec].union and DATASETS[spec].union_queries:
        return _union(spec, _queries, "queries")
    queries = {q.query_id: q.text for q in read_queries(_component(spec, "queries"))}
    if spec in DATASETS and (ids := DATASETS[spec].query_ids()) is not None:
        queries = {qid: t for qid, t in queries.items() if qid in ids}
    return queries


def load_qrels(spec: str) -> dict[str, dict[str, int]]:
    """Qrels ``{qid: {docid: grade}}`` from a file, a dataset (its split only) or ``irds:<id>``."""
    if spec.startswith(IRDS_PREFIX):
        return _irds_table(_irds_records(spec, "qrels"), "relevance")
    if spec in DATASETS and DATASETS[spec].union and DATASETS[spec].union_queries:
        return _union(spec, load_qrels, "qrels")
    qrels = read_qrels(_component(spec, "qrels"))
    if spec in DATASETS and (ids := DATASETS[spec].query_ids()) is not None:
        qrels = {qid: d for qid, d in qrels.items() if qid in ids}
    return qrels


def companion(given: str | None, run_spec: str, field: str) -> str:
    """``given``, else the bundled dataset that a ``<dataset>:<run>`` spec names (its queries, qrels or documents);
    for a run given as a file the companion must be given (the error names the config ``field``)."""
    given = given or dataset_of_run(run_spec)
    if given is None:
        raise ConfigError(f"{field} is required when the run is a file ({run_spec})")
    return given


def dataset_of_run(spec: str) -> str | None:
    """The bundled dataset a ``<dataset>:<run>`` spec names (None for a run file)."""
    return spec.split(":", 1)[0] if ":" in spec and not Path(spec).exists() else None


def run_path(spec: str) -> Path:
    """The file of a run given as a path or as ``<dataset>:<run>``."""
    if ":" in spec and not Path(spec).exists():
        name, run = spec.split(":", 1)
        runs = get_dataset(name).runs()
        if run not in runs:
            from boltir.utils.suggest import did_you_mean

            raise MissingDataError(
                f"dataset {name!r} has no run {run!r}{did_you_mean(run, runs)}; it has: {', '.join(sorted(runs))}"
            )
        return runs[run]
    return Path(spec)


def check_source(spec: str, what: str) -> None:
    """Check, before anything is read, that ``spec`` can give ``what`` (docs, queries, qrels or a run): an existing
    file, ``irds:<id>`` (checked when read), a bundled dataset that has it, or ``<dataset>:<run>``.

    Raises:
        MissingDataError: an unknown dataset or run (with the closest name), or a file that does not exist.
        ConfigError: a bundled dataset without that component.
    """
    if spec.startswith(IRDS_PREFIX) or Path(spec).exists():
        return
    if what == "run":
        run_path(spec)
    elif os.sep in spec or "." in Path(spec).name:
        raise MissingDataError(f"{spec}: no such file (for the {what})")
    else:
        _component(spec, what)


def load_tuples(spec: str) -> Iterator[TrainingTuple]:
    """Training tuples from a jsonl file or a dataset that has them."""
    yield from read_tuples(_component(spec, "train"))


def doc_texts(spec: str, wanted: set[str] | None = None) -> dict[str, str]:
    """``{doc_id: text}`` for the wanted ids (or all), for re-ranking and training lookups."""
    out = {}
    for d in _docs(spec):
        if wanted is None or d.doc_id in wanted:
            out[d.doc_id] = d.text
    if wanted is not None and (missing := wanted - out.keys()):
        example = ", ".join(sorted(missing)[:5])
        raise MissingDataError(f"{len(missing)} document ids are not in {spec!r} (e.g. {example})")
    return out


def irds_table(spec: str, what: str, value: str) -> dict[str, Any]:
    """``{qid: {docid: value}}`` from an ``irds:<id>`` dataset's ``what`` records (qrels, scoreddocs)."""
    return _irds_table(_irds_records(spec, what), value)
