"""``boltir fit`` with a ``peft:`` section: LoRA trains, the merged model and the adapter are exported and agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.mark.slow
def test_fit_with_lora_lowers_the_loss_and_exports_merged_and_adapter(tiny_backbone, tmp_path):
    import yaml

    import boltir
    from boltir.cli import main
    from boltir.losses import RankNet

    docs = {f"d{i}": ("apple orchard fruit" if i % 4 == 0 else f"motor engine part {i}") for i in range(16)}
    (tmp_path / "docs.tsv").write_text("".join(f"{k}\t{v}\n" for k, v in docs.items()))
    (tmp_path / "q.tsv").write_text("".join(f"q{j}\tapple fruit {j}\n" for j in range(8)))
    (tmp_path / "qrels").write_text("".join(f"q{j} 0 d{i} 1\n" for j in range(8) for i in range(0, 16, 4)))
    (tmp_path / "run").write_text("".join(f"q{j} Q0 d{i} {i + 1} {-i} x\n" for j in range(8) for i in range(16)))
    config = {
        "seed_everything": 0,
        "trainer": {
            "max_epochs": 20,
            "accelerator": "cpu",
            "logger": False,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "default_root_dir": str(tmp_path / "fit"),
            "callbacks": [
                {"class_path": "boltir.training.ExportBestModel", "init_args": {"dirpath": str(tmp_path / "m")}}
            ],
        },
        "model": {
            "class_path": "boltir.training.CrossEncoderModule",
            "init_args": {
                "model": tiny_backbone,
                "family": "mono",
                "loss": {"class_path": "boltir.losses.RankNet"},
                "query_length": 8,
                "doc_length": 16,
                "lr": 0.02,
                "peft": {"r": 4, "alpha": 8, "target_modules": ["query", "value"]},
            },
        },
        "data": {
            "class_path": "boltir.training.ListDataModule",
            "init_args": {
                "train_run": str(tmp_path / "run"),
                "train_queries": str(tmp_path / "q.tsv"),
                "train_qrels": str(tmp_path / "qrels"),
                "train_docs": str(tmp_path / "docs.tsv"),
                "depth": 16,
                "sample_size": 16,
                "batch_size": 4,
            },
        },
    }
    (tmp_path / "fit.yaml").write_text(yaml.safe_dump(config))
    assert main(["fit", "--config", str(tmp_path / "fit.yaml")]) == 0

    lists = [docs[f"d{i}"] for i in range(16)]
    targets = torch.tensor([[1.0 if i % 4 == 0 else 0.0 for i in range(16)]])

    def loss(model) -> float:
        return float(RankNet()(torch.tensor(model.score("apple fruit 0", lists)), targets))

    base = boltir.load_model(tiny_backbone, family="mono", query_length=8, doc_length=16)
    merged = boltir.load_model(tmp_path / "m")
    adapter = boltir.load_model(tmp_path / "m-adapter")
    assert loss(merged) < 0.8 * loss(base)
    assert np.allclose(adapter.score("apple fruit 0", lists), merged.score("apple fruit 0", lists), atol=1e-5)
    assert not any("lora_" in n for n, _ in merged.module.named_parameters())
    # the backbone's own weights did not move: the base weights plus the adapter give the trained model
    assert torch.equal(
        adapter.module.encoder.embeddings.word_embeddings.weight, base.module.encoder.embeddings.word_embeddings.weight
    )
