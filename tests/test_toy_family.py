"""What a new model family costs: this file alone defines one (config, model, builder) and registers it; it then
goes through ``fit``, ``boltir index``, ``boltir search`` and ``boltir re-rank`` without any other file of boltir
changing."""

import json

import pytest
import torch
from torch import nn

from boltir.cli import main as boltir
from boltir.models.bi_encoders.base import BiEncoderConfig, BiEncoderModel, BiEncoderOutput
from boltir.registry import Family, register_family, unregister_family

pytestmark = pytest.mark.slow


class ToyConfig(BiEncoderConfig):
    model_type = "toy-maxpool"

    dim: int = 8

    @property
    def embedding_dim(self) -> int:
        return self.dim


class ToyModel(BiEncoderModel):
    """Max-pooled token states through a small projection, L2-normalised; score = cosine."""

    config_class = ToyConfig
    heads = ("proj",)

    def build_heads(self, config: ToyConfig) -> None:
        self.proj = nn.Linear(config.encoder.hidden_size, config.dim)

    def forward(self, input_ids, attention_mask, token_type_ids=None, kind="doc") -> BiEncoderOutput:
        hidden = self.hidden_states(input_ids, attention_mask, token_type_ids)
        pooled = hidden.masked_fill(attention_mask[..., None] == 0, -1e4).amax(1)
        return BiEncoderOutput(embeddings=nn.functional.normalize(self.proj(pooled), dim=-1))

    @staticmethod
    def score(query: BiEncoderOutput, doc: BiEncoderOutput) -> torch.Tensor:
        return query.embeddings @ doc.embeddings.T


def build_toy(path, name, tokenizer, seed, settings):
    from boltir.models.building import around_backbone

    return around_backbone(ToyModel, ToyConfig, path, name, seed, settings), tokenizer


@pytest.fixture
def toy_family():
    family = register_family(
        Family(
            "toy",
            "bi-encoder",
            "toy-maxpool",
            ToyConfig,
            ToyModel,
            build_toy,
            "boltir.models.scoring:rerank_scored",
            index_kind="dense",
            projection_setting="dim",
        )
    )
    yield family
    unregister_family("toy")


def test_a_family_defined_here_goes_through_fit_index_search_and_rerank(
    toy_family, tiny_backbone, tiny_tuples, tmp_path, fit_trainer
):
    import lightning as L

    from boltir.data.runs import read_run
    from boltir.models.loading import load_module
    from boltir.training import BiEncoderModule, ExportBestModel, TupleDataModule

    L.seed_everything(0)
    module = BiEncoderModule(
        tiny_backbone, family="toy", projection_dim=8, doc_length=32, query_length=8, temperature=0.1, lr=3e-3
    )
    assert type(module.model) is ToyModel and module.model.config.dim == 8
    dm = TupleDataModule(
        str(tiny_tuples / "train.jsonl"),
        str(tiny_tuples / "docs.jsonl"),
        num_negatives=2,
        batch_size=8,
        val_run=str(tiny_tuples / "val.run"),
        val_queries=str(tiny_tuples / "val.tsv"),
        val_qrels=str(tiny_tuples / "val.qrels"),
        val_docs=str(tiny_tuples / "docs.jsonl"),
        val_depth=8,
    )
    fit_trainer(max_epochs=2, num_sanity_val_steps=0, callbacks=[ExportBestModel(str(tmp_path / "model"))]).fit(
        module, dm
    )
    assert json.loads((tmp_path / "model" / "config.json").read_text())["model_type"] == "toy-maxpool"
    saved, _ = load_module(str(tmp_path / "model"))
    assert type(saved) is ToyModel

    docs, queries = str(tiny_tuples / "docs.jsonl"), str(tiny_tuples / "val.tsv")
    assert boltir(["index", "--model", str(tmp_path / "model"), "--docs", docs, "--output", str(tmp_path / "idx")]) == 0
    assert json.loads((tmp_path / "idx" / "manifest.json").read_text())["kind"] == "dense"
    assert (
        boltir(
            [
                "search",
                "--index",
                str(tmp_path / "idx"),
                "--queries",
                queries,
                "--output",
                str(tmp_path / "search.run"),
                "--k",
                "5",
            ]
        )
        == 0
    )
    assert (
        boltir(
            [
                "re-rank",
                "--model",
                str(tmp_path / "model"),
                "--run",
                str(tmp_path / "search.run"),
                "--queries",
                queries,
                "--docs",
                docs,
                "--output",
                str(tmp_path / "rerank.run"),
                "--depth",
                "5",
            ]
        )
        == 0
    )
    searched, reranked = read_run(str(tmp_path / "search.run")), read_run(str(tmp_path / "rerank.run"))
    assert searched.keys() == reranked.keys() and searched
    for qid in searched:  # exact search and re-ranking score with the same model: same documents, same scores
        assert searched[qid].keys() == reranked[qid].keys()
        assert list(searched[qid].values()) == pytest.approx([reranked[qid][d] for d in searched[qid]], abs=1e-5)
    meta = json.loads((tmp_path / "rerank.run.meta.json").read_text())
    assert meta["family"] == "toy"
