"""Inter-passage attention of the Set-Encoder: every token of passage i attends to its own sequence plus the
``[INT]`` states of the other passages of the same query, in one softmax over the union.

Two paths: ``fused`` hands SDPA the keys ``[own sequence | the list's INT keys]`` and one boolean mask (the
memory-efficient / flash kernels never build an L x (L + N) probability matrix in memory on GPU); ``eager``
writes the softmax out and is the reference the fused path is tested against.
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


def inter_passage_mask(token_valid: torch.Tensor, list_valid: torch.Tensor, list_size: int,
                       extra: int = 0) -> torch.Tensor:
    """Boolean [P, 1, 1, L + N + extra] keys mask: own real tokens, and the INT of every other real passage."""
    p = token_valid.shape[0]
    own = torch.arange(p, device=token_valid.device) % list_size
    others = list_valid.repeat_interleave(list_size, 0).clone()  # [P, N]
    others[torch.arange(p, device=token_valid.device), own] = False
    parts = [token_valid.bool(), others]
    if extra:
        parts.append(torch.ones(p, extra, dtype=torch.bool, device=token_valid.device))
    return torch.cat(parts, 1)[:, None, None, :]


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, k_more: torch.Tensor, v_more: torch.Tensor,
           mask: torch.Tensor, scale: float, dropout: float = 0.0, fused: bool = True) -> torch.Tensor:
    """Attention of ``q`` [P, h, L, d] over ``[k | k_more]`` with keys ``mask`` [P, 1, 1, L + M]."""
    keys, vals = torch.cat([k, k_more], 2), torch.cat([v, v_more], 2)
    if fused:
        return sdpa(q, keys, vals, attn_mask=mask, dropout_p=dropout, scale=scale)
    scores = torch.matmul(q, keys.transpose(-1, -2)) * scale
    probs = torch.softmax(scores.masked_fill(~mask, float("-inf")), -1)
    if dropout:
        probs = torch.nn.functional.dropout(probs, dropout)
    return torch.matmul(probs, vals)
