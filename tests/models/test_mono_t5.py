"""monoT5 / RankT5: scores equal transformers' own forward of the same T5 checkpoint; detected, saved, trained."""

from __future__ import annotations

import numpy as np
import pytest
import torch

QUERY = "what is the boiling point of water"
DOCS = ["water boils at 100 degrees at sea level", "cats sleep most of the day", "the point of the story"]


def transformers_scores(folder: str, head: str) -> np.ndarray:
    """What a monoT5 user computes with transformers alone: the whole prompt tokenised at once, one decoder step."""
    from transformers import AutoTokenizer, T5ForConditionalGeneration

    tok = AutoTokenizer.from_pretrained(folder)
    t5 = T5ForConditionalGeneration.from_pretrained(folder).eval()
    enc = tok([f"Query: {QUERY} Document: {d} Relevant:" for d in DOCS], padding=True, return_tensors="pt")
    with torch.no_grad():
        start = torch.zeros(len(DOCS), 1, dtype=torch.long)
        logits = t5(**enc, decoder_input_ids=start).logits[:, 0]
    if head == "token":
        return logits[:, tok.convert_tokens_to_ids("<extra_id_10>")].numpy()
    true, false = tok.convert_tokens_to_ids("\u2581true"), tok.convert_tokens_to_ids("\u2581false")
    return torch.log_softmax(logits[:, [false, true]], -1)[:, 1].numpy()


@pytest.mark.parametrize("head", ["true_false", "token"])
def test_scores_equal_transformers_forward(tiny_t5, head):
    import boltir

    model = boltir.load_model(tiny_t5, family="mono-t5", head=head)
    assert np.allclose(model.score(QUERY, DOCS)[0], transformers_scores(tiny_t5, head), atol=1e-6)


def test_a_t5_checkpoint_is_detected_and_saved_folders_reload(tiny_t5, tmp_path):
    import boltir
    from boltir.models.loading import detect_family

    assert detect_family(tiny_t5).name == "mono-t5"
    model = boltir.load_model(tiny_t5)
    scores = model.score(QUERY, DOCS)
    model.save(tmp_path / "m")
    again = boltir.load_model(tmp_path / "m")
    assert again.family.name == "mono-t5"
    assert np.array_equal(again.score(QUERY, DOCS), scores)


def test_encoder_only_head(tiny_t5):
    import boltir

    model = boltir.load_model(tiny_t5, family="mono-t5", head="encoder", seed=3)
    assert model.module.encoder.__class__.__name__ == "T5EncoderModel"
    enc = model.module.list_inputs(model.tokenizer)([QUERY], [DOCS])
    with torch.no_grad():
        states = model.module.encoder(**enc).last_hidden_state
        want = model.module.head(states[:, 0])[:, 0].numpy()
    assert np.allclose(model.score(QUERY, DOCS)[0], want, atol=1e-6)


def test_truncation_cuts_query_and_document_separately(tiny_t5):
    import boltir

    model = boltir.load_model(tiny_t5, query_length=2, doc_length=3)
    enc = model.module.list_inputs(model.tokenizer)([QUERY], [[DOCS[0]]])
    pieces = model.tokenizer.convert_ids_to_tokens(enc["input_ids"][0].tolist())
    q = model.tokenizer(QUERY, add_special_tokens=False)["input_ids"][:2]
    d = model.tokenizer(DOCS[0], add_special_tokens=False)["input_ids"][:3]
    assert enc["input_ids"][0].tolist()[-1] == model.tokenizer.eos_token_id
    assert pieces.count("</s>") == 1
    ids = enc["input_ids"][0].tolist()
    assert ids[ids.index(q[0]) : ids.index(q[0]) + 2] == q and all(t in ids for t in d)


def test_a_short_fit_lowers_the_loss(tiny_t5):
    import boltir
    from boltir.losses import RankNet

    model = boltir.load_model(tiny_t5).module  # eval mode: no dropout, so the drop is the optimiser's alone
    encode = model.list_inputs(model.tokenizer)
    inputs = encode([QUERY, "do cats sleep"], [DOCS, DOCS[::-1]])
    targets = torch.tensor([[2.0, 0.0, 1.0], [1.0, 0.0, 2.0]])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        loss = RankNet()(model(**inputs).view(2, 3), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_rerank_command_detects_monot5(tiny_t5, tmp_path):
    from boltir.cli import main as boltir
    from boltir.data.runs import read_run

    (tmp_path / "q.tsv").write_text(f"q1\t{QUERY}\n")
    (tmp_path / "docs.tsv").write_text("".join(f"d{i}\t{d}\n" for i, d in enumerate(DOCS)))
    (tmp_path / "first.run").write_text("".join(f"q1 Q0 d{i} {i + 1} {-i} bm25\n" for i in range(len(DOCS))))
    args = ["re-rank", "--model", tiny_t5, "--run", str(tmp_path / "first.run"), "--queries", str(tmp_path / "q.tsv")]
    assert boltir(args + ["--docs", str(tmp_path / "docs.tsv"), "--output", str(tmp_path / "out.run")]) == 0
    got = read_run(str(tmp_path / "out.run"))["q1"]
    assert np.allclose([got[f"d{i}"] for i in range(len(DOCS))], transformers_scores(tiny_t5, "true_false"), atol=1e-5)
