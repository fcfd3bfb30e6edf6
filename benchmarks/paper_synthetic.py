"""The paper's synthetic study (Wang et al. 2025, Figure 4) on one data set.

(a) Shared block [f1, f2] of DisentangledSSL: probe accuracy on Y_c, Y_s1 and
    Y_s2 against beta.
(b) Specific block of modality 1: accuracy on Y_s1 against leakage on Y_c,
    for several ortho_weight (lambda) values (and, with ``--n-specifics``,
    widths of the specific block); step 1 is fitted once per beta and reused
    across them through ``fit_specific``. ``--n-shared`` sets the width of
    the shared block of a run (rows of another width than the default record
    it as n_shared).

Reference rows: LinearCCA (closed-form CCA, residuals as specific blocks) and
the oracle (the true latent blocks). Probes are the paper's: logistic
regression fitted on the training rows' embeddings (standardised), scored on
the test rows (80/20 split).

``--beta-start`` ramps each step 1's beta geometrically from that value up
(or down) to the beta of the row over ``--beta-ramp-epochs`` epochs (all of
step 1 by default; the rows record both), to see whether a schedule of beta
changes the trade-off between the two blocks.

Run: python benchmarks/paper_synthetic.py --data paper|nonlinear [--quick]
[--label-init xavier] [--beta-start B [--beta-ramp-epochs E]]
Writes benchmarks/results/paper_synthetic_<data>[_xavier][_ramp].json;
``plot_paper_synthetic.py`` draws the figure from the files without ramps.
"""

import argparse
import contextlib
import itertools
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from sklearn_dssl import DisentangledSSL, LinearCCA
from sklearn_dssl.datasets import make_nonlinear_multimodal, make_paper_synthetic
from sklearn_dssl.datasets._synthetic import LABEL_INITS

# where every benchmark writes its JSON and PNG files: benchmarks/results, or
# the folder named by SKLEARN_DSSL_BENCHMARK_RESULTS (the test suite's smoke
# runs write there, leaving the committed results alone)
RESULTS = Path(os.environ.get("SKLEARN_DSSL_BENCHMARK_RESULTS")
               or Path(__file__).parent / "results")
GENERATORS = {"paper": make_paper_synthetic, "nonlinear": make_nonlinear_multimodal}
LABELS = ["specific_m1", "shared", "specific_m2"]
# rows of step 2 at another width of the specific block record it as n_specific
DEFAULT_N_SPECIFIC = DisentangledSSL().n_specific
# rows of both steps at another width of the shared block record it as n_shared
DEFAULT_N_SHARED = DisentangledSSL().n_shared
# rows fitted at another InfoNCE temperature record it as temperature
DEFAULT_TEMPERATURE = DisentangledSSL().temperature


def split_rows(data):
    """The paper's 80/20 split of a generated data set, in row order.

    Returns ``(X_train, X_test), (y_train, y_test), (z_train, z_test)``,
    the last two dicts of the latent blocks.
    """
    cut = int(0.8 * len(data.data))
    return ((data.data[:cut], data.data[cut:]), (data.target[:cut], data.target[cut:]),
            tuple({k: v[rows] for k, v in data.latents.items()}
                  for rows in (slice(None, cut), slice(cut, None))))


def add_label_init_option(parser, where=None):
    """``--label-init``: how the generator draws the label networks."""
    parser.add_argument("--label-init", choices=LABEL_INITS, default="normal",
                        help="how the generator draws the label networks; 'xavier' is the "
                             f"authors' law{f' ({where})' if where else ''}")


def probe(train, test, y_train, y_test, authors=False):
    """Held-out accuracy of a logistic probe for each of the three labels.

    Ours standardises the embeddings and runs to convergence; ``authors``
    is the authors' research code's probe: raw embeddings, at most 200
    iterations (at C=1 it favours embeddings of large norm).
    """
    if not authors:
        scaler = StandardScaler().fit(train)
        train, test = scaler.transform(train), scaler.transform(test)
    max_iter = 200 if authors else 2000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the authors' probe stops early
        return {
            label: float(LogisticRegression(max_iter=max_iter).fit(train, y_train[:, j])
                         .score(test, y_test[:, j]))
            for j, label in enumerate(LABELS)
        }


def blocks_of(model, X_train, X_test):
    return model.transform_blocks(X_train), model.transform_blocks(X_test)


def shared_probe(train, test, y_train, y_test, authors=False):
    both = [np.hstack(list(b["shared"].values())) for b in (train, test)]
    return probe(*both, y_train, y_test, authors=authors)


def specific_probe(train, test, y_train, y_test, modality="m1", authors=False):
    return probe(train["specific"][modality], test["specific"][modality], y_train, y_test,
                 authors=authors)


def check_appendable(output, report, keys, defaults=None):
    """Refuse ``--append`` onto a missing file or one of other settings.

    ``keys`` are the report's entries the file must share (the data, split,
    epochs, ...); ``defaults`` fills those that older files lack.
    """
    if not output.exists():
        raise SystemExit(f"cannot append: {output.name} does not exist yet; run once "
                         "without --append")
    previous = {**(defaults or {}), **json.loads(output.read_text())}
    for key in keys:
        if previous.get(key) != report[key]:
            raise SystemExit(f"cannot append: {output.name} has {key}={previous.get(key)!r}, "
                             f"this run {report[key]!r}")


@contextlib.contextmanager
def results_lock():
    """Exclusive lock on the results folder, for one read-merge-write of a file.

    Runs that append to one file at the same time take turns, so none
    writes over rows another added since it read the file (POSIX only).
    """
    import fcntl

    folder = os.open(RESULTS, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)  # releases the lock


def save_results(output, report, merge=None):
    """Write ``report`` to ``output`` atomically (readers never see half a file).

    With ``merge(saved, report)``, which adds this run's new rows to
    ``saved`` (the file as it is now: another run may have extended it since
    this one last wrote), the file is read, merged and written under
    :func:`results_lock`.
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    with results_lock() if merge else contextlib.nullcontext():
        saved = report
        if merge:
            saved = json.loads(output.read_text())
            merge(saved, report)
        partial = output.with_suffix(".json.partial")
        partial.write_text(json.dumps(saved, indent=2))
        partial.replace(output)


def step1_key(row):
    return (row["beta"], row.get("noise_scale", 0.1), row.get("temperature", DEFAULT_TEMPERATURE),
            row.get("n_shared", DEFAULT_N_SHARED), row.get("beta_start"),
            row.get("beta_ramp_epochs"))


def merge_study(saved, report):
    """Add a run's rows to a saved study (see ``--append``).

    A step 1 whose (beta, noise_scale, temperature, n_shared, ramp) the file already holds
    from another run is a refit: its shared row stays out of
    ``shared_vs_beta`` and rides along as ``step1_refit`` in its own step-2
    rows, whose probes it explains. Decided here, under the lock, so that
    two runs refitting the same beta at once cannot both add it. The
    saved reference rows (oracle, LinearCCA) stay: the appending run, on
    the same data, recomputes them only up to float rounding.
    """
    saved["reference"] = saved["reference"] or report["reference"]
    refits = {}
    for row in report["shared_vs_beta"]:
        if row in saved["shared_vs_beta"]:
            continue  # this run's, added by an earlier save
        if any(step1_key(r) == step1_key(row) for r in saved["shared_vs_beta"]):
            refits[step1_key(row)] = row
        else:
            saved["shared_vs_beta"].append(row)
    for row in report["specific_frontier"]:
        if step1_key(row) in refits:
            row = {**row, "step1_refit": refits[step1_key(row)]}
        if row not in saved["specific_frontier"]:
            saved["specific_frontier"].append(row)


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
    parser.add_argument("--noise-scale", type=float, default=DisentangledSSL().noise_scale,
                        help="the augmentation's noise, in feature standard deviations (the "
                             "authors' absolute 0.01 is about 0.0025 on the paper's data)")
    parser.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE,
                        help="the InfoNCE temperature of both steps (rows of another than the "
                             "default record it)")
    parser.add_argument("--n-specifics", type=int, nargs="+",
                        default=[DEFAULT_N_SPECIFIC],
                        help="widths of the specific block to fit step 2 with (rows of a width "
                             "other than the default record it as n_specific)")
    parser.add_argument("--n-shared", type=int, default=DEFAULT_N_SHARED,
                        help="width of the shared block of each modality (rows of another "
                             "width than the default record it as n_shared)")
    parser.add_argument("--specific-init", choices=["looks_linear", "normal"],
                        default=DisentangledSSL().specific_init,
                        help="initial weights of the specific encoders (rows record it; rows "
                             "without it were fitted with 'normal', the default until "
                             "'looks_linear')")
    parser.add_argument("--step2-seeds", type=int, nargs="+", default=[0],
                        help="random_state of each step-2 fit over the one step 1 (the spread "
                             "over seeds of the specific block)")
    parser.add_argument("--compile", action="store_true",
                        help="fit with compile=True (rows record it; their fit seconds "
                             "include compiling)")
    parser.add_argument("--beta-start", type=float, default=None,
                        help="ramp beta geometrically from this value to each beta of the run "
                             "(DisentangledSSL's beta_start); results go to "
                             "paper_synthetic_<data>_ramp.json")
    parser.add_argument("--beta-ramp-epochs", type=float, default=None,
                        help="length of the ramp in epochs of step 1 (default: all of it)")
    add_label_init_option(parser, "results go to paper_synthetic_<data>_xavier.json")
    parser.add_argument("--append", action="store_true",
                        help="add the new rows to the existing results file (same data and "
                             "epochs) instead of starting a new one; runs sharing the file at "
                             "the same time must all append (a run without it rewrites the "
                             "file at every save)")
    args = parser.parse_args()
    if args.beta_ramp_epochs is not None and args.beta_start is None:
        parser.error("--beta-ramp-epochs needs --beta-start")

    n_samples = 6000 if args.quick else 90000
    epochs = (2, 2) if args.quick else (args.epochs_shared, args.epochs_specific)
    data = GENERATORS[args.data](n_samples=n_samples, label_init=args.label_init,
                                 random_state=0)
    (X_train, X_test), (y_train, y_test), (z_train, z_test) = split_rows(data)
    cut = len(X_train)
    labels = "" if args.label_init == "normal" else f"_{args.label_init}"
    ramp = "" if args.beta_start is None else "_ramp"
    output = RESULTS / (f"paper_synthetic_{args.data}{labels}{ramp}"
                        f"{'_quick' if args.quick else ''}.json")

    report = {
        "data": args.data, "n_train": cut, "n_test": n_samples - cut,
        "epochs": {"shared": epochs[0], "specific": epochs[1]},
        "labels": LABELS, "label_init": args.label_init, "reference": {},
        "shared_vs_beta": [], "specific_frontier": [],
    }
    if args.append:
        check_appendable(output, report, ("data", "n_train", "n_test", "epochs", "label_init"),
                         defaults={"label_init": "normal"})  # files before label_init: normal

    def save():
        save_results(output, report, merge_study if args.append else None)

    save()

    for name, block in [("oracle Z_c", "shared"), ("oracle Z_1", "specific_m1"),
                        ("oracle Z_2", "specific_m2")]:
        report["reference"][name] = probe(z_train[block], z_test[block], y_train, y_test)
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
            noise_scale=args.noise_scale, temperature=args.temperature, compile=args.compile,
            n_shared=args.n_shared, beta_start=args.beta_start,
            beta_ramp_epochs=args.beta_ramp_epochs,
        )
        start = time.perf_counter()
        model.fit(X_train)
        seconds = time.perf_counter() - start
        train, test = blocks_of(model, X_train, X_test)
        recorded = {"compile": True} if args.compile else {}  # settings rows record
        if args.temperature != DEFAULT_TEMPERATURE:
            recorded["temperature"] = args.temperature
        if args.n_shared != DEFAULT_N_SHARED:
            recorded["n_shared"] = args.n_shared
        if args.beta_start is not None:
            recorded["beta_start"] = args.beta_start
            recorded["beta_ramp_epochs"] = args.beta_ramp_epochs or float(epochs[0])
        shared_row = {"beta": beta, "noise_scale": args.noise_scale, **recorded,
                      "fit_seconds": seconds, **shared_probe(train, test, y_train, y_test)}
        report["shared_vs_beta"].append(shared_row)
        print("shared", shared_row, flush=True)
        for ortho_weight, n_specific, seed in itertools.product(
            args.lambdas if beta in args.specific_betas else [], args.n_specifics,
            args.step2_seeds,
        ):
            start = time.perf_counter()
            model.set_params(output="all", ortho_weight=ortho_weight, n_specific=n_specific,
                             specific_init=args.specific_init, random_state=seed)
            model.fit_specific(X_train)
            seconds = time.perf_counter() - start
            train, test = blocks_of(model, X_train, X_test)
            wider = {} if n_specific == DEFAULT_N_SPECIFIC else {"n_specific": n_specific}
            row = {"beta": beta, "ortho_weight": ortho_weight, "noise_scale": args.noise_scale,
                   **wider, "specific_init": args.specific_init,
                   **({"step2_random_state": seed} if seed else {}), **recorded,
                   "fit_seconds": seconds,
                   **specific_probe(train, test, y_train, y_test)}
            report["specific_frontier"].append(row)
            print("specific", row, flush=True)
        save()


if __name__ == "__main__":
    main()
