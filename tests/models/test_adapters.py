"""LoRA on any family's backbone: what trains, merging, saving and loading base + adapter."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from boltir.models.adapters import LoraSettings, adapter_weights, attach_lora, merge_lora, save_adapter

QUERY = "apple fruit"
DOCS = ["apple orchard fruit", "motor engine part", "fresh fruit market"]


def _scores(model) -> np.ndarray:
    from boltir.models.api import CrossEncoder

    return CrossEncoder(model, model.tokenizer).score(QUERY, DOCS)[0]


def _perturbed(model, seed=1):
    """LoRA's B starts at zero (the adapter starts as a no-op): give it values so it changes the outputs."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return model


def test_only_the_adapter_and_the_heads_train(tiny_backbone):
    from boltir.models.loading import load_module

    model, _ = load_module(tiny_backbone, family="mono")
    attach_lora(model, LoraSettings(r=4, alpha=8, target_modules=["query", "value"]))
    trainable = {n: p.numel() for n, p in model.named_parameters() if p.requires_grad}
    # per adapted layer A [4, 32] + B [32, 4]; 2 layers x (query, value); the head: Linear(32, 1)
    assert sum(v for n, v in trainable.items() if "lora_" in n) == 2 * 2 * (4 * 32 + 32 * 4)
    assert {n for n in trainable if "lora_" not in n} == {"head.out.weight", "head.out.bias"}


def test_default_targets_come_from_the_backbone_type(tiny_backbone):
    from boltir.models.loading import load_module

    model, _ = load_module(tiny_backbone, family="dpr")
    attach_lora(model, LoraSettings(r=2))
    assert model.lora_settings.target_modules and set(model.lora_settings.target_modules) == {"query", "value"}
    with pytest.raises(ValueError, match="peft"):
        attach_lora(load_module(tiny_backbone, family="dpr")[0], LoraSettings(r=2, target_modules=["nope"]))


def test_merged_model_gives_the_adapters_outputs(tiny_backbone):
    from boltir.models.loading import load_module

    model, _ = load_module(tiny_backbone, family="mono")
    base = _scores(model)
    torch.manual_seed(0)  # LoRA's A is drawn from the global generator: whatever ran before must not matter
    _perturbed(attach_lora(model, LoraSettings(r=4, alpha=8)))
    adapted = _scores(model)
    assert np.abs(adapted - base).max() > 1e-3  # the adapter does something
    merge_lora(model)
    assert not any("lora_" in n for n, _ in model.named_parameters())
    assert np.allclose(_scores(model), adapted, atol=1e-5)


def test_adapter_folder_loads_as_base_plus_adapter_and_merged(tiny_backbone, tmp_path):
    import boltir
    from boltir.models.loading import load_module

    model, _ = load_module(tiny_backbone, family="mono")
    _perturbed(attach_lora(model, LoraSettings(r=4, alpha=8)))
    with torch.no_grad():
        model.head.out.weight.add_(0.3)  # a trained head travels with the adapter
    want = _scores(model)
    save_adapter(model, model.tokenizer, tmp_path / "adapter", tiny_backbone)
    size = sum(f.stat().st_size for f in (tmp_path / "adapter").glob("*.safetensors"))
    assert size < 0.1 * sum(p.numel() * 4 for p in model.parameters())  # an adapter, not a copy of the model
    loaded = boltir.load_model(tmp_path / "adapter")
    assert loaded.family.name == "mono"
    assert np.allclose(loaded.score(QUERY, DOCS)[0], want, atol=1e-5)
    merged = boltir.load_model(tmp_path / "adapter", merge=True)
    assert not any("lora_" in n for n, _ in merged.module.named_parameters())
    assert np.allclose(merged.score(QUERY, DOCS)[0], want, atol=1e-5)


def test_peft_reads_the_adapter_for_the_backbone(tiny_backbone, tmp_path):
    from peft import PeftModel
    from transformers import AutoModel

    from boltir.models.loading import load_module

    model, _ = load_module(tiny_backbone, family="dpr")
    _perturbed(attach_lora(model, LoraSettings(r=4, alpha=8)))
    save_adapter(model, model.tokenizer, tmp_path / "adapter", tiny_backbone)
    peft_model = PeftModel.from_pretrained(AutoModel.from_pretrained(tiny_backbone), tmp_path / "adapter")
    theirs = {k.replace(".default", ""): v for k, v in peft_model.state_dict().items() if "lora_" in k}
    ours = adapter_weights(model)
    assert set(theirs) == set(ours)
    assert all(torch.equal(theirs[k], ours[k]) for k in ours)
