"""What every boltir model shares: a fingerprint of its weights and saving as a Hugging Face folder."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch


def weights_fingerprint(model: torch.nn.Module) -> str:
    """A hash of every tensor in the state dict (names, shapes, dtypes, values): equal weights, equal hash."""
    h = hashlib.blake2b(digest_size=16)
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return "blake2b:" + h.hexdigest()


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A hash of what turns text into ids (normaliser, pre-tokeniser, vocabulary, added and special tokens,
    post-processor), leaving out per-call truncation and padding state: equal tokenisation, equal hash."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        spec.pop("truncation", None)
        spec.pop("padding", None)
    else:
        spec = {"class": type(tokenizer).__name__, "vocab": sorted(tokenizer.get_vocab().items())}
    blob = json.dumps(spec, sort_keys=True).encode()
    return "blake2b:" + hashlib.blake2b(blob, digest_size=16).hexdigest()


def model_card(model: Any, extra: dict[str, Any] | None = None) -> str:
    """A short README.md for a saved model folder: what it is, how to load it, what produced it."""
    cfg = model.config
    lines = [
        "---",
        "library_name: boltir",
        "tags: [boltir, information-retrieval, " + cfg.model_type + "]",
        "---",
        f"# {cfg.model_type} model saved by boltir",
        "",
        f"Backbone: `{cfg.encoder.model_type}` ({getattr(cfg.encoder, 'num_hidden_layers', '?')} layers, "
        f"hidden size {getattr(cfg.encoder, 'hidden_size', '?')}).",
        "",
        "```python",
        "import boltir",
        "from transformers import AutoModel",
        "model = AutoModel.from_pretrained('path/to/this/folder')",
        "```",
        "",
        "## Configuration",
        "```json",
        json.dumps({k: v for k, v in cfg.to_dict().items() if k != "encoder"}, indent=2, default=str),
        "```",
    ]
    if extra:
        lines += ["", "## Provenance", "```json", json.dumps(extra, indent=2, default=str), "```"]
    return "\n".join(lines) + "\n"


def save_model_folder(model: Any, tokenizer: Any, path: str | os.PathLike,
                      provenance: dict[str, Any] | None = None) -> Path:
    """Save model, tokenizer and model card into ``path`` atomically (write a sibling folder, then swap)."""
    from transformers.utils import logging as hf_logging

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        hf_logging.disable_progress_bar()
        model.save_pretrained(tmp)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        (tmp / "README.md").write_text(model_card(model, provenance), encoding="utf-8")
        if provenance:
            (tmp / "boltir_provenance.json").write_text(json.dumps(provenance, indent=2, default=str))
        from boltir.utils.atomic import publish_mode

        publish_mode(tmp, directory=True)
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path
