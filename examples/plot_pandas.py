"""
Pandas in, pandas out
=====================

Real tables come as DataFrames with named columns, often with the
modalities interleaved. ``modalities`` can name each modality's columns,
and ``set_output(transform="pandas")`` returns the embeddings as a
DataFrame whose columns say which block and modality each one is.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_dssl import DisentangledSSL
from sklearn_dssl.datasets import make_paper_synthetic

# A table of 20 "gene" columns and 20 "protein" columns in shuffled order.
data = make_paper_synthetic(n_samples=4000, n_latent=8, n_features=20, random_state=0)
columns = [f"gene_{i}" for i in range(20)] + [f"protein_{i}" for i in range(20)]
order = np.random.default_rng(0).permutation(40)
table = pd.DataFrame(data.data, columns=columns).iloc[:, order]
print(table.iloc[:3, :6])

# %%
# Modalities by column name
# -------------------------
# A dict names the modalities; each value lists its columns (a column
# belongs to exactly one modality).
modalities = {
    "rna": [c for c in table.columns if c.startswith("gene_")],
    "protein": [c for c in table.columns if c.startswith("protein_")],
}
pipeline = make_pipeline(
    StandardScaler(),
    DisentangledSSL(
        modalities=modalities, n_shared=8, n_specific=8, hidden_layer_sizes=(64,),
        max_epochs_shared=15, max_epochs_specific=10, lr=1e-3, random_state=0,
    ),
).set_output(transform="pandas")

embedding = pipeline.fit_transform(table)
print(type(embedding).__name__, embedding.shape)
print(embedding.iloc[:3, [0, 8, 16, 24]])

# %%
# The same columns can be picked by a selector, as in ``ColumnTransformer``:
# it is called on the table the estimator is fitted on, here the scaled one,
# and finds each modality's columns by their names, wherever they are.
from sklearn.compose import make_column_selector

selected = make_pipeline(
    StandardScaler().set_output(transform="pandas"),
    DisentangledSSL(
        modalities={"rna": make_column_selector("^gene_"),
                    "protein": make_column_selector("^protein_")},
        n_shared=8, n_specific=8, hidden_layer_sizes=(64,),
        max_epochs_shared=15, max_epochs_specific=10, lr=1e-3, random_state=0,
    ),
).fit(table)
print(all((selected[-1].modalities_[m] == pipeline[-1].modalities_[m]).all()
          for m in modalities))

# %%
# The names say it all: ``shared_rna_*`` and ``shared_protein_*`` are the
# shared blocks computed from each modality, ``specific_*`` the specific
# ones. One modality on its own, by its column names:
dssl = pipeline[-1]
scaled = pipeline[0].transform(table)
shared_rna = dssl.transform_modality(scaled[modalities["rna"]], "rna")
print(shared_rna.shape)

# %%
# Correlations between output columns
# -----------------------------------
# ``DataFrame.corr`` on the output: the shared blocks of the two modalities
# agree with each other (the bright diagonals off the main one), while the
# specific blocks are nearly uncorrelated with the shared ones.
corr = embedding.corr().abs()
fig, ax = plt.subplots(figsize=(6.5, 5.5))
image = ax.imshow(corr, vmin=0, vmax=1, cmap="magma")
blocks = [embedding.columns[i].rsplit("_", 1)[0] for i in range(0, embedding.shape[1], 8)]
centres = [8 * i + 3.5 for i in range(len(blocks))]
ax.set_xticks(centres, blocks, rotation=30, ha="right")
ax.set_yticks(centres, blocks)
ax.set_title("|correlation| between embedding columns")
fig.colorbar(image, ax=ax)
fig.tight_layout()
