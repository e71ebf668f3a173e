"""Set-Encoder: a list-wise cross-encoder whose scores are invariant to the order of the candidate list.

Each passage is its own sequence ``[CLS] [INT] query [SEP] passage [SEP]`` (ordinary positions, token types 0 up
to the first [SEP]); in every layer, each token also attends to the ``[INT]`` states of the other passages of its
query (``boltir.attention.inter_passage``). Nothing encodes list position, so permuting the list permutes the
scores. Score = last-layer ``[CLS]`` -> linear layer (no bias by default). The model owns its layer loop over the
backbone's own BERT/ELECTRA layers; no backbone code is patched.
"""

from __future__ import annotations

from typing import Any

import torch

from boltir.attention.inter_passage import BACKENDS, attend, flex_block_mask, int_keys, inter_passage_mask
from boltir.errors import ConfigError
from boltir.models.base import seeded
from boltir.models.building import from_mono, is_classifier, mono_source
from boltir.models.cross_encoders.base import CrossEncoderConfig, CrossEncoderModel

INT_TOKEN = "[INT]"


class SetEncoderConfig(CrossEncoderConfig):
    """``int_token_id``: id of ``[INT]`` in the saved tokenizer; None: no extra token, each passage's ``[CLS]``
    is what the other passages attend to (Lightning IR's ``add_extra_token: false``, the published
    Set-Encoders). ``sample_missing_docs``: the published
    model's padding of short lists with random pseudo-``[INT]`` states up to ``depth`` (outputs then become
    random); off by default so inference is deterministic. ``attention_backend``: "fused" (SDPA), "flex"
    (compiled FlexAttention) or "eager" (reference); see ``boltir.attention.inter_passage``."""

    model_type = "boltir-set-encoder"

    head_bias: bool = False
    int_token_id: int | None = None
    sample_missing_docs: bool = False
    depth: int = 100
    attention_backend: str = "fused"

    def __post_init__(self, **kwargs):
        if "attention" in kwargs:  # the field's name in folders saved before boltir 0.2
            self.attention_backend = kwargs.pop("attention")
        super().__post_init__(**kwargs)


class SetEncoder(CrossEncoderModel):
    """``forward(input_ids, attention_mask, token_type_ids, list_size, list_mask)`` -> scores [P]; passages
    of one query are consecutive rows, ``list_size`` per query (pad short lists, mark them in ``list_mask``)."""

    config_class = SetEncoderConfig
    base_model_prefix = "set_encoder"
    needs_layers = True

    backends = BACKENDS

    def check_config(self, config: SetEncoderConfig) -> None:
        super().check_config(config)
        if config.num_outputs != 1:
            raise ConfigError("a Set-Encoder scores with one logit (num_outputs=1)")

    def list_inputs(self, tokenizer: Any) -> Any:
        from boltir.data.pair_tokenizer import SetTokenizer

        return SetTokenizer(tokenizer, self.config.query_length, self.config.doc_length, self.config.int_token_id)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        list_size: int,
        token_type_ids: torch.Tensor | None = None,
        list_mask: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Scores of whole candidate lists, one per passage.

        Args:
            input_ids: [passages, length] ``[CLS] [INT] query [SEP] passage [SEP]`` sequences, ``list_size`` per query.
            attention_mask: [passages, length].
            list_size: passages per query (lists padded to it).
            token_type_ids: [passages, length] segment ids.
            list_mask: [passages] False for padding passages.
            generator: draws the pseudo-``[INT]`` states of padding passages when ``sample_missing_docs`` is on.

        Returns:
            [passages] scores.

        Raises:
            ConfigError: the batch is not whole lists or lacks ``[INT]`` at position 1.
        """
        p, length = input_ids.shape
        if p % list_size:
            raise ConfigError(f"{p} sequences are not whole lists of {list_size}")
        int_pos = 0 if self.config.int_token_id is None else 1
        if int_pos and not bool((input_ids[:, 1] == self.config.int_token_id).all()):
            raise ConfigError("every sequence must hold [INT] at position 1 (use SetTokenizer)")
        list_mask = (
            torch.ones(p // list_size, list_size, dtype=torch.bool, device=input_ids.device)
            if list_mask is None
            else list_mask.bool()
        )
        kwargs = {"input_ids": input_ids}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        h = self.encoder.embeddings(**kwargs)
        if hasattr(self.encoder, "embeddings_project"):
            h = self.encoder.embeddings_project(h)
        n_extra = 0
        if self.config.sample_missing_docs and list_size < self.config.depth:
            n_extra = self.config.depth - list_size
        mask = inter_passage_mask(attention_mask, list_mask, list_size, int_pos, n_extra)
        backend = self.config.attention_backend
        block_mask = flex_block_mask(mask, length) if backend == "flex" else None
        for layer in self.encoder.encoder.layer:
            sa = layer.attention.self
            n = sa.num_attention_heads

            def heads(x, n=n):
                return x.view(p, length, n, -1).transpose(1, 2)

            q, k, v = heads(sa.query(h)), heads(sa.key(h)), heads(sa.value(h))
            k_more, v_more = int_keys(k, v, int_pos, list_size)
            if n_extra:
                k_more, v_more = self._pseudo(k_more, v_more, list_mask, list_size, n_extra, generator)
            o = attend(
                q,
                k,
                v,
                k_more,
                v_more,
                mask,
                sa.scaling,
                sa.dropout.p if self.training else 0.0,
                backend,
                int_pos=int_pos,
                block_mask=block_mask,
            )
            o = o.transpose(1, 2).reshape(p, length, -1)
            h = layer.feed_forward_chunk(layer.attention.output(o, h))
        return self.head(h[:, 0])[:, 0]

    @staticmethod
    def _pseudo(k_more, v_more, list_mask, list_size, n_extra, generator):
        """Append ``n_extra`` random [INT] keys/values drawn from a Gaussian fitted to the list's real ones."""
        valid = list_mask.repeat_interleave(list_size, 0)[:, None, :, None].to(k_more.dtype)  # [P, 1, N, 1]
        count = valid.sum(2, keepdim=True).clamp(min=1)
        out = []
        for x in (k_more, v_more):
            mean = (x * valid).sum(2, keepdim=True) / count
            std = (((x - mean) ** 2 * valid).sum(2, keepdim=True) / count).sqrt()
            shape = (x.shape[0], x.shape[1], n_extra, x.shape[3])
            noise = torch.randn(shape, generator=generator, device=x.device, dtype=x.dtype)
            out.append(torch.cat([x, mean + std * noise], 2))
        return out[0], out[1]


SET_ENCODER_ONLY = ("sample_missing_docs", "depth", "attention_backend")


def build_set_encoder(path: str, name: str, tokenizer: Any, seed: int, settings: dict[str, Any]):
    """From any mono source, with ``[INT]`` added to the tokenizer and the embeddings; a plain backbone gets a
    linear head without bias drawn from ``seed``."""

    set_settings = {k: settings.pop(k) for k in SET_ENCODER_ONLY if k in settings}
    from boltir.models.loading import saved_family

    if saved_family(path) is None and not is_classifier(path):  # a plain backbone: a new head without bias
        settings.setdefault("head_bias", False)
    mono, tokenizer = mono_source(path, name, seed, settings)
    if mono.config.num_outputs != 1:
        raise ConfigError(f"{name}: a two-logit classifier cannot seed a Set-Encoder head")
    tokenizer.add_special_tokens({"additional_special_tokens": [INT_TOKEN]})
    int_id = tokenizer.convert_tokens_to_ids(INT_TOKEN)
    with seeded(seed):
        mono.encoder.resize_token_embeddings(len(tokenizer))
    return from_mono(mono, SetEncoder, SetEncoderConfig, name, int_token_id=int_id, **set_settings), tokenizer
