"""Point-wise (mono) cross-encoder: ``[CLS] q [SEP] d [SEP]`` -> first token -> optional dense layer -> score.

The head covers the sequence-classification heads of the common backbones, so an ordinary
``*ForSequenceClassification`` folder loads with its exact logits: BERT (pooler dense + tanh, then linear),
RoBERTa (dense + tanh, out_proj), ELECTRA (dense + gelu, out_proj), or a plain linear layer on the first token.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedConfig, PreTrainedModel
from transformers.configuration_utils import SubConfigSpec

HIDDEN_ACTIVATIONS = (None, "tanh", "gelu")


class MonoConfig(PreTrainedConfig):
    """Configuration of a mono cross-encoder; ``encoder`` holds the backbone's own config.

    ``head_activation`` None: first token -> Linear; "tanh"/"gelu": first token -> Linear(h, h) -> activation ->
    Linear. ``num_outputs`` 1 scores with that logit; 2 (monoBERT-style classifiers) scores with
    ``logit_1 - logit_0``, which orders pairs exactly as the softmax probability of "relevant".
    """

    model_type = "boltir-mono"
    sub_configs_defaults = {"encoder": SubConfigSpec(config_class=AutoConfig, model_type="bert")}

    encoder: PreTrainedConfig | dict | None = None
    head_activation: str | None = None
    num_outputs: int = 1
    head_bias: bool = True
    query_length: int = 32
    doc_length: int = 256


class ScoreHead(nn.Module):
    def __init__(self, hidden: int, activation: str | None, num_outputs: int, bias: bool):
        super().__init__()
        if activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(f"head_activation={activation!r}: choose one of {HIDDEN_ACTIVATIONS}")
        if num_outputs not in (1, 2):
            raise ValueError(f"num_outputs={num_outputs}: 1 (a score) or 2 (not relevant / relevant)")
        self.dense = nn.Linear(hidden, hidden) if activation else None
        self.activation = activation
        self.out = nn.Linear(hidden, num_outputs, bias=bias)

    def forward(self, first: torch.Tensor) -> torch.Tensor:
        x = first
        if self.dense is not None:
            x = self.dense(x)
            x = torch.tanh(x) if self.activation == "tanh" else nn.functional.gelu(x)
        return self.out(x)


def build_encoder(config: PreTrainedConfig, needs_layers: bool = False) -> nn.Module:
    """The backbone from its config, without BERT's pooler (a pooler, if wanted, lives in the head)."""
    encoder = AutoModel.from_config(config.encoder)
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler = None
    if needs_layers and not (hasattr(encoder, "encoder") and hasattr(encoder.encoder, "layer")):
        raise ValueError(f"{config.encoder.model_type}: this model runs its own loop over BERT-style layers")
    return encoder


def init_head(model: PreTrainedModel, module: nn.Module) -> None:
    """Initialise the head's linear layers like the backbone's (normal, std = initializer_range)."""
    if isinstance(module, nn.Linear) and any(module is m for m in model.head.modules()):
        nn.init.normal_(module.weight, std=getattr(model.config.encoder, "initializer_range", 0.02))
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class MonoModel(PreTrainedModel):
    """Scores a tokenised batch of query-document pairs; ``logits`` gives the raw head outputs."""

    config_class = MonoConfig
    base_model_prefix = "mono"
    _supports_sdpa = True

    def __init__(self, config: MonoConfig):
        super().__init__(config)
        self.encoder = build_encoder(config)
        self.head = ScoreHead(config.encoder.hidden_size, config.head_activation, config.num_outputs,
                              config.head_bias)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        init_head(self, module)

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
               token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.encoder(**kwargs).last_hidden_state
        return self.head(hidden[:, 0])

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Scores [B]."""
        logits = self.logits(input_ids, attention_mask, token_type_ids)
        return logits[:, 0] if logits.shape[-1] == 1 else logits[:, 1] - logits[:, 0]


from boltir.models.registry import register_all  # noqa: E402

register_all()  # see boltir.models.registry: registration waits for the last model module to finish
