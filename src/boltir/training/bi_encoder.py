"""Lightning module for fine-tuning a bi-encoder of any family (single-vector DPR, learned-sparse SPLADE /
uniCOIL, multi-vector ColBERT, COIL, MVR) with in-batch + hard-negative cross-entropy, plus sparsity regularisers
for the learned-sparse families."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from boltir.errors import ConfigError
from boltir.losses.in_batch import InBatchCrossEntropy, gather_outputs
from boltir.models.adapters import LoraSettings, attach_lora
from boltir.training.base import RankingModule


class BiEncoderModule(RankingModule):
    """Fine-tune a bi-encoder.

    Args:
        model: a short name (``minilm-l6``, ``splade-tiny``), a folder (boltir, sentence-transformers, plain or
            masked-LM backbone) or a Hub id.
        family: a bi-encoder family (``dpr``, ``splade``, ``unicoil``, ``colbert``, ``coil``, ``mvr`` or any
            registered one) or ``auto`` (the family of a boltir folder; SPLADE for ``*ForMaskedLM`` checkpoints,
            ColBERT for Stanford checkpoints, else DPR). ``projection_dim`` sets the family's projection size
            (ColBERT's token embedding size, COIL's token vector size, DPR's and MVR's optional projection); MVR
            takes ``views`` view tokens.
        query_regularizer, doc_regularizer: sparsity terms (``boltir.losses.FLOPS`` / ``L1``) on the query and
            document term weights of learned-sparse families; their ``weight`` can be warmed up with
            ``boltir.training.ValueScheduler`` (target ``doc_regularizer.weight``). Learned-sparse scores are raw
            dot products: set ``temperature: 1.0``.
        xtr_top_k: train XTR-style (ColBERT): each query token keeps only its k best document tokens of the whole
            batch (``boltir.models.bi_encoders.colbert.xtr_scores``); validation stays full MaxSim.
        pooling, normalize, similarity, query_length, doc_length: settings of a new model (None keeps what the
            folder says).
        temperature: scores are divided by it before the cross-entropy (0.05 suits cosine similarity).
        lr, weight_decay, warmup_steps: AdamW with linear warm-up then linear decay to 0 at the last step.
        val_metric: ir_measures metric computed on the validation run (logged as ``val/<metric>``).
        seed: seed for freshly initialised heads.
        peft: LoRA on the backbone (``{r: 8, alpha: 16, target_modules: [query, value]}``): only the adapter and
            the family's heads train; ``ExportBestModel`` writes the merged model and the adapter.
    """

    def __init__(
        self,
        model: str = "minilm-l6",
        family: str = "auto",
        pooling: str | None = None,
        projection_dim: int | None = None,
        normalize: bool | None = None,
        similarity: str | None = None,
        query_length: int | None = None,
        doc_length: int | None = None,
        temperature: float = 0.05,
        query_regularizer: nn.Module | None = None,
        doc_regularizer: nn.Module | None = None,
        xtr_top_k: int | None = None,
        views: int | None = None,
        lr: float = 2e-5,
        weight_decay: float = 0.01,
        warmup_steps: int = 0,
        val_metric: str = "nDCG@10",
        seed: int = 0,
        peft: LoraSettings | None = None,
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["query_regularizer", "doc_regularizer"])
        from boltir.models.loading import family_for, load_module

        fam = family_for(model, family, "bi-encoder")
        settings: dict[str, Any] = {
            "pooling": pooling,
            "normalize": normalize,
            "similarity": similarity,
            "query_length": query_length,
            "doc_length": doc_length,
            "views": views,
        }
        if projection_dim is not None:
            if fam.projection_setting is None:
                raise ConfigError(f"projection_dim does not apply to the {fam.name} family")
            settings[fam.projection_setting] = projection_dim
        self.family = fam.name
        self.model, self.tokenizer = load_module(model, fam.name, seed, **settings)
        if (query_regularizer is not None or doc_regularizer is not None) and not self.model.term_weights:
            raise ConfigError(f"sparsity regularisers apply to learned-sparse families, not {fam.name}")
        if peft is not None:
            attach_lora(self.model, peft)
        self.model.train()  # loaders return eval-mode models; Lightning keeps the mode it finds
        self.loss = InBatchCrossEntropy(temperature)
        self.query_regularizer, self.doc_regularizer = query_regularizer, doc_regularizer
        self.score_options = {"xtr_top_k": xtr_top_k} if xtr_top_k else {}

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        """The loss of one batch of tuples (in-batch cross-entropy or a list loss, plus regularisers)."""
        q = self.model(**batch["queries"], kind="query")
        d = self.model(**batch["docs"], kind="doc")
        d_all, offset = gather_outputs(d) if self.loss.gather_across_devices else (d, 0)
        scores = self.model.training_scores(q, d_all, **self.score_options)
        loss = self.loss.from_scores(scores, batch["docs_per_query"], offset)
        n = q.num_rows
        self.log("train/loss", loss, prog_bar=True, batch_size=n)
        for name, reg, x in (("query", self.query_regularizer, q), ("doc", self.doc_regularizer, d)):
            if reg is not None:
                term = reg(x.embeddings)
                self.log(f"train/{name}_regularizer", term, batch_size=n)
                self.log(f"train/{name}_nonzero", (x.embeddings > 0).float().sum(1).mean(), batch_size=n)
                loss = loss + term
        return loss

    def validation_scores(self, batch: dict[str, Any]) -> torch.Tensor:
        q = self.model(**batch["inputs"]["queries"], kind="query")  # each query once, not once per candidate
        d = self.model(**batch["inputs"]["docs"], kind="doc")
        n = d.num_rows // q.num_rows
        return torch.stack(
            [self.model.score(q.rows(i, i + 1), d.rows(i * n, (i + 1) * n))[0] for i in range(q.num_rows)]
        )
