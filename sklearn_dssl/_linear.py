"""Closed-form linear CCA baseline with shared and specific blocks."""

import itertools
import warnings
from numbers import Integral, Real

import numpy as np
from scipy import linalg
from sklearn.base import _fit_context
from sklearn.utils.validation import check_is_fitted
from sklearn.utils._param_validation import Interval

from ._base import MultimodalTransformer

# the shared width that n_components=None takes where the data allow it
DEFAULT_N_COMPONENTS = 50


def _covariance(centred):
    """The covariance of the centred columns, or None when there are more
    columns than rows: it would then be larger than the rows, and is never
    formed."""
    n, d = centred.shape
    return centred.T @ centred / n if d <= n else None


def _column_variances(centred, covariance):
    """Each column's variance."""
    if covariance is not None:
        return np.diag(covariance).copy()
    return np.einsum("ij,ij->j", centred, centred) / len(centred)


def _zero_constant_columns(centred, means):
    """Set to exactly 0 the centred columns that vary by no more than their
    values' rounding (a few units in the last place): a column equal to 0.1
    on every row keeps a remainder after centring, as its mean rounds to
    another number, which whitening would otherwise take for a direction of
    variation. A column that varies more, however small its variation
    beside its mean (timestamps, say), is kept."""
    eps = np.finfo(np.float64).eps
    spread = np.ptp(centred, axis=0)
    largest = np.abs(means) + np.abs(centred).max(axis=0)
    centred[:, spread <= 4 * eps * largest] = 0.0


def _above_rounding(eigenvalues, d):
    """The eigenvalues of a ``d``-column covariance that rounding does not
    make indistinguishable from 0. The eigensolver leaves a direction the
    columns lack (collinear columns) with an eigenvalue of up to about 15
    units of ``eps`` times the largest, measured on few columns, and of
    ``d`` units at most on many: the bound is 64 units, or ``d``."""
    return eigenvalues > max(d, 64) * np.finfo(float).eps * eigenvalues.max()


def _scaled_covariance_eigen(centred, covariance, scales):
    """Eigenpairs of the covariance of ``centred * scales`` that rounding
    does not make indistinguishable from 0, and the count of the others.

    From the columns' ``covariance`` when there is one; otherwise from the
    rows x rows Gram matrix, whose eigenvectors ``u`` give the covariance's
    as ``X.T @ u / sqrt(n * value)`` (``min(rows, columns)`` pairs either
    way; the others have eigenvalue 0).
    """
    n, d = centred.shape
    if covariance is not None:
        eigenvalues, eigenvectors = linalg.eigh(covariance * np.outer(scales, scales))
        kept = _above_rounding(eigenvalues, d)
        return eigenvalues[kept], eigenvectors[:, kept], d - kept.sum()
    scaled = centred * scales
    # divide and conquer: the default (MRRR) slows down on the clustered
    # eigenvalues of noise, which a Gram matrix of many columns has
    eigenvalues, u = linalg.eigh(scaled @ scaled.T / n, driver="evd", overwrite_a=True)
    kept = _above_rounding(eigenvalues, d)
    eigenvectors = scaled.T @ u[:, kept]
    eigenvectors /= np.sqrt(n * eigenvalues[kept])
    return eigenvalues[kept], eigenvectors, d - kept.sum()


def _regularised_whitener(centred, covariance, ridge, name):
    """A whitening map of modality ``name``'s covariance, regularised.

    ``centred`` holds the modality's centred training columns and
    ``covariance`` their covariance ``C`` (None for more columns than
    rows). The ridge is added to the correlation matrix, i.e. to each
    column's variance in proportion to it (to the mean variance for a
    column that is constant on the training rows), so that the result does
    not depend on the columns' units. Returns ``W`` of shape (columns,
    directions) with ``W.T @ (C + ridge * diag(C)) @ W = I``: one column per
    direction in which the modality varies on the training rows. Refuses,
    without a ridge, columns that are linearly dependent, whose covariance
    cannot be whitened.
    """
    variances = _column_variances(centred, covariance)
    variances[variances <= 0] = variances.mean()
    scales = 1 / np.sqrt(variances)
    # directions without variance on the training rows are left out: they
    # would give variates that are zero there and noise amplified by
    # 1/sqrt(ridge) elsewhere
    eigenvalues, whitener, without_variance = _scaled_covariance_eigen(
        centred, covariance, scales)
    if ridge == 0 and without_variance:
        raise ValueError(
            f"the columns of modality {name!r} are linearly dependent on the training "
            "rows (constant, duplicated or collinear columns, or fewer rows than "
            "columns), so its covariance cannot be whitened; set ridge > 0 (the "
            "default is 1e-6)."
        )
    whitener /= np.sqrt(eigenvalues + ridge)
    whitener *= scales[:, None]
    return whitener


def _whitened_cross_covariances(centred, covariances, whiteners):
    """``W_i.T @ C_ij @ W_j`` of every pair of modalities ``i < j``.

    From the columns' cross-covariance where both modalities of a pair have
    at most as many columns as rows; else from their whitened rows,
    computed once for each modality that needs them, which never forms a
    matrix of one modality's columns by another's.
    """
    n = len(centred[0])
    whitened = [None] * len(centred)
    crosses = {}
    for i, j in itertools.combinations(range(len(centred)), 2):
        if covariances[i] is not None and covariances[j] is not None:
            crosses[i, j] = whiteners[i].T @ (centred[i].T @ centred[j] / n) @ whiteners[j]
            continue
        for m in (i, j):
            if whitened[m] is None:
                whitened[m] = centred[m] @ whiteners[m]
        crosses[i, j] = whitened[i].T @ whitened[j] / n
    return crosses


def _joint_directions(crosses, ranks, n_components):
    """Whitened directions of three or more modalities, ``n_components`` each.

    The generalisation of CCA that maximises the sum of the paired
    variates' covariances over all pairs of modalities (Horst's): the leading
    eigenvectors of the symmetric block matrix whose block ``(i, j)`` is the
    whitened cross-covariance ``crosses[i, j]`` (``i < j``) of modalities
    ``i`` and ``j``, split into one part per modality (of ``ranks[i]``
    rows) and each part's columns scaled to unit norm, so that the variates
    have unit variance under the ridged covariance. For two modalities the
    parts are the singular vectors of the one cross-covariance: CCA.
    """
    offsets = np.cumsum([0, *ranks])
    blocks = np.zeros((offsets[-1], offsets[-1]))
    for (i, j), cross in crosses.items():
        blocks[offsets[i]:offsets[i + 1], offsets[j]:offsets[j + 1]] = cross
        blocks[offsets[j]:offsets[j + 1], offsets[i]:offsets[i + 1]] = cross.T
    _, vectors = linalg.eigh(blocks, subset_by_index=[len(blocks) - n_components,
                                                     len(blocks) - 1])
    parts = [vectors[lo:hi, ::-1] for lo, hi in zip(offsets[:-1], offsets[1:])]
    norms = [np.linalg.norm(part, axis=0) for part in parts]
    # a modality sharing nothing in a direction keeps a part of norm 0
    return [part / np.where(norm > 0, norm, 1.0) for part, norm in zip(parts, norms)]


def _variate_moments(centred, covariance, weights):
    """The variates' covariance (k x k) and their covariance with each
    column (k x columns), from the columns' covariance when there is one,
    else from the rows."""
    if covariance is not None:
        with_columns = weights.T @ covariance
        return with_columns @ weights, with_columns
    variates = centred @ weights
    n = len(centred)
    return variates.T @ variates / n, variates.T @ centred / n


def _signed_by_largest_weight(weights, variances):
    """The weights, each component's sign set by the data, not by the solvers.

    SVD and eigendecomposition give each direction an arbitrary sign. Each
    component is turned, in every modality at once, so that in the first
    modality's weights in units of its columns' standard deviations
    (``variances`` are theirs), the entry of largest magnitude is positive:
    the same variates whatever the columns' units or order.
    """
    scaled = np.sqrt(variances)[:, None] * weights[0]
    signs = np.sign(scaled[np.abs(scaled).argmax(axis=0), np.arange(scaled.shape[1])])
    signs[signs == 0] = 1.0
    return [W * signs for W in weights]


def _correlations(variates):
    """Column-by-column correlations of a pair of modalities' centred variates.

    Without a ridge, on the training rows, the canonical correlations; with
    one, the variates are those of the regularised problem and these their
    actual correlations. A variate constant on the rows correlates 0.
    """
    V1, V2 = variates
    covariance = np.einsum("ij,ij->j", V1, V2)
    scale = np.sqrt(np.einsum("ij,ij->j", V1, V1) * np.einsum("ij,ij->j", V2, V2))
    correlations = np.divide(covariance, scale, out=np.zeros_like(covariance), where=scale > 0)
    return np.clip(correlations, -1.0, 1.0)  # rounding takes equal variates past 1


def loadings_from_residual_maps(weights, residual_maps):
    """The ``loadings_`` of a model that stored ``residual_maps_`` (before 0.2).

    ``residual_map = I - weights @ loadings`` and ``weights`` has full column
    rank, so its pseudo-inverse recovers the loadings.
    """
    return [
        linalg.pinv(W) @ (np.eye(len(R)) - R) for W, R in zip(weights, residual_maps)
    ]


class LinearCCA(MultimodalTransformer):
    """Linear canonical correlation analysis of two or more modalities, in closed form.

    The shared block of a modality is its ``n_components`` canonical
    variates; its specific block is the modality (centred) minus its linear
    projection onto those variates, i.e. what of it the variates do not
    explain linearly. For two modalities the canonical directions come from
    one SVD of the whitened cross-covariance ``C11^(-1/2) C12 C22^(-1/2)``
    with a ridge term added to each modality's covariance: no iterations, so
    tens of thousands of rows fit in about a second. For more, they are the
    leading eigenvectors of the block matrix of every pair's whitened
    cross-covariance (Horst's generalisation, which maximises the sum of the
    paired variates' covariances over all pairs and is CCA for two); a
    modality's later variates are then not always uncorrelated with its
    earlier ones. A modality with more columns than rows
    (20,000 genes of 3,000 cells, say) is whitened through the rows' Gram
    matrix, and the specific block is computed from the variates and their
    ``loadings_``: no columns x columns matrix is formed in fit or transform.

    On data that are linear mixtures of shared and specific latents this is
    the optimal baseline: the variates span the shared latents and the
    residuals the specific ones.

    Parameters
    ----------
    modalities : None, sequence or dict, default=None
        Column groups of X; see :class:`DisentangledSSL`. Two or more.
    n_components : int or None, default=None
        Number of canonical variates per modality (the shared width). At most
        the column count of the smallest modality, and the number of directions
        in which each modality varies on the training rows. None takes 50, or
        fewer where those bounds are lower (a modality of 32 columns, say);
        the fitted width is ``n_components_``.
    ridge : float, default=1e-6
        Ridge added to each modality's covariance, to each column's variance
        in proportion to it (to the modality's mean variance for a column
        that is constant on the training rows), so that the variates do not
        depend on the columns' units. The variates have unit variance under
        the ridged covariance: a large ridge shrinks them (by about
        ``1 / sqrt(1 + ridge)``) toward zero.
    output : {"all", "shared", "specific"}, default="all"
        Which blocks :meth:`transform` returns.

    Attributes
    ----------
    modalities_ : dict of str to ndarray of int
        Modality names mapped to the column indices of X they hold, in the
        order the ``modalities`` specification gave them.
    means_ : list of ndarray
        Column means of each modality.
    n_components_ : int
        Number of canonical variates per modality: ``n_components``, or what
        None resolved to.
    weights_ : list of ndarray of shape (n_columns_of_modality, n_components)
        Canonical weights: ``(x_i - means_[i]) @ weights_[i]`` are the variates.
    loadings_ : list of ndarray of shape (n_components, n_columns_of_modality)
        Least-squares coefficients of each modality's centred columns on its
        variates: with ``v_i = (x_i - means_[i]) @ weights_[i]``, the specific
        block is ``(x_i - means_[i]) - v_i @ loadings_[i]``.
    canonical_correlations_ : ndarray of shape (n_components,)
        Correlations of the paired variates on the training data (averaged
        over the pairs of modalities when there are more than two), in
        decreasing order up to the ridge's effect.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    DisentangledSSL : Nonlinear shared and specific representations.
    sklearn.cross_decomposition.CCA : Iterative CCA (much slower on large data).

    Examples
    --------
    >>> from sklearn_dssl import LinearCCA
    >>> from sklearn_dssl.datasets import make_paper_synthetic
    >>> data = make_paper_synthetic(n_samples=500, n_latent=3, n_features=8, random_state=0)
    >>> cca = LinearCCA(modalities=data.modalities, n_components=3).fit(data.data)
    >>> cca.transform(data.data).shape
    (500, 22)
    >>> bool(cca.canonical_correlations_.min() > 0.99)
    True
    """

    _parameter_constraints: dict = {
        **MultimodalTransformer._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "ridge": [Interval(Real, 0, None, closed="left")],
    }

    # computed in float64: other inputs (integers, longdouble) are read as float64
    _input_dtypes = (np.float64, np.float32)

    def __init__(self, modalities=None, *, n_components=None, ridge=1e-6, output="all"):
        self.modalities = modalities
        self.n_components = n_components
        self.ridge = ridge
        self.output = output

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Compute the canonical weights and the loadings.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The modalities side by side, as described by ``modalities``.
        y : None
            Ignored.

        Returns
        -------
        self : LinearCCA
            The fitted estimator.
        """
        with self._unchanged_on_error():
            self._fit(X)
        return self

    def _fit(self, X):
        given = X
        X = self._validate_input(X, reset=True)
        self._resolve_modalities(given)
        sizes = self._modality_sizes
        if self.n_components is not None and self.n_components > min(sizes):
            raise ValueError(
                f"n_components={self.n_components} exceeds the smallest modality's "
                f"{min(sizes)} columns; use at most {min(sizes)}."
            )
        # each modality's columns, a copy (fancy indexing) centred in place
        centred = [np.asarray(X[:, cols], dtype=np.float64) for cols in self.modalities_.values()]
        self.means_ = [c.mean(axis=0) for c in centred]
        for c, mean in zip(centred, self.means_):
            c -= mean
            _zero_constant_columns(c, mean)
        for name, c in zip(self.modalities_, centred):
            if not np.any(c):
                raise ValueError(
                    f"modality {name!r} is constant on the training rows, so it shares "
                    "nothing with the others; drop it or pass rows where it varies."
                )
        covariances = [_covariance(c) for c in centred]
        whiteners = [
            _regularised_whitener(c, C, self.ridge, name)
            for c, C, name in zip(centred, covariances, self.modalities_)
        ]
        for W, name in zip(whiteners, self.modalities_):
            self._check_directions(W.shape[1], name)
        crosses = _whitened_cross_covariances(centred, covariances, whiteners)
        k = self.n_components
        if k is None:
            k = min(DEFAULT_N_COMPONENTS, *(W.shape[1] for W in whiteners))
        if self.output != "shared":
            _warn_of_empty_specific_blocks(k, whiteners, self.modalities_)
        if len(centred) == 2:
            U, _, Vt = linalg.svd(crosses[0, 1], full_matrices=False)
            directions = [U[:, :k], Vt[:k].T]
        else:
            directions = _joint_directions(crosses, [W.shape[1] for W in whiteners], k)
        self.weights_ = _signed_by_largest_weight(
            [W @ D for W, D in zip(whiteners, directions)],
            _column_variances(centred[0], covariances[0]),
        )
        moments = [_variate_moments(c, C, W)
                   for c, C, W in zip(centred, covariances, self.weights_)]
        # each pair's variates: their covariances, from the whitened
        # cross-covariance (a pair's signs turn together), over their standard
        # deviations (1 under the ridged covariance, below 1 with a ridge)
        deviations = [np.sqrt(np.diag(among)) for among, _ in moments]
        pairs = []
        for i, j in crosses:
            covariance = np.einsum("ak,ab,bk->k", directions[i], crosses[i, j], directions[j])
            scale = deviations[i] * deviations[j]
            # with three or more modalities, one that shares nothing in a
            # direction has a variate of 0 there, which correlates 0
            pairs.append(np.divide(covariance, scale, out=np.zeros_like(covariance),
                                   where=scale > 0))
        # clipped: rounding takes perfectly correlated variates past 1
        self.canonical_correlations_ = np.clip(np.mean(pairs, axis=0), -1.0, 1.0)
        # least-squares projection of each modality onto its own variates
        self.loadings_ = [linalg.pinvh(among) @ with_columns
                          for among, with_columns in moments]

    def score(self, X, y=None):
        """Mean correlation of the paired canonical variates on X: higher is better.

        Each of the ``n_components`` pairs of variates (one from each
        modality; every pair of modalities when there are more than two) is
        correlated over the rows of X, as on the training rows in
        ``canonical_correlations_``, and the correlations are averaged.
        On held-out rows this is the criterion of regularised CCA's
        cross-validation: the training rows' correlations grow as the ridge
        shrinks, to 1 for modalities with more columns than rows, while the
        held-out rows' fall once the variates fit noise. So
        GridSearchCV can choose ``ridge`` without labels. Scores compare
        fits with the same ``n_components``: the later pairs correlate less,
        so more components average lower.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with the columns seen in fit, at least 2 rows.
        y : None
            Ignored.

        Returns
        -------
        score : float
            Mean correlation of the paired variates, between -1 and 1 (a
            pair constant on X counts 0).

        Examples
        --------
        Two noisy modalities of 150 columns sharing two factors, on 100 rows:

        >>> import numpy as np
        >>> from sklearn.model_selection import GridSearchCV
        >>> from sklearn_dssl import LinearCCA
        >>> rng = np.random.default_rng(0)
        >>> z = rng.normal(size=(100, 2))
        >>> X = np.hstack([z @ rng.normal(size=(2, 150)) + 3 * rng.normal(size=(100, 150))
        ...                for _ in range(2)])
        >>> round(LinearCCA(n_components=2).fit(X).score(X), 3)  # on its training rows
        1.0
        >>> grid = {"ridge": [1e-6, 1.0, 100.0]}
        >>> search = GridSearchCV(LinearCCA(n_components=2), grid).fit(X)
        >>> search.best_params_
        {'ridge': 100.0}
        >>> search.cv_results_["mean_test_score"].round(2)
        array([0.88, 0.9 , 0.92])
        """
        check_is_fitted(self)
        X = self._validate_input(X, reset=False)
        if X.shape[0] < 2:
            raise ValueError(
                "score needs at least 2 rows to correlate the variates over; got "
                f"{X.shape[0]}."
            )
        variates = []
        for index, cols in enumerate(self.modalities_.values()):
            _, v = self._centred_and_variates(X[:, cols], index)
            variates.append(v - v.mean(axis=0))
        pairs = itertools.combinations(variates, 2)
        return float(np.mean([_correlations(pair) for pair in pairs]))

    # TODO(0.4): remove, with the upgrade of residual_maps_ pickles in __setstate__
    def __getattr__(self, name):
        # residual_maps_ is computed only when asked for by name: a property
        # would be computed, columns x columns, by whatever lists the
        # estimator's attributes (dir, tab completion, its HTML display)
        if name == "n_components_":  # its property found no weights_
            check_is_fitted(self)
        if name != "residual_maps_":
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        warnings.warn(
            "residual_maps_ was deprecated in 0.2 and will be removed in 0.4: it is a "
            "columns x columns matrix per modality. Use loadings_: the specific block is "
            "(x_i - means_[i]) - ((x_i - means_[i]) @ weights_[i]) @ loadings_[i].",
            FutureWarning,
            stacklevel=2,
        )
        check_is_fitted(self, "loadings_")
        return [np.eye(L.shape[1]) - W @ L for W, L in zip(self.weights_, self.loadings_)]

    def __setstate__(self, state):
        state = dict(state)
        if "residual_maps_" in state:  # pickled before 0.2
            state["loadings_"] = loadings_from_residual_maps(
                state["weights_"], state.pop("residual_maps_")
            )
        super().__setstate__(state)

    def _check_directions(self, count, name):
        """Refuse more components than modality ``name`` has directions of
        variation on the training rows (``count``)."""
        if self.n_components is not None and self.n_components > count:
            raise ValueError(
                f"n_components={self.n_components} exceeds the {count} directions in "
                f"which modality {name!r} varies on the training rows (fewer rows than "
                f"columns, or constant or collinear columns); use at most {count}, or "
                "fit on more rows."
            )

    @property
    def n_components_(self):
        # the fitted width, read from the weights rather than stored: files
        # saved before it existed load with it (unfitted, __getattr__ says so)
        return self.weights_[0].shape[1]

    def _block_widths(self):
        return {
            # the fitted width: n_components may have been set since the fit
            "shared": [W.shape[1] for W in self.weights_],
            "specific": list(self._modality_sizes),
        }

    def _encode_batch(self, x, blocks):
        parts = np.split(x, np.cumsum(self._modality_sizes)[:-1], axis=1)
        return {
            block: [self._encode_modality_batch(p, i, block) for i, p in enumerate(parts)]
            for block in blocks
        }

    def _centred_and_variates(self, x, index):
        """Modality ``index``'s columns ``x`` less their training means, and
        their canonical variates, in float64."""
        centred = np.asarray(x, dtype=np.float64) - self.means_[index]
        return centred, centred @ self.weights_[index]

    def _encode_modality_batch(self, x, index, block):
        centred, variates = self._centred_and_variates(x, index)
        if block != "shared":
            centred -= variates @ self.loadings_[index]
        with np.errstate(over="ignore"):  # values beyond float32: refused by the caller
            return (variates if block == "shared" else centred).astype(np.float32)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


def _warn_of_empty_specific_blocks(k, whiteners, names):
    """Warn of each modality whose every column direction is taken by the
    ``k`` canonical variates: its specific block, what is left of it, is
    zero on every row. (A modality whose columns vary in fewer directions on
    the training rows than it has columns keeps the others for new rows.)"""
    for W, name in zip(whiteners, names):
        if W.shape[0] <= k:
            fewer = (f"set n_components below {W.shape[0]} for a specific block, or "
                     if W.shape[0] > 1 else "")
            warnings.warn(
                f"modality {name!r} has {W.shape[0]} column(s), all of whose directions "
                f"the {k} canonical variate(s) take, so that its specific block is zero "
                f"on every row; {fewer}set output='shared' for the variates alone.",
                UserWarning,
                stacklevel=5,  # the caller's line, past fit and its parameter check
            )
