"""Encoder-decoder re-rankers on T5: monoT5 and RankT5.

Input ``Query: <q> Document: <d> Relevant:</s>`` (query and document truncated separately on token ids). Heads:

- ``true_false`` (monoT5, Nogueira et al. 2020): one decoder step; score = log-softmax over the ``true`` / ``false``
  token logits, log P(true). Castorini's ``T5ForConditionalGeneration`` checkpoints load as they are.
- ``token`` (RankT5 encoder-decoder, Zhuang et al. 2023): one decoder step; score = the logit of ``score_token_id``
  (RankT5 uses ``<extra_id_10>``).
- ``encoder`` (RankT5 encoder-only): the encoder's first output state -> linear layer; no decoder is built.
- ``decoder_linear`` (Lightning IR's mono models on T5): one decoder step; its state, scaled by d_model^-0.5 as
  T5 scales before its tied LM head, -> a linear layer of ``num_outputs`` (2: log-softmax of the second, 1: the
  score). ``template_ids`` gives the prompt as token ids where it is not the plain text's tokenisation.

All three are trained with the list losses like any cross-encoder (``list_inputs`` gives the training batches).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from boltir.data.pair_tokenizer import pad_sequences
from boltir.errors import ConfigError
from boltir.models.base import BoltirPreTrainedModel, init_linear_heads, seeded

HEADS = ("true_false", "token", "encoder", "decoder_linear")


class MonoT5Config(PreTrainedConfig):
    """``encoder``: the T5 config. ``true_token_id`` / ``false_token_id`` (``true_false``), ``score_token_id``
    (``token``): vocabulary ids, set from the tokenizer when the model is built."""

    model_type = "boltir-mono-t5"
    sub_configs_defaults = {"encoder": SubConfigSpec(config_class=AutoConfig, model_type="t5")}

    encoder: Any = None
    head: str = "true_false"
    true_token_id: int | None = None
    false_token_id: int | None = None
    score_token_id: int | None = None
    num_outputs: int = 1
    head_bias: bool = False
    query_length: int = 64
    doc_length: int = 256
    template: Sequence[str] = ("Query:", "Document:", "Relevant:")
    template_ids: list[list[int]] | None = None
    # Lightning IR's truncation: cut each text on token ids, decode the ids back to text and encode that again
    # (a character outside the vocabulary comes back as the literal "<unk>"); off: cut on token ids only
    truncate_by_decoding: bool = False


class MonoT5(BoltirPreTrainedModel):
    """``forward(input_ids, attention_mask)`` -> scores [B]."""

    config_class = MonoT5Config
    base_model_prefix = "mono_t5"

    def __init__(self, config: MonoT5Config):
        import transformers

        if config.head not in HEADS:
            raise ConfigError(f"head={config.head!r}: choose one of {', '.join(HEADS)}")
        if config.head == "true_false" and (config.true_token_id is None or config.false_token_id is None):
            raise ConfigError("head='true_false' needs true_token_id and false_token_id")
        if config.head == "token" and config.score_token_id is None:
            raise ConfigError("head='token' needs score_token_id")
        if config.num_outputs not in (1, 2):
            raise ConfigError(f"num_outputs={config.num_outputs}: 1 (a score) or 2 (false / true)")
        super().__init__(config)
        self.encoder: Any
        self.head: nn.Linear | None
        if config.head == "encoder":
            self.encoder = transformers.T5EncoderModel(config.encoder)
            self.head = nn.Linear(config.encoder.d_model, 1)
        elif config.head == "decoder_linear":
            self.encoder = transformers.T5Model(config.encoder)
            self.head = nn.Linear(config.encoder.d_model, config.num_outputs, bias=config.head_bias)
        else:
            self.encoder = transformers.T5ForConditionalGeneration(config.encoder)
            self.head = None
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        init_linear_heads(self, module, ("head",))

    def _first_step(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
        start = torch.full(
            (input_ids.shape[0], 1),
            getattr(self.config.encoder, "decoder_start_token_id", None) or 0,
            device=input_ids.device,
        )
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=start)

    def first_step_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Vocabulary logits [B, V] of the first decoder step."""
        return self._first_step(input_ids, attention_mask).logits[:, 0]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: Any) -> torch.Tensor:
        """One score per (query, document) input: the true/false logit difference, the score token's logit, or the
        encoder head's output."""
        cfg = self.config
        if cfg.head == "encoder":
            states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            assert self.head is not None
            return self.head(states[:, 0])[:, 0]
        if cfg.head == "decoder_linear":
            assert self.head is not None
            state = self._first_step(input_ids, attention_mask).last_hidden_state[:, 0]
            out = self.head(state * cfg.encoder.d_model**-0.5)
            return torch.log_softmax(out.float(), dim=-1)[:, 1] if cfg.num_outputs == 2 else out[:, 0]
        logits = self.first_step_logits(input_ids, attention_mask)
        if cfg.head == "token":
            return logits[:, cfg.score_token_id]
        pair = logits[:, [cfg.false_token_id, cfg.true_token_id]].float()
        return torch.log_softmax(pair, dim=-1)[:, 1]

    def list_inputs(self, tokenizer: Any) -> Any:
        """``(queries, lists of documents) -> {input_ids, attention_mask}`` of every pair, lists flattened."""
        cfg = self.config
        template = PromptTokenizer(
            tokenizer, cfg.query_length, cfg.doc_length, cfg.template, cfg.template_ids, cfg.truncate_by_decoding
        )

        def pairs(queries: Sequence[str], docs: Sequence[Sequence[str]]) -> dict[str, torch.Tensor]:
            return template([q for q, ds in zip(queries, docs) for _ in ds], [d for ds in docs for d in ds])

        return pairs


class PromptTokenizer:
    """``<template[0]> q <template[1]> d <template[2]></s>`` with the query and the document cut to their own
    lengths on token ids (each part encoded alone, as SentencePiece encodes it inside the whole text)."""

    def __init__(
        self,
        tokenizer: Any,
        query_length: int,
        doc_length: int,
        template: Sequence[str],
        template_ids: Sequence[Sequence[int]] | None = None,
        truncate_by_decoding: bool = False,
    ):
        self.tokenizer, self.query_length, self.doc_length = tokenizer, query_length, doc_length
        self.truncate_by_decoding = truncate_by_decoding
        self.parts = [list(p) for p in template_ids] if template_ids else [self._ids([t])[0] for t in template]
        self.eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
        self.pad = tokenizer.pad_token_id or 0

    def _ids(self, texts: Sequence[str]) -> list[list[int]]:
        return self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]

    def _decoded(self, texts: Sequence[str], length: int) -> list[list[int]]:
        """Lightning IR's truncation: the ids of the text that the first ``length`` ids decode to."""
        cut = [ids[:length] for ids in self._ids(texts)]
        return self._ids(self.tokenizer.batch_decode(cut))

    def __call__(self, queries: Sequence[str], docs: Sequence[str]) -> dict[str, torch.Tensor]:
        if self.truncate_by_decoding:
            q_ids, d_ids = self._decoded(queries, self.query_length), self._decoded(docs, self.doc_length)
        else:
            q_ids = [ids[: self.query_length] for ids in self._ids(queries)]
            d_ids = [ids[: self.doc_length] for ids in self._ids(docs)]
        seqs = [self.parts[0] + q + self.parts[1] + d + self.parts[2] + self.eos for q, d in zip(q_ids, d_ids)]
        ids, mask = pad_sequences(seqs, self.pad)
        return {"input_ids": ids, "attention_mask": mask}


def _single_token(tokenizer: Any, word: str, name: str) -> int:
    """The vocabulary id of ``word`` as one SentencePiece (``▁true``), as monoT5 reads it."""
    ids = tokenizer(word, add_special_tokens=False)["input_ids"]
    if len(ids) == 1:
        return int(ids[0])
    piece = tokenizer.convert_tokens_to_ids("\u2581" + word)
    if piece is None or piece == tokenizer.unk_token_id:
        raise ConfigError(f"{name}: {word!r} is not one token of this tokenizer; monoT5 scores with its logit")
    return int(piece)


def build_mono_t5(path: str, name: str, tokenizer: Any, seed: int, settings: dict[str, Any]):
    """From a T5 checkpoint (castorini monoT5 ``T5ForConditionalGeneration`` folders give their own scores):
    ``head`` true_false (default), token (RankT5 encoder-decoder, ``<extra_id_10>`` unless ``score_token_id``) or
    encoder (RankT5 encoder-only, a new linear head drawn from ``seed``)."""
    import transformers

    head = settings.get("head", "true_false")
    if head == "true_false":
        settings.setdefault("true_token_id", _single_token(tokenizer, "true", name))
        settings.setdefault("false_token_id", _single_token(tokenizer, "false", name))
    elif head == "token" and settings.get("score_token_id") is None:
        settings["score_token_id"] = tokenizer.convert_tokens_to_ids("<extra_id_10>")
    backbone_cls = transformers.T5EncoderModel if head == "encoder" else transformers.T5ForConditionalGeneration
    backbone = backbone_cls.from_pretrained(path)
    with seeded(seed):
        model = MonoT5(MonoT5Config(encoder=backbone.config.to_dict(), **settings))
    model.encoder.load_state_dict(backbone.state_dict())
    model.config.name_or_path = str(name)
    return model, tokenizer
