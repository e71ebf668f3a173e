"""Lightning module for fine-tuning a bi-encoder of any family (single-vector DPR, learned-sparse SPLADE /
uniCOIL, multi-vector ColBERT, COIL, MVR) with in-batch + hard-negative cross-entropy, plus sparsity regularisers
for the learned-sparse families."""

from __future__ import annotations

from typing import Any

import torch

from torch import nn

from boltir.losses.in_batch import InBatchCrossEntropy
from boltir.training.base import RankingModule


FAMILIES = ("dpr", "splade", "unicoil", "colbert", "coil", "mvr")
PAIR_SCORED = ("colbert", "coil", "mvr")  # scored by the model's own all-pairs function, not a dot product


def _rows(x: Any, start: int, end: int) -> Any:
    """Rows ``start:end`` of a tensor or of every tensor in a tuple of model outputs."""
    return tuple(t[start:end] for t in x) if isinstance(x, tuple) else x[start:end]


class BiEncoderModule(RankingModule):
    """Fine-tune a bi-encoder.

    Args:
        model: a short name (``minilm-l6``, ``splade-tiny``), a folder (boltir, sentence-transformers, plain or
            masked-LM backbone) or a Hub id.
        family: ``dpr``, ``splade``, ``unicoil``, ``colbert``, ``coil``, ``mvr`` or ``auto`` (the family of a boltir
            folder; SPLADE for ``*ForMaskedLM`` checkpoints, ColBERT for Stanford checkpoints, else DPR). ColBERT
            uses ``projection_dim`` as its token embedding size (default 128) and in-batch MaxSim scores; COIL uses
            it as its token vector size (default 32); MVR as its optional projection, with ``views`` view tokens.
        query_regularizer, doc_regularizer: SPLADE sparsity terms (``boltir.losses.FLOPS`` / ``L1``) on the query
            and document term weights; their ``weight`` can be warmed up with ``boltir.training.ValueScheduler``
            (target ``doc_regularizer.weight``). SPLADE scores are raw dot products: set ``temperature: 1.0``.
        xtr_top_k: ColBERT only: train XTR-style, each query token keeping only its k best document tokens of
            the whole batch (``boltir.models.bi_encoders.colbert.xtr_scores``); validation stays full MaxSim.
        pooling, projection_dim, normalize, similarity, query_length, doc_length: DprConfig settings for a new
            model (None keeps what the folder says).
        temperature: scores are divided by it before the cross-entropy (0.05 suits cosine similarity).
        lr, weight_decay, warmup_steps: AdamW with linear warm-up then linear decay to 0 at the last step.
        val_metric: ir_measures metric computed on the validation run (logged as ``val/<metric>``).
        seed: seed for freshly initialised heads.
    """

    def __init__(self, model: str = "minilm-l6", family: str = "auto", pooling: str | None = None,
                 projection_dim: int | None = None, normalize: bool | None = None, similarity: str | None = None,
                 query_length: int | None = None, doc_length: int | None = None, temperature: float = 0.05,
                 query_regularizer: nn.Module | None = None, doc_regularizer: nn.Module | None = None,
                 xtr_top_k: int | None = None, views: int = 4, lr: float = 2e-5, weight_decay: float = 0.01, warmup_steps: int = 0,
                 val_metric: str = "nDCG@10", seed: int = 0):
        super().__init__()
        self.save_hyperparameters(ignore=["query_regularizer", "doc_regularizer"])
        from boltir.models.loading import load_bi_encoder, load_colbert, load_splade, model_kind

        if family == "auto":
            kind = model_kind(model)
            family = kind if kind in ("splade", "colbert", "coil", "mvr") else "dpr"
        if family not in FAMILIES:
            raise ValueError(f"family={family!r}: {', '.join(FAMILIES)} or auto")
        self.family = family
        if family == "coil":
            from boltir.models.loading import load_coil

            self.model, self.tokenizer = load_coil(model, seed=seed, token_dim=projection_dim,
                                                   query_length=query_length, doc_length=doc_length)
        elif family == "mvr":
            from boltir.models.loading import load_mvr

            self.model, self.tokenizer = load_mvr(model, seed=seed, views=views, projection_dim=projection_dim,
                                                  query_length=query_length, doc_length=doc_length)
        elif family == "colbert":
            self.model, self.tokenizer = load_colbert(model, seed=seed, embedding_dim=projection_dim,
                                                      query_length=query_length, doc_length=doc_length)
        elif family == "unicoil":
            from boltir.models.loading import load_unicoil

            self.model, self.tokenizer = load_unicoil(model, seed=seed, query_length=query_length,
                                                      doc_length=doc_length)
        elif family == "splade":
            if pooling is not None and pooling not in ("max", "sum"):
                raise ValueError(f"pooling={pooling!r}: SPLADE pools with max or sum")
            self.model, self.tokenizer = load_splade(model, pooling=pooling, query_length=query_length,
                                                     doc_length=doc_length)
        else:
            self.model, self.tokenizer = load_bi_encoder(
                model, seed=seed, pooling=pooling, projection_dim=projection_dim, normalize=normalize,
                similarity=similarity, query_length=query_length, doc_length=doc_length)
        if family not in ("splade", "unicoil") and (query_regularizer is not None or doc_regularizer is not None):
            raise ValueError("sparsity regularisers apply to SPLADE models only")
        self.model.train()  # loaders return eval-mode models; Lightning keeps the mode it finds
        self.loss = InBatchCrossEntropy(temperature)
        self.query_regularizer, self.doc_regularizer = query_regularizer, doc_regularizer

    def encode(self, inputs: dict[str, Any], kind: str) -> Any:
        return self.model(**inputs) if self.family == "dpr" else self.model(**inputs, kind=kind)

    def pair_scores(self, q: Any, d: Any) -> torch.Tensor:
        """All-pairs scores [Q, D] of the multi-output families (ColBERT MaxSim, COIL, MVR)."""
        return self.model.maxsim(*q, *d) if self.family == "colbert" else self.model.score(q, d)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        q = self.encode(batch["queries"], "query")
        d = self.encode(batch["docs"], "doc")
        if self.family in PAIR_SCORED:
            if self.family == "colbert" and self.hparams.xtr_top_k:
                from boltir.models.bi_encoders.colbert import xtr_scores

                scores = xtr_scores(*q, *d, self.hparams.xtr_top_k)
            else:
                scores = self.pair_scores(q, d)
            loss = self.loss.from_scores(scores, batch["docs_per_query"])
            self.log("train/loss", loss, prog_bar=True, batch_size=scores.shape[0])
            return loss
        loss = self.loss(q, d, batch["docs_per_query"])
        self.log("train/loss", loss, prog_bar=True, batch_size=q.shape[0])
        for name, reg, x in (("query", self.query_regularizer, q), ("doc", self.doc_regularizer, d)):
            if reg is not None:
                term = reg(x)
                self.log(f"train/{name}_regularizer", term, batch_size=q.shape[0])
                self.log(f"train/{name}_nonzero", (x > 0).float().sum(1).mean(), batch_size=q.shape[0])
                loss = loss + term
        return loss

    def validation_scores(self, batch: dict[str, Any]) -> torch.Tensor:
        q = self.encode(batch["inputs"]["queries"], "query")  # each query once, not once per candidate
        d = self.encode(batch["inputs"]["docs"], "doc")
        if self.family in PAIR_SCORED:
            nq = len(q[0]) if isinstance(q, tuple) else len(q)
            n = (len(d[0]) if isinstance(d, tuple) else len(d)) // nq
            return torch.stack([self.pair_scores(_rows(q, i, i + 1), _rows(d, i * n, (i + 1) * n))[0]
                                for i in range(nq)])
        d = d.view(q.shape[0], -1, q.shape[-1])
        return torch.einsum("bh,bnh->bn", q, d)
