"""Shared fixtures: tiny models built from a config (no downloads) with the bundled MiniLM tokenizer."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("BOLTIR_NO_PROGRESS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory) -> str:
    """A 2-layer, 32-wide BERT saved as a plain Hugging Face folder with MiniLM's tokenizer."""
    import torch
    from transformers import BertConfig, BertModel

    from boltir.models.loading import load_tokenizer, resolve_model

    folder = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=512)
    BertModel(cfg).save_pretrained(folder)
    load_tokenizer(resolve_model("minilm-l6")).save_pretrained(folder)
    return str(folder)


@pytest.fixture
def tiny_dpr(tiny_backbone):
    from boltir.models.loading import load_bi_encoder

    return load_bi_encoder(tiny_backbone, pooling="mean", projection_dim=16, similarity="cosine", doc_length=64)
