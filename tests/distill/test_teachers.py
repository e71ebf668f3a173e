"""List-wise LLM teachers against a real OpenAI-compatible HTTP server on loopback (slow answers, HTTP 500s,
malformed permutations), the answer cache and resuming an interrupted build; run and model teachers."""

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from boltir.distill.backends import OpenAIChat, TeacherError
from boltir.distill.build import build_distillation_data
from boltir.distill.cache import ResponseCache
from boltir.distill.teachers import ListwiseLLMTeacher, RunTeacher


class FakeLLM:
    """Answers chat completions; ``plans[query]`` is a list of behaviours used one per request (then 'good'):
    good (best passage = the one with the most 'x'), slow, 500, malformed, repeat (ids repeated and missing)."""

    def __init__(self):
        self.plans: dict[str, list[str]] = {}
        self.requests: dict[str, int] = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                assert self.path == "/v1/chat/completions" and body["model"] == "fake"
                user = body["messages"][-1]["content"]
                query = re.search(r"Query: (.*)", user).group(1)
                passages = re.findall(r"^\[(\d+)\] (.*)$", user, re.M)
                with outer.lock:
                    outer.requests[query] = outer.requests.get(query, 0) + 1
                    plan = outer.plans.get(query, [])
                    action = plan.pop(0) if plan else "good"
                if action == "slow":
                    time.sleep(0.5)
                if action == "500":
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b"internal error")
                    return
                ranked = sorted(passages, key=lambda p: (-p[1].count("x"), int(p[0])))
                text = " > ".join(f"[{i}]" for i, _ in ranked)
                if action == "malformed":
                    text = "Sorry, I cannot help with that."
                elif action == "repeat":
                    text = f"[{ranked[0][0]}] > [{ranked[0][0]}] > [77]"
                data = json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def llm():
    server = FakeLLM()
    yield server
    server.server.shutdown()


def backend(llm, retries=2):
    return OpenAIChat("fake", llm.url, api_key_env=None, timeout=0.25, max_retries=retries, backoff=0.01)


DOCS = {f"d{i}": "x" * i + f" passage {i}" for i in range(1, 8)}  # d7 is the best, d1 the worst
QUERIES = {"q1": "alpha", "q2": "beta"}
FIRST_STAGE = {q: {d: float(i) for i, d in enumerate(DOCS)} for q in QUERIES}  # d7 first-stage top, reversed below


def test_slow_and_failing_answers_are_retried(llm):
    llm.plans["alpha"] = ["slow", "500", "good"]
    teacher = ListwiseLLMTeacher(backend(llm), window=7, stride=3)
    order = teacher.rank("q1", "alpha", ["d1", "d2", "d3", "d4", "d5", "d6", "d7"], DOCS)
    assert order == ["d7", "d6", "d5", "d4", "d3", "d2", "d1"]
    assert llm.requests["alpha"] == 3 and teacher.stats["calls"] == 1


def test_malformed_answers_are_asked_again_and_repaired_ones_used(llm):
    llm.plans["alpha"] = ["malformed", "good"]
    llm.plans["beta"] = ["repeat"]
    teacher = ListwiseLLMTeacher(backend(llm), window=7, stride=3)
    assert teacher.rank("q1", "alpha", ["d1", "d2", "d7"], DOCS) == ["d7", "d2", "d1"]
    assert teacher.stats["malformed_retried"] == 1
    # [3] > [3] > [77]: d7 first, the rest in input order
    assert teacher.rank("q2", "beta", ["d1", "d2", "d7"], DOCS) == ["d7", "d1", "d2"]
    assert teacher.stats["repaired"] == 1


def test_persistent_failure_is_a_clear_error(llm):
    llm.plans["alpha"] = ["500"] * 10
    teacher = ListwiseLLMTeacher(backend(llm, retries=1), window=7, stride=3)
    with pytest.raises(TeacherError, match=r"query q1, window 1-3: .*failed 2 times; last: HTTP 500"):
        teacher.rank("q1", "alpha", ["d1", "d2", "d3"], DOCS)
    llm.plans["alpha"] = ["malformed"] * 10
    teacher = ListwiseLLMTeacher(backend(llm), window=7, stride=3, malformed_retries=1)
    with pytest.raises(TeacherError, match=r"query q1, window 1-3: 2 answers held no passage identifier"):
        teacher.rank("q1", "alpha", ["d1", "d2", "d3"], DOCS)


def test_interrupted_build_resumes_from_the_cache(llm, tmp_path):
    cache = ResponseCache(tmp_path / "cache.sqlite")
    llm.plans["beta"] = ["500"] * 100  # q2 fails for good: the build stops after q1
    with pytest.raises(TeacherError, match="query q2"):
        build_distillation_data(
            ListwiseLLMTeacher(backend(llm, retries=1), window=4, stride=2, cache=cache),
            FIRST_STAGE,
            QUERIES,
            DOCS,
            tmp_path / "out",
            depth=7,
            show_progress=False,
        )
    assert not (tmp_path / "out" / "teacher.run").exists()
    assert len(cache) == 3  # q1's three windows (7 candidates, window 4, stride 2) were kept
    first_q1 = llm.requests["alpha"]

    llm.plans["beta"] = []  # the endpoint recovers; rerun the same build
    teacher = ListwiseLLMTeacher(backend(llm), window=4, stride=2, cache=cache)
    m = build_distillation_data(teacher, FIRST_STAGE, QUERIES, DOCS, tmp_path / "out", depth=7, show_progress=False)
    assert llm.requests["alpha"] == first_q1  # nothing asked again for q1
    assert teacher.stats["cached"] == 3 and teacher.stats["calls"] == 3
    lines = (tmp_path / "out" / "teacher.run").read_text().splitlines()
    assert [ln.split()[2] for ln in lines if ln.startswith("q1 ")][:3] == ["d7", "d6", "d5"]
    assert m["num_queries"] == 2 and m["depth"] == 7 and m["teacher"]["backend"].startswith("openai:fake@")

    before = dict(llm.requests)
    again = ListwiseLLMTeacher(backend(llm), window=4, stride=2, cache=cache)
    build_distillation_data(again, FIRST_STAGE, QUERIES, DOCS, tmp_path / "out2", depth=7, show_progress=False)
    assert llm.requests == before and again.stats["calls"] == 0  # a rerun costs nothing
    assert (tmp_path / "out2" / "teacher.run").read_text() == (tmp_path / "out" / "teacher.run").read_text()
    cache.close()


def test_run_teacher_reproduces_the_bundled_rankvicuna_order(tmp_path):
    from boltir.data.runs import read_run, top_k
    from boltir.data.sources import doc_texts, load_queries

    first = read_run("trec-dl-2020:bm25")
    teacher_run = read_run("trec-dl-2020:rankvicuna-7b.bm25")
    queries = load_queries("trec-dl-2020")
    docs = doc_texts("trec-dl-2020", {d for ds in top_k(first, 20).values() for d in ds})
    m = build_distillation_data(
        RunTeacher("trec-dl-2020:rankvicuna-7b.bm25"),
        first,
        queries,
        docs,
        tmp_path,
        depth=20,
        num_queries=5,
        seed=3,
        show_progress=False,
    )
    out = read_run(str(tmp_path / "teacher.run"))
    assert len(out) == 5 and m["query_ids"] == sorted(out)
    for qid, scores in out.items():
        cands = top_k(first, 20)[qid]
        expect = sorted((d for d in cands if d in teacher_run[qid]), key=lambda d: -teacher_run[qid][d])
        expect += [d for d in cands if d not in teacher_run[qid]]
        assert sorted(scores, key=lambda d: -scores[d]) == expect
        assert max(scores.values()) == 20.0 and min(scores.values()) == 1.0


def test_model_teacher_orders_by_the_model_scores():
    from boltir.distill.teachers import ModelTeacher
    from boltir.index.dense import rerank_dense
    from boltir.models.loading import load_bi_encoder
    from boltir.models.scoring import RerankJob
    from boltir.models.sources import resolve_model

    docs = {
        "a": "Cats sleep for most of the day.",
        "b": "The stock market fell on Monday.",
        "c": "Kittens and cats nap often, up to sixteen hours.",
        "d": "Recipes for banana bread.",
    }
    teacher = ModelTeacher("minilm-l6")
    order = teacher.rank("q", "how long do cats sleep", ["b", "d", "a", "c"], docs)
    model, tok = load_bi_encoder(str(resolve_model("minilm-l6")))
    run = {"q": {d: 0.0 for d in docs}}
    scores = rerank_dense(
        RerankJob.from_run(model, tok, run, {"q": "how long do cats sleep"}, docs, show_progress=False)
    )["q"]
    assert order == sorted(docs, key=lambda d: -scores[d])
    assert set(order[:2]) == {"a", "c"} and teacher.describe() == {
        "type": "model",
        "model": "minilm-l6",
        "family": "dpr",
    }


def test_rate_limit_spaces_requests(llm):
    chat = OpenAIChat("fake", llm.url, api_key_env=None, timeout=2, requests_per_minute=300)  # one per 0.2 s
    msgs = [{"role": "user", "content": "Query: gamma\n[1] x\n[2] y"}]
    t0 = time.perf_counter()
    answers = [chat.complete(msgs) for _ in range(3)]
    assert time.perf_counter() - t0 >= 0.4 and answers[0] == "[1] > [2]"


def test_fused_and_pipeline_teachers_rank_by_reciprocal_rank_fusion(tmp_path):
    from boltir.distill.teachers import ModelTeacher, fused_models_teacher, pipeline_teacher

    docs = {
        "a": "Cats sleep for most of the day.",
        "b": "The stock market fell on Monday.",
        "c": "Kittens and cats nap often, up to sixteen hours.",
        "d": "Recipes for banana bread.",
        "e": "A dog sleeps about twelve hours a day.",
    }
    query, cands = "how long do cats sleep", ["b", "d", "a", "e", "c"]
    orders = [ModelTeacher(m).rank("q", query, cands, docs) for m in ("minilm-l6", "splade-tiny")]
    rrf = {d: sum(1 / (60 + o.index(d) + 1) for o in orders) for d in cands}  # by hand, k = 60
    want = sorted(rrf.values(), reverse=True)  # the fused order, as hand-computed scores (ties in any order)
    fused = fused_models_teacher(["minilm-l6", "splade-tiny"])
    got = fused.rank("q", query, cands, docs)
    assert sorted(got) == sorted(cands) and [rrf[d] for d in got] == want
    assert fused.describe() == {"type": "fusion", "method": "rrf", "models": ["minilm-l6", "splade-tiny"]}
    config = tmp_path / "teacher.yaml"
    config.write_text(
        "class_path: boltir.pipeline.RerankFusion\n"
        "init_args:\n"
        "  rerankers:\n"
        "    - {class_path: boltir.pipeline.Reranker, init_args: {model: minilm-l6, depth: null}}\n"
        "    - {class_path: boltir.pipeline.Reranker, init_args: {model: splade-tiny, depth: null}}\n"
    )
    from_yaml = pipeline_teacher(str(config))
    assert from_yaml.rank("q", query, cands, docs) == got
    assert from_yaml.describe()["type"] == "pipeline" and from_yaml.describe()["config"]["init_args"]["rerankers"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("class_path: boltir.pipeline.NoSuchStage\n")
    with pytest.raises(ValueError, match=r"bad.yaml: not a re-ranking stage"):
        pipeline_teacher(str(bad))
