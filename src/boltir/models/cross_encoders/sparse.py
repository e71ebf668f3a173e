"""Sparse (windowed, asymmetric) cross-encoder over a BERT/ELECTRA backbone.

Input in block layout ``[CLS | query + SEP | document + SEP]`` with BERT's own positions and token types, so an
ordinary cross-encoder checkpoint loads unchanged. The model owns its layer loop: each encoder layer's
projections and feed-forward are the backbone's, only the attention follows the pattern (``SparsePattern``):
``[CLS]``, query and document rows each attend to the keys their links allow, in one softmax. When the query
never looks at ``[CLS]`` or the document, it is encoded once per query and shared by all of its documents.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn.functional import scaled_dot_product_attention as sdpa

from boltir.attention.patterns import SparsePattern, full_mask
from boltir.attention.windowed import banded_attention
from boltir.errors import ConfigError
from boltir.models.building import from_mono, mono_source
from boltir.models.cross_encoders.base import CrossEncoderConfig, CrossEncoderModel, logits_to_scores

BACKENDS = ("banded", "mask")


class SparseCrossEncoderConfig(CrossEncoderConfig):
    """Sparse cross-encoder settings: the attention pattern's links and window, and the attention backend."""

    model_type = "boltir-sparse-ce"

    cls_to_query: bool = True
    cls_to_doc: bool = True
    query_to_cls: bool = False
    query_to_doc: bool = False
    doc_to_cls: bool = True
    doc_to_query: bool = True
    window: int | None = 4
    attention_backend: str = "banded"

    @property
    def pattern(self) -> SparsePattern:
        """The attention pattern these settings describe."""
        return SparsePattern(
            self.cls_to_query,
            self.cls_to_doc,
            self.query_to_cls,
            self.query_to_doc,
            self.doc_to_cls,
            self.doc_to_query,
            self.window,
        )


def _heads(x: torch.Tensor, n: int) -> torch.Tensor:
    b, length, hidden = x.shape
    return x.view(b, length, n, hidden // n).transpose(1, 2)


def _merge(x: torch.Tensor) -> torch.Tensor:
    b, n, length, d = x.shape
    return x.transpose(1, 2).reshape(b, length, n * d)


class SparseCrossEncoder(CrossEncoderModel):
    """``forward(query_ids, query_mask, doc_ids, doc_mask, docs_per_query, cls_id)`` -> scores [queries x docs]
    (the inputs come from :class:`boltir.data.pair_tokenizer.SegmentTokenizer`)."""

    config_class = SparseCrossEncoderConfig
    base_model_prefix = "sparse_ce"
    needs_layers = True

    backends = BACKENDS

    def list_inputs(self, tokenizer: Any) -> Any:
        from boltir.data.pair_tokenizer import SegmentTokenizer

        return SegmentTokenizer(tokenizer, self.config.query_length, self.config.doc_length)

    def _embed(self, ids: torch.Tensor, types: int, positions: torch.Tensor) -> torch.Tensor:
        limit = self.config.encoder.max_position_embeddings - 1
        emb = self.encoder.embeddings(
            input_ids=ids, token_type_ids=torch.full_like(ids, types), position_ids=positions.clamp(max=limit)
        )
        if hasattr(self.encoder, "embeddings_project"):
            emb = self.encoder.embeddings_project(emb)
        return emb

    def forward(
        self,
        query_ids: torch.Tensor,
        query_mask: torch.Tensor,
        doc_ids: torch.Tensor,
        doc_mask: torch.Tensor,
        docs_per_query: int,
        cls_id: int,
        return_query_states: bool = False,
    ):
        """Scores of ``docs_per_query`` documents per query, the query block encoded once per query when the
        pattern keeps the query from attending to documents.

        Args:
            query_ids: [queries, query length] query tokens (with their ``[SEP]``).
            query_mask: [queries, query length].
            doc_ids: [documents, document length] document tokens (with their ``[SEP]``).
            doc_mask: [documents, document length].
            docs_per_query: documents per query.
            cls_id: the ``[CLS]`` token id.
            return_query_states: also return the query block's states (tests use them).

        Returns:
            [documents] scores (and the query states).
        """
        pat = self.config.pattern
        n_q, nq_len = query_ids.shape
        n_p, nd_len = doc_ids.shape
        if n_p != n_q * docs_per_query:
            raise ConfigError(f"{n_p} documents for {n_q} queries x {docs_per_query} docs per query")
        dev = query_ids.device
        owner = torch.arange(n_p, device=dev) // docs_per_query
        q_len = query_mask.sum(1)
        h_c = self._embed(
            torch.full((n_p, 1), cls_id, device=dev, dtype=torch.long),
            0,
            torch.zeros(n_p, 1, dtype=torch.long, device=dev),
        )
        h_q = self._embed(query_ids, 0, torch.arange(1, nq_len + 1, device=dev).expand(n_q, -1))
        h_d = self._embed(doc_ids, 1, (1 + q_len[owner])[:, None] + torch.arange(nd_len, device=dev)[None, :])
        q_valid = query_mask.bool()
        if not pat.query_is_independent:  # the query depends on its document: one query copy per pair
            h_q, q_valid, q_owner = h_q[owner], q_valid[owner], torch.arange(n_p, device=dev)
        else:
            q_owner = owner
        d_valid = doc_mask.bool()
        # the reference path's mask is the same for every layer: build it once
        dense_mask = (
            full_mask(pat, q_valid[q_owner], d_valid)[:, None] if self.config.attention_backend == "mask" else None
        )
        for layer in self.encoder.encoder.layer:
            o_c, o_q, o_d = self._attend(layer, pat, h_c, h_q, h_d, q_valid, d_valid, q_owner, dense_mask)
            out = layer.attention.output
            h_c, h_q, h_d = out(o_c, h_c), out(o_q, h_q), out(o_d, h_d)
            h_c, h_q, h_d = (layer.feed_forward_chunk(h) for h in (h_c, h_q, h_d))
        logits = self.head(h_c[:, 0])
        scores = logits_to_scores(logits, self.config.two_logit_score)
        return (scores, h_q) if return_query_states else scores

    def _attend(self, layer, pat: SparsePattern, h_c, h_q, h_d, q_valid, d_valid, q_owner, dense_mask=None):
        sa = layer.attention.self
        n = sa.num_attention_heads
        drop = sa.dropout.p if self.training else 0.0
        scale = sa.scaling

        def qkv(h):
            return _heads(sa.query(h), n), _heads(sa.key(h), n), _heads(sa.value(h), n)

        (qc, kc, vc), (qq, kq, vq), (qd, kd, vd) = qkv(h_c), qkv(h_q), qkv(h_d)
        kq_p, vq_p, qv_p = kq[q_owner], vq[q_owner], q_valid[q_owner]
        n_p = h_d.shape[0]
        ones = torch.ones(n_p, 1, dtype=torch.bool, device=h_d.device)
        if dense_mask is not None:
            q_all = torch.cat([qc, qq[q_owner], qd], 2)
            k_all, v_all = torch.cat([kc, kq_p, kd], 2), torch.cat([vc, vq_p, vd], 2)
            o = sdpa(q_all, k_all, v_all, attn_mask=dense_mask, dropout_p=drop, scale=scale)
            nq_len = qq.shape[2]
            o_c, o_q_p, o_d = o[:, :, :1], o[:, :, 1 : 1 + nq_len], o[:, :, 1 + nq_len :]
            if pat.query_is_independent:  # every pair of a query holds the same query rows: keep one
                first = torch.zeros(h_q.shape[0], dtype=torch.long, device=h_q.device)
                first.scatter_reduce_(0, q_owner, torch.arange(n_p, device=h_q.device), "amin", include_self=False)
                o_q_p = o_q_p[first]
            return _merge(o_c), _merge(o_q_p), _merge(o_d)
        # [CLS] row: everything its links allow
        cls_mask = torch.cat([ones, qv_p & pat.cls_to_query, d_valid & pat.cls_to_doc], 1)[:, None, None]
        o_c = sdpa(
            qc,
            torch.cat([kc, kq_p, kd], 2),
            torch.cat([vc, vq_p, vd], 2),
            attn_mask=cls_mask,
            dropout_p=drop,
            scale=scale,
        )
        # query rows (shared per query when independent of [CLS] and document)
        if pat.query_is_independent:
            o_q = sdpa(qq, kq, vq, attn_mask=q_valid[:, None, None, :], dropout_p=drop, scale=scale)
        else:
            parts = [(kq, vq, q_valid)]
            if pat.query_to_cls:
                parts.insert(0, (kc, vc, ones))
            if pat.query_to_doc:
                parts.append((kd, vd, d_valid))
            o_q = sdpa(
                qq,
                torch.cat([k for k, _, _ in parts], 2),
                torch.cat([v for _, v, _ in parts], 2),
                attn_mask=torch.cat([ok for _, _, ok in parts], 1)[:, None, None],
                dropout_p=drop,
                scale=scale,
            )
        # document rows: [CLS] and query keys (if linked) plus the document band
        extra = ([(kc, vc, ones)] if pat.doc_to_cls else []) + ([(kq_p, vq_p, qv_p)] if pat.doc_to_query else [])
        ext_k, ext_v, ext_ok = [k for k, _, _ in extra], [v for _, v, _ in extra], [ok for _, _, ok in extra]
        nd_len = h_d.shape[1]
        if pat.window is None or pat.window >= nd_len - 1:  # the band covers every document key
            keys, vals = torch.cat(ext_k + [kd], 2), torch.cat(ext_v + [vd], 2)
            valid = torch.cat(ext_ok + [d_valid], 1)
            mask = valid[:, None, None, :].expand(-1, 1, nd_len, -1)
            if pat.window is not None:
                idx = torch.arange(nd_len, device=h_d.device)
                near = (idx[:, None] - idx[None, :]).abs() <= pat.window
                mask = mask.clone()
                mask[..., keys.shape[2] - nd_len :] &= near
            eye = torch.eye(nd_len, dtype=torch.bool, device=h_d.device)
            mask = mask.clone()
            # a padding row keeps itself, so no softmax is empty (an empty one would spread NaN)
            mask[..., keys.shape[2] - nd_len :] |= eye & ~d_valid[:, None, :, None]
            o_d = sdpa(qd, keys, vals, attn_mask=mask, dropout_p=drop, scale=scale)
        else:
            o_d = banded_attention(
                qd,
                kd,
                vd,
                d_valid,
                pat.window,
                torch.cat(ext_k, 2) if ext_k else None,
                torch.cat(ext_v, 2) if ext_v else None,
                torch.cat(ext_ok, 1) if ext_ok else None,
                dropout=drop,
                scale=scale,
            )
        return _merge(o_c), _merge(o_q), _merge(o_d)


def build_sparse_ce(path: str, name: str, tokenizer: Any, seed: int, settings: dict[str, Any]):
    """From any mono source with the attention pattern given in ``settings`` as ``pattern`` (a
    :class:`SparsePattern`) or as its fields (the published pattern by default: ``window`` 4, query tokens see
    only the query)."""
    from boltir.attention.patterns import SparsePattern

    fields = {k: settings.pop(k) for k in list(settings) if k in SparsePattern().as_dict()}
    pattern = settings.pop("pattern", None)
    if pattern is not None and fields:
        raise ConfigError(f"{name}: give the attention pattern as pattern= or as {', '.join(fields)}, not both")
    pattern = pattern or SparsePattern(**fields)
    backend = settings.pop("attention_backend", "banded")
    mono, tokenizer = mono_source(path, name, seed, settings)
    settings = {"attention_backend": backend, **pattern.as_dict()}
    return from_mono(mono, SparseCrossEncoder, SparseCrossEncoderConfig, name, **settings), tokenizer
