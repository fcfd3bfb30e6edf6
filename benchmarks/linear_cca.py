"""LinearCCA on wide modalities: time and memory against the dense computation.

Two modalities share 10 factors and carry 10 of their own each, plus
Gaussian noise. A first run has the paper's shape (72,000 rows of
100 + 100 columns); then, on 3,000 rows, modality 1 is given more and more
columns (up to 20,000, the genes of a single-cell table) and modality 2
has 200. For each width,
LinearCCA (whitening through the rows' Gram matrix when a modality has more
columns than rows, the specific block from its ``loadings_``) is timed
against the dense computation the package used before: each modality's
columns x columns covariance, its eigendecomposition, and a columns x
columns residual map per modality. Both are timed in the same run,
alternately, and the dense one only up to ``--dense-max-width`` columns (its
memory grows with the square of the width: 3.2 GB per matrix at 20,000).
Peak memory is the largest allocation traced by ``tracemalloc`` during fit,
above the data. The two transforms are compared, to show that they compute
the same blocks.

Run: python benchmarks/linear_cca.py [--quick]
Writes benchmarks/results/linear_cca.json (linear_cca_quick.json with --quick).
"""

import argparse
import json
import os
import platform
import time
import tracemalloc
from pathlib import Path

import numpy as np
from scipy import linalg
from threadpoolctl import threadpool_info

from sklearn_dssl import LinearCCA
from sklearn_dssl._kernels import cpuinfo_field

from paper_synthetic import RESULTS


def factor_data(n_rows, widths, seed=0):
    """Two modalities: 10 shared factors, 10 specific to each, unit noise."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=(n_rows, 10))
    blocks = []
    for width in widths:
        own = rng.normal(size=(n_rows, 10))
        loadings = rng.normal(size=(20, width)) / np.sqrt(20)
        blocks.append(np.hstack([shared, own]) @ loadings + rng.normal(size=(n_rows, width)))
    return np.hstack(blocks).astype(np.float32)


def dense_linear_cca(X1, X2, n_components, ridge):
    """The dense computation: columns x columns covariances and residual maps.

    The same regularised CCA as LinearCCA (ridge relative to each column's
    variance, directions without variance dropped); returns the means, the
    weights and the residual maps, with which
    ``(x_i - mean_i) @ weights_i`` is the shared block and
    ``(x_i - mean_i) @ residual_map_i`` the specific one.
    """
    centred = [np.asarray(X, dtype=np.float64) for X in (X1, X2)]
    means = [c.mean(axis=0) for c in centred]
    for c, mean in zip(centred, means):
        c -= mean
    n = len(X1)
    covariances = [c.T @ c / n for c in centred]
    whiteners = []
    for C in covariances:
        scales = 1 / np.sqrt(np.diag(C))
        values, vectors = linalg.eigh(C * np.outer(scales, scales))
        kept = values > len(C) * np.finfo(float).eps * values.max()
        whiteners.append(scales[:, None] * vectors[:, kept] / np.sqrt(values[kept] + ridge))
    cross = whiteners[0].T @ (centred[0].T @ centred[1] / n) @ whiteners[1]
    U, _, Vt = linalg.svd(cross, full_matrices=False)
    weights = [whiteners[0] @ U[:, :n_components], whiteners[1] @ Vt[:n_components].T]
    residual_maps = [
        np.eye(len(C)) - W @ linalg.pinvh(W.T @ C @ W) @ (W.T @ C)
        for C, W in zip(covariances, weights)
    ]
    return means, weights, residual_maps


def dense_transform(X1, X2, fitted):
    means, weights, maps = fitted
    parts = [np.asarray(X, dtype=np.float64) - mean for X, mean in zip((X1, X2), means)]
    return ([p @ W for p, W in zip(parts, weights)], [p @ R for p, R in zip(parts, maps)])


def timed(function):
    """(seconds, peak traced bytes, result) of one call."""
    tracemalloc.start()
    try:
        start = time.perf_counter()
        result = function()
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return seconds, peak, result


def largest_difference(model, dense, X1, X2):
    """Largest difference between the two blocks, relative to the block's peak,
    after matching each shared variate's sign (SVD's signs are free)."""
    X = np.hstack([X1, X2])
    ours = model.transform_blocks(X)
    shared, specific = dense_transform(X1, X2, dense)
    worst = 0.0
    for i, m in enumerate(("m1", "m2")):
        signs = np.sign(np.sum(shared[i] * ours["shared"][m], axis=0))
        for a, b in ((ours["shared"][m], shared[i] * signs), (ours["specific"][m], specific[i])):
            worst = max(worst, float(np.abs(a - b).max() / np.abs(b).max()))
    return worst


def run_width(n_rows, width, width_2, args):
    widths = (width, width_2)
    X = factor_data(n_rows, widths)
    X1, X2 = X[:, :width], X[:, width:]
    dense = width <= args.dense_max_width
    rows = {"width_1": width, "width_2": width_2, "n_rows": n_rows, "data_mb": X.nbytes / 1e6}
    times = {"linear_cca": [], "dense": []}
    peaks = {"linear_cca": [], "dense": []}
    for _ in range(args.repeats):  # alternated, so that drift hits both alike
        make = LinearCCA(modalities=list(widths), n_components=args.n_components,
                         ridge=args.ridge)
        seconds, peak, model = timed(lambda: make.fit(X))
        times["linear_cca"].append(seconds)
        peaks["linear_cca"].append(peak / 1e6)
        if dense:
            seconds, peak, fitted = timed(
                lambda: dense_linear_cca(X1, X2, args.n_components, args.ridge))
            times["dense"].append(seconds)
            peaks["dense"].append(peak / 1e6)
    start = time.perf_counter()
    model.transform(X)
    rows["transform_seconds"] = time.perf_counter() - start
    rows["fit_seconds"] = min(times["linear_cca"])
    rows["fit_peak_mb"] = max(peaks["linear_cca"])
    rows["canonical_correlations_top3"] = model.canonical_correlations_[:3].tolist()
    if dense:
        start = time.perf_counter()
        dense_transform(X1, X2, fitted)
        rows["dense_transform_seconds"] = time.perf_counter() - start
        rows["dense_fit_seconds"] = min(times["dense"])
        rows["dense_fit_peak_mb"] = max(peaks["dense"])
        rows["fit_time_ratio"] = rows["fit_seconds"] / rows["dense_fit_seconds"]
        rows["fit_memory_ratio"] = rows["fit_peak_mb"] / rows["dense_fit_peak_mb"]
        rows["largest_relative_difference"] = largest_difference(model, fitted, X1, X2)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small widths (a smoke run)")
    parser.add_argument("--paper-rows", type=int, default=72000,
                        help="rows of a first run at the paper's 100 + 100 columns (0: none)")
    parser.add_argument("--n-rows", type=int, default=3000)
    parser.add_argument("--widths", type=int, nargs="+", default=[100, 1000, 4000, 8000, 20000],
                        help="columns of modality 1")
    parser.add_argument("--width-2", type=int, default=200, help="columns of modality 2")
    parser.add_argument("--n-components", type=int, default=10)
    parser.add_argument("--ridge", type=float, default=1e-3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dense-max-width", type=int, default=8000,
                        help="widest modality 1 the dense computation is run on")
    parser.add_argument("--output", default=None,
                        help="JSON path (default: results/linear_cca.json, "
                             "linear_cca_quick.json with --quick)")
    args = parser.parse_args()
    if args.quick:
        args.n_rows, args.widths, args.width_2, args.repeats = 300, [50, 600], 40, 1
        args.paper_rows = 0
    output = Path(args.output) if args.output else RESULTS / (
        "linear_cca_quick.json" if args.quick else "linear_cca.json")
    blas = [f"{lib['internal_api']} {lib['version']} ({lib['num_threads']} threads)"
            for lib in threadpool_info() if lib["user_api"] == "blas"]
    results = {"config": {k: v for k, v in vars(args).items() if k != "output"},
               "machine": {"processor": platform.processor() or platform.machine(),
                           "cpu": cpuinfo_field("model name"), "cores": os.cpu_count(),
                           "blas": blas},
               "runs": []}
    shapes = [(args.paper_rows, 100, 100)] if args.paper_rows else []
    shapes += [(args.n_rows, width, args.width_2) for width in args.widths]
    for shape in shapes:
        results["runs"].append(run_width(*shape, args))
        print(json.dumps(results["runs"][-1]), flush=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
