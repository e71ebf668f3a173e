"""Run a backbone over a padded batch of short texts without computing the padding.

A batch of queries pads every query to the longest one: at batch 32 of MS MARCO queries (4 to 30 tokens, 9 on
average) about half of the backbone's work is padding. Packing puts the texts' real tokens side by side in one row,
each text attending only to itself (a block-diagonal attention mask) at the positions it has in the padded batch,
so every token sees what it sees padded and the backbone's linear layers run on the real tokens only. The outputs
are put back in the padded layout (zeros where the padding was, which every family masks out).

The outputs equal the padded batch's to float rounding (about 1e-6 relative in float32), the same as a batch of 1
and a batch of 32 differ in a plain loop. Whether a backbone reads ``position_ids`` and a 4-D mask the way packing
needs is checked on a probe before packing is used (:func:`packs_exactly`); a backbone that numbers its positions
otherwise (RoBERTa counts from its padding index) fails the check and runs padded. :func:`worth_packing` decides per
batch: the attention over one packed row grows with its square, so long texts and batches without padding run
padded.
"""

from __future__ import annotations

from typing import Any

PACK_MAX_TOKENS = 1024  # real tokens in one packed row at most (its attention matrix is this squared per head)
PACK_GAIN = 0.8  # pack only when the estimated work is at most this fraction of the padded batch's


def worth_packing(config: Any, attention_mask: Any) -> bool:
    """Whether packing ``attention_mask``'s batch saves work on a backbone of ``config``.

    The estimate counts a transformer layer's multiply-adds: per token its linear layers (``4 h^2 + 2 h i`` for
    hidden size ``h`` and feed-forward size ``i``) and its attention (``2 h n`` over ``n`` attended tokens), for the
    padded batch (``n`` = its length) and the packed row (``n`` = all real tokens).

    Args:
        config: the backbone's configuration (``hidden_size``, ``intermediate_size``).
        attention_mask: the padded batch's mask [batch, length], 1 for real tokens.

    Returns:
        True when the batch has padding, at most :data:`PACK_MAX_TOKENS` real tokens and the packed estimate is at
        most :data:`PACK_GAIN` of the padded one.
    """
    rows, length = attention_mask.shape
    tokens = int(attention_mask.sum())
    if tokens == rows * length or tokens > PACK_MAX_TOKENS or rows < 2:
        return False
    hidden = int(getattr(config, "hidden_size", 0) or 0)
    if not hidden:
        return False
    linear = 4 * hidden * hidden + 2 * hidden * int(getattr(config, "intermediate_size", 0) or 4 * hidden)
    packed = tokens * (linear + 2 * hidden * tokens)
    padded = rows * length * (linear + 2 * hidden * length)
    return packed <= PACK_GAIN * padded


def packed_inputs(given: dict[str, Any], inputs: list[str]) -> tuple[list[Any], Any]:
    """A padded batch's backbone inputs as one packed row, and where its tokens go back.

    Args:
        given: ``input_ids`` and ``attention_mask`` [batch, length] (and ``token_type_ids`` where given).
        inputs: the backbone's named inputs (:func:`boltir.models.backends.backbone_io`).

    Returns:
        ``[input_ids [1, n], attention_mask [1, 1, n, n] (True within a text), position_ids [1, n] (a token's
        column in the padded batch), token_type_ids [1, n] (when the backbone takes them)]`` for the ``n`` real
        tokens, and the boolean mask [batch, length] of their places.
    """
    import torch

    keep = given["attention_mask"].bool()
    rows, columns = keep.nonzero(as_tuple=True)
    ids = given["input_ids"][keep][None]
    feed = [ids, (rows[:, None] == rows[None, :])[None, None], columns[None]]
    if "token_type_ids" in inputs:
        types = given.get("token_type_ids")
        feed.append(types[keep][None] if types is not None else torch.zeros_like(ids))
    return feed, keep


def unpacked(field: Any, keep: Any) -> Any:
    """The packed row's output ``field`` [1, n, dim] put back in the padded layout [batch, length, dim] (zeros at
    the padding)."""
    out = field.new_zeros((*keep.shape, field.shape[-1]))
    out[keep] = field[0]
    return out


def packed_module(encoder: Any, inputs: list[str], field: str) -> Any:
    """``encoder`` as a module of positional packed inputs (:func:`packed_inputs`) that returns its ``field``."""
    import torch

    class Packed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: Any, attention_mask: Any, position_ids: Any, token_type_ids: Any = None) -> Any:
            given = {"input_ids": input_ids, "attention_mask": attention_mask, "position_ids": position_ids}
            if "token_type_ids" in inputs:
                given["token_type_ids"] = token_type_ids
            return getattr(self.encoder(**given), field)

    return Packed().eval()


def packs_exactly(encoder: Any, inputs: list[str], field: str, probe: dict[str, Any]) -> bool:
    """Whether ``encoder`` gives a padded ``probe`` batch's outputs packed, to float rounding: it must take
    ``position_ids`` and honour a 4-D attention mask (a relative difference up to 1e-4 in float32, 5e-2 in lower
    precision, where a position or mask it ignores makes a difference of order one)."""
    import inspect

    import torch

    if "position_ids" not in inspect.signature(encoder.forward).parameters:
        return False
    with torch.no_grad():
        padded = getattr(encoder(**{n: probe[n] for n in inputs}), field)
        feed, keep = packed_inputs(probe, inputs)
        packed = packed_module(encoder, inputs, field)(*feed)
    want = padded[keep].float()
    scale = float(want.abs().max()) or 1.0
    computed = next(encoder.parameters()).dtype  # a bfloat16 backbone may hand its output over in float32
    tolerance = 1e-4 if computed == torch.float32 else 5e-2
    return bool(float((packed[0].float() - want).abs().max()) <= tolerance * scale)
