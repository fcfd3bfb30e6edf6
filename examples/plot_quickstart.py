"""
Quickstart: shared and specific embeddings of a two-modality table
==================================================================

Fit :class:`~sklearn_dssl.DisentangledSSL` on synthetic data whose shared
and modality-specific latent factors are known, then check with linear
probes that the shared block carries the shared label and each specific
block its own modality's label.
"""

# %%
# Data with known structure
# -------------------------
# :func:`~sklearn_dssl.datasets.make_paper_synthetic` draws three latent
# blocks: ``Z_c`` shared by both modalities, ``Z_1`` and ``Z_2`` specific to
# one each. Modality ``m1`` (20 columns) mixes ``[Z_1, Z_c]``, modality
# ``m2`` (20 columns) mixes ``[Z_2, Z_c]``; the two sit side by side in one
# table. Three binary labels each depend on one latent block only.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_dssl import DisentangledSSL
from sklearn_dssl.datasets import make_paper_synthetic

data = make_paper_synthetic(n_samples=6000, n_latent=10, n_features=20, random_state=0)
print("table:", data.data.shape, "modalities:", data.modalities)
print("labels:", data.target_names)

X_train, X_test, y_train, y_test = train_test_split(
    data.data, data.target, test_size=0.25, random_state=0
)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

# %%
# Fit
# ---
# Step 1 trains the shared encoders, step 2 the specific ones. Small
# encoders and few epochs are enough for this table.
model = DisentangledSSL(
    modalities=data.modalities, n_shared=10, n_specific=10, hidden_layer_sizes=(128,),
    max_epochs_shared=20, max_epochs_specific=20, lr=1e-3, random_state=0,
).fit(X_train)
print("output columns:", model.get_feature_names_out()[[0, 10, 20, 30]].tolist())

# %%
# Both steps keep their per-epoch training loss in the skorch ``history``.
fig, axes = plt.subplots(1, 2, figsize=(8, 3))
for ax, net, title in [
    (axes[0], model.shared_net_, "step 1: shared"),
    (axes[1], model.specific_net_, "step 2: specific"),
]:
    ax.plot(net.history[:, "epoch"], net.history[:, "train_loss"], marker="o", ms=3)
    ax.set(title=title, xlabel="epoch", ylabel="training loss")
fig.tight_layout()

# %%
# Probe every block
# -----------------
# :meth:`~sklearn_dssl.DisentangledSSL.transform_blocks` returns each block
# of each modality separately. A logistic regression trained on the
# standardised training embeddings (the blocks' scale is free, and small)
# predicts each label on the test embeddings (chance is 0.5). The shared
# block should predict the shared label best, each specific block its own
# modality's label only. Here the shared block also carries some of each
# modality's own label (about 0.7): leakage, which a larger ``beta`` trades
# away with some of the shared label (see
# :ref:`sphx_glr_auto_examples_plot_beta_tradeoff.py`).
train = model.transform_blocks(X_train)
test = model.transform_blocks(X_test)
representations = {
    "shared [m1, m2]": ("shared", ["m1", "m2"]),
    "specific m1": ("specific", ["m1"]),
    "specific m2": ("specific", ["m2"]),
}
scores = {}
for name, (block, modalities) in representations.items():
    A = np.hstack([train[block][m] for m in modalities])
    B = np.hstack([test[block][m] for m in modalities])
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    scores[name] = [
        probe.fit(A, y_train[:, j]).score(B, y_test[:, j])
        for j in range(len(data.target_names))
    ]
    print(f"{name:<16}", "  ".join(f"{s:.3f}" for s in scores[name]))

fig, ax = plt.subplots(figsize=(7, 3.5))
width = 0.25
for i, (name, row) in enumerate(scores.items()):
    ax.bar(np.arange(3) + (i - 1) * width, row, width, label=name)
ax.axhline(0.5, color="grey", lw=1, ls="--", label="chance")
ax.set_xticks(np.arange(3), [f"label {n}" for n in data.target_names])
ax.set(ylim=(0.4, 0.9), ylabel="test accuracy of a linear probe")
ax.legend(ncols=2, fontsize=8)
fig.tight_layout()

# %%
# Cross-modal retrieval
# ---------------------
# The shared embedding of a row computed from ``m1`` alone finds its
# partner among the ``m2`` shared embeddings of 500 test rows.
from sklearn_dssl.metrics import retrieval_top_k

z1 = model.transform_modality(X_test[:500, :20], "m1")
z2 = model.transform_modality(X_test[:500, 20:], "m2")
print(f"top-1 retrieval: {retrieval_top_k(z1, z2):.3f} (chance {1 / 500:.3f})")
