"""The ``boltir`` command. Only the names and one-line descriptions live here, so ``boltir --help`` answers
without importing torch; each subcommand's module is imported when it runs."""

from __future__ import annotations

import contextvars
import importlib
import sys

from boltir.errors import BoltirError

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("boltir.cli.demo", "the main job: BM25 then MiniLM dense scoring on TREC DL 2019, evaluated"),
    "fit": ("boltir.cli.fit", "fine-tune a model from a YAML config (LightningCLI)"),
    "index": (
        "boltir.cli.index",
        "encode a corpus into a resumable index: FAISS, inverted (SPLADE) or multi-vector (ColBERT); add/delete",
    ),
    "search": (
        "boltir.cli.search",
        "search a dense, sparse or multi-vector index, write a TREC run, evaluate it if qrels are given",
    ),
    "re-rank": ("boltir.cli.rerank", "re-rank the candidates of a TREC run with a model"),
    "fuse": ("boltir.cli.fuse", "fuse runs (reciprocal rank fusion, min-max or z-score normalised sums)"),
    "bm25": ("boltir.cli.bm25", "index a corpus with bm25s and search it into a TREC run"),
    "mine": ("boltir.cli.mine", "mine hard negatives from a run, a model or an index into training tuples"),
    "distill": ("boltir.cli.distill", "build distillation data from a teacher (LLM, model or run) ranking candidates"),
    "export": ("boltir.cli.export", "copy an index into a search engine collection (Qdrant), resumable"),
    "evaluate": ("boltir.cli.evaluate", "evaluate TREC runs with ir_measures, with significance tests"),
    "serve": ("boltir.cli.serve", "serve an index, a re-ranker or a model over HTTP (search, rerank, encode)"),
    "datasets": ("boltir.cli.datasets", "list the bundled datasets, their runs, and the named models"),
}


# optional modules -> the extra that installs them (docs/install.md)
EXTRAS = {
    "fastapi": "serve",
    "uvicorn": "serve",
    "fastapi_offline": "serve",
    "matplotlib": "report",
    "pyterrier": "pyterrier",
    "pandas": "pandas",
    "peft": "peft",
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "onnxscript": "onnx",
    "qdrant_edge": "qdrant",
    "qdrant_client": "qdrant",
}


def usage() -> str:
    """The text of ``boltir --help``: every command with its one-line description."""
    width = max(map(len, COMMANDS))
    lines = [
        "usage: boltir <command> [options]   (boltir <command> --help for a command's options)",
        "",
        "Fine-tune, index, search, re-rank and evaluate transformer models for information retrieval.",
        "",
        "commands:",
    ]
    lines += [f"  {name.ljust(width)}  {desc}" for name, (_, desc) in COMMANDS.items()]
    return "\n".join(lines)


def _version() -> str:
    from boltir.version import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    """Run ``boltir <command> [options]``.

    Args:
        argv: the arguments after ``boltir`` (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 done, 1 a user error (named on stderr), 2 a usage error, 3 a bug in boltir.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from boltir.version import __version__

        print(f"boltir {__version__}")
        return 0
    name = argv[0]
    if name not in COMMANDS:
        from boltir.utils.suggest import did_you_mean

        print(f"boltir: unknown command {name!r}{did_you_mean(name, COMMANDS)}\n\n{usage()}", file=sys.stderr)
        return 2
    from boltir.utils.log import show_info_on_stderr

    show_info_on_stderr()
    module = importlib.import_module(COMMANDS[name][0])
    try:  # in a context of its own, so what a command sets (e.g. --limit) ends with it
        return int(contextvars.copy_context().run(module.main, argv[1:]) or 0)
    except ModuleNotFoundError as e:  # an optional dependency the command needs is not installed
        root = (e.name or "").split(".")[0]
        how = f"pip install 'boltir[{EXTRAS[root]}]'" if root in EXTRAS else f"pip install {root}"
        print(f"boltir {name}: error: {root} is not installed; this command needs it: {how}", file=sys.stderr)
        return 1
    except (BoltirError, OSError) as e:  # boltir's own errors name the input; the OS's name the file
        print(f"boltir {name}: error: {e}", file=sys.stderr)
        return 1
    except Exception:  # anything else is a bug in boltir, not a mistake of the user's: say so, with the traceback
        import traceback

        traceback.print_exc()
        print(
            f"boltir {name}: internal error: the traceback above is a bug in boltir {_version()}; please report it "
            "with the command that caused it",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    sys.exit(main())
