"""Opening an index of any kind: read its manifest and check its files, load and check the model that built it,
and make the searcher of its kind. Building lives in :mod:`boltir.index.build`; this module never writes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from boltir.errors import ConfigError, InvalidIndexError
from boltir.index.integrity import check_contents, check_sizes
from boltir.index.storage import check_shard, derived_name, read_manifest


def load_index_model(
    index_dir: Path, manifest: dict[str, Any], model: str | None = None, loaded: tuple[Any, Any] | None = None
) -> tuple[Any, Any]:
    """``(model, tokenizer)`` to search or extend an index with: ``loaded``, else ``model``, else the copy saved
    beside the index, else the recorded source, loaded as the family recorded in the manifest, with the
    document length the index was built with; its weights must be the ones that built the index."""
    rec = manifest["model"]
    if loaded is None:
        from boltir.models.loading import load_module

        source = model or (str(index_dir / rec["saved_copy"]) if rec.get("saved_copy") else rec["source"])
        loaded = load_module(source, family=rec["model_type"], doc_length=rec.get("doc_length"))
    check_model(index_dir, rec, *loaded)
    return loaded


def check_model(index_dir: Path, record: dict[str, Any], model: Any, tokenizer: Any) -> None:
    """Raise a clear error unless ``model`` and ``tokenizer`` are the ones the index was built with."""
    from boltir.models.base import tokenizer_fingerprint, weights_fingerprint

    got = weights_fingerprint(model)
    if got != record["fingerprint"]:
        raise InvalidIndexError(
            f"{index_dir} was built with model {record['source']!r} (weights "
            f"{record['fingerprint']}); the given model has different weights ({got})"
        )
    want = record.get("tokenizer_fingerprint")  # indexes from before tokenizer fingerprints have none
    if want is not None and tokenizer is not None and tokenizer_fingerprint(tokenizer) != want:
        raise InvalidIndexError(
            f"{index_dir} was built with the tokenizer of {record['source']!r}; the given "
            "tokenizer turns text into different ids (other vocabulary, added tokens or "
            "normalisation)"
        )


def open_index(folder: str | Path, kind: str | None = None, check_shards: bool = False) -> dict[str, Any]:
    """The manifest of a complete index (of ``kind`` when given) whose files are as recorded: every size, the
    content of every small file and of the files its kind reads whole, sampled blocks of every large file
    (:func:`boltir.index.integrity.check_contents`); with ``check_shards`` every shard's arrays are read and
    checked too.

    Raises:
        InvalidIndexError: no complete index, an index of another kind, or a file not as recorded (named).
    """
    from boltir.registry import get_index_kind

    manifest = read_manifest(folder)
    if kind is not None and manifest.get("kind") != kind:  # before any file is read
        raise InvalidIndexError(f"{folder}: a {manifest.get('kind')!r} index, not a {kind} one")
    check_sizes(Path(folder), manifest)
    g = manifest.get("generation", 0)
    whole = get_index_kind(manifest["kind"]).impl().read_whole
    check_contents(Path(folder), manifest, [derived_name(n, g) for n in whole])
    if check_shards:
        for s in manifest["shards"]:
            check_shard(Path(folder), s)
    return manifest


def open_searcher(
    folder: str | Path, model: str | None = None, loaded: tuple[Any, Any] | None = None, **knobs: Any
) -> Any:
    """The searcher of the index in ``folder``, whatever its kind, or of an engine collection when ``folder`` is an
    engine target such as ``qdrant-edge:FOLDER`` (``knobs`` go to the searcher).

    Raises:
        ConfigError: a knob the searcher does not take (the message lists the ones it does).
    """
    import inspect

    from boltir.registry import engine_of, get_index_kind, resolve

    engine = engine_of(folder)
    if engine is not None:
        searcher, what = resolve(engine.searcher), f"{engine.name} collection"
    else:
        kind = read_manifest(folder).get("kind", "")
        searcher, what = get_index_kind(kind).impl().searcher_class(), f"{kind} index"
    params = {p for cls in searcher.__mro__ if "__init__" in vars(cls) for p in inspect.signature(cls).parameters}
    accepted = params - {"index_dir", "spec", "model", "loaded", "common", "self", "args", "kwargs"}
    unknown = sorted(set(knobs) - accepted)
    if unknown:
        raise ConfigError(
            f"{', '.join(unknown)}: not a search setting of a {what} (its settings: {', '.join(sorted(accepted))})"
        )
    return searcher(folder, model=model, loaded=loaded, **knobs)
