"""What limits DisentangledSSL's specific block on the synthetic data.

Step 1 is fitted once (beta 0.1, the paper configuration); step 2 is then
refitted through ``fit_specific`` for a few settings of ``ortho_weight``
(lambda), the augmentation, the batch size and the width of the specific
block. For each, on the test rows:

- the paper's probes: the specific block of modality 1 on Y_s1 and on Y_c
  (its leakage);
- linear R^2 of the true latent blocks Z_1 and Z_c from the specific block
  (how much of each it carries, linearly);
- its effective rank (exp of the entropy of the normalised squared singular
  values of the standardised block);
- the two terms of step 2's loss after training, averaged over training
  batches (augmented, as in training): the self-contrastive InfoNCE (0 when
  the two views of a row are trivially matched, log(batch) at chance) and the
  orthogonality term, next to its floor: for row-normalised batches of
  independent blocks, one of them centred, E||A^T B||_F^2 = n_rows, so the
  term cannot go much below sqrt(batch_size) per pair of batches even when
  the blocks share nothing;
- the linear R^2 of Z_c from step 1's shared block of modality 1, f_1(x_1)
  (what the orthogonality term decorrelates the specific block from), and
  from both modalities' shared blocks; and of Z_1 from f_1(x_1);
- the R^2 of Z_1 and Z_c along training, every third epoch (a linear map
  fitted on a quarter of the training rows);
- the other direction: the share of the block's variance that a linear
  map of X1 (modality 1's columns) explains (how linear the trained encoder
  is), and the share that a linear map of the latents [Z_1, Z_c] explains;
- on the nonlinear data, the R^2 of Z_1 and Z_c from the block by a
  nonlinear probe as well (an MLP with one hidden layer of 256, fitted on
  half of the training rows), the same probe's R^2 from X1 itself, and the
  shares of the block that such an MLP of X1 and of the latents explains;
- the probes and R^2 of the same block as initialised, before step 2
  trains it (its weights at the start of training, kept by a callback):
  what training adds to, or removes from, a random projection of
  ``[x_1, f_1(x_1)]``: nonlinear from the authors' start
  (``specific_init="normal"``, every variant but the last two), linear
  from the looks-linear one.

On the nonlinear data (``--data nonlinear``) the variants are those that
say how the orthogonality weight and the start act there, where the block
keeps more of Y_s1 the larger lambda is (up to 1000) and the looks-linear
start gains little at full scale, and how the length of step 2 does.

Run: python benchmarks/specific_step.py [--data paper|nonlinear] [--quick]
Writes benchmarks/results/specific_step.json (paper data) or
specific_step_nonlinear.json.
"""

import argparse
import copy
import json
import time
import warnings

import numpy as np
import torch
from paper_synthetic import GENERATORS, RESULTS, probe, split_rows
from skorch.callbacks import Callback
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler

from sklearn_dssl import DisentangledSSL
from sklearn_dssl._losses import info_nce, orthogonality

# step-2 settings, applied in turn with set_params (each on top of the defaults)
DEFAULTS = {"ortho_weight": 1.0, "augmentation": "mixed", "noise_scale": 0.1,
            "batch_size": 256, "lr": 1e-4, "n_specific": 100, "specific_init": "normal"}
VARIANTS = [
    {"ortho_weight": 0.0},
    {"ortho_weight": 0.1},
    {"ortho_weight": 1.0},
    {"ortho_weight": 10.0},
    {"ortho_weight": 0.0, "augmentation": "noise", "noise_scale": 1.0},
    {"ortho_weight": 1.0, "augmentation": "noise", "noise_scale": 1.0},
    {"ortho_weight": 1.0, "batch_size": 1024, "lr": 4e-4},
    {"ortho_weight": 1.0, "n_specific": 200},
    {"ortho_weight": 1.0, "n_specific": 400},
    {"ortho_weight": 0.1, "specific_init": "looks_linear"},
    {"ortho_weight": 1.0, "specific_init": "looks_linear"},
]
# on the nonlinear data: lambda up to this data's best (1000), from either start;
# then that best for fewer and more epochs than the 30 of the paper's step 2
NONLINEAR_VARIANTS = [
    *({"ortho_weight": ortho_weight, "specific_init": init}
      for init in ("normal", "looks_linear") for ortho_weight in (0.0, 1.0, 10.0, 1000.0)),
    *({"ortho_weight": 1000.0, "specific_init": "looks_linear", "max_epochs_specific": epochs}
      for epochs in (10, 90)),
]


class InitialWeights(Callback):
    """Keep the module's weights as training starts (before the first step)."""

    def on_train_begin(self, net, **kwargs):
        self.state_ = copy.deepcopy(net.module_.state_dict())


class RecoveryTrace(Callback):
    """Linear R^2 of Z_1 and Z_c from step 2's block of modality 1, every few epochs.

    The map is fitted on ``X1_fit`` (modality 1's columns of some training
    rows) and scored on ``X1_test``; evaluating leaves training untouched
    (no random draws, the module back in training mode). ``rows_`` holds
    ``[epoch, R^2 of Z_1, R^2 of Z_c]``.
    """

    def __init__(self, X1_fit, z_fit, X1_test, z_test, every=3):
        self.X1_fit, self.z_fit, self.X1_test, self.z_test = X1_fit, z_fit, X1_test, z_test
        self.every = every

    def on_train_begin(self, net, **kwargs):
        self.rows_ = []

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history)
        if epoch != 1 and epoch % self.every:
            return
        net.module_.eval()
        with torch.no_grad():
            fit, test = (net.module_.encode_modality(torch.as_tensor(X1), 0).numpy()
                         for X1 in (self.X1_fit, self.X1_test))
        net.module_.train()
        self.rows_.append([epoch, *(linear_r2(fit, test, self.z_fit[block], self.z_test[block])
                                    for block in ("specific_m1", "shared"))])


def initial_specific_block(model, X):
    """Modality 1's specific block of ``model`` with step 2's initial weights."""
    net = model.specific_net_
    trained = copy.deepcopy(net.module_.state_dict())
    net.module_.load_state_dict(dict(net.callbacks_)["InitialWeights"].state_)
    try:
        return model.transform_blocks(X)["specific"]["m1"]
    finally:
        net.module_.load_state_dict(trained)


def linear_r2(train, test, z_train, z_test):
    """Test-row R^2 of a linear map fitted on the training rows.

    ``sklearn_dssl.metrics.linear_r2`` splits one set of rows itself; here
    the map follows the probes' convention (training rows -> test rows).
    """
    return float(r2_score(z_test, LinearRegression().fit(train, z_train).predict(test)))


def mlp_predict(train, test, z_train):
    """An MLP (one hidden layer of 256) fitted on half the training rows: its test predictions.

    Early stopping holds out a tenth of its rows.
    """
    half = len(train) // 2
    scaler = StandardScaler().fit(train[:half])
    mlp = MLPRegressor(hidden_layer_sizes=(256,), max_iter=60, early_stopping=True,
                       random_state=0)
    with warnings.catch_warnings():  # 60 epochs: a budget, not convergence
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(scaler.transform(train[:half]), z_train[:half])
    return mlp.predict(scaler.transform(test))


def mlp_r2(train, test, z_train, z_test):
    """Test-row R^2 of :func:`mlp_predict`'s MLP.

    A nonlinear probe: what the block carries of a latent block beyond a
    linear map of it.
    """
    return float(r2_score(z_test, mlp_predict(train, test, z_train)))


def share_explained(train, test, block_train, block_test, model="linear"):
    """Share of a block's test-row variance that a map from ``train`` explains.

    The other direction from the probes above: how much of the block is a
    (linear, or with ``model="mlp"`` an MLP) function of the source, its
    dimensions weighted by their variance (one scale for all, so that the
    MLP's targets are of order one).
    """
    scale = block_train.std()
    if model == "linear":
        predicted = LinearRegression().fit(train, block_train / scale).predict(test)
    else:
        predicted = mlp_predict(train, test, block_train / scale)
    return float(r2_score(block_test, predicted * scale, multioutput="variance_weighted"))


def effective_rank(block):
    s = np.linalg.svd(StandardScaler().fit_transform(block), compute_uv=False) ** 2
    p = s / s.sum()
    return float(np.exp(-(p * np.log(np.where(p > 0, p, 1.0))).sum()))


def loss_terms(model, X, batch_size, n_batches=20, seed=0):
    """Modality 1's step-2 InfoNCE and orthogonality terms on augmented training batches."""
    module = model.specific_net_.module_
    module.train()
    rng = np.random.default_rng(seed)
    X = torch.as_tensor(model._in_model_order(X), dtype=torch.float32)
    temperature = model.temperature
    contrast, ortho = [], []
    # the augmentation draws from torch's generator: seeded, for repeatable terms
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(seed)
        for _ in range(n_batches):
            rows = torch.as_tensor(rng.choice(len(X), batch_size, replace=False))
            (s_x, c_x), (s_v, c_v) = module(X[rows])
            contrast.append(float(info_nce(torch.cat([s_x[0], c_x[1]], 1),
                                           torch.cat([s_v[0], c_v[1]], 1), temperature)))
            ortho.append(float(orthogonality(s_x[0], c_x[0])))
    module.eval()
    return float(np.mean(contrast)), float(np.mean(ortho))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=sorted(GENERATORS), default="paper")
    parser.add_argument("--quick", action="store_true", help="small data, 2 epochs")
    parser.add_argument("--n-samples", type=int, default=30000)
    args = parser.parse_args()
    n_samples = 3000 if args.quick else args.n_samples
    epochs = (2, 2) if args.quick else (50, 30)
    data = GENERATORS[args.data](n_samples=n_samples, random_state=0)
    (X_train, X_test), (y_train, y_test), (z_train, z_test) = split_rows(data)
    cut = len(X_train)

    model = DisentangledSSL(data.modalities, beta=0.1, output="shared", random_state=0,
                            max_epochs_shared=epochs[0], max_epochs_specific=epochs[1],
                            callbacks=[InitialWeights()])
    start = time.perf_counter()
    model.fit(X_train)
    report = {"data": args.data, "n_train": cut, "n_test": n_samples - cut, "beta": 0.1,
              "epochs": epochs, "threads": torch.get_num_threads(),
              "step1_seconds": time.perf_counter() - start}
    # how much of Z_c the orthogonality term can see: the penalty decorrelates
    # the specific block from f_1(x_1) alone
    shared_train, shared_test = (model.transform_blocks(X)["shared"] for X in (X_train, X_test))
    report["shared_r2_Zc"] = {
        "m1": linear_r2(shared_train["m1"], shared_test["m1"], z_train["shared"],
                        z_test["shared"]),
        "m1 and m2": linear_r2(np.hstack([shared_train["m1"], shared_train["m2"]]),
                               np.hstack([shared_test["m1"], shared_test["m2"]]),
                               z_train["shared"], z_test["shared"]),
    }
    # and how much of Z_1 it could take with it: what f_1(x_1) carries of Z_1
    report["shared_r2_Z1"] = {"m1": linear_r2(shared_train["m1"], shared_test["m1"],
                                              z_train["specific_m1"], z_test["specific_m1"])}
    print("R^2 of Z_c and Z_1 from the shared block:", report["shared_r2_Zc"],
          report["shared_r2_Z1"], flush=True)
    nonlinear = args.data == "nonlinear"
    n1 = data.modalities["m1"]
    if nonlinear:
        # the nonlinear probe's own reach: from modality 1's columns themselves
        report["x1_mlp_r2"] = {
            name: mlp_r2(X_train[:, :n1], X_test[:, :n1], z_train[block], z_test[block])
            for name, block in (("Z1", "specific_m1"), ("Zc", "shared"))
        }
        print("MLP-probe R^2 of Z_1 and Z_c from X1:", report["x1_mlp_r2"], flush=True)
    report["runs"] = []
    suffix = ("_nonlinear" if nonlinear else "") + ("_quick" if args.quick else "")
    output = RESULTS / f"specific_step{suffix}.json"
    # step 2 only: R^2 along training, the map fitted on a quarter of the training rows
    fit_rows = slice(0, cut // 4)
    latents = [np.hstack([z["specific_m1"], z["shared"]]) for z in (z_train, z_test)]
    trace = RecoveryTrace(np.ascontiguousarray(X_train[fit_rows, :n1], dtype=np.float32),
                          {k: v[fit_rows] for k, v in z_train.items()},
                          np.ascontiguousarray(X_test[:, :n1], dtype=np.float32), z_test)
    model.set_params(callbacks=[InitialWeights(), trace])
    for variant in NONLINEAR_VARIANTS if nonlinear else VARIANTS:
        params = {**DEFAULTS, "max_epochs_specific": epochs[1], **variant}
        start = time.perf_counter()
        model.set_params(output="all", **params).fit_specific(X_train)
        seconds = time.perf_counter() - start
        train = model.transform_blocks(X_train)["specific"]["m1"]
        test = model.transform_blocks(X_test)["specific"]["m1"]
        scores = probe(train, test, y_train, y_test)
        contrast, ortho = loss_terms(model, X_train, params["batch_size"])
        row = {
            "params": variant, "fit_seconds": seconds,
            "Y_s1": scores["specific_m1"], "leak_Y_c": scores["shared"],
            "r2_Z1": linear_r2(train, test, z_train["specific_m1"], z_test["specific_m1"]),
            "r2_Zc": linear_r2(train, test, z_train["shared"], z_test["shared"]),
            "effective_rank": effective_rank(train),
            "infonce": contrast, "ortho": ortho,
            "ortho_floor": float(np.sqrt(params["batch_size"])),
            "final_train_loss": float(model.specific_net_.history[-1, "train_loss"]),
            # [epoch, R^2 of Z_1, R^2 of Z_c], the map fitted on a quarter of the training rows
            "r2_along_training": dict(model.specific_net_.callbacks_)["RecoveryTrace"].rows_,
        }
        # the other direction: how much of the block is a function of X1, of the latents
        row["block_from_x1"] = share_explained(X_train[:, :n1], X_test[:, :n1], train, test)
        row["block_from_latents"] = share_explained(*latents, train, test)
        if nonlinear:
            row["mlp_r2_Z1"] = mlp_r2(train, test, z_train["specific_m1"], z_test["specific_m1"])
            row["mlp_r2_Zc"] = mlp_r2(train, test, z_train["shared"], z_test["shared"])
            row["mlp_block_from_x1"] = share_explained(X_train[:, :n1], X_test[:, :n1],
                                                       train, test, model="mlp")
            row["mlp_block_from_latents"] = share_explained(*latents, train, test, model="mlp")
        initial = [initial_specific_block(model, X) for X in (X_train, X_test)]
        initial_scores = probe(*initial, y_train, y_test)
        row["initial"] = {
            "Y_s1": initial_scores["specific_m1"], "leak_Y_c": initial_scores["shared"],
            "r2_Z1": linear_r2(*initial, z_train["specific_m1"], z_test["specific_m1"]),
            "r2_Zc": linear_r2(*initial, z_train["shared"], z_test["shared"]),
        }
        report["runs"].append(row)
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()
               if k != "initial"}, flush=True)
        print("  as initialised:", {k: round(v, 3) for k, v in row["initial"].items()}, flush=True)
        RESULTS.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
