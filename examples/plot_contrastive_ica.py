"""
Multimodal contrastive learning and ICA
=======================================

Under the latent partial causal model (Liu et al., 2024), two modalities
generated from coupled latents ``z1``, ``z2`` (one per modality, dependent
on each other) plus modality-specific latents are enough for a CLIP-style
contrastive model to recover the coupled latents up to a linear map. With
squared Euclidean similarity that map is orthogonal, so each learned
dimension is still a *mixture* of the true latents; when the latents are
independent and non-Gaussian, linear ICA undoes the rotation.

:class:`~sklearn_dssl.MultimodalContrastive` with ``ica=True`` fits
FastICA on its training embeddings. We compare, on held-out rows, the mean
correlation coefficient (:func:`~sklearn_dssl.metrics.mcc`: correlations of
true and learned dimensions under the best one-to-one matching) before and
after the ICA.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_dssl import MultimodalContrastive
from sklearn_dssl.datasets import make_latent_partial_causal
from sklearn_dssl.metrics import linear_r2, mcc

# 5 independent uniform coupled latents, 2 specific latents per modality,
# each modality a random invertible 3-layer leaky-ReLU network of them.
data = make_latent_partial_causal(6000, setting="ica", n_coupled=5, n_specific=2,
                                  random_state=0)
width = data.modalities["m1"]
X_train, X_test, z_train, z_test = train_test_split(
    data.data, data.latents["coupled_m1"], test_size=0.25, random_state=0
)
# standardised, as the neural estimators ask
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

model = MultimodalContrastive(
    modalities=data.modalities, n_components=5, similarity="euclidean",
    temperature=0.1, ica=True, hidden_layer_sizes=(128, 128), max_epochs=30,
    random_state=0,
).fit(X_train)

# %%
# Modality 1's embedding of the test rows, after the ICA (what ``transform``
# returns) and before it (the ICA's inverse gives the raw embedding back).
after = model.transform_modality(X_test[:, :width], "m1")
before = model.ica_.inverse_transform(after)
raw_r2 = linear_r2(z_learned=before, z_true=z_test)
print(f"linear R² of the true latents from the raw embedding: {raw_r2:.3f}")
print(f"MCC of the raw input columns:     {mcc(z_test, X_test[:, :width]):.3f}")
print(f"MCC before ICA:                   {mcc(z_test, before):.3f}")
print(f"MCC after ICA:                    {mcc(z_test, after):.3f}")

# %%
# Each true latent against its matched learned dimension
# --------------------------------------------------------
# Before the ICA the embedding holds the latents (high linear R²) but each
# dimension mixes several of them; after it, each dimension follows one
# latent (up to sign and scale).


def matched(z_true, z_learned):
    """Learned dimensions reordered and signed to match the true ones."""
    corr = np.corrcoef(z_true, z_learned, rowvar=False)[: z_true.shape[1], z_true.shape[1] :]
    rows, cols = linear_sum_assignment(-np.abs(corr))
    return z_learned[:, cols] * np.sign(corr[rows, cols]), np.abs(corr[rows, cols])


fig, axes = plt.subplots(2, 5, figsize=(11, 4.6), sharex=True)
for row, (name, Z) in enumerate([("before ICA", before), ("after ICA", after)]):
    Z_matched, correlation = matched(z_test, Z)
    for k, ax in enumerate(axes[row]):
        ax.scatter(z_test[:, k], Z_matched[:, k], s=2, alpha=0.3)
        ax.set_title(f"{name}: |r| = {correlation[k]:.2f}", fontsize=8)
        ax.set_yticks([])
        if row == 1:
            ax.set_xlabel(f"true latent {k}")
axes[0, 0].set_ylabel("matched learned\ndimension")
axes[1, 0].set_ylabel("matched learned\ndimension")
fig.suptitle(f"MCC {mcc(z_test, before):.2f} before ICA, {mcc(z_test, after):.2f} after")
fig.tight_layout()
