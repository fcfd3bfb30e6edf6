"""Synthetic multimodal data sets with ground-truth latents and labels."""

from ._synthetic import make_nonlinear_multimodal, make_paper_synthetic

__all__ = ["make_nonlinear_multimodal", "make_paper_synthetic"]
