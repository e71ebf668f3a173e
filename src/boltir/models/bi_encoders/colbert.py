"""ColBERT-style multi-vector bi-encoder: per-token embeddings (linear projection to ``embedding_dim``, L2
normalised), ``[Q]`` / ``[D]`` marker tokens after ``[CLS]``, queries padded with ``[MASK]`` to ``query_length``
(query augmentation; attended or not), document punctuation dropped through a skip-list, and late interaction:
score = sum over query tokens of the maximum dot product with any document token (MaxSim)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from boltir.models.bi_encoders.base import BiEncoderConfig, BiEncoderModel, BiEncoderOutput


class ColbertConfig(BiEncoderConfig):
    """Marker, mask and skip-list ids come from the tokenizer at load time (``[unused0]`` / ``[unused1]`` as in
    the Stanford checkpoints); None turns a feature off. Lengths exclude the marker token."""

    model_type = "boltir-colbert"

    embedding_dim: int = 128
    projection_bias: bool = False
    doc_length: int = 180
    query_marker_id: int | None = None
    doc_marker_id: int | None = None
    mask_token_id: int | None = None
    pad_token_id: int = 0
    query_expansion: bool = True
    attend_to_expansion: bool = True
    skip_ids: list[int] | None = None
    normalize: bool = True


class ColbertModel(BiEncoderModel):
    """``forward(input_ids, attention_mask, kind)`` -> token embeddings [B, L', dim] and the scoring mask [B, L']."""

    config_class = ColbertConfig
    base_model_prefix = "colbert"
    heads = ("projection",)
    batch_encoder = "encode_multi"

    def build_heads(self, config: ColbertConfig) -> None:
        self.projection = nn.Linear(config.encoder.hidden_size, config.embedding_dim, bias=config.projection_bias)

    def prepare(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, kind: str):
        """Insert the marker after [CLS]; for queries, turn padding into [MASK] up to ``query_length`` + 1."""
        cfg = self.config
        marker = cfg.query_marker_id if kind == "query" else cfg.doc_marker_id
        if marker is not None:
            col = torch.full_like(input_ids[:, :1], marker)
            input_ids = torch.cat([input_ids[:, :1], col, input_ids[:, 1:]], 1)
            attention_mask = torch.cat([attention_mask[:, :1], torch.ones_like(col), attention_mask[:, 1:]], 1)
        score_mask = attention_mask.bool()
        if kind == "query" and cfg.query_expansion and cfg.mask_token_id is not None:
            target = cfg.query_length + (marker is not None)
            if input_ids.shape[1] < target:
                extra = target - input_ids.shape[1]
                input_ids = torch.cat([input_ids, input_ids.new_full((input_ids.shape[0], extra), cfg.pad_token_id)], 1)
                attention_mask = torch.cat(
                    [attention_mask, attention_mask.new_zeros((attention_mask.shape[0], extra))], 1
                )
            pad = attention_mask == 0
            input_ids = input_ids.masked_fill(pad, cfg.mask_token_id)
            score_mask = torch.ones_like(pad)  # [MASK] tokens take part in MaxSim
            if cfg.attend_to_expansion:
                attention_mask = torch.ones_like(attention_mask)
        if kind == "doc" and cfg.skip_ids:
            skip = torch.isin(input_ids, torch.tensor(cfg.skip_ids, device=input_ids.device))
            score_mask = score_mask & ~skip
        return input_ids, attention_mask, score_mask

    def represent(self, input_ids: Tensor, attention_mask: Tensor, types: Tensor | None, kind: str) -> BiEncoderOutput:
        input_ids, attention_mask, score_mask = self.prepare(input_ids, attention_mask, kind)
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        emb = self.projection(hidden)
        if self.config.normalize:
            emb = nn.functional.normalize(emb, dim=-1)
        return BiEncoderOutput(embeddings=emb * score_mask.unsqueeze(-1), mask=score_mask)

    @staticmethod
    def score(query: BiEncoderOutput, doc: BiEncoderOutput) -> torch.Tensor:
        """All-pairs late-interaction (MaxSim) scores [Q, D]."""
        return maxsim(query.embeddings, query.mask, doc.embeddings, doc.mask)

    def training_scores(
        self, query: BiEncoderOutput, doc: BiEncoderOutput, xtr_top_k: int | None = None, **options: Any
    ) -> torch.Tensor:
        """MaxSim, or with ``xtr_top_k`` the XTR training scores (:func:`xtr_scores`)."""
        if xtr_top_k:
            return xtr_scores(query.embeddings, query.mask, doc.embeddings, doc.mask, xtr_top_k)
        return super().training_scores(query, doc, **options)


def maxsim(q: torch.Tensor, q_mask: torch.Tensor, d: torch.Tensor, d_mask: torch.Tensor) -> torch.Tensor:
    """All-pairs late-interaction scores [Q, D]: sum over real query tokens of the best real document token."""
    sim = torch.einsum("qih,djh->qdij", q, d)
    sim = sim.masked_fill(~d_mask[None, :, None, :], float("-inf")).amax(-1)
    sim = torch.where(torch.isinf(sim), torch.zeros_like(sim), sim)  # a document with no real token scores 0
    return (sim * q_mask[:, None, :]).sum(-1)


def xtr_scores(q: torch.Tensor, q_mask: torch.Tensor, d: torch.Tensor, d_mask: torch.Tensor, k: int) -> torch.Tensor:
    """XTR training scores [Q, D]: each query token keeps only its ``k`` best document tokens across the whole
    batch; a document's score sums, over query tokens, the best retained similarity with one of its tokens
    (0 if none was retained), divided by how many query tokens retained any of its tokens (at least 1)."""
    nq, lq, _ = q.shape
    nd, ld, _ = d.shape
    sim = torch.einsum("qih,djh->qidj", q, d).masked_fill(~d_mask[None, None], float("-inf"))
    flat = sim.reshape(nq, lq, nd * ld)
    k = min(k, nd * ld)
    keep = torch.zeros_like(flat, dtype=torch.bool).scatter_(-1, flat.topk(k, dim=-1).indices, True)
    kept = flat.masked_fill(~keep, float("-inf")).reshape(nq, lq, nd, ld).amax(-1)  # [Q, Lq, D]
    hit = torch.isfinite(kept) & q_mask[:, :, None]
    total = torch.where(hit, kept, torch.zeros_like(kept)).sum(1)
    return total / hit.sum(1).clamp(min=1)


from boltir.models.hf_auto import register_all  # noqa: E402

register_all(__name__)  # see boltir.models.hf_auto: registration waits for the last model module to finish
