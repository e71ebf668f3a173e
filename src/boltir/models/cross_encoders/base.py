"""What every cross-encoder family shares: a config with the backbone, score head and lengths; a model that builds
the backbone without its pooler and a score head on the first token (the sequence-classification heads of BERT,
RoBERTa and ELECTRA, so ordinary ``*ForSequenceClassification`` folders load with their exact logits); and
``list_inputs`` giving the tokenizing function that turns queries and their candidate lists into model inputs."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from boltir.errors import ConfigError
from boltir.models.base import BoltirPreTrainedModel, build_backbone, init_linear_heads

HIDDEN_ACTIVATIONS = (None, "tanh", "gelu")
TWO_LOGIT_SCORES = ("difference", "log_softmax")


class CrossEncoderConfig(PreTrainedConfig):
    """``head_activation`` None: first token -> Linear; "tanh"/"gelu": first token -> Linear(h, h) -> activation
    -> Linear. ``num_outputs`` 1 scores with that logit; 2 (monoBERT-style classifiers) scores with
    ``logit_1 - logit_0``, which orders pairs exactly as the softmax probability of "relevant" (or, with
    ``two_logit_score="log_softmax"``, with that log-probability itself: Lightning IR's ``mono`` scoring)."""

    sub_configs_defaults = {"encoder": SubConfigSpec(config_class=AutoConfig, model_type="bert")}

    encoder: Any = None  # the backbone config (a dict in config.json, a PreTrainedConfig once loaded)
    head_activation: str | None = None
    num_outputs: int = 1
    two_logit_score: str = "difference"
    head_bias: bool = True
    query_length: int = 32
    doc_length: int = 256


class ScoreHead(nn.Module):
    """The score head of every cross-encoder: optional dense + activation, then a linear layer to 1 or 2 logits."""

    def __init__(self, hidden: int, activation: str | None, num_outputs: int, bias: bool):
        super().__init__()
        if activation not in HIDDEN_ACTIVATIONS:
            raise ConfigError(f"head_activation={activation!r}: choose one of {HIDDEN_ACTIVATIONS}")
        if num_outputs not in (1, 2):
            raise ConfigError(f"num_outputs={num_outputs}: 1 (a score) or 2 (not relevant / relevant)")
        self.dense = nn.Linear(hidden, hidden) if activation else None
        self.activation = activation
        self.out = nn.Linear(hidden, num_outputs, bias=bias)

    def forward(self, first: torch.Tensor) -> torch.Tensor:
        """Logits [batch, outputs] from the first token's states [batch, hidden]."""
        x = first
        if self.dense is not None:
            x = self.dense(x)
            x = torch.tanh(x) if self.activation == "tanh" else nn.functional.gelu(x)
        return self.out(x)


def logits_to_scores(logits: torch.Tensor, two_logit_score: str = "difference") -> torch.Tensor:
    """One score per row: the logit; for two-logit classifiers ``logit_1 - logit_0`` ("difference") or the
    log-probability of "relevant" ("log_softmax"); both order pairs alike."""
    if logits.shape[-1] == 1:
        return logits[:, 0]
    if two_logit_score == "log_softmax":
        return torch.log_softmax(logits, dim=-1)[:, 1]
    if two_logit_score != "difference":
        raise ConfigError(f"two_logit_score={two_logit_score!r}: choose one of {', '.join(TWO_LOGIT_SCORES)}")
    return logits[:, 1] - logits[:, 0]


class CrossEncoderModel(BoltirPreTrainedModel):
    """Base of the cross-encoder families (``needs_layers``: the family runs its own loop over BERT-style
    layers)."""

    config_class = CrossEncoderConfig
    needs_layers = False

    def __init__(self, config: CrossEncoderConfig):
        self.check_config(config)
        super().__init__(config)
        self.encoder = build_backbone(config, needs_layers=self.needs_layers)
        self.head = ScoreHead(config.encoder.hidden_size, config.head_activation, config.num_outputs, config.head_bias)
        self.post_init()

    backends: tuple[str, ...] = ()  # the attention backends of a family that owns its attention

    def check_config(self, config: Any) -> None:
        """Refuse settings the family cannot run (before any weights are built)."""
        if self.backends and config.attention_backend not in self.backends:
            raise ConfigError(f"attention_backend={config.attention_backend!r}: one of {', '.join(self.backends)}")
        if config.two_logit_score not in TWO_LOGIT_SCORES:
            raise ConfigError(f"two_logit_score={config.two_logit_score!r}: one of {', '.join(TWO_LOGIT_SCORES)}")

    def _init_weights(self, module: nn.Module) -> None:
        init_linear_heads(self, module, ("head",))

    def list_inputs(self, tokenizer: Any) -> Any:
        """``(queries, lists of documents) -> model inputs`` for whole candidate lists (lists padded with empty
        documents to the longest)."""
        raise NotImplementedError
