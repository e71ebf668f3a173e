"""Lightning modules, data modules and callbacks for fine-tuning."""

from boltir.training.bi_encoder import BiEncoderModule
from boltir.training.callbacks import ExportBestModel, StepBoundProgressBar
from boltir.training.cross_encoder import CrossEncoderModule
from boltir.training.data import TupleDataModule
from boltir.training.list_data import ListDataModule
from boltir.training.schedulers import ValueScheduler

__all__ = [
    "BiEncoderModule",
    "CrossEncoderModule",
    "ExportBestModel",
    "ListDataModule",
    "StepBoundProgressBar",
    "TupleDataModule",
    "ValueScheduler",
]
