"""
The specific representations and the orthogonality weight
==========================================================

Step 2 of :class:`~sklearn_dssl.DisentangledSSL` learns, for each modality,
a *specific* block: what that modality carries beyond the shared block.
``ortho_weight`` (the paper's lambda) sets how hard it is pushed away from
the shared block.

On synthetic data the true latents are known, so we can measure what each
learned block holds: the linear R² (:func:`~sklearn_dssl.metrics.linear_r2`)
of predicting each true latent block from the learned block. Step 2 is
refitted alone for each ``ortho_weight`` with
:meth:`~sklearn_dssl.DisentangledSSL.fit_specific`, keeping step 1.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_dssl import DisentangledSSL
from sklearn_dssl.datasets import make_paper_synthetic
from sklearn_dssl.metrics import linear_r2

data = make_paper_synthetic(n_samples=6000, n_latent=10, n_features=20, random_state=0)
true_blocks = ["shared", "specific_m1", "specific_m2"]
latents = np.hstack([data.latents[name] for name in true_blocks])
X_train, X_test, z_train, z_test = train_test_split(
    data.data, latents, test_size=0.25, random_state=0
)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
truth = {name: z_test[:, 10 * i : 10 * (i + 1)] for i, name in enumerate(true_blocks)}

# %%
# Step 1 once
# -----------
model = DisentangledSSL(
    modalities=data.modalities, n_shared=10, n_specific=10, hidden_layer_sizes=(128,),
    max_epochs_shared=15, max_epochs_specific=15, lr=1e-3, random_state=0,
    output="shared",
).fit(X_train)
model.set_params(output="all")


def r2_table(model):
    """R² of each true latent block from each learned block, on the test rows."""
    blocks = model.transform_blocks(X_test)
    learned = {
        "shared m1": blocks["shared"]["m1"],
        "specific m1": blocks["specific"]["m1"],
        "specific m2": blocks["specific"]["m2"],
    }
    return {
        name: [linear_r2(z_learned=Z, z_true=truth[t]) for t in true_blocks]
        for name, Z in learned.items()
    }


# %%
# Step 2 for each orthogonality weight
# ------------------------------------
weights = [0.0, 0.01, 0.03, 0.1, 1.0, 10.0]
tables = {}
for weight in weights:
    model.set_params(ortho_weight=weight).fit_specific(X_train)
    tables[weight] = r2_table(model)
    own, shared = tables[weight]["specific m1"][1], tables[weight]["specific m1"][0]
    print(f"ortho_weight={weight:<5g} specific m1: R² of Z_1 {own:.3f}, of Z_c {shared:.3f}")

# %%
# What each block holds
# ---------------------
# With the default ``ortho_weight=1`` the shared block explains the shared
# latents, little of ``m1``'s own (R² near 0.08) and nothing of ``m2``'s;
# each specific block explains
# its own modality's latents, little of the shared ones and nothing of the
# other modality's.
table = tables[1.0]
fig, ax = plt.subplots(figsize=(6, 4))
values = np.array(list(table.values()))
image = ax.imshow(values, vmin=0, vmax=1, cmap="viridis")
ax.set_xticks(range(3), ["Z_c\n(shared)", "Z_1\n(m1 only)", "Z_2\n(m2 only)"])
ax.set_yticks(range(3), list(table))
for (i, j), v in np.ndenumerate(values):
    ax.text(j, i, f"{v:.2f}", ha="center", va="center", color="w" if v < 0.5 else "k")
ax.set(xlabel="true latent block", ylabel="learned block",
       title="Linear R² of the true latents (ortho_weight=1)")
fig.colorbar(image, ax=ax)
fig.tight_layout()

# %%
# The orthogonality trade-off
# ---------------------------
# Without the penalty (``ortho_weight=0``) the specific block of ``m1``
# also carries shared information, since ``m1`` mixes both; a small weight
# already removes most of it, at the price of part of the specific
# information.
fig, ax = plt.subplots(figsize=(6.5, 4))
x = np.arange(len(weights))
for name, marker in [("specific m1", "o"), ("specific m2", "s")]:
    own = 1 if name.endswith("m1") else 2
    ax.plot(x, [tables[w][name][own] for w in weights], marker=marker,
            label=f"{name}: R² of its own latents")
    ax.plot(x, [tables[w][name][0] for w in weights], marker=marker, ls="--",
            label=f"{name}: R² of the shared latents")
ax.set_xticks(x, [f"{w:g}" for w in weights])
ax.set(xlabel="ortho_weight (lambda)", ylabel="linear R² on test rows", ylim=(-0.05, 1))
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# Where step 2 starts
# -------------------
# Step 2's self-contrastive task is easy (two augmented views of a row are
# matched whatever the block holds), so the specific block keeps about what
# its encoder read of the modality when training began. The default start,
# ``specific_init="looks_linear"``, is a linear map of ``[x_1, f_1(x_1)]``,
# which keeps all of it; the paper's authors start from N(0, 0.01²)
# weights, ``specific_init="normal"``, a random nonlinear projection that
# keeps less.
for init in ["normal", "looks_linear"]:
    model.set_params(ortho_weight=1.0, specific_init=init).fit_specific(X_train)
    shared, own = r2_table(model)["specific m1"][:2]
    print(f"specific_init={init!r:<14} specific m1: R² of Z_1 {own:.3f}, of Z_c {shared:.3f}")
