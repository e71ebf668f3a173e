"""Tokenise query-document pairs with query and document truncated separately on token ids.

Each side is encoded without special tokens, cut to its own length, then joined by the tokenizer's own pair
template (``[CLS] q [SEP] d [SEP]`` for BERT/ELECTRA, ``<s> q </s></s> d </s>`` for RoBERTa), so nothing is
decoded and re-encoded and every backbone gets its own special tokens and token types.
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

import torch


class PairTokenizer:
    def __init__(self, tokenizer: Any, query_length: int, doc_length: int):
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise TypeError(f"{type(tokenizer).__name__} has no fast (Rust) backend; pair tokenisation needs one")
        self.backend = copy.deepcopy(backend)
        self.backend.no_truncation()
        self.backend.no_padding()
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.with_types = "token_type_ids" in tokenizer.model_input_names
        self.query_length, self.doc_length = query_length, doc_length

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
