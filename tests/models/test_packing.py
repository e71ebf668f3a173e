"""Packed batches of short texts: each token goes back where it was, the cost estimate packs only where padding
dominates, a packed backbone gives every family's padded outputs to float rounding, and a backbone that numbers
its positions otherwise is caught by the probe and runs padded."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from boltir.models.packing import packed_inputs, packs_exactly, unpacked, worth_packing

TEXTS = ["cats", "a much longer query about motor engine parts and fresh fruit", "apple", "the apple of my eye"]


def test_packed_inputs_put_each_token_back_where_it_was():
    given = {
        "input_ids": torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0], [0, 0, 3, 4]]),  # right, right and left padded
        "attention_mask": torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 1, 1]]),
        "token_type_ids": torch.tensor([[0, 1, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1]]),
    }
    (ids, mask, positions, types), keep = packed_inputs(given, ["input_ids", "attention_mask", "token_type_ids"])
    assert ids.tolist() == [[5, 6, 7, 8, 9, 3, 4]]
    assert positions.tolist() == [[0, 1, 2, 0, 1, 2, 3]]  # each token's column in the padded batch
    assert types.tolist() == [[0, 1, 1, 0, 0, 0, 1]]
    text = [0, 0, 0, 1, 1, 2, 2]
    assert mask.shape == (1, 1, 7, 7)
    assert mask[0, 0].tolist() == [[a == b for b in text] for a in text]  # a token sees its own text only
    field = torch.arange(7.0).repeat_interleave(2).reshape(1, 7, 2)
    back = unpacked(field, keep)
    assert back.shape == (3, 4, 2)
    assert back[:, :, 0].tolist() == [[0, 1, 2, 0], [3, 4, 0, 0], [0, 0, 5, 6]]  # zeros where the padding was
    (_, _, _, types), _ = packed_inputs(
        {k: v for k, v in given.items() if k != "token_type_ids"}, ["input_ids", "token_type_ids"]
    )
    assert types.tolist() == [[0] * 7]


def _mask(lengths: list[int], length: int | None = None) -> torch.Tensor:
    length = length or max(lengths)
    return (torch.arange(length)[None, :] < torch.tensor(lengths)[:, None]).long()


def test_packing_is_chosen_where_padding_outweighs_the_longer_attention():
    minilm = SimpleNamespace(hidden_size=384, intermediate_size=1536)
    assert worth_packing(minilm, _mask([30] + [8] * 31))  # a batch of queries, one long: mostly padding
    assert not worth_packing(minilm, _mask([12] * 32))  # nothing to take out
    assert not worth_packing(minilm, _mask([5], 9))  # a single text runs padded (the trace without the mask work)
    assert not worth_packing(minilm, _mask([10, 9]))  # 5 % padding: the packing's own work would eat it
    assert not worth_packing(minilm, _mask([256] + [64] * 31))  # 2,240 tokens: one attention over all is too long
    # the estimate by hand: 31 texts of 8 tokens and one of 30 -> 278 tokens packed against 32 x 30 padded
    linear = 4 * 384 * 384 + 2 * 384 * 1536
    packed, padded = 278 * (linear + 2 * 384 * 278), 32 * 30 * (linear + 2 * 384 * 30)
    assert packed / padded < 0.8
    assert not worth_packing(SimpleNamespace(), _mask([30] + [8] * 31))  # a configuration without sizes


@pytest.mark.parametrize("family", ["dpr", "splade", "colbert", "mono"])
def test_a_packed_backbone_gives_every_familys_padded_outputs(tiny_backbone, family):
    from boltir.models.backends import describe, trace_backbone
    from boltir.models.loading import load_module

    eager, tok = load_module(tiny_backbone, family=family)
    packed, _ = load_module(tiny_backbone, family=family)
    assert trace_backbone(packed, after=0) and describe(packed) == "torch traced packed"
    enc = tok(TEXTS, TEXTS if family == "mono" else None, padding=True, return_tensors="pt")
    assert worth_packing(packed.encoder.config, enc["attention_mask"])
    with torch.inference_mode():
        want, got = eager(**enc), packed(**enc)
        hidden = packed.encoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
    field = hidden.logits if family == "splade" else hidden.last_hidden_state
    assert not field[enc["attention_mask"] == 0].any()  # it ran packed: nothing was computed for the padding
    if isinstance(want, torch.Tensor):  # a cross-encoder's scores
        want, got = {"scores": want}, {"scores": got}
    compared = 0
    for name in want:
        if isinstance(want[name], torch.Tensor) and want[name].is_floating_point():
            a, b = got[name], want[name]
            mask = want.get("mask") if hasattr(want, "get") else None
            if mask is not None and a.shape[:2] == mask.shape:  # token outputs: where the family reads them
                a, b = a[mask], b[mask]
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
            compared += 1
    assert compared


def test_a_backbone_that_numbers_its_positions_otherwise_is_caught_by_the_probe():
    from transformers import BertConfig, BertModel, RobertaConfig, RobertaModel

    from boltir.models.backends import _probe, backbone_io

    sizes = {"vocab_size": 200, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2}
    torch.manual_seed(0)
    for model, exact in (
        (BertModel(BertConfig(**sizes, intermediate_size=64)), True),
        (RobertaModel(RobertaConfig(**sizes, intermediate_size=64)), False),  # counts from its padding index
    ):
        model.eval()
        inputs, field = backbone_io(model)
        assert packs_exactly(model, inputs, field, _probe(model, 3, 17, padded=True)) is exact


def test_a_batch_gives_the_same_outputs_before_and_after_the_trace(tiny_backbone):
    """Packing is decided at the first padded batch and the packed trace equals the eager packed backbone, so the
    outputs do not depend on how many calls came before (a resumed index build writes a whole build's vectors)."""
    from boltir.models.backends import describe, trace_backbone
    from boltir.models.loading import load_bi_encoder

    model, tok = load_bi_encoder(tiny_backbone, pooling="mean")
    trace_backbone(model, after=2)
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    with torch.inference_mode():
        runs = [model(**enc, kind="query").embeddings for _ in range(4)]
    assert describe(model) == "torch traced packed"
    assert all(torch.equal(run, runs[0]) for run in runs[1:])


def test_a_bfloat16_backbone_is_probed_in_its_own_precision(tiny_backbone):
    """Its output reaches the family in float32, but the probe's tolerance is bfloat16's: it packs too."""
    import boltir
    from boltir.models.backends import describe, prepare, trace_backbone

    padded, packed = (boltir.load_model(tiny_backbone, family="dpr") for _ in range(2))
    prepare(padded.module, "eager", "bf16")
    prepare(packed.module, quantize="bf16")
    assert trace_backbone(packed.module, after=0) and describe(packed.module) == "torch bf16 traced packed"
    want, got = padded.encode_queries(TEXTS), packed.encode_queries(TEXTS)
    assert abs(got - want).max() < 0.05  # bfloat16 rounding, summed in another order


class _Shifted(torch.nn.Module):
    """A backbone whose packed outputs are 1e-3 (relative) off its padded ones, in float32 or bfloat16 weights."""

    def __init__(self, dtype: torch.dtype):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(4, dtype=dtype))

    def forward(self, input_ids, attention_mask, position_ids=None):
        hidden = input_ids[..., None].float() * self.weight.float()
        return SimpleNamespace(last_hidden_state=hidden * (1 + 1e-3) if position_ids is not None else hidden)


def test_the_probe_tolerance_is_that_of_the_precision_the_backbone_computes_in():
    probe = {"input_ids": torch.tensor([[5, 6, 7], [8, 9, 0]]), "attention_mask": _mask([3, 2])}
    inputs = ["input_ids", "attention_mask"]
    assert not packs_exactly(_Shifted(torch.float32), inputs, "last_hidden_state", probe)
    assert packs_exactly(_Shifted(torch.bfloat16), inputs, "last_hidden_state", probe)  # within bfloat16 rounding
