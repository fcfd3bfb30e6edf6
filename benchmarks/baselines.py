"""Every method on the paper's synthetic study: Figure 4(b) with the baselines.

Wang et al. (2025), Figure 4(b): the specific block of modality 1, accuracy on
Y_s1 against leakage (accuracy on Y_c), for DisentangledSSL and the baselines
JointOpt (:class:`JointOptSSL`), FOCAL, DMVAE and the closed-form
:class:`LinearCCA`. Every method sees the same data and 80/20 split and its
blocks go through the same logistic-regression probes; the deep methods
also share their encoders (one hidden layer of 512 unless
``--hidden-layer-sizes`` says otherwise, or ``--baseline-hidden-layer-sizes``
for the three baselines alone; shared and specific widths 100, unless a
setting of ``--settings`` names another ``n_specific``),
batch size (256), learning rate, seed (``random_state=0``) and
the default augmentation. Their epoch budgets differ: each baseline trains
for ``--epochs`` (20 by default) in one optimisation, while DisentangledSSL
trains ``--epochs`` of step 1 and then ``--epochs-specific`` (12 by default)
of step 2, the paper's 50 : 30 ratio: 32 epochs in all, of which step 2's
train only the specific encoders. Each row also probes the shared block
[shared_m1, shared_m2] on Y_c (and on Y_s1, its leakage).

The paper's scale (90,000 rows, 50 epochs) takes 5 to 6 minutes per
DisentangledSSL fit on a 2-core CPU; the defaults here are a stated reduction
(20,000 rows, 80/20 split, 20 epochs and 12 for DisentangledSSL's step 2,
lr 1e-3 to make up for the fewer steps) that keeps one data set within
about 15 minutes on one thread.

Run: python benchmarks/baselines.py --data paper|nonlinear [--quick]
Writes benchmarks/results/baselines_<data>.json, then draws
benchmarks/results/baselines_frontier.png from whichever of the two JSON
files exist (``--plot-only`` just draws).
"""

import argparse
import json
import time

import numpy as np

from paper_synthetic import (
    GENERATORS,
    LABELS,
    RESULTS,
    add_label_init_option,
    blocks_of,
    check_appendable,
    probe,
    save_results,
    shared_probe,
    specific_probe,
    split_rows,
)
from label_draws import authors_network_labels
from sklearn_dssl import DMVAE, FOCAL, DisentangledSSL, JointOptSSL, LinearCCA

# (specific_weight a, ortho_weight lambda) of the jointly trained baselines;
# kl_weight of DMVAE (0.256, 2.56, 25.6 are the research code's 1e-5, 1e-4,
# 1e-3 with 256-row batches of 100 columns).
GRIDS = {
    "DisentangledSSL": [{"beta": 0.1, "ortho_weight": lam}
                        for lam in (0.1, 1.0, 10.0, 0.01, 0.001)],
    "JointOptSSL": [
        {"specific_weight": a, "ortho_weight": lam}
        for a, lam in ((1.0, 1.0), (10.0, 1.0), (1.0, 10.0), (1.0, 0.1), (1.0, 0.01),
                       (1.0, 0.001))
    ],
    "FOCAL": [
        {"specific_weight": a, "ortho_weight": lam} for a, lam in ((1.0, 0.1), (1.0, 1.0), (10.0, 1.0))
    ],
    "DMVAE": [{"kl_weight": w} for w in (0.256, 25.6)],
}

# The paper's Figure 4(b), read off the plot (linear data, full scale).
PAPER_POINTS = {
    "DisentangledSSL (paper)": (0.58, 0.74),
    "JointOpt best low leakage (paper)": (0.59, 0.73),
}
PAPER_FOCAL_BOX = ((0.68, 0.725), (0.63, 0.725))  # leakage range, Y_s1 range


def evaluate(model, split, authors_probe=False, authors_labels=None):
    """Probe scores of the shared and the specific block.

    With ``authors_probe``, also those of the authors' probe (raw embeddings,
    200 iterations); with ``authors_labels`` (train and test labels from the
    authors' label networks), also the scores on those labels.
    """
    X_train, X_test, y_train, y_test = split
    train, test = blocks_of(model, X_train, X_test)
    scores = {
        "shared": shared_probe(train, test, y_train, y_test),
        "specific_m1": specific_probe(train, test, y_train, y_test),
    }
    if authors_labels is not None:
        scores["authors_labels"] = {
            "shared": shared_probe(train, test, *authors_labels),
            "specific_m1": specific_probe(train, test, *authors_labels),
        }
    if authors_probe:
        scores["authors_probe"] = {
            "shared": shared_probe(train, test, y_train, y_test, authors=True),
            "specific_m1": specific_probe(train, test, y_train, y_test, authors=True),
        }
        # how large the raw embeddings are, which the authors' probe is sensitive to
        scores["mean_row_norm"] = {
            "shared": float(np.mean([np.linalg.norm(b, axis=1).mean()
                                     for b in test["shared"].values()])),
            "specific_m1": float(np.linalg.norm(test["specific"]["m1"], axis=1).mean()),
        }
    return scores


def timed_fit(model, X):
    start = time.perf_counter()
    model.fit(X)
    return time.perf_counter() - start


def recorded_params(model, params):
    """``params`` with the model's ``specific_init``, where it has one: rows
    without it were fitted with "normal", the default until "looks_linear"."""
    if "specific_init" in model.get_params():
        return {**params, "specific_init": model.specific_init}
    return params


def run_disentangled(common, epochs, split, grid, record, evaluation):
    """Step 1 once per beta, then step 2 for each lambda through fit_specific."""
    default_beta = DisentangledSSL().beta
    for beta in sorted({p.get("beta", default_beta) for p in grid}):
        model = DisentangledSSL(
            **common, beta=beta, output="shared",
            max_epochs_shared=epochs["shared"], max_epochs_specific=epochs["specific"],
        )
        step1 = timed_fit(model, split[0])
        for params in (p for p in grid if p.get("beta", default_beta) == beta):
            model.set_params(output="all", **{k: v for k, v in params.items() if k != "beta"})
            start = time.perf_counter()
            model.fit_specific(split[0])
            step2 = time.perf_counter() - start
            record("DisentangledSSL", recorded_params(model, params), step1 + step2,
                   evaluation(model), step1_seconds=step1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=sorted(GENERATORS), default="paper")
    parser.add_argument("--quick", action="store_true",
                        help="small data and 2 epochs, to check the script")
    parser.add_argument("--n-samples", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=20,
                        help="epochs of the baselines and of DisentangledSSL's step 1")
    parser.add_argument("--epochs-specific", type=int, default=12,
                        help="epochs of DisentangledSSL's step 2")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--hidden-layer-sizes", type=int, nargs="+", default=[512],
                        help="hidden layers of every encoder (the authors' JointOpt, FOCAL "
                             "and DMVAE runs use two: 512 512)")
    parser.add_argument("--baseline-hidden-layer-sizes", type=int, nargs="+", default=None,
                        help="hidden layers of JointOpt's, FOCAL's and DMVAE's encoders only, "
                             "overriding --hidden-layer-sizes for them (e.g. 512 512, as the "
                             "authors' runs, with DisentangledSSL's one layer)")
    parser.add_argument("--methods", nargs="+", default=list(GRIDS),
                        choices=list(GRIDS))
    parser.add_argument("--tag", default="",
                        help="suffix of the JSON file name (e.g. 'full' for the paper's scale)")
    parser.add_argument("--max-settings", type=int, default=None,
                        help="fit only the first N settings of each method's grid")
    parser.add_argument("--settings", type=settings_list, default=None,
                        help="a JSON list of parameter dicts that replaces the grid of every "
                             "method in --methods, e.g. '[{\"specific_weight\": 0.1, "
                             "\"ortho_weight\": 1}]'")
    parser.add_argument("--append", action="store_true",
                        help="add the new rows to the existing results file (same data, "
                             "epochs, learning rate, encoders and labels) instead of starting "
                             "a new one; runs sharing the file at the same time must all "
                             "append (a run without it rewrites the file at every save)")
    parser.add_argument("--authors-probe", action="store_true",
                        help="also score every block with the authors' probe (raw embeddings, "
                             "200 iterations) and record the embeddings' mean row norms")
    parser.add_argument("--authors-labels", action="store_true",
                        help="also score every block on the labels of the authors' own label "
                             "networks (see label_draws.py)")
    add_label_init_option(parser)
    parser.add_argument("--plot-only", action="store_true",
                        help="only draw the figure from the JSON files")
    parser.add_argument("--table", action="store_true",
                        help="only print the comparison table of --data's JSON (markdown)")
    args = parser.parse_args()
    if args.plot_only:
        plot()
        return
    methods = {"DisentangledSSL": DisentangledSSL, "JointOptSSL": JointOptSSL, "FOCAL": FOCAL,
               "DMVAE": DMVAE}
    for method in args.methods if args.settings else []:
        names = {k for params in args.settings for k in params}
        unknown = names - set(methods[method]().get_params())
        if unknown:
            parser.error(f"--settings names parameters {sorted(unknown)} that {method} does "
                         "not have")
        if names & SCRIPT_PARAMETERS:
            parser.error(f"--settings cannot set {sorted(names & SCRIPT_PARAMETERS)}: the "
                         "script's own options set them")
        if method == "DisentangledSSL" and names & STEP1_PARAMETERS:
            parser.error(f"--settings cannot set {sorted(names & STEP1_PARAMETERS)} for "
                         "DisentangledSSL: its step 1 is fitted once per beta and shared by "
                         "the settings")
    if args.table:
        name = f"baselines_{args.data}{f'_{args.tag}' if args.tag else ''}.json"
        print(table(json.loads((RESULTS / name).read_text())))
        return

    n_samples = 3000 if args.quick else args.n_samples
    epochs = {"shared": args.epochs, "specific": args.epochs_specific}
    if args.quick:
        epochs = {"shared": 2, "specific": 2}
    data = GENERATORS[args.data](n_samples=n_samples, label_init=args.label_init,
                                 random_state=0)
    (X_train, X_test), (y_train, y_test), (z_train, z_test) = split_rows(data)
    cut = len(X_train)
    split = (X_train, X_test, y_train, y_test)
    tag = "_quick" if args.quick else (f"_{args.tag}" if args.tag else "")
    output = RESULTS / f"baselines_{args.data}{tag}.json"
    baseline_hidden = args.baseline_hidden_layer_sizes or args.hidden_layer_sizes
    common = dict(modalities=data.modalities, n_shared=100, n_specific=100,
                  hidden_layer_sizes=tuple(args.hidden_layer_sizes), batch_size=256, lr=args.lr,
                  random_state=0)

    report = {
        "data": args.data, "n_train": cut, "n_test": n_samples - cut,
        "epochs": {"baselines": epochs["shared"], "DisentangledSSL step 1": epochs["shared"],
                   "DisentangledSSL step 2": epochs["specific"]},
        "lr": args.lr, "hidden_layer_sizes": args.hidden_layer_sizes,
        "baseline_hidden_layer_sizes": baseline_hidden, "widths": 100, "batch_size": 256,
        "threads": _threads(), "labels": LABELS, "label_init": args.label_init,
        "reference": {}, "runs": [],
    }
    if args.append:
        # files older than these entries: default labels, baselines with every encoder's layers
        check_appendable(output, report, SAME_SETTINGS, defaults={
            "label_init": "normal", "baseline_hidden_layer_sizes": report["hidden_layer_sizes"]})

    def save():
        save_results(output, report, merge_runs if args.append else None)

    def record(method, params, seconds, scores, **extra):
        row = {"method": method, "params": params, "fit_seconds": seconds, **scores, **extra}
        report["runs"].append(row)
        print(f"{method:<16} {params} {seconds:6.1f}s shared Y_c "
              f"{scores['shared']['shared']:.3f} leak Y_s1 {scores['shared']['specific_m1']:.3f}"
              f" | specific Y_s1 {scores['specific_m1']['specific_m1']:.3f} leak Y_c "
              f"{scores['specific_m1']['shared']:.3f}", flush=True)
        save()

    authors_labels = None
    if args.authors_labels:
        target, _ = authors_network_labels(data.latents)
        authors_labels = (target[:cut], target[cut:])

    def evaluation(model):
        return evaluate(model, split, args.authors_probe, authors_labels)

    for name, key in [("oracle Z_c", "shared"), ("oracle Z_1", "specific_m1")]:
        report["reference"][name] = probe(z_train[key], z_test[key], y_train, y_test)
        if authors_labels is not None:
            report["reference"][f"{name}, authors' labels"] = probe(z_train[key], z_test[key],
                                                                    *authors_labels)
    cca = LinearCCA(modalities=data.modalities, n_components=data.latents["shared"].shape[1])
    record("LinearCCA", {"n_components": cca.n_components}, timed_fit(cca, X_train),
           evaluation(cca))

    for method in args.methods:
        grid = (args.settings or GRIDS[method])[: args.max_settings]
        if method == "DisentangledSSL":
            run_disentangled(common, epochs, split, grid, record, evaluation)
            continue
        for params in grid:
            model = methods[method](**{**common, "hidden_layer_sizes": tuple(baseline_hidden),
                                       **params}, max_epochs=epochs["shared"])
            seconds = timed_fit(model, X_train)
            record(method, recorded_params(model, params), seconds, evaluation(model))
    plot()


def settings_list(text):
    """``--settings``: a JSON list of parameter dicts."""
    try:
        settings = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not JSON ({error})") from None
    if not (isinstance(settings, list) and settings
            and all(isinstance(params, dict) for params in settings)):
        raise argparse.ArgumentTypeError("expected a non-empty JSON list of objects, e.g. "
                                         "'[{\"ortho_weight\": 1}]'")
    return settings


# Parameters the script's options set for every method, and those of
# DisentangledSSL's step 1 other than beta (it is fitted once per beta):
# --settings may not set them.
SCRIPT_PARAMETERS = {"modalities", "n_shared", "hidden_layer_sizes", "batch_size",
                     "lr", "random_state", "max_epochs", "max_epochs_shared",
                     "max_epochs_specific", "output"}
STEP1_PARAMETERS = {"head", "kappa"}

# What a results file and an appending run must share.
SAME_SETTINGS = ("data", "n_train", "n_test", "epochs", "lr", "hidden_layer_sizes",
                 "baseline_hidden_layer_sizes", "label_init")


def merge_runs(saved, report):
    """Add a run's rows to a saved results file (see ``--append``).

    LinearCCA's row is deterministic on the same data; a file that has one
    keeps it.
    """
    saved["reference"] = {**saved["reference"], **report["reference"]}
    for row in report["runs"]:
        if row in saved["runs"] or (
            row["method"] == "LinearCCA"
            and any(r["method"] == "LinearCCA" and r["params"] == row["params"]
                    for r in saved["runs"])
        ):
            continue
        saved["runs"].append(row)


def _threads():
    import torch

    return torch.get_num_threads()


def _seconds(seconds):
    return "–" if seconds is None else f"{seconds:.1f}"


def table(report):
    """The comparison as a markdown table, one row per fitted configuration.

    Rows are grouped by method (LinearCCA, then the order of ``GRIDS``), each
    method's in the order they were fitted, appended runs included.
    """
    order = ["LinearCCA", *GRIDS]
    lines = [
        "| method | setting | shared: Y_c | shared: leak Y_s1 | specific m1: Y_s1 "
        "| specific m1: leak Y_c | fit seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(report["runs"], key=lambda r: order.index(r["method"])):
        shared, specific = r["shared"], r["specific_m1"]
        lines.append(
            f"| {r['method']} | {_label(r['params'])} | {shared['shared']:.3f} "
            f"| {shared['specific_m1']:.3f} | {specific['specific_m1']:.3f} "
            f"| {specific['shared']:.3f} | {_seconds(r['fit_seconds'])} |"
        )
    z_c, z_1 = report["reference"]["oracle Z_c"], report["reference"]["oracle Z_1"]
    lines.append(f"| oracle (true Z_c; true Z_1) | | {z_c['shared']:.3f} | {z_c['specific_m1']:.3f} "
                 f"| {z_1['specific_m1']:.3f} | {z_1['shared']:.3f} | |")
    return "\n".join(lines)


MARKERS = {"DisentangledSSL": "o", "JointOptSSL": "s", "FOCAL": "^", "DMVAE": "v",
           "LinearCCA": "D"}


def _label(params):
    short = {"ortho_weight": "λ", "specific_weight": "a", "kl_weight": "kl", "beta": "β",
             "n_components": "k", "n_specific": "width", "specific_init": "start"}
    return ", ".join(f"{short.get(k, k)}={v:g}" if isinstance(v, (int, float))
                     else f"{short.get(k, k)}={v}" for k, v in params.items())


def frontier(points):
    """Indices of the points no other point beats on both axes of Figure 4(b).

    ``points`` are ``(leakage, accuracy)`` pairs; a point is on the frontier
    when every point with less or equal leakage has lower accuracy. Returned
    in order of leakage.
    """
    best, kept = -np.inf, []
    for i in sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1])):
        if points[i][1] > best:
            best = points[i][1]
            kept.append(i)
    return kept


def plot():
    """Figure 4(b) with every method: each method's fitted settings, its frontier
    drawn as a line and labelled, the others faint."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    reports = [json.loads(p.read_text()) for p in
               (RESULTS / f"baselines_{d}.json" for d in ("paper_full", "paper", "nonlinear"))
               if p.exists()]
    if not reports:
        return
    fig, axes = plt.subplots(1, len(reports), figsize=(7 * len(reports), 6), squeeze=False)
    for ax, report in zip(axes[0], reports):
        for i, method in enumerate(MARKERS):
            rows = [r for r in report["runs"] if r["method"] == method]
            if not rows:
                continue
            points = [(r["specific_m1"]["shared"], r["specific_m1"]["specific_m1"])
                      for r in rows]
            x, y = np.transpose(points)
            ax.plot(x, y, MARKERS[method], color=f"C{i}", ms=6, alpha=0.3)
            best = frontier(points)
            ax.plot(x[best], y[best], "-" + MARKERS[method], color=f"C{i}", ms=8,
                    label=f"{method} (frontier)" if len(rows) > 1 else method)
            for j in best:
                ax.annotate(_label(rows[j]["params"]), points[j], fontsize=6,
                            xytext=(4, 3), textcoords="offset points", color=f"C{i}")
        oracle = report["reference"]["oracle Z_1"]
        ax.plot(oracle["shared"], oracle["specific_m1"], "*", color="k", ms=12,
                label="oracle Z_1")
        if report["data"] == "paper":
            (x0, x1), (y0, y1) = PAPER_FOCAL_BOX
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ls="--",
                                   color="0.5", label="FOCAL range (paper)"))
            for (name, (x, y)), marker in zip(PAPER_POINTS.items(), ("P", "X")):
                ax.plot(x, y, marker, color="0.5", ms=9, label=name)
        ax.set(xlabel="leakage: specific m1 accuracy on Y_c (lower is better)",
               ylabel="specific m1 accuracy on Y_s1 (higher is better)",
               title=f"{report['data']} data, {report['n_train']:,} training rows, "
                     f"{report['epochs']['baselines']} epochs")
    # one legend for the panels, below them
    legend = {}
    for ax in axes[0]:
        legend.update(zip(*reversed(ax.get_legend_handles_labels())))
    fig.legend(legend.values(), legend.keys(), loc="lower center", ncol=5, fontsize=8)
    fig.suptitle("Figure 4(b), every method: faint markers are settings off a "
                 "method's frontier", fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(RESULTS / "baselines_frontier.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
