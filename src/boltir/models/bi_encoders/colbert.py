"""ColBERT-style multi-vector bi-encoder: per-token embeddings (linear projection to ``embedding_dim``, L2
normalised), ``[Q]`` / ``[D]`` marker tokens after ``[CLS]``, queries padded with ``[MASK]`` to ``query_length``
(query augmentation; attended or not), document punctuation dropped through a skip-list, and late interaction:
score = sum over query tokens of the maximum dot product with any document token (MaxSim)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from boltir.errors import CheckpointError
from boltir.models.bi_encoders.base import BiEncoderConfig, BiEncoderModel, BiEncoderOutput
from boltir.models.bi_encoders.inference import encode_multi
from boltir.models.building import around_backbone, punctuation_ids


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
    batch_encoder = staticmethod(encode_multi)

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


def colbert_token_settings(tokenizer: Any) -> dict[str, Any]:
    """Marker ids ([unused0] / [unused1] where the vocabulary has them), [MASK] and the punctuation skip-list."""
    vocab = tokenizer.get_vocab()
    return {
        "query_marker_id": vocab.get("[unused0]"),
        "doc_marker_id": vocab.get("[unused1]"),
        "mask_token_id": tokenizer.mask_token_id,
        "pad_token_id": tokenizer.pad_token_id or 0,
        "skip_ids": punctuation_ids(tokenizer),
    }


def stanford_colbert_state(path: str) -> dict[str, Any] | None:
    """The state dict of a Stanford ColBERT checkpoint folder (``bert.*`` + ``linear.weight``), else None."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    folder = Path(path)
    if (folder / "model.safetensors").is_file():
        with safe_open(folder / "model.safetensors", framework="pt") as f:
            if "linear.weight" not in f.keys():
                return None
        state = load_file(folder / "model.safetensors")
    elif (folder / "pytorch_model.bin").is_file():
        import torch

        state = torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    else:
        return None
    return state if "linear.weight" in state else None


def build_colbert(path: str, name: str, tokenizer: Any, seed: int, settings: dict[str, Any]):
    """From a Stanford ColBERT checkpoint folder (BERT + ``linear`` layer, e.g. colbert-ir/colbertv2.0 once
    downloaded), or around a plain backbone with a fresh projection.

    ``markers=False`` (a builder setting) leaves out the ``[Q]`` / ``[D]`` marker tokens. A backbone that was
    never trained with them (a sentence-transformers model used as a ColBERT without fine-tuning) reads them as
    noise: MiniLM-L6's token vectors (projected to 128 dimensions at random) under MaxSim score DL19 nDCG@10 0.46
    without markers and query expansion, 0.09 with them, on the first 8,000 pool passages.
    """
    import torch
    from transformers import AutoConfig

    tokens = colbert_token_settings(tokenizer)
    if not settings.pop("markers", True):
        tokens.update(query_marker_id=None, doc_marker_id=None)
    settings = {**tokens, **settings}
    stanford = stanford_colbert_state(path) if Path(path).is_dir() else None
    if stanford is None:
        return around_backbone(ColbertModel, ColbertConfig, path, name, seed, settings), tokenizer
    enc_cfg = AutoConfig.from_pretrained(path)
    dim = stanford["linear.weight"].shape[0]
    model = ColbertModel(ColbertConfig(encoder=enc_cfg.to_dict(), **{"embedding_dim": dim, **settings}))
    enc_state = {
        k[len("bert.") :]: v for k, v in stanford.items() if k.startswith("bert.") and not k.startswith("bert.pooler")
    }
    missing, unexpected = model.encoder.load_state_dict(enc_state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"{name}: ColBERT checkpoint does not fit (missing {missing[:5]}, unexpected {unexpected[:5]})"
        )
    with torch.no_grad():
        model.projection.weight.copy_(stanford["linear.weight"])
    model.config.name_or_path = str(name)
    return model, tokenizer
