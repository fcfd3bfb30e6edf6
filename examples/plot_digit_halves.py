"""
A real table: the two halves of handwritten digits
==================================================

scikit-learn's digits are 8 x 8 images of handwritten digits. Cut each
image down the middle and the left and right halves become two modalities
of 32 pixels each, measured on the same 1,797 samples. What the halves
share is mostly which digit was written; what each carries alone is how
that side of it was drawn.

We fit :class:`~sklearn_dssl.DisentangledSSL` without the digit labels and
ask two questions on held-out rows, with a linear probe of the digit:

- does the shared block of the left half, 16 numbers computed from the
  left half alone, keep the digit better than 16 principal components of
  the left half do, or than the canonical variates of
  :class:`~sklearn_dssl.LinearCCA`?
- does the specific block of the left half hold little of the digit,
  since the right half tells it too?

The modalities are narrow, so the blocks are set narrower than the
defaults of 100 (see the user guide on choosing widths), and the pixels
are standardised first.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_dssl import DisentangledSSL, LinearCCA
from sklearn_dssl.metrics import probe_score, retrieval_top_k

digits = load_digits()
left = digits.images[:, :, :4].reshape(len(digits.images), -1)
right = digits.images[:, :, 4:].reshape(len(digits.images), -1)
X = np.hstack([left, right])
X_train, X_test, y_train, y_test = train_test_split(
    X, digits.target, test_size=0.3, random_state=0, stratify=digits.target
)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
modalities = {"left": 32, "right": 32}

dssl = DisentangledSSL(modalities, n_shared=16, n_specific=16, lr=1e-3, random_state=0)
dssl.fit(X_train)  # no labels: the halves of each image are the only pairing
cca = LinearCCA(modalities, n_components=16).fit(X_train)
pca = PCA(n_components=16, random_state=0).fit(X_train[:, :32])

# %%
# The digit from the left half alone
# ----------------------------------
# Each representation is computed on the 1,257 training images, and the
# probe, a cross-validated logistic regression on standardised features,
# reads the digit from it on the 540 test images.


def probe_features(features):
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    return cross_val_score(probe, features, y_test, cv=3).mean()


scores = {
    "32 pixels of the left half": probe_features(X_test[:, :32]),
    "PCA of the left half, 16": probe_features(pca.transform(X_test[:, :32])),
    "LinearCCA shared, left, 16": probe_score(cca, X_test, y_test, modalities="left"),
    "DisentangledSSL shared, left, 16": probe_score(dssl, X_test, y_test, modalities="left"),
    "DisentangledSSL specific, left, 16": probe_score(
        dssl, X_test, y_test, block="specific", modalities="left"
    ),
    "LinearCCA specific, left, 32": probe_score(
        cca, X_test, y_test, block="specific", modalities="left"
    ),
}
for name, score in scores.items():
    print(f"{name:<36} digit accuracy {score:.3f}")

# %%
# Learned from the pairing alone, the shared block of the left half keeps
# more of the digit in 16 numbers than the left half's 16 principal
# components, which keep its largest variance whether or not the right half
# shares it, more than LinearCCA's 16 linear variates, and at least as much
# as all 32 pixels. The specific block of the
# same half holds much less of it: the digit is what the halves share, and
# step 2 keeps the specific block apart from it. LinearCCA's residual, the
# left half minus its projection on the canonical variates, holds less
# still: each step of that split is linear, and it keeps all 32 columns.

fig, ax = plt.subplots(figsize=(7, 3.5))
names = list(scores)
ax.barh(names[::-1], [scores[n] for n in names[::-1]], color="tab:blue")
ax.axvline(0.1, color="grey", ls="--", label="chance (10 digits)")
ax.set(xlabel="held-out accuracy of a linear probe of the digit", xlim=(0, 1))
ax.legend(loc="lower right", fontsize=8)
fig.tight_layout()

# %%
# Matching halves
# ---------------
# The shared blocks of both halves, each computed from its own half, can be
# matched across images: for each test image's left half, how often is its
# own right half the most similar of the 540?

for name, model in (("DisentangledSSL", dssl), ("LinearCCA", cca)):
    queries = model.transform_modality(X_test[:, :32], "left")
    candidates = model.transform_modality(X_test[:, 32:], "right")
    print(f"{name:<16} top-1 {retrieval_top_k(queries, candidates, k=1):.3f}  "
          f"top-10 {retrieval_top_k(queries, candidates, k=10):.3f}  (chance 1/540)")
