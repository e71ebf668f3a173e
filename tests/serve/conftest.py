"""The serve tests' shared fixtures: a tiny dense index over 40 passages and the app around it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # serve_fixtures: the helpers the serve test files share

from serve_fixtures import TOPICS


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, tiny_backbone):
    from boltir.index.build import build_index
    from boltir.models.loading import load_bi_encoder

    folder = tmp_path_factory.mktemp("serve")
    model, tok = load_bi_encoder(tiny_backbone, pooling="mean", projection_dim=16, similarity="cosine", doc_length=64)
    model.save_pretrained(folder / "model")
    tok.save_pretrained(folder / "model")
    (folder / "docs.tsv").write_text(
        "".join(f"d{i}\t{TOPICS[i % 4]} passage number {i} about {TOPICS[(i * 7) % 4]}\n" for i in range(40))
    )
    model, tok = load_bi_encoder(str(folder / "model"))
    build_index(model, tok, str(folder / "docs.tsv"), folder / "idx", model_source=str(folder / "model"))
    return folder
