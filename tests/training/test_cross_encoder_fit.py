"""Run-based training lists and the cross-encoder module."""

import random

import pytest

from boltir.training.list_data import ListCollator, RunListDataset, sample_list

RANKED = [f"d{i}" for i in range(1, 21)]


def test_sampling_strategies():
    rng = random.Random(0)
    assert sample_list(RANKED, 5, "top", rng) == RANKED[:5]
    r = sample_list(RANKED, 5, "random", rng)
    assert len(set(r)) == 5 and set(r) <= set(RANKED)
    s = sample_list(RANKED, 4, "single_relevant", rng, relevant={"d7", "d9"})
    assert s[0] in {"d7", "d9"} and s[1:] == ["d1", "d2", "d3"]
    assert sample_list(RANKED, 4, "single_relevant", rng, relevant={"x"}) is None
    # log_random favours the top: over many draws rank 1 is picked far more often than rank 20
    counts = {d: 0 for d in RANKED}
    for seed in range(400):
        for d in sample_list(RANKED, 3, "log_random", random.Random(seed)):
            counts[d] += 1
    assert counts["d1"] > 2 * counts["d20"] > 0
    with pytest.raises(ValueError, match="sampling"):
        sample_list(RANKED, 3, "best", rng)


def test_targets_from_relevance_rank_and_score():
    run = {"q": {d: 100.0 - i for i, d in enumerate(RANKED)}}
    queries, docs = {"q": "query"}, {d: f"text {d}" for d in RANKED}
    qrels = {"q": {"d2": 3, "d5": 1}}
    rel = RunListDataset(run, queries, docs, qrels, depth=10, sample_size=5, targets="relevance")
    assert rel[0][2] == [0.0, 3.0, 0.0, 0.0, 1.0]
    rank = RunListDataset(run, queries, docs, None, depth=10, sample_size=3, targets="rank")
    assert rank[0][2] == [10.0, 9.0, 8.0]  # depth - rank + 1
    score = RunListDataset(run, queries, docs, None, depth=10, sample_size=2, targets="score")
    assert score[0][2] == [100.0, 99.0]
    with pytest.raises(ValueError, match="needs qrels"):
        RunListDataset(run, queries, docs, None, targets="relevance")


def test_collator_keeps_lists_whole_and_masks_padding(tiny_backbone):
    from boltir.models.loading import load_cross_encoder

    model, tok = load_cross_encoder(tiny_backbone)
    batch = ListCollator(model.list_inputs(tok))([("q1", ["a", "b", "c"], [1.0, 0.0, 0.0]), ("q2", ["d"], [2.0])])
    assert sum(b["input_ids"].shape[0] for b in batch["inputs"]["buckets"]) == 6 and batch["list_size"] == 3
    assert batch["mask"].tolist() == [[True, True, True], [True, False, False]]
    assert batch["targets"].tolist() == [[1.0, 0.0, 0.0], [2.0, 0.0, 0.0]]


@pytest.mark.parametrize("family", ["mono", "set-encoder", "sparse-ce"])
@pytest.mark.slow
def test_cross_encoder_learns_a_run(tiny_backbone, tmp_path, family, fit_trainer):
    import lightning as L

    from boltir.losses import RankNet
    from boltir.training.cross_encoder import CrossEncoderModule
    from boltir.training.list_data import ListDataModule

    docs = {f"d{i}": ("apple orchard fruit" if i % 4 == 0 else f"motor engine part {i}") for i in range(16)}
    (tmp_path / "docs.tsv").write_text("".join(f"{k}\t{v}\n" for k, v in docs.items()))
    (tmp_path / "q.tsv").write_text("".join(f"q{j}\tapple fruit {j % 4}\n" for j in range(12)))
    (tmp_path / "qrels").write_text("".join(f"q{j} 0 d{i} 1\n" for j in range(12) for i in range(0, 16, 4)))
    # training on q0-q7, model selection on q8-q11: a validation query is never trained on
    for name, queries in (("run", range(8)), ("val.run", range(8, 12))):
        (tmp_path / name).write_text("".join(f"q{j} Q0 d{i} {i + 1} {-i} x\n" for j in queries for i in range(16)))
    L.seed_everything(0)
    module = CrossEncoderModule(
        tiny_backbone,
        family=family,
        loss=RankNet(),
        lr=3e-3,
        doc_length=16,
        query_length=8,
        **({"window": 2} if family == "sparse-ce" else {}),
    )
    dm = ListDataModule(
        train_run=str(tmp_path / "run"),
        train_queries=str(tmp_path / "q.tsv"),
        train_qrels=str(tmp_path / "qrels"),
        train_docs=str(tmp_path / "docs.tsv"),
        depth=16,
        sample_size=8,
        sampling="random",
        batch_size=4,
        val_run=str(tmp_path / "val.run"),
        val_queries=str(tmp_path / "q.tsv"),
        val_qrels=str(tmp_path / "qrels"),
        val_docs=str(tmp_path / "docs.tsv"),
        val_depth=16,
    )
    trainer = fit_trainer(max_epochs=12, num_sanity_val_steps=-1, check_val_every_n_epoch=12)
    trainer.fit(module, dm)
    assert trainer.callback_metrics["val/nDCG@10"] > 0.95


def test_dl19_is_refused_for_training(tiny_backbone):
    from boltir.training.list_data import ListDataModule

    with pytest.raises(ValueError, match="test set"):
        ListDataModule(train_run="trec-dl-2019:bm25").setup("fit")


def test_dl19_queries_in_a_run_file_are_refused(tmp_path):
    from boltir.data.runs import read_run, write_run
    from boltir.training.list_data import ListDataModule

    run = {q: ds for q, ds in list(read_run("trec-dl-2019:bm25").items())[:2]}  # DL19 lists under a file name
    write_run(tmp_path / "teacher.run", run)
    dm = ListDataModule(
        train_run=str(tmp_path / "teacher.run"), train_queries="trec-dl-2019", train_docs="trec-dl-2019"
    )
    with pytest.raises(ValueError, match=r"teacher.run: 2 queries are TREC DL 2019 test queries"):
        dm.setup("fit")


def test_validation_queries_are_left_out_of_training(tmp_path):
    from boltir.data.runs import read_run, write_run
    from boltir.training.list_data import ListDataModule

    dl20 = read_run("trec-dl-2020:bm25")
    write_run(tmp_path / "train.run", dl20)
    kept = sorted(dl20)[:10]
    write_run(tmp_path / "val.run", {q: dl20[q] for q in kept})
    dm = ListDataModule(
        train_run=str(tmp_path / "train.run"),
        train_queries="trec-dl-2020",
        train_docs="trec-dl-2020",
        train_qrels="trec-dl-2020",
        depth=5,
        val_run=str(tmp_path / "val.run"),
        val_queries="trec-dl-2020",
        val_qrels="trec-dl-2020",
        val_docs="trec-dl-2020",
        val_depth=5,
    )
    dm.setup("fit")
    assert sorted(q for q, _ in dm.val_set.lists) == kept
    assert len(dm.train_set) == len(dl20) - 10
    assert not set(dm.train_set.qids) & set(kept)
