"""
Held-out rows and early stopping
================================

With ``validation_fraction``, each training net of
:class:`~sklearn_dssl.DisentangledSSL` holds out some rows and records its
objective on them after every epoch as ``valid_loss``; skorch's
:class:`~skorch.callbacks.EarlyStopping` can then stop a net when that
loss stops improving.

The held-out objective suits step 1, whose loss is what the shared block is
for. Step 2's held-out objective stops improving before its orthogonality
term has pushed the shared information out of the specific blocks, so here
step 1 alone is stopped early and step 2 trains its full epochs, with
:meth:`~sklearn_dssl.DisentangledSSL.fit_specific`. We compare with a fit
of the full 50 + 30 epochs.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from skorch.callbacks import EarlyStopping
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_dssl import DisentangledSSL
from sklearn_dssl.datasets import make_paper_synthetic

data = make_paper_synthetic(n_samples=5000, random_state=0)
X_train, X_test = data.data[:4000], data.data[4000:]
y_train, y_test = data.target[:4000], data.target[4000:]
# standardised, as the neural estimators ask
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

full = DisentangledSSL(random_state=0).fit(X_train)

stopped = DisentangledSSL(
    output="shared", validation_fraction=0.1, random_state=0,
    callbacks=[EarlyStopping(monitor="valid_loss", patience=5, load_best=True)],
).fit(X_train)
stopped.set_params(output="all", validation_fraction=None, callbacks=None)
stopped.fit_specific(X_train)
print(f"step 1 trained {len(stopped.shared_net_.history)} of 50 epochs, "
      f"step 2 {len(stopped.specific_net_.history)} of 30")

# %%
# Step 1's loss on its training rows and on the held-out rows
# -----------------------------------------------------------
history = stopped.shared_net_.history
epochs = np.arange(1, len(history) + 1)
best = int(np.argmin(history[:, "valid_loss"])) + 1
fig, ax = plt.subplots(figsize=(6.5, 4))
ax.plot(epochs, history[:, "train_loss"], label="training rows")
ax.plot(epochs, history[:, "valid_loss"], label="held-out rows (a tenth)")
ax.axvline(best, color="grey", ls="--", label=f"best epoch ({best}), kept")
ax.set(xlabel="epoch", ylabel="step-1 objective", title="Early stopping of step 1")
ax.legend()
fig.tight_layout()


# %%
# The blocks, probed on 1,000 other rows
# --------------------------------------
# A logistic probe of each block for the shared label Y_c and modality 1's
# own label Y_s1: the shared block should carry Y_c, the specific block of
# modality 1 Y_s1 and as little of Y_c as it can.
def probe(model, block, label):
    train, test = model.transform_blocks(X_train), model.transform_blocks(X_test)
    features = [np.hstack(list(b["shared"].values())) if block == "shared"
                else b["specific"]["m1"] for b in (train, test)]
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return clf.fit(features[0], y_train[:, label]).score(features[1], y_test[:, label])


print(f"{'':<28}{'shared on Y_c':>15}{'specific on Y_s1':>18}{'specific on Y_c':>17}")
for name, model in (("50 + 30 epochs", full), ("step 1 stopped early", stopped)):
    print(f"{name:<28}{probe(model, 'shared', 1):>15.3f}{probe(model, 'specific', 0):>18.3f}"
          f"{probe(model, 'specific', 1):>17.3f}")
