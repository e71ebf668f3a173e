"""Lightning module for fine-tuning a bi-encoder (single-vector DPR or learned-sparse SPLADE) with in-batch +
hard-negative cross-entropy, plus sparsity regularisers for SPLADE."""

from __future__ import annotations

from typing import Any

import torch

from torch import nn

from boltir.losses.in_batch import InBatchCrossEntropy
from boltir.training.base import RankingModule


class BiEncoderModule(RankingModule):
    """Fine-tune a DPR-style or SPLADE bi-encoder.

    Args:
        model: a short name (``minilm-l6``, ``splade-tiny``), a folder (boltir, sentence-transformers, plain or
            masked-LM backbone) or a Hub id.
        family: ``dpr``, ``splade``, ``unicoil``, ``colbert`` or ``auto`` (SPLADE for boltir SPLADE folders and ``*ForMaskedLM``
            checkpoints, ColBERT for boltir ColBERT folders and Stanford checkpoints, else DPR). ColBERT uses
            ``projection_dim`` as its token embedding size (default 128) and in-batch MaxSim scores.
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
                 xtr_top_k: int | None = None, lr: float = 2e-5, weight_decay: float = 0.01, warmup_steps: int = 0,
                 val_metric: str = "nDCG@10", seed: int = 0):
        super().__init__()
        self.save_hyperparameters(ignore=["query_regularizer", "doc_regularizer"])
        from boltir.models.loading import load_bi_encoder, load_colbert, load_splade, model_kind

        if family == "auto":
            kind = model_kind(model)
            family = kind if kind in ("splade", "colbert") else "dpr"
        if family not in ("dpr", "splade", "unicoil", "colbert"):
            raise ValueError(f"family={family!r}: dpr, splade, unicoil, colbert or auto")
        self.family = family
        if family == "colbert":
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

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        q = self.encode(batch["queries"], "query")
        d = self.encode(batch["docs"], "doc")
        if self.family == "colbert":
            if self.hparams.xtr_top_k:
                from boltir.models.bi_encoders.colbert import xtr_scores

                scores = xtr_scores(*q, *d, self.hparams.xtr_top_k)
            else:
                scores = self.model.maxsim(*q, *d)
            loss = self.loss.from_scores(scores, batch["docs_per_query"])
            self.log("train/loss", loss, prog_bar=True, batch_size=q[0].shape[0])
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
        if self.family == "colbert":
            (qe, qm), (de, dm) = q, d
            n = de.shape[0] // qe.shape[0]
            return torch.stack([self.model.maxsim(qe[i:i + 1], qm[i:i + 1], de[i * n:(i + 1) * n],
                                                  dm[i * n:(i + 1) * n])[0] for i in range(qe.shape[0])])
        d = d.view(q.shape[0], -1, q.shape[-1])
        return torch.einsum("bh,bnh->bn", q, d)
