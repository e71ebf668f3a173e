"""uniCOIL: term weights by hand (ReLU of a linear head per token, max per term, specials excluded), round trip,
and the shared learned-sparse index and search serving it."""

import torch
from transformers import AutoModel

from boltir.models.bi_encoders.unicoil import UniCoilModel
from boltir.models.loading import detect_family, load_unicoil


def test_weights_by_hand_and_round_trip(tiny_backbone, tmp_path):
    from boltir.models.base import save_model_folder

    model, tok = load_unicoil(tiny_backbone, doc_length=32)
    with torch.no_grad():
        model.weight_head.bias.fill_(0.05)  # most tokens get a positive weight
    enc = tok(["cats chase cats", "dogs"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        out = model(**enc).embeddings
        hidden = model.encoder(**enc).last_hidden_state
        w = torch.relu(model.weight_head(hidden))[..., 0]
    for b in range(2):
        expect = {}
        for i, t in enumerate(enc["input_ids"][b].tolist()):
            if enc["attention_mask"][b, i] and t not in tok.all_special_ids:
                expect[t] = max(expect.get(t, 0.0), float(w[b, i]))
        got = {int(i): float(out[b, i]) for i in out[b].nonzero().flatten()}
        assert got.keys() == {t for t, v in expect.items() if v > 0}
        assert all(abs(got[t] - expect[t]) < 1e-6 for t in got)
    save_model_folder(model, tok, tmp_path / "m")
    assert (
        type(AutoModel.from_pretrained(tmp_path / "m")) is UniCoilModel
        and detect_family(str(tmp_path / "m")).name == "unicoil"
    )
    again, _ = load_unicoil(str(tmp_path / "m"))
    with torch.inference_mode():
        torch.testing.assert_close(again(**enc).embeddings, out)


def test_sparse_index_serves_unicoil(tiny_backbone, tmp_path):
    import json

    from boltir.index.build import build_index
    from boltir.index.sparse import SparseSearcher
    from boltir.models.base import save_model_folder

    model, tok = load_unicoil(tiny_backbone, doc_length=32)
    with torch.no_grad():
        model.weight_head.bias.fill_(0.05)
    save_model_folder(model, tok, tmp_path / "m")
    docs = ["cats chase mice", "dogs bark", "cats sleep", "birds sing"]
    (tmp_path / "d.jsonl").write_text(
        "".join(json.dumps({"doc_id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(docs))
    )
    loaded = load_unicoil(str(tmp_path / "m"))
    build_index(
        *loaded, str(tmp_path / "d.jsonl"), tmp_path / "idx", model_source=str(tmp_path / "m"), show_progress=False
    )
    run = SparseSearcher(tmp_path / "idx").search({"q": "cats"}, k=4)["q"]
    assert set(list(run)[:2]) == {"d0", "d2"}  # only documents sharing a term with the query score
    assert set(run) == {"d0", "d2"}
