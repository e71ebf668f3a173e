"""`boltir fit` end to end on a tiny model: trains, checkpoints, exports a loadable HF folder, learns."""

import json

import pytest
import torch
import yaml

from boltir.cli import main as boltir


@pytest.mark.slow
def test_fit_from_yaml_exports_best_model(tiny_backbone, tiny_tuples, tiny_data, tmp_path, caplog):
    from boltir.models.base import weights_fingerprint
    from boltir.models.loading import load_bi_encoder

    cfg = {
        "seed_everything": 0,
        "trainer": {
            "max_steps": 6,
            "accelerator": "cpu",
            "devices": 1,
            "logger": False,
            "enable_progress_bar": False,
            "default_root_dir": str(tmp_path / "out"),
            "val_check_interval": 3,
            "num_sanity_val_steps": -1,
            "callbacks": [
                {
                    "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                    "init_args": {
                        "monitor": "val/nDCG@10",
                        "mode": "max",
                        "save_top_k": 1,
                        "dirpath": str(tmp_path / "ckpt"),
                    },
                },
                {
                    "class_path": "boltir.training.callbacks.ExportBestModel",
                    "init_args": {"dirpath": str(tmp_path / "exported")},
                },
            ],
        },
        "model": {
            "class_path": "boltir.training.BiEncoderModule",
            "init_args": {
                "model": tiny_backbone,
                "projection_dim": 8,
                "similarity": "cosine",
                "lr": 1e-3,
                "doc_length": 32,
                "query_length": 16,
            },
        },
        "data": tiny_data(),
    }
    (tmp_path / "fit.yaml").write_text(yaml.safe_dump(cfg))
    before, _ = load_bi_encoder(tiny_backbone, projection_dim=8, similarity="cosine", seed=0)
    assert boltir(["fit", "--config", str(tmp_path / "fit.yaml")]) == 0
    folder = tmp_path / "exported"
    assert (folder / "config.json").exists() and (folder / "README.md").exists()
    (ckpt,) = list((tmp_path / "ckpt").glob("*.ckpt"))
    out = caplog.text  # boltir reports through logging (the CLI shows it on stderr)
    assert "before training: val/nDCG@10 = " in out and "step 3: val/nDCG@10 = " in out
    assert f"best checkpoint {ckpt}" in out
    trained, _ = load_bi_encoder(str(folder))
    assert trained.config.projection_dim == 8 and trained.config.doc_length == 32
    assert weights_fingerprint(trained) != weights_fingerprint(before)
    prov = json.loads((folder / "boltir_provenance.json").read_text())
    assert prov["global_step"] == 6 and "torch" in prov["packages"] and prov["checkpoint"] == str(ckpt)
    card = (folder / "README.md").read_text()  # the card names the training data and the validation
    assert f"- Training data: `{tiny_tuples / 'train.jsonl'}`" in card
    assert f"- Validation: re-ranking `{tiny_tuples / 'val.run'}` against `{tiny_tuples / 'val.qrels'}`" in card
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    exported = trained.state_dict()
    assert all(torch.equal(state[f"model.{k}"], v) for k, v in exported.items())


@pytest.mark.slow
def test_training_lowers_the_loss_on_its_data(tiny_backbone, tiny_tuples, fit_trainer):
    import lightning as L

    from boltir.training.bi_encoder import BiEncoderModule
    from boltir.training.data import TupleDataModule

    L.seed_everything(0)
    module = BiEncoderModule(tiny_backbone, projection_dim=8, similarity="cosine", lr=3e-3, doc_length=32)
    dm = TupleDataModule(
        str(tiny_tuples / "train.jsonl"), str(tiny_tuples / "docs.jsonl"), num_negatives=2, batch_size=8
    )
    dm.attach_tokenizer(module.tokenizer, module.model)
    dm.setup("fit")
    batch = next(iter(torch.utils.data.DataLoader(dm.train_set, batch_size=16, collate_fn=dm.collator)))

    def loss():
        with torch.no_grad():
            module.model.eval()
            q, d = module.model(**batch["queries"], kind="query"), module.model(**batch["docs"], kind="doc")
            return module.loss(q.embeddings, d.embeddings, batch["docs_per_query"]).item()

    start = loss()
    module.model.train()
    trainer = fit_trainer(max_epochs=15)
    trainer.fit(module, dm)
    assert loss() < 0.7 * start


@pytest.mark.slow
def test_a_partial_sanity_check_is_not_reported_as_the_start(tiny_backbone, tiny_data, tmp_path, caplog):
    """Lightning's default sanity check runs 2 validation batches; their nDCG over every judged query is not the
    untouched model's score, so the log says what ran instead of 'before training: ...'."""
    cfg = {
        "seed_everything": 0,
        "trainer": {
            "max_steps": 1,
            "accelerator": "cpu",
            "logger": False,
            "enable_checkpointing": False,
            "enable_progress_bar": False,
            "default_root_dir": str(tmp_path / "out"),
            "num_sanity_val_steps": 1,
        },
        "model": {
            "class_path": "boltir.training.BiEncoderModule",
            "init_args": {"model": tiny_backbone, "projection_dim": 8, "doc_length": 32, "query_length": 16},
        },
        "data": tiny_data(),
    }
    (tmp_path / "fit.yaml").write_text(yaml.safe_dump(cfg))
    assert boltir(["fit", "--config", str(tmp_path / "fit.yaml")]) == 0
    assert "before training: val/" not in caplog.text
    assert "sanity check: 1 of " in caplog.text and "validation batches, no score" in caplog.text
