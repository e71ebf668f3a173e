"""Loss functions; each is tested against a hand computation.

List losses take ``scores`` and ``targets`` of shape [queries, list length] and an optional boolean ``mask`` of
real (non-padding) entries; ``InBatchCrossEntropy`` takes query and document embeddings.
"""

from boltir.losses.approximate import ADRMSE, ApproxMRR, ApproxNDCG, LambdaLoss
from boltir.losses.in_batch import InBatchCrossEntropy
from boltir.losses.listwise import InfoNCE, KLDivergence, ListMLE, ListNet
from boltir.losses.novelty import DuplicateAwareRankNet
from boltir.losses.pairwise import MarginMSE, RankNet
from boltir.losses.regularizers import FLOPS, L1

__all__ = [
    "ADRMSE",
    "ApproxMRR",
    "ApproxNDCG",
    "DuplicateAwareRankNet",
    "FLOPS",
    "InBatchCrossEntropy",
    "InfoNCE",
    "KLDivergence",
    "L1",
    "LambdaLoss",
    "ListMLE",
    "ListNet",
    "MarginMSE",
    "RankNet",
]
