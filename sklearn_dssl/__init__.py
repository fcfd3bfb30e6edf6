"""Disentangled shared and modality-specific representations of multimodal tables."""

from ._disentangled import DisentangledSSL

__version__ = "0.1.0"

__all__ = ["DisentangledSSL", "__version__"]
