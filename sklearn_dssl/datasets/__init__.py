"""Synthetic multimodal data sets with ground-truth latents and labels."""

from ._causal import make_latent_partial_causal
from ._synthetic import make_nonlinear_multimodal, make_paper_synthetic

__all__ = ["make_latent_partial_causal", "make_nonlinear_multimodal", "make_paper_synthetic"]
