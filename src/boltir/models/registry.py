"""The one list of boltir model types, registered with transformers' Auto classes."""

from __future__ import annotations


def model_classes() -> list[tuple[str, type, type]]:
    """``(model_type, config_class, model_class)`` for every boltir model."""
    from boltir.models.bi_encoders.dpr import DprConfig, DprModel
    from boltir.models.cross_encoders.mono import MonoConfig, MonoModel
    from boltir.models.cross_encoders.set_encoder import SetEncoder, SetEncoderConfig
    from boltir.models.cross_encoders.sparse import SparseCrossEncoder, SparseCrossEncoderConfig

    return [(DprConfig.model_type, DprConfig, DprModel), (MonoConfig.model_type, MonoConfig, MonoModel),
            (SparseCrossEncoderConfig.model_type, SparseCrossEncoderConfig, SparseCrossEncoder),
            (SetEncoderConfig.model_type, SetEncoderConfig, SetEncoder)]


def register_all() -> None:
    from transformers import AutoConfig, AutoModel

    for model_type, config_cls, model_cls in model_classes():
        AutoConfig.register(model_type, config_cls, exist_ok=True)
        AutoModel.register(config_cls, model_cls, exist_ok=True)
