"""Probes, leakage and identifiability metrics for learned representations."""

from ._metrics import (
    block_features,
    default_probe,
    leakage_score,
    linear_r2,
    make_leakage_scorer,
    make_probe_scorer,
    mcc,
    nonlinear_r2,
    probe_score,
    retrieval_top_k,
)

__all__ = [
    "block_features",
    "default_probe",
    "leakage_score",
    "linear_r2",
    "make_leakage_scorer",
    "make_probe_scorer",
    "mcc",
    "nonlinear_r2",
    "probe_score",
    "retrieval_top_k",
]
