"""Every command-line option of boltir, declared once: a command names the options it takes (and declares its own
few with :class:`Option`), so ``--queries``, ``--docs``, ``--batch-size``, ... mean the same everywhere. Boolean
options are bare flags (``--json``, ``--no-json``; ``--json false`` also works) that never take the next token."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

REQUIRED = object()
SOURCE = "a file, a bundled dataset name or irds:<id>"


@dataclass(frozen=True)
class Option:
    """One command-line option: its type, default (``REQUIRED`` for none), help, ``nargs`` and other spellings."""

    type: Any
    default: Any = None
    help: str = ""
    nargs: str | None = None
    aliases: tuple[str, ...] = ()
    range: dict[str, float] | None = None  # a command's own range for this option (else RANGES by name)

    def but(self, **changes: Any) -> Option:
        """This option with other settings (a command's own default or help)."""
        return replace(self, **changes)


CATALOGUE: dict[str, Option] = {
    "queries": Option(str, REQUIRED, f"queries: {SOURCE}"),
    "docs": Option(str | None, None, f"documents: {SOURCE}"),
    "qrels": Option(str | None, None, f"qrels to evaluate the run with: {SOURCE}"),
    "metrics": Option(
        str | None,
        None,
        "ir_measures metrics (default: nDCG@10, RR@10, R@1000, AP@1000, relevant = grade 2 for graded qrels)",
        nargs="+",
    ),
    "run": Option(str, REQUIRED, "candidate run: a file or <dataset>:<run>"),
    "model": Option(str, REQUIRED, "model: short name, folder or Hub id"),
    "output": Option(str, REQUIRED, "TREC run file to write"),
    "k": Option(int, 1000, "documents per query"),
    "depth": Option(int, 100, "candidates per query"),
    "batch_size": Option(int, 32, "texts per forward pass"),
    "num_workers": Option(int, 0, "DataLoader workers that tokenise"),
    "tag": Option(str, "boltir", "the run's tag column"),
    "seed": Option(int, 0, "random seed"),
    "overwrite": Option(bool, False, "delete an existing index first"),
    "batch_tokens": Option(
        int | None,
        None,
        "padded tokens per batch of documents or (query, doc) pairs: short texts go in bigger batches (default: "
        "--batch-size x the longest input; 0: batches of --batch-size texts)",
    ),
    "datatype": Option(str | None, None, "Qdrant collections: vector storage, float32 (default) or float16"),
    "quantization": Option(
        str | None, None, "Qdrant collections: int8 scalar quantisation (approximate search re-scores in full)"
    ),
    "pooled_vector": Option(
        bool, False, "Qdrant multi-vector collections: also store a pooled vector per document (--prefetch search)"
    ),
    "hnsw_threshold_kb": Option(
        int | None, None, "Qdrant collections: segments above this many KB get an HNSW graph (Qdrant's 10000)"
    ),
    "hnsw_m": Option(int | None, None, "Qdrant collections: HNSW edges per node (Qdrant's 16)"),
    "hnsw_ef_construct": Option(int | None, None, "Qdrant collections: HNSW build candidates (Qdrant's 100)"),
    "shards": Option(int | None, None, "a new collection on a Qdrant cluster: shards to spread the points over"),
    "replicas": Option(int | None, None, "a new collection on a Qdrant cluster: copies of each shard"),
    "devices": Option(str, "1", "devices (processes) per node, as Lightning takes them: 2, 4, auto"),
    "num_nodes": Option(int, 1, "nodes (each runs --devices processes; or launch with torchrun / SLURM)"),
    "accelerator": Option(str, "auto", "cpu, gpu, mps or auto"),
    "strategy": Option(str, "auto", "Lightning strategy for several processes (auto: ddp)"),
    "quantize": Option(
        str | None,
        None,
        "int8: quantize the model's linear layers for faster CPU inference; bf16: run the backbone in bfloat16 "
        "(fast on CPUs with AMX or AVX512-BF16, and on GPUs); both move scores a little",
    ),
    "backend": Option(
        str | None,
        None,
        "torch (default: on CPU the backbone runs traced where that is exact), eager (no trace) or onnx (the "
        "backbone exported, run in ONNX Runtime on CPU)",
    ),
    "report": Option(str | None, None, "with --qrels: also write an HTML report (table, per-query figures) here"),
    "limit": Option(int | None, None, "read only the first N documents and queries (a quick trial run)"),
}


# The range of every numeric option, by name (a name means the same in every command): (lowest, highest), with
# "above" for a bound the value must exceed. The parser refuses a value outside it, naming the option.
RANGES: dict[str, dict[str, float]] = {
    **{
        name: {"min": 1}
        for name in (
            "k",
            "depth",
            "batch_size",
            "num_nodes",
            "limit",
            "shard_size",
            "train_size",
            "num_centroids",
            "doc_length",
            "max_shards",
            "budget",
            "threads",
            "nprobe",
            "max_batch",
            "max_queries",
            "max_query_chars",
            "max_candidates",
            "num_negatives",
            "num_queries",
            "window",
            "stride",
            "max_words",
            "max_new_tokens",
            "output_depth",
            "hnsw_ef",
            "max_batches",
            "shards",
            "replicas",
            "hnsw_threshold_kb",
        )
    },
    **{
        name: {"min": 0}
        for name in ("batch_tokens", "num_workers", "ncandidates", "skip_top", "retries", "max_wait_ms", "k1")
    },
    "port": {"min": 0, "max": 65535},
    "b": {"min": 0, "max": 1},
    "timeout": {"above": 0},
    "requests_per_minute": {"above": 0},
}

DEVICES = ("devices", "num_nodes", "accelerator", "strategy")
COLLECTION = (  # a new engine collection's settings (boltir export, boltir index into an engine)
    "datatype",
    "quantization",
    "pooled_vector",
    "hnsw_threshold_kb",
    "hnsw_m",
    "hnsw_ef_construct",
    "shards",
    "replicas",
)


def ranks_of(a: Any) -> Any:
    """This process's ranks for the parsed ``a`` (launching the job's other processes when asked)."""
    from boltir.utils.distributed import launch

    devices: Any = int(a.devices) if str(a.devices).isdigit() else a.devices
    return launch(a.accelerator, devices, a.num_nodes, a.strategy)


def add(p: Any, *names: str, **own: Option) -> None:
    """Add the catalogue's ``names`` and the command's ``own`` options to parser ``p``."""
    for name, opt in [*((n, CATALOGUE[n]) for n in names), *own.items()]:
        kwargs: dict[str, Any] = {"type": opt.type, "help": opt.help}
        kwargs.update({"required": True} if opt.default is REQUIRED else {"default": opt.default})
        if opt.nargs:
            kwargs["nargs"] = opt.nargs
        flag = "--" + name.replace("_", "-")
        bounds = opt.range if opt.range is not None else RANGES.get(name)
        if bounds:
            getattr(p, "boltir_ranges", {})[name] = (flag, bounds)
            kwargs["help"] = f"{opt.help} ({range_text(bounds)})"
        if opt.type is bool:  # a bare flag: --x, --no-x (or --x true / false); never takes another token
            kwargs["help"] = f"{opt.help} (a flag: {flag} / --no-{flag[2:]})"
            flags: set[str] = getattr(p, "boltir_flags", set())
            flags.update({flag, *opt.aliases})
        p.add_argument(flag, *opt.aliases, **kwargs)


def range_text(bounds: dict[str, float]) -> str:
    """An option's range in words: ``at least 1``, ``0 to 65535``, ``above 0``."""
    if "above" in bounds:
        return f"above {bounds['above']:g}"
    if "max" in bounds:
        return f"{bounds['min']:g} to {bounds['max']:g}"
    return f"at least {bounds['min']:g}"


def out_of_range(flag: str, value: Any, bounds: dict[str, float]) -> str | None:
    """Why ``value`` is outside ``bounds`` (None when it is inside, or unset)."""
    values = value if isinstance(value, list) else [value]
    for v in values:
        if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if ("min" in bounds and v < bounds["min"]) or ("max" in bounds and v > bounds["max"]):
            return f"{flag} {v:g}: must be {range_text(bounds)}"
        if "above" in bounds and v <= bounds["above"]:
            return f"{flag} {v:g}: must be {range_text(bounds)}"
    return None


def collection_settings(args: Any) -> dict[str, Any]:
    """The engine-collection settings (:data:`COLLECTION`) a command line gave, by name."""
    return {name: getattr(args, name) for name in COLLECTION if getattr(args, name) not in (None, False)}
