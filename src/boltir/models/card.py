"""The model card (``README.md``) written into every saved model folder: what the model is (family, role, base
model, settings), how it was trained and validated when boltir trained it, how to load it with boltir and with
transformers, and the versions that produced it. The YAML header carries the fields the Hugging Face Hub reads
(``library_name``, ``pipeline_tag``, ``tags``, ``base_model``)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

TRAINING_KEYS = (
    "family",
    "loss",
    "lr",
    "weight_decay",
    "warmup_steps",
    "temperature",
    "projection_dim",
    "val_metric",
    "seed",
)


def own_settings(config: Any) -> dict[str, Any]:
    """The family's own config fields (not the backbone's, not transformers' generic ones)."""
    from transformers import PreTrainedConfig

    generic = {f.name for f in dataclasses.fields(PreTrainedConfig)}
    names = [f.name for f in dataclasses.fields(config) if f.name not in generic and f.name != "encoder"]
    return {n: getattr(config, n) for n in names}


def model_card(model: Any, provenance: dict[str, Any] | None = None) -> str:
    """The model card (``README.md``) of a model: what it is, how it was made, how to load it."""
    from boltir.registry import family_of_model_type, get_index_kind

    cfg = model.config
    family = family_of_model_type(cfg.model_type)
    name = family.name if family else cfg.model_type
    role = family.role if family else "model"
    kind = family.index_kind if family else None
    provenance = provenance or {}
    hparams = provenance.get("hparams") or {}
    base = hparams.get("model") or provenance.get("source") or cfg.name_or_path or ""
    header = [
        "---",
        "library_name: boltir",
        f"pipeline_tag: {get_index_kind(kind).pipeline_tag if kind else 'text-ranking'}",
        f"tags: [boltir, information-retrieval, {name}, {role}" + (f", {kind}-index" if kind else "") + "]",
    ]
    if base and "/" in str(base) and not str(base).startswith(("/", ".")):
        header.append(f"base_model: {base}")
    header.append("---")
    enc = cfg.encoder
    lines = [*header, f"# {name} {role} (boltir)", ""]
    if family and family.description:
        lines += [f"A {family.description}" + (f"; documents go into a `{kind}` index." if kind else "."), ""]
    lines += [
        f"- Family: `{name}` (`model_type: {cfg.model_type}`)",
        f"- Backbone: `{enc.model_type}`, {getattr(enc, 'num_hidden_layers', '?')} layers, hidden size "
        f"{getattr(enc, 'hidden_size', '?')}" + (f", from `{base}`" if base else ""),
        "",
    ]
    if hparams:
        training = {k: hparams[k] for k in TRAINING_KEYS if hparams.get(k) is not None}
        lines += [
            "## Training",
            "",
            f"Trained with boltir ({provenance.get('global_step', '?')} steps).",
            "",
            "```json",
            json.dumps(training, indent=2, default=str),
            "```",
            "",
        ]
        data = provenance.get("data") or {}
        sources = [f"`{data[k]}`" for k in ("train", "train_run", "train_tuples") if data.get(k)]
        if sources:
            lines += [f"- Training data: {', '.join(sources)}"]
        if data.get("val_run"):
            lines += [f"- Validation: re-ranking `{data['val_run']}` against `{data.get('val_qrels') or 'its qrels'}`"]
        peft = hparams.get("peft")
        if peft:
            lines += [f"- LoRA: {json.dumps(peft, default=str)} (this folder holds the merged weights)"]
        if sources or data.get("val_run") or peft:
            lines += [""]
        if provenance.get("best_score") is not None:
            lines += [f"Best validation {hparams.get('val_metric', 'metric')}: {provenance['best_score']:.4f}", ""]
    lines += ["## Use", "", "```python", "import boltir", "", "model = boltir.load_model('path/to/this/folder')"]
    lines += (
        ["vectors = model.encode_documents(['a passage'])"]
        if role == "bi-encoder"
        else ["print(model.rank('a query', ['a passage', 'another passage']))"]
    )
    lines += [
        "```",
        "",
        "With transformers (`boltir.register_auto_classes()` registers boltir's model types):",
        "",
        "```python",
        "import boltir",
        "from transformers import AutoModel",
        "",
        "boltir.register_auto_classes()",
        "model = AutoModel.from_pretrained('path/to/this/folder')",
        "```",
        "",
        "On the command line: `boltir re-rank --model path/to/this/folder ...`"
        + (" or `boltir index --model path/to/this/folder ...`." if kind else "."),
        "",
        "## Settings",
        "",
        "```json",
        json.dumps(own_settings(cfg), indent=2, default=str),
        "```",
    ]
    if provenance:
        lines += ["", "## Provenance", "", "```json", json.dumps(provenance, indent=2, default=str), "```"]
    return "\n".join(lines) + "\n"
