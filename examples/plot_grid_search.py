"""
Pipeline, grid search and a probe scorer
========================================

:class:`~sklearn_dssl.DisentangledSSL` is an ordinary scikit-learn
transformer: it goes into a :class:`~sklearn.pipeline.Pipeline` after a
scaler, and :class:`~sklearn.model_selection.GridSearchCV` tunes it like any
other step.

What should the search maximise? Two answers, both computed on each
held-out fold:

- :func:`~sklearn_dssl.metrics.make_probe_scorer`: embed the fold and
  cross-validate a linear probe on one block for a label you care about
  (here the shared label, read from the shared block);
- the estimator's own ``score``: the negative cross-modal contrastive loss
  of the shared block, which needs no labels.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_dssl import DisentangledSSL
from sklearn_dssl.datasets import make_paper_synthetic
from sklearn_dssl.metrics import make_probe_scorer

data = make_paper_synthetic(n_samples=4000, n_latent=10, n_features=20, random_state=0)
X, y_shared = data.data, data.target[:, data.target_names.index("shared")]

# %%
# The pipeline: a scaler, then step 1 of DisentangledSSL only
# (``output="shared"``), since the search is about the shared block.
pipeline = make_pipeline(
    StandardScaler(),
    DisentangledSSL(
        modalities=data.modalities, n_shared=10, hidden_layer_sizes=(128,),
        max_epochs_shared=15, lr=1e-3, output="shared", random_state=0,
    ),
)


def contrastive_score(estimator, X, y=None):
    """The pipeline's own score: the last step's negative contrastive loss."""
    return estimator.score(X)


search = GridSearchCV(
    pipeline,
    {"disentangledssl__beta": [0.1, 10.0, 100.0]},
    scoring={"probe": make_probe_scorer(block="shared"), "contrastive": contrastive_score},
    refit="probe",
    cv=3,
).fit(X, y_shared)

print("best parameters:", search.best_params_)
print(f"best probe accuracy: {search.best_score_:.3f}")

# %%
# Both criteria along the grid
# ----------------------------
# The probe accuracy of the shared label and the label-free contrastive
# score fall together as ``beta`` grows, so without labels the contrastive
# score makes the same choice here.
betas = np.array(search.cv_results_["param_disentangledssl__beta"], dtype=float)
fig, ax = plt.subplots(figsize=(6.5, 4))
ax.errorbar(betas, search.cv_results_["mean_test_probe"],
            yerr=search.cv_results_["std_test_probe"], marker="o", capsize=3,
            label="probe accuracy of the shared label")
ax.set_xscale("log")
ax.set(xlabel="beta", ylabel="probe accuracy (3-fold mean)")
twin = ax.twinx()
twin.errorbar(betas, search.cv_results_["mean_test_contrastive"],
              yerr=search.cv_results_["std_test_contrastive"], marker="s", capsize=3,
              color="tab:orange", label="contrastive score (no labels)")
twin.set_ylabel("negative contrastive loss")
fig.legend(loc="lower left", bbox_to_anchor=(0.12, 0.15), fontsize=8)
ax.set_title("GridSearchCV over beta")
fig.tight_layout()

# %%
# The refitted pipeline is ready to use.
Z = search.best_estimator_.transform(X[:5])
print(Z.shape)
