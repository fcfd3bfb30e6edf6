"""How much of the true latents each block recovers on the nonlinear data.

On ``make_nonlinear_multimodal`` LinearCCA stays ahead of DisentangledSSL on
the paper's linear probes. This benchmark asks why, at 30,000 rows (24,000
for training), by measuring on the test rows, for each representation:

- the paper's probes (shared block [f1, f2] on Y_c, its leakage on Y_s1;
  specific block of modality 1 on Y_s1, its leakage on Y_c);
- linear R^2 of the true block from the representation: the mean over the
  block's dimensions, and the lowest and highest dimension (a representation
  that keeps a few dimensions and drops others shows a wide spread);
- for shared blocks, modality 1's half alone (what one encoder extracts) and
  cross-modal retrieval (top-1 among 1,000 test rows: how well f1(X1) finds
  its own row's f2(X2), i.e. how much shared information the pair carries,
  in whatever form);
- for shared blocks, how linear the encoder is: R^2 of modality 1's half
  from a linear map of X1 (1 for LinearCCA by construction);
- for DisentangledSSL, the final epoch's contrastive term of step 1.

Ceilings: linear regression from the raw columns (X1, X2, X) onto the true
blocks, and supervised MLPs from X1 alone with the encoders' shapes (how much
of Z_c and Z_1 such an encoder could extract if it were told them).

With ``--mixings`` it asks instead whether a stronger mixing lets
DisentangledSSL pull ahead: for each mixing (layers and leaky-ReLU slope of
the generator's networks) it fits LinearCCA and DisentangledSSL (the paper
configuration, step 2 at lambda 1 and 1000 with the default start) and takes
the same measurements.

Run: python benchmarks/nonlinear_recovery.py [--quick] [--mixings [--mixing LAYERS
SLOPE] [--n-samples N] [--step1 JSON] [--append]]
Writes benchmarks/results/nonlinear_recovery.json (nonlinear_mixing.json
with ``--mixings``).
"""

import argparse
import json
import time

import numpy as np
import torch
from paper_synthetic import RESULTS, probe, save_results, split_rows
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler

from sklearn_dssl import DisentangledSSL, LinearCCA
from sklearn_dssl._disentangled import STEP1_ONLY_PARAMETERS
from sklearn_dssl.datasets import make_nonlinear_multimodal
from sklearn_dssl.metrics import retrieval_top_k

# step-1 settings, each on top of the paper configuration (beta 0.1)
STEP1_VARIANTS = [
    {},
    {"kappa": 100.0},
    {"temperature": 0.3},
    {"temperature": 1.0},
    {"batch_size": 1024},
    {"lr": 1e-3},
    {"hidden_layer_sizes": (512, 512)},
    {"hidden_layer_sizes": (512, 512), "lr": 1e-3},
    {"kappa": 1e5},  # a head 100 times less noisy
    {"max_epochs_shared": 150},  # longer training (the paper: 50 epochs)
    {"max_epochs_shared": 300},
]
ORTHO_WEIGHT = 1000.0  # the best lambda on this data at full scale (paper_synthetic)
# (n_layers, negative_slope) of make_nonlinear_multimodal; the first is its default
MIXINGS = [(3, 0.2), (3, 0.05), (6, 0.2), (6, 0.05)]
MIXING_ORTHO_WEIGHTS = [1.0, ORTHO_WEIGHT]  # the paper's lambda and this data's best
RETRIEVAL_ROWS = 1000
DEFAULTS = DisentangledSSL().get_params()


def r2_by_dimension(train, test, z_train, z_test):
    """Test-row R^2 of each true dimension under a linear map fitted on the training rows."""
    scaler = StandardScaler().fit(train)
    prediction = LinearRegression().fit(scaler.transform(train), z_train)
    return r2_score(z_test, prediction.predict(scaler.transform(test)),
                    multioutput="raw_values")


def recovery(train, test, z_train, z_test):
    r2 = r2_by_dimension(train, test, z_train, z_test)
    return {"r2": float(r2.mean()), "r2_lowest": float(r2.min()), "r2_highest": float(r2.max())}


def retrieval(m1, m2):
    """Mean top-1 retrieval of m2's rows from m1's over blocks of RETRIEVAL_ROWS test rows."""
    size = min(RETRIEVAL_ROWS, len(m1))
    return float(np.mean([retrieval_top_k(m1[i:i + size], m2[i:i + size])
                          for i in range(0, len(m1) - size + 1, size)]))


def linearity(X_train, X_test, block_train, block_test):
    """Test-row R^2 of an embedding from a linear map of the raw columns, over its variance."""
    prediction = LinearRegression().fit(X_train, block_train).predict(X_test)
    return float(r2_score(block_test, prediction, multioutput="variance_weighted"))


def block_rows(model, X_train, X_test, y_train, y_test, z_train, z_test):
    """The measurements of every block ``model`` has fitted."""
    m1 = model.modalities_["m1"]  # modality 1's column indices
    train, test = model.transform_blocks(X_train), model.transform_blocks(X_test)
    rows = {}
    shared = [np.hstack(list(b["shared"].values())) for b in (train, test)]
    scores = probe(*shared, y_train, y_test)
    rows["shared"] = {
        "Y_c": scores["shared"], "leak_Y_s1": scores["specific_m1"],
        **recovery(*shared, z_train["shared"], z_test["shared"]),
        "r2_modality_1_alone": recovery(train["shared"]["m1"], test["shared"]["m1"],
                                        z_train["shared"], z_test["shared"])["r2"],
        "retrieval_top1": retrieval(test["shared"]["m1"], test["shared"]["m2"]),
        "linearity_modality_1": linearity(X_train[:, m1], X_test[:, m1],
                                          train["shared"]["m1"], test["shared"]["m1"]),
    }
    if "specific" in train:
        specific = train["specific"]["m1"], test["specific"]["m1"]
        scores = probe(*specific, y_train, y_test)
        rows["specific_m1"] = {
            "Y_s1": scores["specific_m1"], "leak_Y_c": scores["shared"],
            **recovery(*specific, z_train["specific_m1"], z_test["specific_m1"]),
        }
    return rows


def mixing_study(n_samples, epochs, output, mixings=MIXINGS, step1=None, append=False):
    """LinearCCA against DisentangledSSL for each of ``mixings``.

    ``step1`` adds DisentangledSSL settings to the paper configuration's step
    1 (recorded in each row); step 2 runs with the paper configuration's
    values of those that both steps use (such as ``lr``), recorded in
    ``step2_params``. Every row records its rows of training data.
    With ``append``, the rows join those of ``output`` (read, merged and
    written under the results lock, so that runs side by side keep all rows).
    """
    step1 = step1 or {}
    report = {"epochs": epochs, "threads": torch.get_num_threads(), "runs": []}
    if append and not output.exists():
        raise SystemExit(f"cannot append: {output.name} does not exist yet; run once "
                         "without --append")
    # the run's own rows, merged into the file's at each save (see --append)
    rows = []

    def merge(saved, report):
        saved["runs"].extend(row for row in report["runs"] if row not in saved["runs"])

    for n_layers, slope in mixings:
        data = make_nonlinear_multimodal(n_samples=n_samples, n_layers=n_layers,
                                         negative_slope=slope, random_state=0)
        (X_train, X_test), (y_train, y_test), (z_train, z_test) = split_rows(data)
        where = {"mixing": {"n_layers": n_layers, "negative_slope": slope},
                 "n_train": len(X_train), "n_test": len(X_test)}

        def save(row):
            row = {**where, **row,
                   **block_rows(model, X_train, X_test, y_train, y_test, z_train, z_test)}
            rows.append(row)
            print(json.dumps(row), flush=True)
            save_results(output, {**report, "runs": rows}, merge if append else None)

        saved = json.loads(output.read_text())["runs"] if append else []
        if not any(r["model"] == "LinearCCA" and {**r, **where} == r for r in saved):
            start = time.perf_counter()
            model = LinearCCA(modalities=data.modalities,
                              n_components=z_train["shared"].shape[1]).fit(X_train)
            save({"model": "LinearCCA", "fit_seconds": time.perf_counter() - start})
        settings = {"max_epochs_shared": epochs[0], **step1}
        model = DisentangledSSL(data.modalities, beta=0.1, output="shared", random_state=0,
                                max_epochs_specific=epochs[1], **settings)
        start = time.perf_counter()
        model.fit(X_train)
        step1_row = {"model": "DisentangledSSL", "step1_params": step1,
                     "step1_seconds": time.perf_counter() - start,
                     "step1_contrast": float(model.shared_net_.history[-1, "train_contrast"])}
        # settings step 2 uses too go back to the paper configuration's
        both_steps = {k: DEFAULTS[k] for k in step1 if k not in STEP1_ONLY_PARAMETERS}
        for ortho_weight in MIXING_ORTHO_WEIGHTS:
            start = time.perf_counter()
            model.set_params(output="all", ortho_weight=ortho_weight, **both_steps)
            model.fit_specific(X_train)
            save({**step1_row,
                  "step2_params": {"ortho_weight": ortho_weight, "lr": model.lr, **both_steps},
                  "step2_seconds": time.perf_counter() - start})


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data, 2 epochs")
    parser.add_argument("--mixings", action="store_true",
                        help="LinearCCA against DisentangledSSL on stronger mixings")
    parser.add_argument("--mixing", nargs=2, type=float, action="append",
                        metavar=("LAYERS", "SLOPE"),
                        help="with --mixings: only this mixing (repeatable)")
    parser.add_argument("--n-samples", type=int, default=30000,
                        help="with --mixings: rows of each data set (80%% for training)")
    parser.add_argument("--step1", type=json.loads, default=None,
                        help="with --mixings: DisentangledSSL settings for step 1, as JSON, "
                             "e.g. '{\"lr\": 1e-3, \"max_epochs_shared\": 150}' (step 2 "
                             "keeps the defaults)")
    parser.add_argument("--append", action="store_true",
                        help="with --mixings: add the rows to the existing results file")
    args = parser.parse_args()
    n_samples = 3000 if args.quick else 30000
    epochs = (2, 2) if args.quick else (50, 30)
    mlp_iter = 2 if args.quick else 60
    if args.mixings:
        name = f"nonlinear_mixing{'_quick' if args.quick else ''}.json"
        mixings = [(int(n), slope) for n, slope in args.mixing] if args.mixing else MIXINGS
        mixing_study(n_samples if args.quick else args.n_samples, epochs, RESULTS / name,
                     mixings, args.step1, args.append)
        return
    data = make_nonlinear_multimodal(n_samples=n_samples, random_state=0)
    (X_train, X_test), (y_train, y_test), (z_train, z_test) = split_rows(data)
    cut = len(X_train)
    n1 = data.modalities["m1"]
    columns = {"X1": slice(0, n1), "X2": slice(n1, None), "X": slice(None)}
    report = {"n_train": cut, "n_test": n_samples - cut, "epochs": epochs,
              "threads": torch.get_num_threads(), "ceilings": {}, "runs": []}
    output = RESULTS / f"nonlinear_recovery{'_quick' if args.quick else ''}.json"

    def save(row):
        report["runs"].append(row)
        print(json.dumps(row), flush=True)
        RESULTS.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2))

    for name, cols in columns.items():
        report["ceilings"][f"linear from {name}"] = {
            block: recovery(X_train[:, cols], X_test[:, cols], z_train[block], z_test[block])["r2"]
            for block in ("shared", "specific_m1")
        }
    scaler = StandardScaler().fit(X_train[:, columns["X1"]])
    inputs = [scaler.transform(X[:, columns["X1"]]) for X in (X_train, X_test)]
    targets = np.hstack([z_train["shared"], z_train["specific_m1"]])
    width = z_train["shared"].shape[1]
    for hidden in [(512,), (512, 512)]:
        mlp = MLPRegressor(hidden_layer_sizes=hidden, max_iter=mlp_iter, random_state=0)
        prediction = mlp.fit(inputs[0], targets).predict(inputs[1])
        report["ceilings"][f"supervised MLP {hidden} from X1"] = {
            "shared": float(r2_score(z_test["shared"], prediction[:, :width])),
            "specific_m1": float(r2_score(z_test["specific_m1"], prediction[:, width:])),
        }
    print(json.dumps(report["ceilings"]), flush=True)

    start = time.perf_counter()
    cca = LinearCCA(modalities=data.modalities, n_components=width).fit(X_train)
    save({"model": "LinearCCA", "fit_seconds": time.perf_counter() - start,
          **block_rows(cca, X_train, X_test, y_train, y_test, z_train, z_test)})

    for variant in STEP1_VARIANTS:
        # the authors' start of step 2, with which the committed results were measured
        settings = {"max_epochs_shared": epochs[0], **variant}
        if args.quick:  # a smoke test: every variant for the quick epochs
            settings["max_epochs_shared"] = epochs[0]
        model = DisentangledSSL(data.modalities, beta=0.1, output="shared", random_state=0,
                                max_epochs_specific=epochs[1], specific_init="normal",
                                **settings)
        start = time.perf_counter()
        model.fit(X_train)
        row = {"model": "DisentangledSSL", "params": {k: list(v) if isinstance(v, tuple) else v
                                                       for k, v in variant.items()},
               "fit_seconds": time.perf_counter() - start,
               "step1_contrast": float(model.shared_net_.history[-1, "train_contrast"])}
        if not variant:  # step 2 on the paper configuration's step 1 only
            model.set_params(output="all", ortho_weight=ORTHO_WEIGHT).fit_specific(X_train)
            row["step2_params"] = {"ortho_weight": ORTHO_WEIGHT}
        save({**row, **block_rows(model, X_train, X_test, y_train, y_test, z_train, z_test)})


if __name__ == "__main__":
    main()
