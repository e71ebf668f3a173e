"""``boltir distill``: build distillation data from a teacher's ranking of first-stage candidates
(``build``), and sub-sample a teacher run to a shallower first-stage depth (``subsample``)."""

from __future__ import annotations

import sys
from typing import Any

from boltir.cli import options
from boltir.cli.common import new_parser
from boltir.cli.options import CATALOGUE, REQUIRED, Option
from boltir.errors import ConfigError

USAGE = """usage: boltir distill build [options]       teacher ranking of first-stage candidates -> teacher run +
                                            manifest
       boltir distill subsample [options]   keep a teacher run's order within the first-stage top-k (depth ablation)"""


TEACHER_HELP = (
    "run:<run spec> (an existing ranking), model:<boltir model>, rrf:<model>,<model>,... (models fused), "
    "pipeline:<yaml> (any re-ranking stage), hf:<causal LM folder or name>, or openai:<model name> (with --base-url)"
)


def build_parser():
    """The options of ``boltir distill build``."""
    p = new_parser(
        "distill build",
        "Sample training queries, take their first-stage candidates to --depth, let a teacher rank them and write "
        "OUTPUT/teacher.run, queries.tsv and manifest.json. LLM answers are cached by (teacher, prompt) in --cache, "
        "so an interrupted build resumes and a rerun costs nothing.",
    )
    options.add(
        p,
        "depth",
        "seed",
        "batch_size",
        *options.DEVICES,
        teacher=Option(str, REQUIRED, TEACHER_HELP),
        first_stage=Option(str, REQUIRED, "candidate run, e.g. trec-dl-2020:bm25"),
        queries=CATALOGUE["queries"].but(type=str | None, default=None, help="queries (default: the run's)"),
        docs=CATALOGUE["docs"].but(help="documents (default: the run's dataset)"),
        output=Option(str, REQUIRED, "output folder"),
        num_queries=Option(int | None, None, "sample this many queries (default all)"),
        window=Option(int, 20, "LLM teachers: passages per prompt"),
        stride=Option(int, 10, "LLM teachers: window step, back to front"),
        max_words=Option(int, 100, "passage words shown to an LLM"),
        cache=Option(str | None, None, "answer cache (default OUTPUT/teacher-cache.sqlite)"),
        base_url=Option(str, "http://localhost:8000/v1", "openai: teachers: the endpoint"),
        api_key_env=Option(str | None, "OPENAI_API_KEY", "openai: teachers: environment variable of the key"),
        timeout=Option(float, 60.0, "seconds per LLM request"),
        retries=Option(int, 3, "retries per LLM request"),
        requests_per_minute=Option(float | None, None, "rate limit of LLM requests"),
        max_new_tokens=Option(int, 256, "LLM answer length"),
    )
    return p


def subsample_parser():
    """The options of ``boltir distill subsample``."""
    p = new_parser(
        "distill subsample",
        "Restrict a teacher run to each query's first-stage top --depth, keeping the teacher's order (scores become "
        "depth-style ranks).",
    )
    options.add(
        p,
        teacher_run=Option(str, REQUIRED, "the teacher's run"),
        first_stage=Option(str, REQUIRED, "the first-stage run the teacher ranked"),
        depth=CATALOGUE["depth"].but(default=REQUIRED),
        output=Option(str, REQUIRED, "run file to write"),
    )
    return p


def make_teacher(a, cache):
    """The teacher a ``--teacher`` spec names (``run:``, ``model:``, ``rrf:`` / ``minmax:`` / ``zscore:``,
    ``pipeline:``, ``hf:``, ``openai:``), LLM teachers answering through ``cache``.

    Raises:
        ConfigError: the spec names no known kind of teacher.
    """
    from boltir.distill.backends import OpenAIChat, TransformersChat
    from boltir.distill.teachers import (
        ListwiseLLMTeacher,
        ModelTeacher,
        RunTeacher,
        fused_models_teacher,
        pipeline_teacher,
    )

    kind, _, name = a.teacher.partition(":")
    if not name:
        raise ConfigError(
            f"--teacher {a.teacher!r}: use run:<spec>, model:<model>, rrf:<model>,<model>, "
            "pipeline:<yaml>, hf:<causal LM> or openai:<model>"
        )
    if kind == "run":
        return RunTeacher(name)
    if kind == "model":
        return ModelTeacher(name)
    if kind in ("rrf", "minmax", "zscore"):
        return fused_models_teacher(name.split(","), kind, a.batch_size)
    if kind == "pipeline":
        return pipeline_teacher(name)
    backend: Any
    if kind == "hf":
        backend = TransformersChat(name, a.max_new_tokens)
    elif kind == "openai":
        backend = OpenAIChat(
            name,
            a.base_url,
            a.api_key_env,
            a.timeout,
            a.retries,
            requests_per_minute=a.requests_per_minute,
            max_tokens=a.max_new_tokens,
        )
    else:
        raise ConfigError(
            f"--teacher {a.teacher!r}: unknown kind {kind!r} (run, model, rrf, minmax, zscore, pipeline, hf, openai)"
        )
    return ListwiseLLMTeacher(backend, a.window, a.stride, a.max_words, cache)


def build(argv: list[str]) -> int:
    """Run ``boltir distill build``: the teacher ranks sampled queries' first-stage candidates."""
    from pathlib import Path

    from boltir.data.runs import candidate_ids, read_run
    from boltir.data.sources import doc_texts, load_queries
    from boltir.distill.build import build_distillation_data
    from boltir.distill.cache import ResponseCache

    a = build_parser().parse_args(argv)
    dataset = a.first_stage.split(":", 1)[0] if ":" in a.first_stage else None
    queries_spec, docs_spec = a.queries or dataset, a.docs or dataset
    if not queries_spec or not docs_spec:
        raise ConfigError("--queries and --docs are needed when --first-stage is a file")
    first_stage = read_run(a.first_stage)
    queries = load_queries(queries_spec)
    docs = doc_texts(docs_spec, candidate_ids(first_stage, a.depth))
    ranks = options.ranks_of(a)
    cache = ResponseCache(a.cache or Path(a.output) / "teacher-cache.sqlite")
    try:
        teacher = make_teacher(a, cache)
        if ranks.world > 1:
            if not hasattr(teacher, "share"):
                raise ConfigError("--devices / --num-nodes share model and pipeline teachers, not LLM or run teachers")
            teacher.share(ranks)
        m = build_distillation_data(
            teacher,
            first_stage,
            queries,
            docs,
            a.output,
            a.depth,
            a.num_queries,
            a.seed,
            a.first_stage,
            write=ranks.is_main,
        )
    finally:
        cache.close()
    if not ranks.is_main:
        return 0
    stats = m["teacher_stats"]
    extra = f"; {stats['calls']} teacher calls, {stats['cached']} from the cache" if "calls" in stats else ""
    print(
        f"wrote {a.output}/teacher.run: {m['num_queries']} queries x depth {a.depth}, "
        f"{m['teacher_seconds_per_query']:.3f} s per query{extra}"
    )
    return 0


def subsample(argv: list[str]) -> int:
    """Run ``boltir distill subsample``: a teacher run cut to each query's first-stage top ``--depth``."""
    from boltir.data.runs import read_run
    from boltir.data.writers import write_trec_run
    from boltir.distill.build import subsample_depth

    a = subsample_parser().parse_args(argv)
    out = subsample_depth(read_run(a.teacher_run), read_run(a.first_stage), a.depth)
    write_trec_run(a.output, out, tag=f"teacher-top{a.depth}")
    print(f"wrote {a.output}: {len(out)} queries, teacher order within the first-stage top {a.depth}")
    return 0


def main(argv: list[str]) -> int:
    """Run ``boltir distill build|subsample``."""
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        raise SystemExit(0)
    if argv[0] == "build":
        return build(argv[1:])
    if argv[0] == "subsample":
        return subsample(argv[1:])
    print(f"boltir distill: unknown action {argv[0]!r}\n{USAGE}", file=sys.stderr)
    return 2
