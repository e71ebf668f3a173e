"""Attention of document rows over ``[extra keys] + a band of 2w + 1 document keys``: time and memory grow
linearly in document length for a fixed window, and no L x L score matrix is ever built."""

from __future__ import annotations

import math

import torch


def banded_attention(
    q: torch.Tensor,
    k_doc: torch.Tensor,
    v_doc: torch.Tensor,
    d_valid: torch.Tensor,
    window: int,
    k_extra: torch.Tensor | None = None,
    v_extra: torch.Tensor | None = None,
    extra_valid: torch.Tensor | None = None,
    dropout: float = 0.0,
    scale: float | None = None,
) -> torch.Tensor:
    """Outputs [P, h, D, d] for document queries ``q`` [P, h, D, d].

    Each row attends, in one softmax, to the ``extra`` keys [P, h, E, d] where ``extra_valid`` [P, E] and to the
    document keys within ``window`` of it that are real (``d_valid`` [P, D]); a padding row keeps itself.
    """
    p, h, nd, dim = q.shape
    scale = scale if scale is not None else 1.0 / math.sqrt(dim)
    width = 2 * window + 1
    pad = (0, 0, window, window)
    # band scores as 2w + 1 shifted dot products: no [D, 2w + 1, d] gather and no tiny batched GEMMs
    k_pad = torch.nn.functional.pad(k_doc, pad)
    v_pad = torch.nn.functional.pad(v_doc, pad)
    scores_win = torch.stack([(q * k_pad[:, :, t : t + nd]).sum(-1) for t in range(width)], -1) * scale
    offsets = torch.arange(width, device=q.device) - window
    pos = torch.arange(nd, device=q.device)[:, None] + offsets[None, :]  # [D, width]
    in_range = (pos >= 0) & (pos < nd)
    valid_padded = torch.nn.functional.pad(d_valid.bool(), (window, window))  # [P, D + 2w]
    key_ok = valid_padded.unfold(1, width, 1) & in_range  # [P, D, width]
    key_ok = key_ok | (offsets == 0)  # a padding row keeps itself: no empty softmax
    scores_win = scores_win.masked_fill(~key_ok[:, None], float("-inf"))
    if k_extra is not None and v_extra is not None and extra_valid is not None:
        scores_ext = torch.matmul(q, k_extra.transpose(-1, -2)) * scale  # [P, h, D, E]
        scores_ext = scores_ext.masked_fill(~extra_valid.bool()[:, None, None, :], float("-inf"))
        probs = torch.softmax(torch.cat([scores_ext, scores_win], -1), -1)
        if dropout:
            probs = torch.nn.functional.dropout(probs, dropout)
        n_ext = k_extra.shape[2]
        out: torch.Tensor | None = torch.matmul(probs[..., :n_ext], v_extra)
        probs_win = probs[..., n_ext:]
    else:
        probs_win = torch.softmax(scores_win, -1)
        if dropout:
            probs_win = torch.nn.functional.dropout(probs_win, dropout)
        out = None
    for t in range(width):
        term = probs_win[..., t : t + 1] * v_pad[:, :, t : t + nd]
        out = term if out is None else out + term
    assert out is not None  # width >= 1
    return out
