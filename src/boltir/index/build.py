"""Building an index of any kind: stream documents, let the kind encode each shard, write the kind's derived files,
then the manifest. Interrupted builds resume after the last complete shard. Also what an index records of the model
that built it, and the check that a model searching or extending it is that model."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from boltir.data.records import Doc
from boltir.errors import ConfigError, InvalidIndexError
from boltir.index.integrity import index_files
from boltir.index.kinds import Generation
from boltir.index.lock import writer_lock
from boltir.index.storage import ShardedVectorWriter, read_manifest
from boltir.utils.distributed import SINGLE, Ranks
from boltir.utils.log import log
from boltir.utils.progress import progress_bar
from boltir.utils.provenance import input_fingerprint, provenance


def chunks(docs: Iterator[Doc], size: int) -> Iterator[list[Doc]]:
    """Documents in lists of ``size`` (the last may be shorter)."""
    chunk: list[Doc] = []
    for d in docs:
        chunk.append(d)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def new_chunks(
    docs: str, writer: ShardedVectorWriter, output: Path, shard_size: int, max_shards: int | None
) -> Iterator[list[Doc] | None]:
    """The chunks of ``docs`` a (resumed) build still has to write, one per shard (of this writer's rank: shard
    ``i`` is rank ``i % world``'s), with ``writer.next_index`` set to the shard's number; yields None when
    ``max_shards`` new shards are written, so the caller stops early (a rerun resumes)."""
    from boltir.data.sources import load_docs

    done = writer.done_indices
    written = seen = 0
    for i, chunk in enumerate(chunks(load_docs(docs), shard_size)):
        seen = i + 1
        if i in done or i % writer.world != writer.rank:
            continue
        if max_shards is not None and written >= max_shards:
            yield None
            return
        writer.next_index = i
        yield chunk
        written += 1
    if done and max(done) >= seen:
        raise InvalidIndexError(f"{docs} has fewer documents than the partial index in {output}")


def _crash_hook(writer: ShardedVectorWriter) -> None:
    """Test hook: ``BOLTIR_TEST_CRASH="RANK:N"`` kills rank RANK the moment it has written N shards (as a lost node
    would die), so the tests can check that a rerun redoes only what that rank had not written."""
    import os

    spec = os.environ.get("BOLTIR_TEST_CRASH")
    if spec:
        rank, count = (int(x) for x in spec.split(":"))
        if writer.rank == rank and len(writer.shards) == count:
            os._exit(3)


def encode_shards(
    writer: ShardedVectorWriter,
    docs: str,
    output: Path,
    shard_size: int,
    max_shards: int | None,
    show_progress: bool,
    add_chunk: Callable[[list[Doc], Any], None],
    empty_fate: str,
) -> float | None:
    """The shard loop of every index kind: ``add_chunk(documents, progress)`` encodes and writes each shard the
    (resumed) build still needs. Returns the seconds it took, or None when ``max_shards`` stopped it early."""
    from boltir.data.sources import count_docs

    started = time.perf_counter()
    with progress_bar(
        total=count_docs(docs), desc=f"index {docs}", unit="doc", disable=not show_progress, initial=writer.done_count
    ) as bar:
        for chunk in new_chunks(docs, writer, output, shard_size, max_shards):
            if chunk is None:
                return None
            writer.pending_empty = sum(1 for d in chunk if not d.text.strip())
            add_chunk(chunk, bar)
            _crash_hook(writer)
    if writer.world == 1:  # several ranks: checked on rank 0 once their shards are merged
        check_empty(docs, writer.done_count, writer.empty_count, empty_fate)
    return time.perf_counter() - started


def check_empty(docs: str, count: int, empty: int, fate: str) -> None:
    """A corpus with no document, or with no document that has text, is an error; empty documents among others are
    indexed and counted in one warning that says what the index kind does with them (``fate``: its
    ``empty_documents``).

    Raises:
        InvalidIndexError: the corpus is empty, or every document's text is.
    """
    if count == 0:
        raise InvalidIndexError(f"{docs}: the corpus is empty; nothing to index")
    if empty == count:
        raise InvalidIndexError(f"{docs}: all {count} documents have empty text; nothing to index")
    if empty:
        log.warning(f"{docs}: {empty} of {count} documents have empty text (indexed; {fate})")


def model_record(model: Any, source: str, tokenizer: Any = None) -> dict[str, Any]:
    """What an index records of the model that built it (any bi-encoder family); the weights and tokenizer
    fingerprints are checked whenever the index is searched or extended."""
    from boltir.models.base import tokenizer_fingerprint, weights_fingerprint

    cfg = model.config
    record = {
        "source": source,
        "model_type": cfg.model_type,
        "fingerprint": weights_fingerprint(model),
        "embedding_dim": cfg.embedding_dim,
        "doc_length": cfg.doc_length,
        "query_length": cfg.query_length,
    }
    if tokenizer is not None:
        record["tokenizer_fingerprint"] = tokenizer_fingerprint(tokenizer)
    for optional in ("similarity", "doc_top_k"):
        if hasattr(cfg, optional):
            record[optional] = getattr(cfg, optional)
    return record


def start_build(
    kind: str,
    model: Any,
    tokenizer: Any,
    docs: str,
    output: Path,
    model_source: str,
    shard_size: int,
    overwrite: bool,
    fresh_heads: bool = False,
    ranks: Ranks = SINGLE,
    **build_extra: Any,
):
    """``(model record, docs record, writer)`` of a new or resumed build of any index kind (this rank's writer).
    With ``fresh_heads`` the model is saved beside the index once (by rank 0): heads drawn at load time would
    differ at search time, so search loads that copy."""
    record = model_record(model, model_source, tokenizer)
    docs_record = input_fingerprint(docs)
    build_config = {
        "kind": kind,
        "model_fingerprint": record["fingerprint"],
        "tokenizer_fingerprint": record["tokenizer_fingerprint"],
        "docs": docs_record,
        "shard_size": shard_size,
        "doc_length": model.config.doc_length,
        **build_extra,
    }
    writer = ShardedVectorWriter(output, build_config, overwrite=overwrite, rank=ranks.rank, world=ranks.world)
    if fresh_heads and ranks.is_main:
        from boltir.models.base import save_model_folder

        if not (output / "model" / "config.json").exists():
            save_model_folder(model, tokenizer, output / "model", provenance(source=model_source))
        record["saved_copy"] = "model"
    return record, docs_record, writer


def index_kind_of_model(model: Any) -> str:
    """The index kind a loaded model's documents go into (from its family's registry record)."""
    from boltir.registry import families, family_of

    family = family_of(model)
    if family.index_kind is None:
        kinds = ", ".join(f.name for f in families("bi-encoder"))
        raise ConfigError(f"a {family.name} model cannot build an index: index needs a bi-encoder ({kinds})")
    return family.index_kind


def reloads_identically(model: Any, source: str) -> bool:
    """Whether loading ``source`` again gives ``model``'s weights without a saved copy: a saved boltir folder does;
    a backbone does when the family drew no head of its own (heads are drawn from a seed, but a saved copy keeps
    an index searchable even if that drawing changes)."""
    from boltir.models.loading import saved_family
    from boltir.models.sources import NAMED_MODELS

    if not (Path(source).is_dir() or source in NAMED_MODELS):
        return False
    if saved_family(source) is not None:
        return True
    return not any(getattr(model, h, None) is not None for h in getattr(model, "heads", ()))


def document_encoder(
    model: Any,
    tokenizer: Any,
    batch_size: int,
    progress: Any = None,
    num_workers: int = 0,
    batch_tokens: int | None = None,
) -> Any:
    """``encode(texts)``: the model's document representations with a build's batching (what index kinds call)."""
    batching = {"batch_size": batch_size, "num_workers": num_workers, "batch_tokens": batch_tokens}
    return functools.partial(model.encode, kind="doc", progress=progress, tokenizer=tokenizer, **batching)


def build_index(
    model: Any,
    tokenizer: Any,
    docs: str,
    output: str | Path,
    *,
    model_source: str,
    batch_size: int = 32,
    shard_size: int = 16384,
    num_workers: int = 0,
    overwrite: bool = False,
    max_shards: int | None = None,
    show_progress: bool = True,
    fresh_heads: bool | None = None,
    kind: str | None = None,
    batch_tokens: int | None = None,
    quantize: str | None = None,
    backend: str | None = None,
    ranks: Ranks = SINGLE,
    **options: Any,
) -> dict[str, Any] | None:
    """Index the documents of ``docs`` into ``output`` with the index kind of the model's family (or ``kind``);
    ``options`` are the kind's knobs (e.g. ``factory`` for dense, ``nbits`` for multi-vector indexes). Returns
    the manifest, or None when ``max_shards`` stopped the build early (rerun to resume).

    ``fresh_heads``: save the model beside the index, because ``model_source`` would not give the same weights
    again. By default it is saved unless ``model_source`` is a saved boltir folder or a named model whose
    family adds no layer of its own.

    ``ranks``: this process's place in a job of several (:func:`boltir.utils.distributed.launch`): each rank encodes
    the shards ``i`` with ``i % world == rank`` (resumable per rank), then rank 0 merges them in order and writes
    the derived files and the manifest - the same index a single process builds."""
    import contextlib

    from boltir.registry import get_index_kind

    if fresh_heads is None:
        fresh_heads = not reloads_identically(model, model_source)
    impl = get_index_kind(kind or index_kind_of_model(model)).impl()
    options = impl.check_options(model, {k: v for k, v in options.items() if v is not None})
    output = Path(output)
    with contextlib.ExitStack() as held:
        # one lock for the job, taken by rank 0 before any rank writes
        ranks.check_on_main(lambda: held.enter_context(writer_lock(output, "build")))
        extra = impl.build_config(model, options)
        begin = functools.partial(
            start_build, impl.name, model, tokenizer, docs, output, model_source, shard_size, overwrite, fresh_heads
        )
        if ranks.is_main:  # rank 0 clears the folder (overwrite) before the others open their writers
            record, docs_record, writer = begin(ranks=ranks, **extra)
        ranks.barrier()
        if not ranks.is_main:
            record, docs_record, writer = begin(ranks=ranks, **extra)
        from boltir.models.backends import prepare

        prepare(model, backend, quantize)  # after the model record: it keeps the fingerprint of the given weights
        encode = document_encoder(model, tokenizer, batch_size, None, num_workers, batch_tokens)
        seconds = encode_shards(
            writer,
            docs,
            output,
            shard_size,
            max_shards,
            show_progress and ranks.is_main,
            lambda chunk, bar: impl.encode_shard(writer, model, chunk, functools.partial(encode, progress=bar)),
            impl.empty_documents,
        )
        if any(s is None for s in ranks.gather(seconds)):  # a rank stopped at --max-shards: all stop, resumable
            return None
        assert seconds is not None
        if ranks.world > 1:
            writer.finish_rank()  # atomically, before the barrier; rank 0 also waits for each file to show
            ranks.barrier()  # every rank's shards are written
            if not ranks.is_main:
                ranks.barrier()  # rank 0 writes the derived files and the manifest
                return read_manifest(output)
            writer.merge_ranks()
            check_empty(docs, writer.done_count, writer.empty_count, impl.empty_documents)
        fields = impl.write_derived(Generation(output, writer.shards, 0, len(tokenizer)), record, options)
        build: dict[str, Any] = {"batch_size": batch_size, "shard_size": shard_size}
        build["encode_seconds_this_run"] = round(seconds, 3)
        if batch_tokens:
            build["batch_tokens"] = batch_tokens
        if quantize:
            build["quantize"] = quantize
        if backend and backend not in ("torch", "eager"):  # eager and traced PyTorch give the same vectors
            build["backend"] = backend
        if ranks.world > 1:
            build.update(ranks=ranks.world)
        files = index_files(output, writer.shards, list(impl.derived_files))
        manifest = writer.finish(
            {
                "kind": impl.name,
                **fields,
                "model": record,
                "docs": docs_record,
                "build": build,
                "provenance": provenance(),
                "files": files,
            }
        )
        impl.published(output, manifest)
        ranks.barrier()
        return manifest
