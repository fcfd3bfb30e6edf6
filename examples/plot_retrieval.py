"""
Cross-modal retrieval
=====================

The shared embedding of a row can be computed from either modality alone
(:meth:`~sklearn_dssl.DisentangledSSL.transform_modality`). Given a row's
modality-1 embedding, its partner should be the nearest among the
modality-2 embeddings of all rows: cross-modal retrieval, measured by
:func:`~sklearn_dssl.metrics.retrieval_top_k`, the fraction of queries whose
partner is among their ``k`` most similar candidates.

We compare the shared blocks of :class:`~sklearn_dssl.DisentangledSSL`,
the canonical variates of :class:`~sklearn_dssl.LinearCCA`, and, as a
control, the specific blocks, which should not find the partner.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_dssl import DisentangledSSL, LinearCCA
from sklearn_dssl.datasets import make_nonlinear_multimodal
from sklearn_dssl.metrics import retrieval_top_k

# Two modalities, each a random invertible leaky-ReLU network of its
# shared and specific latents.
data = make_nonlinear_multimodal(n_samples=6000, n_latent=10, n_features=20, random_state=0)
X_train, X_test = train_test_split(data.data, test_size=1000, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
m1, m2 = X_test[:, :20], X_test[:, 20:]

dssl = DisentangledSSL(
    modalities=data.modalities, n_shared=10, n_specific=10, hidden_layer_sizes=(128,),
    max_epochs_shared=20, max_epochs_specific=10, lr=1e-3, random_state=0,
).fit(X_train)
cca = LinearCCA(modalities=data.modalities, n_components=10).fit(X_train)

# %%
# Queries from modality 1, candidates from modality 2, 1000 test rows.
embeddings = {
    "DisentangledSSL shared": (dssl.transform_modality(m1, "m1"),
                               dssl.transform_modality(m2, "m2")),
    "LinearCCA shared": (cca.transform_modality(m1, "m1"), cca.transform_modality(m2, "m2")),
    "DisentangledSSL specific": (dssl.transform_modality(m1, "m1", block="specific"),
                                 dssl.transform_modality(m2, "m2", block="specific")),
}
ks = [1, 2, 5, 10, 20, 50]
curves = {
    name: [retrieval_top_k(q, c, k=k) for k in ks] for name, (q, c) in embeddings.items()
}
for name, curve in curves.items():
    print(f"{name:<25} top-1 {curve[0]:.3f}  top-10 {curve[3]:.3f}")

# %%
# Top-k accuracy
# --------------
fig, ax = plt.subplots(figsize=(6.5, 4))
for (name, curve), marker in zip(curves.items(), "osv"):
    ax.plot(ks, curve, marker=marker, label=name)
ax.plot(ks, np.array(ks) / len(X_test), color="grey", ls="--", label="chance")
ax.set_xscale("log")
ax.set(xlabel="k", ylabel="fraction of partners in the top k", ylim=(0, 1.02),
       title="Retrieving modality 2 from modality 1 (1000 test rows)")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
# One query
# ---------
# The five most similar modality-2 rows for the modality-1 embedding of
# test row 0, by cosine similarity of the DisentangledSSL shared blocks.
q, c = embeddings["DisentangledSSL shared"]
q = q / np.linalg.norm(q, axis=1, keepdims=True)
c = c / np.linalg.norm(c, axis=1, keepdims=True)
similarity = c @ q[0]
for rank, row in enumerate(np.argsort(-similarity)[:5], start=1):
    print(f"rank {rank}: test row {row:4d}, cosine similarity {similarity[row]:.3f}")
