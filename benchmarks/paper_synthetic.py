"""The paper's synthetic study (Wang et al. 2025, Figure 4) on one data set.

(a) Shared block [f1, f2] of DisentangledSSL: probe accuracy on Y_c, Y_s1 and
    Y_s2 against beta.
(b) Specific block of modality 1: accuracy on Y_s1 against leakage on Y_c,
    for several ortho_weight (lambda) values; step 1 is fitted once per beta
    and reused across lambda through ``fit_specific``.

Reference rows: LinearCCA (closed-form CCA, residuals as specific blocks) and
the oracle (the true latent blocks). Probes are the paper's: logistic
regression fitted on the training rows' embeddings (standardised), scored on
the test rows (80/20 split).

Run: python benchmarks/paper_synthetic.py --data paper|nonlinear [--quick]
Writes benchmarks/results/paper_synthetic_<data>.json; ``plot_paper_synthetic.py``
draws the figure from the JSON files.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from sklearn_dssl import DisentangledSSL, LinearCCA
from sklearn_dssl.datasets import make_nonlinear_multimodal, make_paper_synthetic

RESULTS = Path(__file__).parent / "results"
GENERATORS = {"paper": make_paper_synthetic, "nonlinear": make_nonlinear_multimodal}
LABELS = ["specific_m1", "shared", "specific_m2"]


def probe(train, test, y_train, y_test):
    """Held-out accuracy of a logistic probe for each of the three labels."""
    scaler = StandardScaler().fit(train)
    train, test = scaler.transform(train), scaler.transform(test)
    return {
        label: float(
            LogisticRegression(max_iter=2000).fit(train, y_train[:, j]).score(test, y_test[:, j])
        )
        for j, label in enumerate(LABELS)
    }


def blocks_of(model, X_train, X_test):
    return model.transform_blocks(X_train), model.transform_blocks(X_test)


def shared_probe(train, test, y_train, y_test):
    both = [np.hstack(list(b["shared"].values())) for b in (train, test)]
    return probe(*both, y_train, y_test)


def specific_probe(train, test, y_train, y_test, modality="m1"):
    return probe(train["specific"][modality], test["specific"][modality], y_train, y_test)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=sorted(GENERATORS), default="paper")
    parser.add_argument("--quick", action="store_true",
                        help="small data and few epochs, to check the script")
    parser.add_argument("--betas", type=float, nargs="+", default=[1e-3, 1e-1, 1e1, 1e3])
    parser.add_argument("--specific-betas", type=float, nargs="+", default=[0.1])
    parser.add_argument("--lambdas", type=float, nargs="+", default=[0.1, 1.0, 10.0])
    parser.add_argument("--epochs-shared", type=int, default=50)
    parser.add_argument("--epochs-specific", type=int, default=30)
    args = parser.parse_args()

    n_samples = 6000 if args.quick else 90000
    epochs = (2, 2) if args.quick else (args.epochs_shared, args.epochs_specific)
    data = GENERATORS[args.data](n_samples=n_samples, random_state=0)
    cut = int(0.8 * n_samples)
    X_train, X_test = data.data[:cut], data.data[cut:]
    y_train, y_test = data.target[:cut], data.target[cut:]
    output = RESULTS / f"paper_synthetic_{args.data}{'_quick' if args.quick else ''}.json"

    def save():
        RESULTS.mkdir(exist_ok=True)
        output.write_text(json.dumps(report, indent=2))

    report = {
        "data": args.data, "n_train": cut, "n_test": n_samples - cut,
        "epochs": {"shared": epochs[0], "specific": epochs[1]},
        "labels": LABELS, "reference": {}, "shared_vs_beta": [], "specific_frontier": [],
    }
    save()

    latents = {k: v for k, v in data.latents.items()}
    for name, Z in [("oracle Z_c", latents["shared"]), ("oracle Z_1", latents["specific_m1"]),
                    ("oracle Z_2", latents["specific_m2"])]:
        report["reference"][name] = probe(Z[:cut], Z[cut:], y_train, y_test)
    start = time.perf_counter()
    cca = LinearCCA(modalities=data.modalities, n_components=data.latents["shared"].shape[1])
    cca.fit(X_train)
    cca_seconds = time.perf_counter() - start
    train, test = blocks_of(cca, X_train, X_test)
    report["reference"]["LinearCCA shared"] = shared_probe(train, test, y_train, y_test)
    report["reference"]["LinearCCA specific m1"] = specific_probe(train, test, y_train, y_test)
    report["reference"]["LinearCCA fit seconds"] = cca_seconds
    for name, scores in report["reference"].items():
        print(f"{name:<24} {scores}", flush=True)

    for beta in sorted(set(args.betas) | set(args.specific_betas)):
        model = DisentangledSSL(
            modalities=data.modalities, beta=beta, max_epochs_shared=epochs[0],
            max_epochs_specific=epochs[1], output="shared", random_state=0,
        )
        start = time.perf_counter()
        model.fit(X_train)
        seconds = time.perf_counter() - start
        train, test = blocks_of(model, X_train, X_test)
        row = {"beta": beta, "fit_seconds": seconds, **shared_probe(train, test, y_train, y_test)}
        report["shared_vs_beta"].append(row)
        print("shared", row, flush=True)
        for ortho_weight in args.lambdas if beta in args.specific_betas else []:
            start = time.perf_counter()
            model.set_params(output="all", ortho_weight=ortho_weight).fit_specific(X_train)
            seconds = time.perf_counter() - start
            train, test = blocks_of(model, X_train, X_test)
            row = {"beta": beta, "ortho_weight": ortho_weight, "fit_seconds": seconds,
                   **specific_probe(train, test, y_train, y_test)}
            report["specific_frontier"].append(row)
            print("specific", row, flush=True)
        save()


if __name__ == "__main__":
    main()
