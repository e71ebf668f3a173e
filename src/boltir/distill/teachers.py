"""Teachers rank a query's first-stage candidates: a list-wise LLM (sliding window over a chat back-end, every
answer cached), any boltir model, or an existing run. All share ``rank(qid, query, candidates, docs)`` ->
candidate ids, best first."""

from __future__ import annotations

from typing import Any, Protocol

from boltir.distill.backends import TeacherError
from boltir.distill.cache import ResponseCache
from boltir.distill.prompts import listwise_messages, parse_permutation, sliding_windows
from boltir.errors import ConfigError


class Teacher(Protocol):
    """What every teacher does: order a query's candidates, and describe itself for the data's manifest."""

    name: str

    def rank(self, qid: str, query: str, candidates: list[str], docs: dict[str, str]) -> list[str]:
        """The candidates of query ``qid`` (text ``query``), best first; ``docs`` holds their texts."""
        ...

    def describe(self) -> dict[str, Any]:
        """The teacher's settings, as the distillation manifest records them."""
        ...


class ListwiseLLMTeacher:
    """RankGPT-style list-wise ranking with a sliding window (``window`` passages, moved ``stride`` towards the
    top, back to front). An answer without a single valid identifier counts as failed: it is asked again up to
    ``malformed_retries`` times (not cached), then a :class:`TeacherError` names the query and window. Repaired
    answers (missing, repeated, out-of-range ids) are used and counted in ``stats``."""

    def __init__(
        self,
        backend: Any,
        window: int = 20,
        stride: int = 10,
        max_words: int = 100,
        cache: ResponseCache | None = None,
        malformed_retries: int = 2,
    ):
        sliding_windows(1, window, stride)  # validates the sizes
        self.backend, self.window, self.stride, self.max_words = backend, window, stride, max_words
        self.cache, self.malformed_retries = cache, malformed_retries
        self.name = backend.name
        self.stats = {"calls": 0, "cached": 0, "windows": 0, "repaired": 0, "malformed_retried": 0}

    def describe(self) -> dict[str, Any]:
        """The teacher's settings, as the distillation manifest records them."""
        return {
            "type": "listwise-llm",
            "backend": self.name,
            "window": self.window,
            "stride": self.stride,
            "max_words": self.max_words,
        }

    def _answer(self, messages: list[dict[str, str]], n: int, where: str) -> list[int]:
        if self.cache is not None:
            hit = self.cache.get(self.name, messages)
            if hit is not None:
                self.stats["cached"] += 1
                return parse_permutation(hit, n).order
        for _ in range(self.malformed_retries + 1):
            self.stats["calls"] += 1
            try:
                answer = self.backend.complete(messages)
            except TeacherError as e:
                raise TeacherError(f"{where}: {e}") from e
            parsed = parse_permutation(answer, n)
            if parsed.valid:
                if parsed.missing or parsed.repeated or parsed.out_of_range:
                    self.stats["repaired"] += 1
                if self.cache is not None:
                    self.cache.put(self.name, messages, answer)
                return parsed.order
            self.stats["malformed_retried"] += 1
        raise TeacherError(
            f"{where}: {self.malformed_retries + 1} answers held no passage identifier (last: {answer[:120]!r})"
        )

    def rank(self, qid: str, query: str, candidates: list[str], docs: dict[str, str]) -> list[str]:
        """The candidates in the LLM's order, window by window from the back of the list to the front."""
        order = list(candidates)
        for start, end in sliding_windows(len(order), self.window, self.stride):
            part = order[start:end]
            messages = listwise_messages(query, [docs[d] for d in part], self.max_words)
            perm = self._answer(messages, len(part), f"query {qid}, window {start + 1}-{end}")
            order[start:end] = [part[i] for i in perm]
            self.stats["windows"] += 1
        return order


class RunTeacher:
    """An existing run as the teacher (e.g. the bundled RankVicuna / RankGPT re-rankings): its order over the
    candidates; candidates it did not rank follow in their first-stage order."""

    def __init__(self, spec: str):
        from boltir.data.runs import read_run

        self.spec, self.run = spec, read_run(spec)
        self.name = f"run:{spec}"

    def describe(self) -> dict[str, Any]:
        """The teacher's settings, as the distillation manifest records them."""
        return {"type": "run", "run": self.spec}

    def rank(self, qid: str, query: str, candidates: list[str], docs: dict[str, str]) -> list[str]:
        """The candidates in the run's order; candidates the run lacks follow, in their first-stage order."""
        scores = self.run.get(qid, {})
        ranked = sorted((d for d in candidates if d in scores), key=lambda d: (-scores[d], d))
        return ranked + [d for d in candidates if d not in scores]


class PipelineTeacher:
    """Any boltir re-ranking stage as the teacher: a :class:`~boltir.pipeline.Reranker`, a
    :class:`~boltir.pipeline.RerankFusion` of several (e.g. a dense and a learned-sparse model: a strong teacher
    that costs no LLM), or a pipeline of re-rankers. All queries are ranked in one call, so a bi-encoder encodes each
    candidate document once."""

    def __init__(self, stage: Any, name: str, description: dict[str, Any] | None = None):
        self.stage, self.name = stage, name
        self.description = description or {"type": "pipeline", "pipeline": name}

    def describe(self) -> dict[str, Any]:
        """The teacher's settings, as the distillation manifest records them."""
        return dict(self.description)

    def share(self, ranks: Any) -> PipelineTeacher:
        """Let the processes of a multi-process job share every model scoring in this teacher."""
        from boltir.pipeline import Reranker

        stack = [self.stage]
        while stack:
            stage = stack.pop()
            if isinstance(stage, Reranker):
                stage.ranks = ranks
                if ranks.device is not None:
                    stage.model.to(ranks.device)
            stack += list(getattr(stage, "rerankers", []))
        return self

    def rank_all(
        self, candidates: dict[str, list[str]], queries: dict[str, str], docs: dict[str, str]
    ) -> dict[str, list[str]]:
        """Every query's candidates in the teacher's order (ties keep the first-stage order)."""
        run = {q: {d: float(-i) for i, d in enumerate(ds)} for q, ds in candidates.items()}
        scores = self.stage.rerank(run, {q: queries[q] for q in candidates}, docs, None)
        out = {}
        for q, ds in candidates.items():
            position = {d: i for i, d in enumerate(ds)}
            out[q] = sorted(ds, key=lambda d: (-scores[q][d], position[d]))
        return out

    def rank(self, qid: str, query: str, candidates: list[str], docs: dict[str, str]) -> list[str]:
        """The candidates in the order the re-ranking stage scores them."""
        return self.rank_all({qid: candidates}, {qid: query}, docs)[qid]


class ModelTeacher(PipelineTeacher):
    """Any boltir model (bi-encoder, cross-encoder, sparse cross-encoder, Set-Encoder) as the teacher."""

    def __init__(self, model: str, family: str | None = None, batch_size: int = 32):
        from boltir.pipeline import Reranker

        reranker = Reranker(model, depth=None, batch_size=batch_size, family=family, show_progress=False)
        super().__init__(reranker, f"model:{model}", {"type": "model", "model": model, "family": reranker.family})
        self.model = model


def fused_models_teacher(models: list[str], method: str = "rrf", batch_size: int = 32) -> PipelineTeacher:
    """The fusion of several models' re-rankings as one teacher (``rrf:minilm-l6,splade-tiny``)."""
    from boltir.pipeline import Reranker, RerankFusion

    stage = RerankFusion([Reranker(m, depth=None, batch_size=batch_size) for m in models], method)
    name = f"{method}:{','.join(models)}"
    return PipelineTeacher(stage, name, {"type": "fusion", "method": method, "models": models})


def pipeline_teacher(config: str) -> PipelineTeacher:
    """A teacher from a YAML file declaring any re-ranking stage by class path.

    A file that fuses the two bundled models::

        class_path: boltir.pipeline.RerankFusion
        init_args:
          rerankers:
            - {class_path: boltir.pipeline.Reranker, init_args: {model: minilm-l6, depth: null}}
            - {class_path: boltir.pipeline.Reranker, init_args: {model: splade-tiny, depth: null}}
    """
    import yaml
    from jsonargparse import ArgumentParser

    from boltir.pipeline import Reranking

    with open(config, encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--stage", type=Reranking)
    try:
        stage = parser.instantiate_classes(parser.parse_object({"stage": spec})).stage
    except Exception as e:  # jsonargparse says which key or class is wrong
        raise ConfigError(f"{config}: not a re-ranking stage ({str(e).splitlines()[0]})") from None
    return PipelineTeacher(stage, f"pipeline:{config}", {"type": "pipeline", "config": spec})
