"""Inter-passage attention of the Set-Encoder: every token of passage i attends to its own sequence plus the
``[INT]`` states of the other passages of the same query, in one softmax over the union.

The key set is written as "own sequence without its ``[INT]``" + "every ``[INT]`` of the list" (the passage's own
``[INT]`` enters through the list block). That is the same set of keys as "own sequence" + "the other
``[INT]`` states", but it needs no mask at all when no token and no list entry is padding, so SDPA can take its
unmasked (flash) kernel, as a mono model's attention does. Three paths:

- ``fused`` hands SDPA the keys and, only when something is padded, one boolean mask (the memory-efficient /
  flash kernels never build an L x (L + N) probability matrix on GPU);
- ``flex`` runs compiled FlexAttention with a block mask built once per forward from the key validity, so fully
  padded key blocks are skipped (compiled once per shape; no attention dropout, so training with dropout > 0
  takes the ``fused`` path, which has the same semantics);
- ``eager`` writes the softmax out and is the reference the other paths are tested against.

Which of ``fused`` and ``flex`` is faster depends on the device and the padding: benchmarks/bench_attention.py
and benchmarks/gpu_attention.py measure both.
"""

from __future__ import annotations

import torch
from torch.nn.functional import scaled_dot_product_attention as sdpa


def int_keys(k: torch.Tensor, v: torch.Tensor, int_pos: int, list_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``[INT]`` keys and values of every passage of each pair's list: [P, h, N, d] each."""
    p, h, _, d = k.shape
    k_int = k[:, :, int_pos].reshape(p // list_size, list_size, h, d).transpose(1, 2)  # [Q, h, N, d]
    v_int = v[:, :, int_pos].reshape(p // list_size, list_size, h, d).transpose(1, 2)
    owner = torch.arange(p, device=k.device) // list_size
    return k_int[owner], v_int[owner]


def inter_passage_mask(
    token_valid: torch.Tensor, list_valid: torch.Tensor, list_size: int, int_pos: int = 1, extra: int = 0
) -> torch.Tensor | None:
    """Boolean [P, 1, 1, (L - 1) + N + extra] keys mask matching :func:`attend`'s key order (own real tokens
    but the ``[INT]``, then the ``[INT]`` of every real passage of the list, then ``extra`` pseudo-passages), or
    None when every key is real."""
    own = torch.cat([token_valid[:, :int_pos], token_valid[:, int_pos + 1 :]], 1).bool()
    parts = [own, list_valid.bool().repeat_interleave(list_size, 0)]
    if extra:
        parts.append(torch.ones(own.shape[0], extra, dtype=torch.bool, device=own.device))
    mask = torch.cat(parts, 1)
    return None if bool(mask.all()) else mask[:, None, None, :]


BACKENDS = ("fused", "flex", "eager")
_compiled_flex = None


def flex_block_mask(mask: torch.Tensor | None, query_length: int):
    """FlexAttention block mask for keys ``mask`` [P, 1, 1, K] (None when every key is real)."""
    if mask is None:
        return None
    from torch.nn.attention.flex_attention import create_block_mask

    valid = mask[:, 0, 0]

    def key_is_real(b, h, q_idx, kv_idx):
        return valid[b, kv_idx]

    return create_block_mask(key_is_real, valid.shape[0], None, query_length, valid.shape[1], device=valid.device)


def _flex(q, keys, vals, block_mask, scale):
    global _compiled_flex
    if _compiled_flex is None:
        from torch.nn.attention.flex_attention import flex_attention

        _compiled_flex = torch.compile(flex_attention)
    return _compiled_flex(q, keys, vals, block_mask=block_mask, scale=scale)


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    k_more: torch.Tensor,
    v_more: torch.Tensor,
    mask: torch.Tensor | None,
    scale: float,
    dropout: float = 0.0,
    backend: str = "fused",
    int_pos: int = 1,
    block_mask=None,
) -> torch.Tensor:
    """Attention of ``q`` [P, h, L, d] over ``[k without int_pos | k_more]`` with keys ``mask`` (see
    :func:`inter_passage_mask`; None = all keys real); ``block_mask`` from :func:`flex_block_mask` for the
    flex backend."""
    keys = torch.cat([k[:, :, :int_pos], k[:, :, int_pos + 1 :], k_more], 2)
    vals = torch.cat([v[:, :, :int_pos], v[:, :, int_pos + 1 :], v_more], 2)
    if backend == "flex" and not dropout:
        return _flex(q, keys, vals, block_mask, scale)
    if backend in ("fused", "flex"):
        return sdpa(q, keys, vals, attn_mask=mask, dropout_p=dropout, scale=scale)
    scores = torch.matmul(q, keys.transpose(-1, -2)) * scale
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    probs = torch.softmax(scores, -1)
    if dropout:
        probs = torch.nn.functional.dropout(probs, dropout)
    return torch.matmul(probs, vals)
