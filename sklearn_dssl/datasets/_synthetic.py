"""Synthetic multimodal data with known shared and modality-specific latents."""

from numbers import Integral, Real

import numpy as np
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from .._validation import validate_params_refusing_bools

TARGET_NAMES = ["specific_m1", "shared", "specific_m2"]


LABEL_INITS = ("normal", "xavier")


def _dense_layer(rng, fan_in, fan_out, label_init):
    """Weights and biases of one layer of a label network.

    ``"normal"``: standard normal. ``"xavier"``: as the authors' code builds
    its label networks in torch, Xavier-uniform weights and the default
    ``nn.Linear`` biases, ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.
    """
    if label_init == "normal":
        return rng.standard_normal((fan_in, fan_out)), rng.standard_normal(fan_out)
    bound = np.sqrt(6.0 / (fan_in + fan_out))
    weights = rng.uniform(-bound, bound, size=(fan_in, fan_out))
    return weights, rng.uniform(-1.0, 1.0, size=fan_out) / np.sqrt(fan_in)


def random_relu_mlp_score(Z, n_hidden, rng, label_init="normal"):
    """Output of a frozen random 2-layer ReLU MLP of ``Z``, one value per row.

    With the default sizes, under either ``label_init``, a logistic probe on
    the true block reaches about 0.80 to 0.84 on the thresholded score, the
    range of the paper's oracle figures.
    """
    W1, b1 = _dense_layer(rng, Z.shape[1], n_hidden, label_init)
    W2, b2 = _dense_layer(rng, n_hidden, 1, label_init)
    return (np.maximum(Z @ W1 + b1, 0.0) @ W2 + b2).ravel()


def threshold_at_median(score, noise, rng):
    """Balanced binary label: ``score`` plus N(0, noise^2) noise, above its median.

    The same as thresholding the sigmoid of the noisy score at its median.
    """
    score = score + noise * rng.standard_normal(score.shape[0])
    return (score > np.median(score)).astype(np.int64)


# The label parameters' documentation, common to the generators' docstrings.
_LABEL_PARAMETERS_DOC = """label_noise : float, default=0.1
        Standard deviation of the noise added before thresholding a label.
        Without noise and with few ``label_hidden`` units, the rows whose
        hidden units are all off share one score, and a label thresholded
        at the median is then not balanced.
    label_hidden : int, default=100
        Hidden units of each label's random network.
    label_init : {"normal", "xavier"}, default="normal"
        How the label networks are drawn. "normal": standard normal weights
        and biases; their outputs vary on a scale of tens, so
        ``label_noise`` flips almost no label. "xavier": as the paper's
        authors build them in torch, Xavier-uniform weights and
        ``nn.Linear``'s default biases; outputs have a standard deviation
        of about 0.5, so the default ``label_noise`` flips a few percent of
        the labels."""


def _with_label_parameters(generator):
    """Put the label parameters' documentation into ``generator``'s docstring."""
    generator.__doc__ = generator.__doc__.replace("{label_parameters}", _LABEL_PARAMETERS_DOC)
    return generator


# Parameters of the latent and label structure, common to the generators.
_LATENT_PARAMETER_CONSTRAINTS = {
    "n_samples": [Interval(Integral, 2, None, closed="left")],
    "n_latent": [Interval(Integral, 1, None, closed="left")],
    "n_features": [Interval(Integral, 1, None, closed="left")],
    "latent_variance": [Interval(Real, 0, None, closed="neither")],
    "label_noise": [Interval(Real, 0, None, closed="left")],
    "label_hidden": [Interval(Integral, 1, None, closed="left")],
    "label_init": [StrOptions(set(LABEL_INITS))],
    "random_state": ["random_state"],
    "return_X_y": ["boolean"],
}


@validate_params_refusing_bools(
    _LATENT_PARAMETER_CONSTRAINTS, prefer_skip_nested_validation=True
)
@_with_label_parameters
def make_paper_synthetic(
    n_samples=90000,
    *,
    n_latent=50,
    n_features=100,
    latent_variance=0.5,
    label_noise=0.1,
    label_hidden=100,
    label_init="normal",
    random_state=None,
    return_X_y=False,
):
    """Two linearly mixed modalities with shared and specific latents (Wang et al. 2025).

    Latent blocks ``Z_c`` (shared), ``Z_1`` and ``Z_2`` (specific) are each
    ``N(0, latent_variance * I)`` of width ``n_latent``. Modality ``i`` is
    ``X_i = [Z_i, Z_c] @ T_i`` with ``T_i`` of shape
    ``(2 * n_latent, n_features)`` drawn from ``U(-1, 1)``. Three balanced
    binary labels each depend on one latent block through a frozen random
    ReLU network with ``label_hidden`` hidden units (weights drawn as
    ``label_init`` says), plus Gaussian noise of standard deviation
    ``label_noise``, thresholded at the median.

    Parameters
    ----------
    n_samples : int, default=90000
        Number of rows (the paper uses 90,000 with an 80/20 split).
    n_latent : int, default=50
        Width of each latent block.
    n_features : int, default=100
        Columns per modality. The mixing is invertible, as the paper's is,
        only when ``n_features >= 2 * n_latent``.
    latent_variance : float, default=0.5
        Variance of every latent coordinate.
    {label_parameters}
    random_state : int, RandomState instance or None, default=None
        Seeds the latents, the mixing matrices and the label networks.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of the Bunch, as scikit-learn's
        dataset loaders do.

    Returns
    -------
    data : Bunch
        - ``data``: ndarray of shape (n_samples, 2 * n_features), modality
          ``m1`` in the first ``n_features`` columns, ``m2`` after;
        - ``target``: int ndarray of shape (n_samples, 3), the labels
          specific to ``m1``, shared, and specific to ``m2``;
        - ``target_names``: their names, ``["specific_m1", "shared",
          "specific_m2"]``;
        - ``latents``: dict with ``"shared"``, ``"specific_m1"`` and
          ``"specific_m2"``, each of shape (n_samples, n_latent);
        - ``mixing``: dict of the matrices ``T_1`` and ``T_2`` by modality;
        - ``modalities``: ``{"m1": n_features, "m2": n_features}``, the
          ``modalities`` argument for the estimators.

    (data, target) : tuple
        With ``return_X_y``: the arrays ``data`` and ``target`` above.

    Examples
    --------
    >>> from sklearn_dssl.datasets import make_paper_synthetic
    >>> data = make_paper_synthetic(n_samples=100, random_state=0)
    >>> data.data.shape, data.target.shape
    ((100, 200), (100, 3))
    >>> data.modalities
    {'m1': 100, 'm2': 100}
    """
    rng = check_random_state(random_state)
    latents, target = _latents_and_labels(
        rng, n_samples, n_latent, latent_variance, label_noise, label_hidden, label_init
    )
    mixing = {
        m: rng.uniform(-1.0, 1.0, size=(2 * n_latent, n_features)) for m in ("m1", "m2")
    }
    X, columns = _empty_modalities(n_samples, n_features)
    for m, T in mixing.items():
        np.matmul(_modality_input(latents, m), T, out=columns[m])
    return (X, target) if return_X_y else _bunch(X, target, latents, mixing, n_features)


def _latents_and_labels(
    rng, n_samples, n_latent, latent_variance, label_noise, label_hidden, label_init
):
    """Gaussian latent blocks and one balanced label per block."""
    scale = np.sqrt(latent_variance)
    Z_c, Z_1, Z_2 = (scale * rng.standard_normal((n_samples, n_latent)) for _ in range(3))
    target = np.column_stack([
        threshold_at_median(random_relu_mlp_score(Z, label_hidden, rng, label_init),
                            label_noise, rng)
        for Z in (Z_1, Z_c, Z_2)
    ])
    return {"shared": Z_c, "specific_m1": Z_1, "specific_m2": Z_2}, target


def _modality_input(latents, m):
    """Modality ``m``'s latent input ``[Z_m, Z_c]``."""
    return np.hstack([latents[f"specific_{m}"], latents["shared"]])


def _empty_modalities(n_samples, n_features):
    """The data matrix of two modalities, and a view of each one's columns to fill.

    The generators write each modality's mixed columns into its view, one
    modality at a time, rather than stacking finished blocks: a copy less.
    """
    X = np.empty((n_samples, 2 * n_features))
    return X, {"m1": X[:, :n_features], "m2": X[:, n_features:]}


def _bunch(X, target, latents, mixing, n_features):
    return Bunch(
        data=X,
        target=target,
        target_names=list(TARGET_NAMES),
        latents=latents,
        mixing=mixing,
        modalities={"m1": n_features, "m2": n_features},
    )


def _random_orthogonal(rng, n_rows, n_cols):
    """A matrix with orthonormal columns (or rows): condition number 1."""
    q, r = np.linalg.qr(rng.standard_normal((max(n_rows, n_cols), min(n_rows, n_cols))))
    q *= np.sign(np.diag(r))
    return q if n_rows >= n_cols else q.T


def _invertible_leaky_relu_mlp(rng, n_in, n_out, n_layers):
    """Weights of a random injective leaky-ReLU MLP with orthogonal layers."""
    weights = [_random_orthogonal(rng, n_in, n_in) for _ in range(n_layers - 1)]
    weights.append(_random_orthogonal(rng, n_in, n_out))
    return weights


def _apply_mlp(weights, Z, negative_slope, out=None):
    """The leaky-ReLU MLP of ``weights`` applied to ``Z``, its output written to ``out``.

    The hidden layers (square) alternate between ``Z``, which they overwrite,
    and one buffer of its shape.
    """
    H, spare = Z, (np.empty_like(Z) if len(weights) > 1 else None)
    for W in weights[:-1]:
        H, spare = np.matmul(H, W, out=spare), H
        np.multiply(H, negative_slope, out=H, where=H < 0)
    return np.matmul(H, weights[-1], out=out)


@validate_params_refusing_bools(
    {
        **_LATENT_PARAMETER_CONSTRAINTS,
        "n_layers": [Interval(Integral, 1, None, closed="left")],
        "negative_slope": [Interval(Real, 0, 1, closed="neither")],
    },
    prefer_skip_nested_validation=True,
)
@_with_label_parameters
def make_nonlinear_multimodal(
    n_samples=90000,
    *,
    n_latent=50,
    n_features=100,
    n_layers=3,
    negative_slope=0.2,
    latent_variance=0.5,
    label_noise=0.1,
    label_hidden=100,
    label_init="normal",
    random_state=None,
    return_X_y=False,
):
    """Two nonlinearly mixed modalities with shared and specific latents.

    The latents and labels are those of :func:`make_paper_synthetic`; each
    modality is ``X_i = MLP_i([Z_i, Z_c])``, a random invertible leaky-ReLU
    network as in the nonlinear ICA literature: ``n_layers`` linear layers
    with orthonormal weights (condition number 1), leaky ReLUs of slope
    ``negative_slope`` between them, the last layer mapping ``2 * n_latent``
    to ``n_features`` columns (injective when ``n_features >= 2 * n_latent``).
    Linear CCA no longer recovers the shared latents exactly here.

    Parameters
    ----------
    n_samples : int, default=90000
        Number of rows.
    n_latent : int, default=50
        Width of each latent block.
    n_features : int, default=100
        Columns per modality. The mixing is invertible only when
        ``n_features >= 2 * n_latent``.
    n_layers : int, default=3
        Linear layers of each mixing network (1 gives a linear mixing).
    negative_slope : float in (0, 1), default=0.2
        Slope of the leaky ReLUs for negative inputs; smaller is more
        nonlinear (1, a linear mixing, is :func:`make_paper_synthetic`'s
        kind of data).
    latent_variance : float, default=0.5
        Variance of every latent coordinate.
    {label_parameters}
    random_state : int, RandomState instance or None, default=None
        Seeds the latents, the mixing networks and the label networks.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of the Bunch, as scikit-learn's
        dataset loaders do.

    Returns
    -------
    data : Bunch
        As returned by :func:`make_paper_synthetic`; ``mixing`` holds the
        list of layer weights of each modality's network.

    (data, target) : tuple
        With ``return_X_y``: the arrays ``data`` and ``target``.

    Examples
    --------
    >>> from sklearn_dssl.datasets import make_nonlinear_multimodal
    >>> data = make_nonlinear_multimodal(n_samples=50, n_latent=2, n_features=6,
    ...                                  random_state=0)
    >>> data.data.shape, [w.shape for w in data.mixing["m1"]]
    ((50, 12), [(4, 4), (4, 4), (4, 6)])
    """
    rng = check_random_state(random_state)
    latents, target = _latents_and_labels(
        rng, n_samples, n_latent, latent_variance, label_noise, label_hidden, label_init
    )
    mixing = {
        m: _invertible_leaky_relu_mlp(rng, 2 * n_latent, n_features, n_layers)
        for m in ("m1", "m2")
    }
    X, columns = _empty_modalities(n_samples, n_features)
    for m, weights in mixing.items():
        _apply_mlp(weights, _modality_input(latents, m), negative_slope, out=columns[m])
    return (X, target) if return_X_y else _bunch(X, target, latents, mixing, n_features)
