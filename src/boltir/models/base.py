"""What every boltir model shares: a fingerprint of its weights and saving as a Hugging Face folder."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel

from boltir.errors import ConfigError


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Random draws inside come from ``seed``; the global generator is left as it was.

    Args:
        seed: the seed of the draws inside the block.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


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


class BoltirPreTrainedModel(PreTrainedModel):
    """Base of every boltir model class: ``save_pretrained`` also writes the tokenizer loaded with the model and a
    model card, so a folder saved the plain Hugging Face way loads back through boltir and ``transformers``."""

    tokenizer: Any = None

    def attached_tokenizer(self) -> Any:
        """The tokenizer boltir loaded with this model.

        Raises:
            ConfigError: the model was not loaded by boltir (no tokenizer attached).
        """
        if self.tokenizer is None:
            raise ConfigError(
                f"{type(self).__name__} has no tokenizer attached: load it with boltir's loaders "
                "(boltir.load_model) or set model.tokenizer"
            )
        return self.tokenizer

    def save_pretrained(self, save_directory: str | os.PathLike, *args: Any, **kwargs: Any) -> Any:
        """Save as a Hugging Face folder, with the attached tokenizer and a model card."""
        out = super().save_pretrained(save_directory, *args, **kwargs)
        folder = Path(save_directory)
        if self.tokenizer is not None and not (folder / "tokenizer_config.json").exists():
            self.tokenizer.save_pretrained(folder)
        if not (folder / "README.md").exists():
            from boltir.models.card import model_card

            (folder / "README.md").write_text(model_card(self), encoding="utf-8")
        from boltir.utils.atomic import publish_mode

        for f in folder.iterdir():  # files others may read, as a plain open() would make them
            if f.is_file():
                publish_mode(f)
        return out


def build_backbone(config: Any, auto_class: str = "AutoModel", needs_layers: bool = False) -> Any:
    """The backbone from ``config.encoder`` without BERT's pooler (unused: it would cost compute and leave DDP
    with parameters that get no gradient)."""
    import transformers

    encoder = getattr(transformers, auto_class).from_config(config.encoder)
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler = None
    if needs_layers and not (hasattr(encoder, "encoder") and hasattr(encoder.encoder, "layer")):
        raise ConfigError(f"{config.encoder.model_type}: this model runs its own loop over BERT-style layers")
    return encoder


def encoder_states(encoder: Any, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
    """The backbone's last hidden states (token types passed only when the tokenizer gives them)."""
    kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
    if token_type_ids is not None:
        kwargs["token_type_ids"] = token_type_ids
    return encoder(**kwargs).last_hidden_state


def init_linear_heads(model: Any, module: nn.Module, heads: tuple[str, ...]) -> None:
    """Initialise the linear layers of the named heads like the backbone's (normal, std = initializer_range;
    zero bias); everything else keeps the weights it was built or loaded with."""
    if not isinstance(module, nn.Linear):
        return
    for name in heads:
        head = getattr(model, name, None)
        if head is not None and any(module is m for m in head.modules()):
            nn.init.normal_(module.weight, std=getattr(model.config.encoder, "initializer_range", 0.02))
            if module.bias is not None:
                nn.init.zeros_(module.bias)
            return


def save_model_folder(
    model: Any, tokenizer: Any, path: str | os.PathLike, provenance: dict[str, Any] | None = None
) -> Path:
    """Save model, tokenizer and model card into ``path`` atomically (write a sibling folder, then swap)."""
    from transformers.utils import logging as hf_logging

    from boltir.models.card import model_card
    from boltir.utils.atomic import atomic_dir

    hf_logging.disable_progress_bar()
    path = Path(path)
    with atomic_dir(path) as tmp:
        model.save_pretrained(tmp)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        (tmp / "README.md").write_text(model_card(model, provenance), encoding="utf-8")
        if provenance:
            (tmp / "boltir_provenance.json").write_text(json.dumps(provenance, indent=2, default=str))
    return path
