"""Shared fixtures: tiny models built from a config (no downloads) with the bundled MiniLM tokenizer."""

from __future__ import annotations

import os
import threading
import time

import pytest

os.environ.setdefault("BOLTIR_NO_PROGRESS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory) -> str:
    """A 2-layer, 32-wide BERT saved as a plain Hugging Face folder with MiniLM's tokenizer."""
    import torch
    from transformers import BertConfig, BertModel

    from boltir.models.sources import load_tokenizer, resolve_model

    folder = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    BertModel(cfg).save_pretrained(folder)
    load_tokenizer(resolve_model("minilm-l6")).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def tiny_t5(tmp_path_factory) -> str:
    """A 2-layer, 32-wide ``T5ForConditionalGeneration`` (a castorini monoT5 layout) with an 800-piece
    SentencePiece vocabulary learned from bundled passages (``true`` and ``false`` single pieces)."""
    import gzip
    import json

    import torch
    from tokenizers import SentencePieceUnigramTokenizer, Tokenizer
    from transformers import T5Config, T5ForConditionalGeneration, T5TokenizerFast

    folder = tmp_path_factory.mktemp("tiny-t5")
    with gzip.open("data/msmarco-trecdl-pool/docs.jsonl.gz", "rt", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for _, line in zip(range(2000), f)]
    texts += ["Query: a Document: b Relevant: true", "Query: c Document: d Relevant: false"] * 200
    special = ["<pad>", "</s>", "<unk>"] + [f"<extra_id_{i}>" for i in range(12)]
    sp = SentencePieceUnigramTokenizer()
    sp.train_from_iterator(texts, vocab_size=800, special_tokens=special, unk_token="<unk>", show_progress=False)
    spec = json.loads(sp._tokenizer.to_str())
    spec["model"]["vocab"] += [["\u2581true", -3.0], ["\u2581false", -3.0]]  # one piece each, as in T5's vocab
    tok = T5TokenizerFast(
        tokenizer_object=Tokenizer.from_str(json.dumps(spec)),
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        extra_ids=0,
        additional_special_tokens=special[3:],
    )
    torch.manual_seed(0)
    cfg = T5Config(
        vocab_size=len(tok),
        d_model=32,
        d_kv=16,
        d_ff=64,
        num_layers=2,
        num_heads=2,
        decoder_start_token_id=tok.pad_token_id,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
    )
    T5ForConditionalGeneration(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


@pytest.fixture
def tiny_dpr(tiny_backbone):
    from boltir.models.loading import load_bi_encoder

    return load_bi_encoder(tiny_backbone, pooling="mean", projection_dim=16, similarity="cosine", doc_length=64)


@pytest.fixture
def tiny_data(tiny_tuples):
    """``tiny_data(num_negatives=2)``: the data section of a fit config over the tiny tuples, validated on their run."""

    def section(num_negatives: int = 2) -> dict:
        return {
            "class_path": "boltir.training.TupleDataModule",
            "init_args": {
                "train": str(tiny_tuples / "train.jsonl"),
                "docs": str(tiny_tuples / "docs.jsonl"),
                "num_negatives": num_negatives,
                "batch_size": 4,
                "val_run": str(tiny_tuples / "val.run"),
                "val_queries": str(tiny_tuples / "val.tsv"),
                "val_qrels": str(tiny_tuples / "val.qrels"),
                "val_docs": str(tiny_tuples / "docs.jsonl"),
                "val_depth": 8,
            },
        }

    return section


@pytest.fixture
def tiny_tuples(tmp_path):
    """A tiny tuple dataset (24 documents, 16 training queries) with a validation run."""
    import json

    docs = {f"d{i}": f"topic{i % 4} passage number {i} about subject {i % 4}" for i in range(24)}
    (tmp_path / "docs.jsonl").write_text("".join(json.dumps({"doc_id": k, "text": v}) + "\n" for k, v in docs.items()))
    lines = []
    for i in range(16):
        lines.append(
            json.dumps(
                {
                    "query_id": f"q{i}",
                    "query": f"subject {i % 4}",
                    "positives": [f"d{i}"],
                    "negatives": [f"d{(i + 1) % 24}", f"d{(i + 2) % 24}"],
                }
            )
        )
    (tmp_path / "train.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "val.tsv").write_text("v1\tsubject 1\nv2\tsubject 2\n")
    (tmp_path / "val.qrels").write_text("v1 0 d1 1\nv1 0 d5 1\nv2 0 d2 1\n")
    (tmp_path / "val.run").write_text(
        "".join(f"v{q} Q0 d{d} {r} {10 - r} bm25\n" for q in (1, 2) for r, d in enumerate(range(8), start=1))
    )
    return tmp_path


class LiveServer:
    """A uvicorn server for an ASGI app on a free loopback port, in a thread, for the duration of a ``with``."""

    def __init__(self, app):
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        for _ in range(200):
            if self.server.started:
                break
            time.sleep(0.05)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def live_server():
    """``with live_server(app) as s:`` serves ``app`` on loopback at ``s.url``."""
    pytest.importorskip("uvicorn")
    return LiveServer


@pytest.fixture
def fit_trainer():
    """``fit_trainer(**settings)``: a quiet CPU ``lightning.Trainer`` (no logger, checkpoints, progress bar or model
    summary) with the test's own settings on top."""
    import lightning as L

    def make(**settings):
        quiet = {
            "accelerator": "cpu",
            "logger": False,
            "enable_checkpointing": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
        }
        return L.Trainer(**{**quiet, **settings})

    return make
