"""
Comparing the methods on one table
==================================

The package fits DisentangledSSL and the paper's baselines behind one
scikit-learn API, so choosing a method for a table of your own is one loop:
fit each in the same pipeline, then probe its blocks on held-out rows.

Here the table is :func:`~sklearn_dssl.datasets.make_nonlinear_multimodal`
(two modalities, each a random nonlinear mixing of shared and
modality-specific latents), kept small so that the example runs quickly.
Each representation is asked four questions, with
:func:`~sklearn_dssl.metrics.probe_score` and
:func:`~sklearn_dssl.metrics.leakage_score`:

- does the shared block keep the shared label Y_c, and does it leak the
  label of modality 1 alone, Y_s1?
- does the specific block of modality 1 keep Y_s1, and does it leak Y_c?

A good method keeps its own label and leaks the other at chance.
"""

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_dssl import DMVAE, FOCAL, DisentangledSSL, JointOptSSL, LinearCCA
from sklearn_dssl.datasets import make_nonlinear_multimodal
from sklearn_dssl.metrics import default_probe, leakage_score, probe_score

data = make_nonlinear_multimodal(n_samples=6000, n_latent=10, n_features=20, random_state=0)
rows_train, rows_test = train_test_split(np.arange(len(data.data)), test_size=0.3,
                                         random_state=0)
X_train, X_test = data.data[rows_train], data.data[rows_test]
print(f"{len(X_train)} training rows, {len(X_test)} test rows; modalities "
      f"{data.modalities}; labels {data.target_names}")
Y_test = data.target[rows_test]
C, S1 = data.target_names.index("shared"), data.target_names.index("specific_m1")

# %%
# One dict of estimators
# ----------------------
# The neural methods share their widths, encoders, learning rate, seed and
# number of epochs (DisentangledSSL trains in two steps: 20 epochs of
# step 1, then 12 of step 2, the paper's 50 : 30). Everything else is each
# method's default. LinearCCA is closed-form and takes only its width here.
common = dict(n_shared=10, n_specific=10, hidden_layer_sizes=(128,), lr=1e-3, random_state=0)
methods = {
    "LinearCCA": LinearCCA(data.modalities, n_components=10),
    "DisentangledSSL": DisentangledSSL(
        data.modalities, max_epochs_shared=20, max_epochs_specific=12, **common
    ),
    "JointOptSSL": JointOptSSL(data.modalities, max_epochs=20, **common),
    "FOCAL": FOCAL(data.modalities, max_epochs=20, **common),
    "DMVAE": DMVAE(data.modalities, max_epochs=20, **common),
}

# %%
# One loop
# --------
# Each method is fitted without labels on the 4,200 training rows, behind
# a :class:`~sklearn.preprocessing.StandardScaler`. The probes embed the
# 1,800 test rows and cross-validate a logistic regression on them (the
# default probe, on standardised blocks). The shared block is that of both
# modalities side by side; the specific block is that of modality ``m1``.
results = {}
for name, method in methods.items():
    model = make_pipeline(StandardScaler(), method)
    start = time.perf_counter()
    model.fit(X_train)
    seconds = time.perf_counter() - start
    specific = dict(block="specific", modalities="m1")
    results[name] = {
        "fit s": seconds,
        "shared: Y_c": probe_score(model, X_test, Y_test, target=C),
        "shared: leak Y_s1": leakage_score(model, X_test, Y_test, target=S1),
        "specific m1: Y_s1": probe_score(model, X_test, Y_test, target=S1, **specific),
        "specific m1: leak Y_c": leakage_score(model, X_test, Y_test, target=C, **specific),
    }

# %%
# The oracle is the same probe on the true latents of the test rows: the
# shared latents Z_c in place of the shared block, modality 1's own
# latents Z_1 in place of its specific block. Chance is the rate of the
# commoner class of each label (the labels are balanced).


def oracle(latents, label):
    return cross_val_score(default_probe(), latents[rows_test], Y_test[:, label], cv=3).mean()


Z_c, Z_1 = data.latents["shared"], data.latents["specific_m1"]
results["oracle (Z_c; Z_1)"] = {
    "fit s": np.nan,
    "shared: Y_c": oracle(Z_c, C),
    "shared: leak Y_s1": oracle(Z_c, S1),
    "specific m1: Y_s1": oracle(Z_1, S1),
    "specific m1: leak Y_c": oracle(Z_1, C),
}
chance = {j: np.bincount(Y_test[:, j]).max() / len(Y_test) for j in (C, S1)}
table = pd.DataFrame(results).T
print(table.round(3).to_string(na_rep=""))
print(f"chance: Y_c {chance[C]:.3f}, Y_s1 {chance[S1]:.3f}")

# %%
# Reading the table
# -----------------
# Differences of a point or two are within the probes' own noise on 1,800
# rows: the true latents, which carry nothing of the other label, read it
# at 0.504 and 0.518, against chance at 0.514 and 0.513.
#
# (The figures below are those of a run on an AMD EPYC; other CPUs, whose
# arithmetic rounds differently, give the neural methods' figures to within
# 0.003.)
#
# - **LinearCCA** is the method to beat, and none of the neural methods
#   beats it here. Its shared block keeps as much of Y_c as any (0.802,
#   against the oracle's 0.835) and leaks little of Y_s1 (0.534); its
#   specific block, modality 1 less its canonical variates, keeps the most
#   of Y_s1 (0.767) and reads Y_c at chance (0.507). Its fit takes a small
#   fraction of any neural method's (``fit s``, wall-clock on the machine
#   that ran this page).
# - **DisentangledSSL** and **JointOptSSL** come closest: their shared
#   blocks are level with LinearCCA's (0.797 at leakage 0.537 and 0.528),
#   their specific blocks keep 0.751 and 0.756 of Y_s1 and leak a little
#   of Y_c (0.577 and 0.540).
# - **FOCAL**'s shared block is as good (0.793 at 0.548), but its specific
#   block reads the shared label better than its own (0.733 on Y_c, 0.601
#   on Y_s1).
# - **DMVAE** keeps less of Y_c in its shared block (0.697) and leaks more
#   of Y_s1 into it (0.694); its specific block keeps 0.711 of Y_s1 at
#   leakage 0.567.
#
# The mixing here is nonlinear, yet a linear method wins. The
# :doc:`benchmarks </benchmarks>` find the same on this data at the
# paper's scale and say why (section "Why LinearCCA stays ahead on the
# nonlinear data"): the contrastive loss does not reward undoing this
# mixing, and DisentangledSSL's shared encoders settle on nearly the linear
# map that CCA computes in closed form. They also say why FOCAL's specific
# block carries the shared label (section "FOCAL and the paper's box").

# %%
# The specific blocks
# -------------------
# Each point is one method's specific block of ``m1``: higher keeps more
# of its own label, further left leaks less of the shared one. The oracle
# marks the top-left corner that a representation can reach.
fig, ax = plt.subplots(figsize=(6.5, 4.5))
for (name, row), marker in zip(table.iterrows(), "osD^v*"):
    is_oracle = name.startswith("oracle")
    ax.scatter(row["specific m1: leak Y_c"], row["specific m1: Y_s1"], marker=marker,
               s=160 if is_oracle else 70, color="black" if is_oracle else None, label=name)
ax.axvline(chance[C], color="grey", ls="--", lw=1)
ax.axhline(chance[S1], color="grey", ls="--", lw=1, label="chance")
ax.set(xlabel="leakage: accuracy on the shared label Y_c (lower is better)",
       ylabel="accuracy on m1's own label Y_s1 (higher is better)",
       title="Specific block of m1, held-out rows", xlim=(0.45, 0.9), ylim=(0.45, 0.9))
ax.legend(fontsize=8, loc="lower right")
fig.tight_layout()

# %%
# Choosing a method for your table
# --------------------------------
# Fit LinearCCA first: it fits in a fraction of a second and, as here, may
# be hard to beat. A neural method earns its cost where its probes on
# held-out rows of your own labels beat LinearCCA's; on the halves of
# handwritten digits, for instance, DisentangledSSL's shared block keeps
# more of the digit than LinearCCA's variates
# (:ref:`sphx_glr_auto_examples_plot_digit_halves.py`). Every method above
# ran with its defaults but for the widths, encoders, epochs, learning
# rate and seed; the same loop compares settings too (``beta`` and
# ``ortho_weight`` of DisentangledSSL, ``specific_weight`` of JointOptSSL
# and FOCAL, ``kl_weight`` of DMVAE), as entries of the dict.
