"""CPU inference backends: the traced backbone (the default: outputs equal the eager backbone's exactly, and
it steps aside for training, copies and replaced layers), int8 dynamic quantization (linear layers become int8,
scores stay close to fp32) and the ONNX Runtime backend (the exported backbone gives the PyTorch scores)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from boltir.models.backends import prepare

DOCS = ["apple orchard fruit", "motor engine part", "fresh fruit market", "the apple of my eye"]


def test_linear_layers_become_int8_and_scores_stay_close():
    import boltir

    fp32 = boltir.load_model("minilm-l6")
    want = fp32.score("apple fruit", DOCS)[0]
    model = boltir.load_model("minilm-l6")
    prepare(model.module, quantize="int8")
    layers = model.module.encoder.encoder.layer
    linear = layers[1].attention.self.query
    assert "quantized" in type(linear).__module__ and model.module.quantized == "int8"
    assert "quantized" not in type(layers[0].attention.self.query).__module__  # the first layer stays fp32
    got = model.score("apple fruit", DOCS)[0]
    assert np.abs(got - want).max() < 0.05  # cosine scores in [-1, 1]
    assert list(np.argsort(-got)) == list(np.argsort(-want))


def test_index_records_it_and_its_searcher_follows(tiny_dpr, tmp_path):
    from boltir.index.build import build_index
    from boltir.index.open import open_searcher

    model, tok = tiny_dpr
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    (tmp_path / "docs.tsv").write_text("".join(f"d{i}\t{t}\n" for i, t in enumerate(DOCS)))
    from boltir.models.loading import load_module

    m, t = load_module(str(tmp_path / "m"))
    manifest = build_index(
        m, t, str(tmp_path / "docs.tsv"), tmp_path / "idx", model_source=str(tmp_path / "m"), quantize="int8"
    )
    assert manifest["build"]["quantize"] == "int8"
    searcher = open_searcher(tmp_path / "idx")
    assert getattr(searcher.model, "quantized", None) == "int8"
    assert set(searcher.search({"q": "apple fruit"}, 4)["q"]) == {f"d{i}" for i in range(4)}


def test_unknown_or_misplaced_quantization_is_refused(tiny_dpr):
    model, _ = tiny_dpr
    with pytest.raises(ValueError, match="choose one of int8, bf16"):
        prepare(model, quantize="int4")
    with pytest.raises(ValueError, match="choose one of torch, eager, onnx"):
        prepare(model, backend="tensorrt")
    assert prepare(model, "torch", None) is model and not any(
        "quantized" in type(m).__module__ for m in model.modules() if isinstance(m, torch.nn.Module)
    )


TEXTS = ["cats", "a much longer query about motor engine parts and fresh fruit", "apple", "the apple of my eye"]


@pytest.mark.parametrize("family", ["dpr", "splade", "colbert", "mono"])
def test_the_traced_backbone_is_the_default_and_equals_the_eager_one(tiny_backbone, family):
    """Every kind of backbone output, at batch 1 and batch 4 (padded), bit for bit."""
    from boltir.models.backends import describe, trace_backbone
    from boltir.models.loading import load_module

    eager, tok = load_module(tiny_backbone, family=family)
    traced, _ = load_module(tiny_backbone, family=family)
    assert trace_backbone(traced, after=0, pack=False) and describe(traced) == "torch traced"
    assert describe(eager) == "torch"
    for texts in (TEXTS[:1], TEXTS[1:2], TEXTS):
        enc = tok(texts, texts if family == "mono" else None, padding=True, return_tensors="pt")
        with torch.inference_mode():
            want, got = eager(**enc), traced(**enc)
        if isinstance(want, torch.Tensor):  # a cross-encoder's scores
            want, got = {"scores": want}, {"scores": got}
        for field in want:
            if isinstance(want[field], torch.Tensor):
                assert torch.equal(got[field], want[field]), (family, field, len(texts))


def test_the_trace_steps_aside_for_gradients_copies_and_new_layers(tiny_backbone):
    import copy

    from boltir.models.backends import TRACE_AFTER, describe, trace_backbone
    from boltir.models.loading import load_bi_encoder

    model, tok = load_bi_encoder(tiny_backbone, pooling="mean")
    prepare(model)
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    with torch.inference_mode():  # by default the trace is taken once the backbone has run a few times
        for _ in range(TRACE_AFTER):
            model(**enc, kind="query")
        assert describe(model) == "torch packed"  # packing is decided at the first padded batch, the trace later
        model(**enc, kind="query")
        assert describe(model) == "torch traced packed"
    out = model(**enc, kind="query").embeddings
    assert out.requires_grad  # with gradients the eager backbone runs: training is untouched
    out.sum().backward()
    assert model.encoder.embeddings.word_embeddings.weight.grad is not None
    with torch.no_grad():  # an in-place update reaches the trace: it shares the parameters
        model.encoder.embeddings.word_embeddings.weight.mul_(1.5)
        after = model(**enc, kind="query").embeddings
    fresh, _ = load_bi_encoder(tiny_backbone, pooling="mean")
    fresh.load_state_dict(model.state_dict())
    with torch.no_grad():  # (the padded batch ran packed: equal to float rounding)
        torch.testing.assert_close(after, fresh.eval()(**enc, kind="query").embeddings, rtol=1e-5, atol=1e-6)
    twin = copy.deepcopy(model)  # a copy has its own parameters: it runs them, not the original's trace
    with torch.no_grad():
        twin.encoder.embeddings.word_embeddings.weight.add_(1.0)
        assert not torch.equal(twin(**enc, kind="query").embeddings, after)
        assert torch.equal(model(**enc, kind="query").embeddings, after)
    assert set(model.state_dict()) == set(load_bi_encoder(tiny_backbone, pooling="mean")[0].state_dict())
    model.double()  # a cast: the eager backbone runs in the new precision
    with torch.no_grad():
        assert model(**enc, kind="query").embeddings.dtype == torch.float64
    model.float()
    prepare(model, quantize="int8")  # the layers are replaced: the trace is dropped, the int8 layers run
    assert describe(model) == "torch int8"
    with torch.no_grad():
        assert not torch.equal(model(**enc, kind="query").embeddings, after)
    other, _ = load_bi_encoder(tiny_backbone, pooling="mean")
    trace_backbone(other, after=0)
    assert describe(prepare(other, "eager")) == "torch"


def test_a_backbone_that_cannot_be_traced_runs_eager(tiny_backbone, monkeypatch):
    from boltir.models.backends import describe, trace_backbone
    from boltir.models.loading import load_bi_encoder

    def refuse(*args, **kwargs):
        raise RuntimeError("cannot trace this")

    monkeypatch.setattr(torch.jit, "trace", refuse)
    model, tok = load_bi_encoder(tiny_backbone)
    assert not trace_backbone(model, after=0) and describe(model) == "torch packed"  # eager, packed where it pays
    with torch.inference_mode():
        assert model(**tok(TEXTS, padding=True, return_tensors="pt"), kind="query").embeddings.shape[0] == 4


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BOLTIR_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "onnx"


@pytest.mark.parametrize("family", ["dpr", "splade", "colbert", "mono"])
def test_onnx_backend_gives_the_pytorch_scores(tiny_backbone, family, cache):
    """Each kind of backbone output (hidden states of a dense, multi-vector or cross-encoder model; masked-LM
    logits of SPLADE) through ONNX Runtime: the same scores as PyTorch, for batches of other sizes and lengths than
    the export's sample."""
    import boltir

    torch_model = boltir.load_model(tiny_backbone, family=family)
    onnx_model = boltir.load_model(tiny_backbone, family=family)
    prepare(onnx_model.module, "onnx")
    assert type(onnx_model.module.encoder).__name__ == "Onnx" and onnx_model.module.backend == "onnx"
    for query, docs in (("apple fruit", DOCS), ("a much longer query about motor engines " * 6, DOCS[:1])):
        want, got = torch_model.score(query, docs)[0], onnx_model.score(query, docs)[0]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(want).max())))
    assert len(list(cache.glob("*.onnx"))) == 1  # exported once, cached by weights


@pytest.mark.repro
def test_onnx_int8_keeps_the_first_layer_and_the_ranking(cache):
    import onnx

    import boltir

    fp32 = boltir.load_model("minilm-l6")
    want = fp32.score("apple fruit", DOCS)[0]
    model = boltir.load_model("minilm-l6")
    prepare(model.module, "onnx", "int8")
    got = model.score("apple fruit", DOCS)[0]
    assert np.abs(got - want).max() < 0.05 and list(np.argsort(-got)) == list(np.argsort(-want))
    (path,) = cache.glob("*-int8.onnx")
    graph = onnx.load(str(path)).graph
    int8 = [n for n in graph.node if n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul")]
    fp32_products = [
        n for n in graph.node if n.op_type == "MatMul" and n.input[1] in {w.name for w in graph.initializer}
    ]
    assert len(int8) == 5 * 6 and len(fp32_products) == 6  # layers 1-5 in int8, layer 0's six products in fp32


def test_onnx_backend_reaches_index_and_search_and_is_refused_where_the_layers_are_looped(
    tiny_dpr, tiny_backbone, tiny_t5, tmp_path, cache
):
    import boltir
    from boltir.index.build import build_index
    from boltir.index.open import open_searcher
    from boltir.models.loading import load_module, load_set_encoder

    model, tok = tiny_dpr
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    (tmp_path / "docs.tsv").write_text("".join(f"d{i}\t{t}\n" for i, t in enumerate(DOCS)))
    runs = {}
    for backend in ("torch", "onnx"):
        m, t = load_module(str(tmp_path / "m"))
        manifest = build_index(
            m, t, str(tmp_path / "docs.tsv"), tmp_path / backend, model_source=str(tmp_path / "m"), backend=backend
        )
        assert manifest["build"].get("backend") == (None if backend == "torch" else "onnx")
        searcher = open_searcher(tmp_path / backend)
        assert getattr(searcher.model, "backend", None) == (None if backend == "torch" else "onnx")
        runs[backend] = searcher.search({"q": "apple fruit"}, 4)["q"]
    assert list(runs["onnx"]) == list(runs["torch"])
    np.testing.assert_allclose(list(runs["onnx"].values()), list(runs["torch"].values()), atol=1e-5)
    set_encoder, _ = load_set_encoder(tiny_backbone)
    with pytest.raises(ValueError, match="SetEncoder does not call its backbone whole.*--backend torch"):
        prepare(set_encoder, "onnx")
    with pytest.raises(ValueError, match="MonoT5 does not call its backbone whole"):  # a decoder step
        prepare(boltir.load_model(tiny_t5).module, "onnx")
    twice, _ = load_module(str(tmp_path / "m"))
    prepare(twice, quantize="int8")
    assert prepare(twice, "torch", "int8") is twice and prepare(twice, None, None) is twice  # as it is
    with pytest.raises(ValueError, match="already runs on torch int8, not onnx"):
        prepare(twice, "onnx")


@pytest.mark.repro
def test_an_unreadable_cached_export_is_made_again(tiny_backbone, cache):
    import boltir

    want = boltir.load_model(tiny_backbone, family="dpr").score("apple fruit", DOCS)[0]
    prepare(boltir.load_model(tiny_backbone, family="dpr").module, "onnx")
    (path,) = cache.glob("*.onnx")
    path.write_bytes(path.read_bytes()[:1000])  # cut short, as by a full disk outside boltir's atomic writes
    model = boltir.load_model(tiny_backbone, family="dpr")
    prepare(model.module, "onnx")
    np.testing.assert_allclose(model.score("apple fruit", DOCS)[0], want, atol=1e-5)


@pytest.mark.parametrize("family", ["dpr", "splade", "colbert", "mono"])
def test_bf16_runs_the_backbone_in_bfloat16_and_hands_the_family_float32(tiny_backbone, family):
    """The backbone's parameters in bfloat16, the family's own in float32; scores close to float32's; the trace of
    the bfloat16 backbone gives its eager scores exactly."""
    import boltir
    from boltir.models.backends import describe, trace_backbone

    fp32 = boltir.load_model(tiny_backbone, family=family)
    half = boltir.load_model(tiny_backbone, family=family)
    assert prepare(half.module, quantize="bf16") is half.module and describe(half.module) == "torch bf16"
    assert {p.dtype for p in half.module.encoder.parameters()} == {torch.bfloat16}
    own = [p.dtype for n, p in half.module.named_parameters() if not n.startswith("encoder.")]
    assert set(own) <= {torch.float32}
    query = "apple fruit"
    want, eager = fp32.score(query, DOCS)[0], half.score(query, DOCS)[0]
    assert eager.dtype == want.dtype and not np.array_equal(eager, want)  # bfloat16 moved them, a little
    np.testing.assert_allclose(eager, want, rtol=0.05, atol=0.05 * max(1.0, float(np.abs(want).max())))
    assert trace_backbone(half.module, after=0, pack=False) and describe(half.module) == "torch bf16 traced"
    assert np.array_equal(half.score(query, DOCS)[0], eager)
    assert prepare(half.module, "torch", "bf16") is half.module and describe(half.module) == "torch bf16 traced"
    assert describe(prepare(half.module, "eager", "bf16")) == "torch bf16"  # the trace dropped, bf16 kept


def test_bf16_is_refused_with_onnx_and_where_the_layers_are_looped(tiny_backbone, tiny_dpr):
    from boltir.models.loading import load_set_encoder

    model, _ = tiny_dpr
    with pytest.raises(ValueError, match="quantize=bf16 runs in PyTorch"):
        prepare(model, "onnx", "bf16")
    set_encoder, _ = load_set_encoder(tiny_backbone)
    with pytest.raises(ValueError, match="quantize=bf16: SetEncoder does not call its backbone whole"):
        prepare(set_encoder, quantize="bf16")
    prepare(model, quantize="int8")
    with pytest.raises(ValueError, match="already runs on torch int8, not torch bf16"):
        prepare(model, quantize="bf16")
