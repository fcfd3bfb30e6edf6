"""Disentangled shared and modality-specific representations of multimodal tables."""

from ._baselines import DMVAE, FOCAL, JointOptSSL
from ._contrastive import MultimodalContrastive
from ._disentangled import DisentangledSSL
from ._linear import LinearCCA
from ._persistence import load, save

__version__ = "0.2.0.dev0"

__all__ = [
    "DMVAE",
    "DisentangledSSL",
    "FOCAL",
    "JointOptSSL",
    "LinearCCA",
    "MultimodalContrastive",
    "load",
    "save",
    "__version__",
]
