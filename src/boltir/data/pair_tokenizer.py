"""Tokenise query-document pairs with query and document truncated separately on token ids.

Each side is encoded without special tokens, cut to its own length, then joined by the tokenizer's own pair
template (``[CLS] q [SEP] d [SEP]`` for BERT/ELECTRA, ``<s> q </s></s> d </s>`` for RoBERTa), so nothing is
decoded and re-encoded and every backbone gets its own special tokens and token types.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch

from boltir.errors import ConfigError, UnsupportedError


class PairTokenizer:
    """Tokenises (query, document) pairs for a point-wise cross-encoder: query and document are truncated
    separately on token ids (``query_length``, ``doc_length``), never by decoding and re-encoding.

    Raises:
        UnsupportedError: the tokenizer has no fast (Rust) backend.
    """

    def __init__(self, tokenizer: Any, query_length: int, doc_length: int):
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise UnsupportedError(
                f"{type(tokenizer).__name__} has no fast (Rust) backend; pair tokenisation needs one"
            )
        self.backend = copy.deepcopy(backend)
        self.backend.no_truncation()
        self.backend.no_padding()
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.with_types = "token_type_ids" in tokenizer.model_input_names
        self.query_length, self.doc_length = query_length, doc_length

    @property
    def max_length(self) -> int:
        """The longest pair this tokenizer builds, in tokens (both sides at their limits, special tokens added)."""
        return self.query_length + self.doc_length + self.backend.num_special_tokens_to_add(True)

    def lengths(self, queries: Sequence[str], docs: Sequence[str]) -> list[int]:
        """Token count of each pair as :meth:`__call__` builds it (both sides cut, special tokens added)."""
        q_lens = [len(e.ids) for e in self.backend.encode_batch(list(queries), add_special_tokens=False)]
        d_lens = [len(e.ids) for e in self.backend.encode_batch(list(docs), add_special_tokens=False)]
        extra = self.backend.num_special_tokens_to_add(True)
        return [min(q, self.query_length) + min(d, self.doc_length) + extra for q, d in zip(q_lens, d_lens)]

    def __call__(self, queries: Sequence[str], docs: Sequence[str]) -> dict[str, torch.Tensor]:
        q_encs = self.backend.encode_batch(list(queries), add_special_tokens=False)
        d_encs = self.backend.encode_batch(list(docs), add_special_tokens=False)
        pairs = []
        for q, d in zip(q_encs, d_encs):
            q.truncate(self.query_length)
            d.truncate(self.doc_length)
            pairs.append(self.backend.post_process(q, d, add_special_tokens=True))
        width = max(len(p.ids) for p in pairs)
        ids = torch.full((len(pairs), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(pairs), width), dtype=torch.long)
        types = torch.zeros((len(pairs), width), dtype=torch.long)
        for i, p in enumerate(pairs):
            n = len(p.ids)
            ids[i, :n] = torch.tensor(p.ids)
            mask[i, :n] = 1
            types[i, :n] = torch.tensor(p.type_ids)
        out = {"input_ids": ids, "attention_mask": mask}
        if self.with_types:
            out["token_type_ids"] = types
        return out


class SegmentTokenizer:
    """Block layout for the sparse cross-encoder: each query once (tokens cut to ``query_length`` + [SEP]),
    each document (tokens cut to ``doc_length`` + [SEP]); the model adds [CLS]. All queries must bring the same
    number of documents (pad lists with empty documents and mask them in the loss)."""

    def __init__(self, tokenizer: Any, query_length: int, doc_length: int):
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None or tokenizer.cls_token_id is None or tokenizer.sep_token_id is None:
            raise UnsupportedError("the sparse cross-encoder needs a fast tokenizer with [CLS] and [SEP] tokens")
        self.backend = copy.deepcopy(backend)
        self.backend.no_truncation()
        self.backend.no_padding()
        self.cls_id, self.sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.query_length, self.doc_length = query_length, doc_length

    def _block(self, texts: Sequence[str], length: int) -> tuple[torch.Tensor, torch.Tensor]:
        encs = self.backend.encode_batch(list(texts), add_special_tokens=False)
        return pad_sequences([e.ids[:length] + [self.sep_id] for e in encs], self.pad_id)

    def __call__(self, queries: Sequence[str], docs: Sequence[Sequence[str]]) -> dict[str, Any]:
        per_query = {len(d) for d in docs}
        if len(per_query) != 1:
            raise ConfigError(f"every query needs the same number of documents, got {sorted(per_query)}")
        q_ids, q_mask = self._block(queries, self.query_length)
        d_ids, d_mask = self._block([d for ds in docs for d in ds], self.doc_length)
        return {
            "query_ids": q_ids,
            "query_mask": q_mask,
            "doc_ids": d_ids,
            "doc_mask": d_mask,
            "docs_per_query": per_query.pop(),
            "cls_id": self.cls_id,
        }


class SetTokenizer:
    """Set-Encoder input: per passage ``[CLS] [INT] query [SEP] passage [SEP]`` (query and passage truncated
    separately on token ids; without ``[INT]`` when ``int_token_id`` is None), lists of one query consecutive and
    padded to the same size."""

    def __init__(self, tokenizer: Any, query_length: int, doc_length: int, int_token_id: int | None):
        self.pairs = PairTokenizer(tokenizer, query_length, doc_length)
        self.int_token_id = int_token_id

    def __call__(self, queries: Sequence[str], docs: Sequence[Sequence[str]]) -> dict[str, Any]:
        size = max(len(d) for d in docs)
        flat_q, flat_d = [], []
        list_mask = torch.zeros(len(queries), size, dtype=torch.bool)
        for b, (q, ds) in enumerate(zip(queries, docs)):
            flat_q += [q] * size
            flat_d += list(ds) + [""] * (size - len(ds))
            list_mask[b, : len(ds)] = True
        enc = self.pairs(flat_q, flat_d)
        if self.int_token_id is None:
            return {**enc, "list_size": size, "list_mask": list_mask}
        n = enc["input_ids"].shape[0]
        out = {
            "input_ids": torch.cat(
                [enc["input_ids"][:, :1], torch.full((n, 1), self.int_token_id), enc["input_ids"][:, 1:]], 1
            ),
            "attention_mask": torch.cat(
                [enc["attention_mask"][:, :1], torch.ones(n, 1, dtype=torch.long), enc["attention_mask"][:, 1:]], 1
            ),
            "list_size": size,
            "list_mask": list_mask,
        }
        if "token_type_ids" in enc:
            out["token_type_ids"] = torch.cat([torch.zeros(n, 1, dtype=torch.long), enc["token_type_ids"]], 1)
        return out


def pad_sequences(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id lists as one right-padded ``[n, longest]`` id tensor and its attention mask."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    return ids, mask
