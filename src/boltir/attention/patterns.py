"""Which segment of a cross-encoder input may attend to which: ``[CLS]``, query (+ [SEP]), document (+ [SEP]).

A pattern is six links plus an optional one-sided document window ``w`` (document token i sees document tokens
j with ``|i - j| <= w``). The published sparse cross-encoder: query tokens see only the query, ``[CLS]`` sees
everything, document tokens see ``[CLS]``, the query and their window.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from boltir.errors import ConfigError


@dataclass(frozen=True)
class SparsePattern:
    """Which segment of a ``[CLS | query | document]`` input attends to which, and the document window.

    Each ``a_to_b`` flag lets the tokens of segment ``a`` attend to segment ``b``; ``window`` lets a document token
    see the document tokens at most that far away (None: all of them). The default is the published pattern.
    """

    cls_to_query: bool = True
    cls_to_doc: bool = True
    query_to_cls: bool = False
    query_to_doc: bool = False
    doc_to_cls: bool = True
    doc_to_query: bool = True
    window: int | None = 4

    def __post_init__(self):
        if self.window is not None and self.window < 0:
            raise ConfigError(f"window={self.window}: must be >= 0 or None (no window)")

    @classmethod
    def dense(cls) -> SparsePattern:
        """Every link on, no window: ordinary full attention."""
        return cls(True, True, True, True, True, True, None)

    @property
    def query_is_independent(self) -> bool:
        """The query block never looks at ``[CLS]`` or the document, so it can be encoded once per query."""
        return not (self.query_to_cls or self.query_to_doc)

    def as_dict(self) -> dict:
        """The pattern's fields as a dict (what a sparse cross-encoder's config stores)."""
        return asdict(self)


def full_mask(pattern: SparsePattern, q_valid: torch.Tensor, d_valid: torch.Tensor) -> torch.Tensor:
    """Boolean [P, 1 + Q + D, 1 + Q + D] over the block layout ``[CLS | query block | doc block]``.

    ``q_valid`` [P, Q] and ``d_valid`` [P, D] mark real tokens. Row = attending token, column = key. Padding rows
    may see themselves only (so no row is empty); their outputs are never used.
    """
    p, nq = q_valid.shape
    nd = d_valid.shape[1]
    n = 1 + nq + nd
    dev = q_valid.device
    seg = torch.cat(
        [
            torch.zeros(1, dtype=torch.long, device=dev),
            torch.ones(nq, dtype=torch.long, device=dev),
            torch.full((nd,), 2, dtype=torch.long, device=dev),
        ]
    )
    link = torch.tensor(
        [
            [True, pattern.cls_to_query, pattern.cls_to_doc],
            [pattern.query_to_cls, True, pattern.query_to_doc],
            [pattern.doc_to_cls, pattern.doc_to_query, True],
        ],
        device=dev,
    )
    allowed = link[seg][:, seg].clone()  # [n, n]
    if pattern.window is not None:
        idx = torch.arange(n, device=dev)
        doc = seg == 2
        far = (idx[:, None] - idx[None, :]).abs() > pattern.window
        allowed &= ~(doc[:, None] & doc[None, :] & far)
    valid = torch.cat([torch.ones(p, 1, dtype=torch.bool, device=dev), q_valid.bool(), d_valid.bool()], 1)
    mask = allowed.unsqueeze(0) & valid[:, None, :] & valid[:, :, None]
    eye = torch.eye(n, dtype=torch.bool, device=dev).unsqueeze(0)
    return mask | (eye & ~valid[:, :, None])
