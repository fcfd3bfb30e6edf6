"""Disentangled shared and modality-specific representations of multimodal tables."""

from ._contrastive import MultimodalContrastive
from ._disentangled import DisentangledSSL
from ._linear import LinearCCA

__version__ = "0.1.0"

__all__ = ["DisentangledSSL", "LinearCCA", "MultimodalContrastive", "__version__"]
