"""int8 dynamic quantization for CPU inference: linear layers become int8, scores stay close to fp32."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from boltir.models.backends import quantize

DOCS = ["apple orchard fruit", "motor engine part", "fresh fruit market", "the apple of my eye"]


def test_linear_layers_become_int8_and_scores_stay_close():
    import boltir

    fp32 = boltir.load_model("minilm-l6")
    want = fp32.score("apple fruit", DOCS)[0]
    model = boltir.load_model("minilm-l6")
    quantize(model.module, "int8")
    layers = model.module.encoder.encoder.layer
    linear = layers[1].attention.self.query
    assert "quantized" in type(linear).__module__ and model.module.quantized == "int8"
    assert "quantized" not in type(layers[0].attention.self.query).__module__  # the first layer stays fp32
    got = model.score("apple fruit", DOCS)[0]
    assert np.abs(got - want).max() < 0.05  # cosine scores in [-1, 1]
    assert list(np.argsort(-got)) == list(np.argsort(-want))


def test_index_records_it_and_its_searcher_follows(tiny_dpr, tmp_path):
    from boltir.index.build import build_index, open_searcher

    model, tok = tiny_dpr
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    (tmp_path / "docs.tsv").write_text("".join(f"d{i}\t{t}\n" for i, t in enumerate(DOCS)))
    from boltir.models.loading import load_model

    m, t = load_model(str(tmp_path / "m"))
    manifest = build_index(
        m, t, str(tmp_path / "docs.tsv"), tmp_path / "idx", model_source=str(tmp_path / "m"), quantize="int8"
    )
    assert manifest["build"]["quantize"] == "int8"
    searcher = open_searcher(tmp_path / "idx")
    assert getattr(searcher.model, "quantized", None) == "int8"
    assert set(searcher.search({"q": "apple fruit"}, 4)["q"]) == {f"d{i}" for i in range(4)}


def test_unknown_or_misplaced_quantization_is_refused(tiny_dpr):
    model, _ = tiny_dpr
    with pytest.raises(ValueError, match="choose one of int8"):
        quantize(model, "int4")
    assert quantize(model, None) is model and not any(
        "quantized" in type(m).__module__ for m in model.modules() if isinstance(m, torch.nn.Module)
    )
