"""ColBERT fine-tuning: in-batch MaxSim cross-entropy lowers the loss; validation re-ranks with MaxSim; export."""

import pytest
import torch
import yaml

from boltir.cli import main as boltir


@pytest.mark.slow
def test_colbert_training_lowers_the_loss_and_exports(tiny_backbone, tiny_tuples, tiny_data, tmp_path, fit_trainer):
    import lightning as L

    from boltir.models.bi_encoders.colbert import ColbertModel
    from boltir.training.bi_encoder import BiEncoderModule
    from boltir.training.data import TupleDataModule

    L.seed_everything(0)
    module = BiEncoderModule(
        tiny_backbone, family="colbert", projection_dim=8, doc_length=32, query_length=8, temperature=0.1, lr=3e-3
    )
    assert isinstance(module.model, ColbertModel)
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
            return module.loss.from_scores(module.model.score(q, d), batch["docs_per_query"]).item()

    start = loss()
    module.model.train()
    fit_trainer(max_epochs=10).fit(module, dm)
    assert loss() < 0.7 * start

    cfg = {
        "seed_everything": 0,
        "trainer": {
            "max_steps": 2,
            "accelerator": "cpu",
            "logger": False,
            "enable_progress_bar": False,
            "default_root_dir": str(tmp_path / "out"),
            "callbacks": [
                {"class_path": "boltir.training.ExportBestModel", "init_args": {"dirpath": str(tmp_path / "model")}}
            ],
        },
        "model": {
            "class_path": "boltir.training.BiEncoderModule",
            "init_args": {
                "model": tiny_backbone,
                "family": "colbert",
                "projection_dim": 8,
                "doc_length": 32,
                "xtr_top_k": 16,
            },
        },
        "data": tiny_data(num_negatives=1),
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert boltir(["fit", "--config", str(tmp_path / "c.yaml")]) in (0, None)
    assert (tmp_path / "model" / "config.json").exists()
    from boltir.models.loading import detect_family

    assert detect_family(str(tmp_path / "model")).name == "colbert"
