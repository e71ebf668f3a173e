"""The one place that says what a model family and an index kind are.

A :class:`Family` record names a family's HF ``model_type``, its config and model classes, its role (bi-encoder or
cross-encoder), the index kind its documents go into, how a new model is built (``builder``), how it re-ranks
(``reranker``), which settings an override may change on a saved model, and its training hooks. An
:class:`IndexKind` record names an index kind's implementation. Everything else in boltir looks these records up;
nothing switches on family names.

Classes and functions are given as ``"module:attribute"`` strings so this module imports neither torch nor
transformers (``boltir --help`` stays fast); a family registered from user code may give the objects themselves.
Old spellings of family names keep working through :data:`ALIASES`, with a ``DeprecationWarning``.
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass
from typing import Any

from boltir.errors import FamilyError

ROLES = ("bi-encoder", "cross-encoder")
LENGTHS = frozenset({"query_length", "doc_length"})


def resolve(ref: Any) -> Any:
    """The object behind a ``"module:attribute"`` reference (anything else is returned as it is)."""
    if not isinstance(ref, str):
        return ref
    module, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class Family:
    """What boltir knows about one model family.

    - ``builder(path, tokenizer, seed, **settings) -> model``: a new model around a backbone (or a foreign
      checkpoint of the family, e.g. a ``*ForSequenceClassification`` folder for ``mono``); a saved folder of the
      family itself is restored by the generic loader, never by the builder.
    - ``reranker``: ``rerank(job: RerankJob) -> Run`` (:mod:`boltir.models.scoring`); None for a bi-encoder whose
      index kind re-ranks it (``index_kind``'s ``rerank``: the same scores as its search).
    - ``overridable``: settings an override may change on a saved model (anything else is refused).
    - ``converts_from``: families whose saved folders this family's builder turns into a model of its own (a
      Set-Encoder or a sparse cross-encoder built from a mono model).
    - ``detects``: how a folder that is not a boltir folder is recognised as this family: ``model_type:<t>``
      (the config's model_type) or ``architecture:<suffix>`` (an entry of ``architectures`` ending so); families
      are tried in registration order, and the first bi-encoder family without ``detects`` is the default.
    - ``projection_setting``: the config field that the training modules' ``projection_dim`` sets (None: none).
    - ``builder_settings``: settings a new model accepts beyond its config's fields (e.g. MVR's ``views``).
    """

    name: str
    role: str
    model_type: str
    config_class: Any
    model_class: Any
    builder: Any
    reranker: Any = None
    index_kind: str | None = None
    overridable: frozenset[str] = LENGTHS
    converts_from: tuple[str, ...] = ()
    detects: tuple[str, ...] = ()
    projection_setting: str | None = None
    builder_settings: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise FamilyError(f"family {self.name!r}: role {self.role!r} is not one of {', '.join(ROLES)}")

    def config_cls(self) -> Any:
        """The family's config class (imported on first use)."""
        return resolve(self.config_class)

    def model_cls(self) -> Any:
        """The family's model class (imported on first use)."""
        return resolve(self.model_class)


@dataclass(frozen=True)
class IndexKind:
    """An index kind (a representation): ``implementation`` is a subclass of
    :class:`boltir.index.kinds.IndexKindBase`, in one module that owns the representation (encode a shard, write
    and extend a generation's derived files, open and search, re-rank a run with its search's scores, its JSON for
    ``serve``). ``pipeline_tag``: the Hugging Face Hub task of models whose documents go into it (model cards).

    Attributes:
        name: the kind written into index manifests.
        implementation: the class, or its ``"module:Class"`` reference (imported on first use).
        description: one line for listings.
        pipeline_tag: the Hub pipeline tag of the kind's models.
    """

    name: str
    implementation: Any
    description: str = ""
    pipeline_tag: str = "feature-extraction"

    def impl(self) -> Any:
        """An instance of the kind's implementation class."""
        return resolve(self.implementation)()


@dataclass(frozen=True)
class Engine:
    """A search engine an index can be handed to (exported into, then searched through), named by target prefixes.

    Attributes:
        name: the engine's name.
        prefixes: how a target of this engine starts (``qdrant-edge:``, ``qdrant://``, ...).
        searcher: the searcher class (``search(queries, k)``), or its ``"module:Class"`` reference.
        exporter: ``export(index_dir, target, **options) -> record``, or its ``"module:function"`` reference.
        indexer: ``index(model, tokenizer, docs, target, **build) -> record``: a build straight into the engine,
            or its ``"module:function"`` reference.
        records: ``read(target) -> record``: the collection's boltir record (kind, model, points), refusing one
            that is missing, foreign or unfinished, or its ``"module:function"`` reference.
        extra: the pip extra that installs the engine's client.
        description: one line for listings.
    """

    name: str
    prefixes: tuple[str, ...]
    searcher: Any
    exporter: Any
    indexer: Any = None
    records: Any = None
    extra: str = ""
    description: str = ""


FAMILIES: dict[str, Family] = {}
INDEX_KINDS: dict[str, IndexKind] = {}
ENGINES: dict[str, Engine] = {}
ALIASES: dict[str, str] = {}
_BY_MODEL_TYPE: dict[str, str] = {}
_listeners: list[Any] = []


def register_family(family: Family, aliases: tuple[str, ...] = (), replace: bool = False) -> Family:
    """Add ``family`` (and old spellings of its name); its model type is registered with transformers' Auto
    classes as soon as transformers is imported."""
    if family.name in FAMILIES and not replace:
        raise FamilyError(f"family {family.name!r} is already registered")
    if family.model_type in _BY_MODEL_TYPE and _BY_MODEL_TYPE[family.model_type] != family.name and not replace:
        raise FamilyError(
            f"model_type {family.model_type!r} already belongs to family {_BY_MODEL_TYPE[family.model_type]!r}"
        )
    FAMILIES[family.name] = family
    _BY_MODEL_TYPE[family.model_type] = family.name
    for alias in aliases:
        ALIASES[alias] = family.name
    for listener in _listeners:
        listener(family)
    return family


def unregister_family(name: str) -> None:
    """Remove a family (tests that register toy families clean up with this)."""
    family = FAMILIES.pop(name)
    _BY_MODEL_TYPE.pop(family.model_type, None)
    for alias in [a for a, n in ALIASES.items() if n == name]:
        del ALIASES[alias]


def _add(table: dict[str, Any], record: Any, what: str, replace: bool) -> Any:
    """Put ``record`` into ``table`` under its name, refusing a second record of the name unless ``replace``."""
    if record.name in table and not replace:
        raise FamilyError(f"{what} {record.name!r} is already registered")
    table[record.name] = record
    return record


def register_index_kind(kind: IndexKind, replace: bool = False) -> IndexKind:
    """Add an index kind (a representation).

    Args:
        kind: the record.
        replace: replace a kind of the same name instead of refusing it.

    Returns:
        The record.

    Raises:
        FamilyError: a kind of that name is already registered.
    """
    return _add(INDEX_KINDS, kind, "index kind", replace)


def on_register(listener: Any) -> None:
    """Call ``listener(family)`` for every family registered from now on (the HF Auto registration uses it)."""
    _listeners.append(listener)


def canonical(name: str) -> str:
    """The registered name of a family given by name or an old spelling (which warns)."""
    if name in FAMILIES:
        return name
    if name in _BY_MODEL_TYPE:
        return _BY_MODEL_TYPE[name]
    if name in ALIASES:
        new = ALIASES[name]
        warnings.warn(f"family name {name!r} is deprecated; use {new!r}", DeprecationWarning, stacklevel=3)
        return new
    raise FamilyError(f"unknown model family {name!r}; choose one of {', '.join(FAMILIES)}")


def get_family(name: str) -> Family:
    """The family record of a name, a model type or an old spelling."""
    return FAMILIES[canonical(name)]


def family_of_model_type(model_type: str | None) -> Family | None:
    """The family that saves folders with ``model_type`` (None for other model types)."""
    name = _BY_MODEL_TYPE.get(model_type or "")
    return FAMILIES[name] if name else None


def families(role: str | None = None) -> list[Family]:
    """The registered families (of one role: ``bi-encoder`` or ``cross-encoder``), in registration order."""
    return [f for f in FAMILIES.values() if role is None or f.role == role]


def register_engine(engine: Engine, replace: bool = False) -> Engine:
    """Add a search engine back-end.

    Args:
        engine: the record.
        replace: replace an engine of the same name instead of refusing it.

    Returns:
        The record.

    Raises:
        FamilyError: an engine of that name is already registered.
    """
    return _add(ENGINES, engine, "engine", replace)


def engine_of(target: Any) -> Engine | None:
    """The engine a target names by its prefix (``qdrant-edge:FOLDER``, ...), None for an index folder."""
    if not isinstance(target, str):
        return None
    return next((e for e in ENGINES.values() if target.startswith(e.prefixes)), None)


def unregister_index_kind(name: str) -> None:
    """Remove an index kind (tests that register toy kinds clean up with this)."""
    INDEX_KINDS.pop(name)


def get_index_kind(name: str) -> IndexKind:
    """The record of a registered index kind.

    Raises:
        FamilyError: no kind has that name.
    """
    try:
        return INDEX_KINDS[name]
    except KeyError:
        raise FamilyError(f"unknown index kind {name!r}; choose one of {', '.join(INDEX_KINDS)}") from None


def family_of(model: Any) -> Family:
    """The family of a loaded boltir model (through its config's ``model_type``).

    Raises:
        FamilyError: the model belongs to no registered family.
    """
    config = getattr(getattr(model, "module", model), "config", None)
    family = family_of_model_type(getattr(config, "model_type", None))
    if family is None:
        raise FamilyError(
            f"{type(model).__name__} ({getattr(config, 'model_type', None)}) belongs to no registered family; "
            f"known families: {', '.join(FAMILIES)}"
        )
    return family


def reranker_of(family: Family) -> Any:
    """The function that re-ranks a :class:`boltir.models.scoring.RerankJob` for a family: its own ``reranker``,
    else its index kind's ``rerank`` (so a bi-encoder re-ranks with the scores its index search gives)."""
    if family.reranker is not None:
        return resolve(family.reranker)
    if family.index_kind is None:
        raise FamilyError(f"family {family.name!r} names neither a reranker nor an index kind")
    return get_index_kind(family.index_kind).impl().rerank


def detect_foreign(config: dict[str, Any]) -> Family:
    """The family a folder that no boltir family saved is read as (see :attr:`Family.detects`)."""
    model_type = config.get("model_type", "")
    architectures = config.get("architectures") or []
    for fam in FAMILIES.values():
        for rule in fam.detects:
            how, _, value = rule.partition(":")
            if how == "model_type" and model_type == value:
                return fam
            if how == "architecture" and any(a.endswith(value) for a in architectures):
                return fam
    return next(f for f in FAMILIES.values() if f.role == "bi-encoder" and not f.detects)


def _builtin(
    name: str,
    role: str,
    module: str,
    config: str,
    model: str,
    builder: str,
    reranker: str | None,
    index_kind: str | None = None,
    overridable: frozenset[str] = LENGTHS,
    aliases: tuple[str, ...] = (),
    **extra: Any,
) -> None:
    register_family(
        Family(
            name,
            role,
            f"boltir-{name}",
            f"{module}:{config}",
            f"{module}:{model}",
            f"{module}:{builder}",
            f"boltir.models.scoring:{reranker}" if reranker else None,
            index_kind,
            overridable,
            **extra,
        ),
        aliases=aliases,
    )


_BI = "boltir.models.bi_encoders"
_CE = "boltir.models.cross_encoders"
_PRUNING = frozenset({"query_top_k", "doc_top_k"})
_builtin(
    "dpr",
    "bi-encoder",
    f"{_BI}.dpr",
    "DprConfig",
    "DprModel",
    "build_dpr",
    None,
    "dense",
    aliases=("bi-encoder",),
    projection_setting="projection_dim",
    description="single-vector bi-encoder (pooling, projection, dot or cosine)",
)
_builtin(
    "splade",
    "bi-encoder",
    f"{_BI}.splade",
    "SpladeConfig",
    "SpladeModel",
    "build_splade",
    None,
    "sparse",
    LENGTHS | _PRUNING,
    detects=("architecture:ForMaskedLM",),
    description="learned-sparse bi-encoder over the vocabulary (MLM head, log(1 + ReLU), max pooling)",
)
_builtin(
    "unicoil",
    "bi-encoder",
    f"{_BI}.unicoil",
    "UniCoilConfig",
    "UniCoilModel",
    "build_unicoil",
    None,
    "sparse",
    LENGTHS | _PRUNING,
    description="learned-sparse bi-encoder with one weight per token",
)
_builtin(
    "colbert",
    "bi-encoder",
    f"{_BI}.colbert",
    "ColbertConfig",
    "ColbertModel",
    "build_colbert",
    None,
    "multivector",
    LENGTHS | {"attend_to_expansion"},
    detects=("architecture:HF_ColBERT",),
    projection_setting="embedding_dim",
    builder_settings=("markers",),
    description="multi-vector late-interaction bi-encoder (MaxSim)",
)
_builtin(
    "coil",
    "bi-encoder",
    f"{_BI}.coil",
    "CoilConfig",
    "CoilModel",
    "build_coil",
    None,
    "coil",
    projection_setting="token_dim",
    description="[CLS] vector + token vectors matched on the same vocabulary id",
)
_builtin(
    "mvr",
    "bi-encoder",
    f"{_BI}.mvr",
    "MvrConfig",
    "MvrModel",
    "build_mvr",
    "rerank_scored",
    "dense",
    projection_setting="projection_dim",
    builder_settings=("views",),
    description="several view vectors per document, best view scores",
)
_builtin(
    "mono",
    "cross-encoder",
    f"{_CE}.mono",
    "MonoConfig",
    "MonoModel",
    "build_mono",
    "rerank_pairs",
    aliases=("cross-encoder",),
    detects=("architecture:ForSequenceClassification",),
    description="point-wise cross-encoder",
)
_builtin(
    "set-encoder",
    "cross-encoder",
    f"{_CE}.set_encoder",
    "SetEncoderConfig",
    "SetEncoder",
    "build_set_encoder",
    "rerank_lists",
    overridable=LENGTHS | {"sample_missing_docs", "depth", "attention_backend"},
    converts_from=("mono",),
    description="list-wise cross-encoder with inter-passage attention",
)
_builtin(
    "sparse-ce",
    "cross-encoder",
    f"{_CE}.sparse",
    "SparseCrossEncoderConfig",
    "SparseCrossEncoder",
    "build_sparse_ce",
    "rerank_segments",
    overridable=LENGTHS | {"attention_backend"},
    aliases=("sparse-cross-encoder", "sparse"),
    converts_from=("mono",),
    builder_settings=("pattern",),
    description="cross-encoder with windowed, asymmetric attention",
)
_builtin(
    "mono-t5",
    "cross-encoder",
    f"{_CE}.mono_t5",
    "MonoT5Config",
    "MonoT5",
    "build_mono_t5",
    "rerank_segments",
    detects=("architecture:T5ForConditionalGeneration",),
    description="encoder-decoder re-ranker on T5 (monoT5 true/false logits, RankT5 score heads)",
)

for _name, _cls, _desc, _tag in (
    ("dense", "DenseKind", "FAISS over one vector (or several views) per document", "sentence-similarity"),
    ("sparse", "SparseKind", "impact-ordered inverted index over term ids", "feature-extraction"),
    ("multivector", "MultiVectorKind", "token vectors with PLAID-style centroids", "sentence-similarity"),
    ("coil", "CoilKind", "token vectors inverted by vocabulary id", "sentence-similarity"),
):
    register_index_kind(IndexKind(_name, f"boltir.index.{_name}:{_cls}", _desc, _tag))

register_engine(
    Engine(
        "qdrant",
        ("qdrant-edge:", "qdrant-local:", "qdrant://", "qdrants://"),
        "boltir.index.engines.qdrant:QdrantSearcher",
        "boltir.index.engines.qdrant:export_index",
        "boltir.index.engines.ingest:index_into_collection",
        "boltir.index.engines.qdrant:read_record",
        "qdrant",
        "Qdrant: dense, sparse and multi-vector collections, embedded (qdrant-edge-py), local or on a cluster",
    )
)

__all__ = [
    "ALIASES",
    "ENGINES",
    "Engine",
    "FAMILIES",
    "INDEX_KINDS",
    "Family",
    "IndexKind",
    "engine_of",
    "register_engine",
    "canonical",
    "detect_foreign",
    "families",
    "family_of",
    "family_of_model_type",
    "get_family",
    "get_index_kind",
    "on_register",
    "register_family",
    "register_index_kind",
    "reranker_of",
    "resolve",
    "unregister_family",
    "unregister_index_kind",
]
