"""What every bi-encoder family shares: a config that declares the backbone, lengths and prefixes once; a model
that builds the backbone without its pooler, initialises the heads it declares, returns one output type
(:class:`BiEncoderOutput`) from ``forward(..., kind=)`` and scores query outputs against document outputs with
one ``score``; and ``encode`` turning texts into what an index stores (through the family's batch encoder)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from boltir.errors import ConfigError
from boltir.models.base import BoltirPreTrainedModel, build_backbone, encoder_states, init_linear_heads
from boltir.models.bi_encoders.inference import encode_dense
from boltir.models.bi_encoders.output import BiEncoderOutput


class BiEncoderConfig(PreTrainedConfig):
    """``encoder`` holds the backbone's own config; lengths exclude special tokens the family adds."""

    sub_configs_defaults = {"encoder": SubConfigSpec(config_class=AutoConfig, model_type="bert")}

    encoder: Any = None  # the backbone config (a dict in config.json, a PreTrainedConfig once loaded)
    query_length: int = 32
    doc_length: int = 256
    query_prefix: str = ""
    doc_prefix: str = ""

    @property
    def embedding_dim(self) -> int:
        """Size of one stored vector (what an index records)."""
        return self.encoder.hidden_size

    def text_prefix(self, kind: str) -> str:
        """The prefix prepended to query (``kind=query``) or document texts."""
        return self.query_prefix if kind == "query" else self.doc_prefix

    def text_length(self, kind: str) -> int:
        """The token length queries (``kind=query``) or documents are cut to."""
        return self.query_length if kind == "query" else self.doc_length


class BiEncoderModel(BoltirPreTrainedModel):
    """Base of the bi-encoder families. Subclasses set ``heads`` (attribute names of freshly initialised layers),
    ``batch_encoder`` (the :mod:`boltir.models.bi_encoders.inference` function that turns texts into what the
    family's index kind stores), and implement ``forward`` and ``score``."""

    config_class = BiEncoderConfig
    backbone_auto = "AutoModel"
    heads: tuple[str, ...] = ()
    batch_encoder: Callable[..., Any] = staticmethod(encode_dense)
    term_weights = False  # learned-sparse outputs (vocabulary-sized); sparsity regularisers apply
    whole_backbone = True  # the backbone is called whole (so it can run exported: models.backends)

    def __init__(self, config: BiEncoderConfig):
        super().__init__(config)
        self.encoder = build_backbone(config, self.backbone_auto)
        self.build_heads(config)
        self.post_init()

    def build_heads(self, config: Any) -> None:
        """Create the family's own layers (declared in ``heads``)."""

    def _init_weights(self, module: nn.Module) -> None:
        init_linear_heads(self, module, self.heads)

    def hidden_states(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The backbone's last hidden states [batch, length, hidden]."""
        return encoder_states(self.encoder, input_ids, attention_mask, token_type_ids)

    def forward(
        self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None = None, kind: str = "doc"
    ) -> BiEncoderOutput:
        """Representations of a tokenised batch of queries (``kind="query"``) or documents (``"doc"``)."""
        return self.represent(input_ids, attention_mask, token_type_ids, kind)

    def represent(self, input_ids: Tensor, attention_mask: Tensor, types: Tensor | None, kind: str) -> BiEncoderOutput:
        """The family's representation (``types``: token type ids, when the tokenizer gives them)."""
        raise NotImplementedError

    def score(self, query: BiEncoderOutput, doc: BiEncoderOutput) -> torch.Tensor:
        """All-pairs scores [Q, D] of query outputs against document outputs."""
        raise NotImplementedError

    def training_scores(self, query: BiEncoderOutput, doc: BiEncoderOutput, **options: Any) -> torch.Tensor:
        """Scores used by the in-batch loss; families with training-only scoring options override this."""
        if any(v is not None for v in options.values()):
            raise ConfigError(f"{type(self).__name__} has no training scoring options ({', '.join(options)})")
        return self.score(query, doc)

    def encode(
        self,
        texts: Sequence[str],
        kind: str = "doc",
        batch_size: int = 32,
        progress: Any = None,
        num_workers: int = 0,
        tokenizer: Any = None,
        batch_tokens: int | None = None,
        ranks: Any = None,
    ) -> Any:
        """Texts -> the family's stored representation (dense array, sparse matrix, token arrays, ...), in
        input order, through length-sorted batches (``batch_tokens`` padded tokens: for documents by default
        ``batch_size`` times the document length, :func:`~boltir.data.collators.token_budget`; else, and for
        queries, ``batch_size`` texts);
        ``tokenizer`` defaults to the one loaded with the model; ``ranks`` (:mod:`boltir.utils.distributed`) shares the
        batches among processes, each getting the whole result."""
        fn = self.batch_encoder
        tokenizer = tokenizer or self.attached_tokenizer()
        batching = {"batch_size": batch_size, "progress": progress, "num_workers": num_workers}
        if ranks is not None and ranks.world > 1:
            batching["ranks"] = ranks
        return fn(self, tokenizer, texts, kind, batch_tokens=batch_tokens, **batching)


def dot_scores(query: BiEncoderOutput, doc: BiEncoderOutput) -> torch.Tensor:
    """All-pairs dot products of one-vector outputs (embeddings or term weights)."""
    return query.embeddings @ doc.embeddings.T
