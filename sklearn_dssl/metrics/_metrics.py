"""Evaluation of learned representations: probes, leakage, identifiability."""

import functools
import warnings
from numbers import Integral, Real

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn import get_config
from sklearn.base import BaseEstimator, TransformerMixin, clone, is_classifier
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import LinearRegression, LogisticRegression, RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import StratifiedKFold, check_cv, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline, make_union
from sklearn.preprocessing import StandardScaler
from sklearn.utils._missing import is_pandas_na, is_scalar_nan
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metadata_routing import MetadataRequest
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from .._base import MultimodalTransformer, modality_name, readable_input
from .._validation import validate_estimator_settings, validate_params_refusing_bools


@validate_params_refusing_bools(
    {"estimator": "no_validation", "X": "no_validation",
     "block": [StrOptions({"shared", "specific"})],
     "modalities": ["array-like", str, Integral, None]},
    prefer_skip_nested_validation=True,
)
def block_features(estimator, X, block="shared", modalities=None):
    """The chosen block of a fitted estimator on X, modalities side by side.

    Parameters
    ----------
    estimator : fitted estimator with ``transform_blocks``, Pipeline or search
        A fitted estimator of the package, e.g. :class:`~sklearn_dssl.DisentangledSSL`,
        a fitted :class:`~sklearn.pipeline.Pipeline` whose last step is
        one (its earlier steps transform X first), or a search refitted on
        one (e.g. :class:`~sklearn.model_selection.GridSearchCV`: its
        ``best_estimator_``, as in nested cross-validation).
    X : array-like of shape (n_samples, n_features)
        Data with the columns seen in fit.
    block : {"shared", "specific"}, default="shared"
        Which block to return.
    modalities : list of str or int, str, int or None, default=None
        Modalities whose block to concatenate, by name or by position (as
        in ``transform_modality``); None takes all of them.

    Returns
    -------
    Z : ndarray of shape (n_samples, n_columns)
        The block of each chosen modality, side by side.

    Examples
    --------
    >>> from sklearn_dssl import LinearCCA
    >>> from sklearn_dssl.datasets import make_paper_synthetic
    >>> from sklearn_dssl.metrics import block_features
    >>> data = make_paper_synthetic(n_samples=500, n_latent=3, n_features=8, random_state=0)
    >>> cca = LinearCCA(modalities=data.modalities, n_components=3).fit(data.data)
    >>> block_features(cca, data.data, block="specific", modalities="m1").shape
    (500, 8)
    """
    if isinstance(estimator, type):
        raise TypeError(
            f"estimator={estimator.__name__} is a class; pass a fitted instance, e.g. "
            f"{estimator.__name__}(...).fit(X)."
        )
    while True:  # the estimator a Pipeline ends in, or a fitted search refitted
        if isinstance(estimator, Pipeline):
            if len(estimator) > 1:
                X = estimator[:-1].transform(X)
            estimator = estimator[-1]
        elif hasattr(estimator, "best_estimator_"):  # e.g. the outer scorer of nested CV
            estimator = estimator.best_estimator_
        else:
            break
    if not hasattr(estimator, "transform_blocks"):
        raise TypeError(
            f"{type(estimator).__name__} has no transform_blocks: the probe metrics read "
            "the blocks of a fitted estimator of sklearn_dssl (DisentangledSSL, "
            "MultimodalContrastive, LinearCCA, JointOptSSL, FOCAL, DMVAE), of a "
            "Pipeline ending in one, or of a search fitted with refit (its "
            "best_estimator_)."
        )
    if isinstance(estimator, MultimodalTransformer):
        check_is_fitted(estimator)
        fitted = estimator._fitted_blocks()
        # that block's work alone; a block the model lacks is refused below
        blocks = (estimator.transform_blocks(X, blocks=[block]) if block in fitted
                  else dict.fromkeys(fitted))
    else:
        blocks = estimator.transform_blocks(X)
    if block not in blocks:
        name = type(estimator).__name__
        why = (f"{name} was fitted without its {block} block; fit it with output='all' for "
               "both blocks, or" if block in getattr(estimator, "_blocks", (block,))
               else f"{name} has no {block} block;")
        raise ValueError(f"block={block!r} is not one of {list(blocks)}: {why} probe "
                         f"block={list(blocks)[0]!r}.")
    if isinstance(modalities, (str, Integral)):
        modalities = [modalities]
    names = list(blocks[block]) if modalities is None else list(modalities)
    if not names:
        raise ValueError(
            f"modalities is empty; name at least one of {list(blocks[block])}, or pass "
            "None for all of them."
        )
    names = [modality_name(m, list(blocks[block]), "modalities") for m in names]
    unknown = [m for m in names if m not in blocks[block]]
    if unknown:
        raise ValueError(f"modalities {unknown} are none of {list(blocks[block])}.")
    return np.hstack([blocks[block][m] for m in names])


_PROBE_PARAMETERS = {
    "block": [StrOptions({"shared", "specific"})],
    "modalities": ["array-like", str, Integral, None],
    "probe": [HasMethods(["fit", "predict"]), None],
    "cv": ["cv_object"],
    "target": [Interval(Integral, None, None, closed="neither"), str, None],
}

# The ``target`` entry of the probes' Parameters sections.
_TARGET_DOC = """target : int, str or None, default=None
        The column of ``y`` to probe for, when ``y`` holds several labels
        (e.g. the ``target`` of :func:`~sklearn_dssl.datasets.make_paper_synthetic`):
        its position, or its name in a DataFrame ``y``. None: ``y`` is
        the one label."""


# The Parameters section of the scorer factories.
_SCORER_PARAMETERS_DOC = """block : {"shared", "specific"}, default="shared"
        Which block the probe sees.
    modalities : list of str or int, str, int or None, default=None
        Modalities whose block the probe sees, by name or position (all when
        None).
    probe : classifier or None, default=None
        Unfitted classifier; when None, :func:`default_probe`.
    cv : int, cross-validation generator or iterable, default=3
        Cross-validation of the probe on the embedded held-out fold. An
        iterable of ``(train, test)`` index pairs is read once, here, and
        serves every call of the scorer (an iterator, such as a splitter's
        ``split(...)``, could serve only the first); its indices must fit
        the rows scored, so in a search, whose held-out folds are of their
        own sizes, give an int or a splitter.
    """ + _TARGET_DOC


# The ``groups`` entry of the probes' Parameters sections.
_GROUPS_DOC = """groups : array-like of shape (n_samples,) or None, default=None
        Group labels of the rows (e.g. donors, batches), for a ``cv`` that
        splits by group, such as :class:`~sklearn.model_selection.GroupKFold`:
        the probe is then tested on groups it was not trained on."""


def _with_parameter_docs(function):
    """Put the ``target`` and ``groups`` parameters' documentation, or the
    scorer factories' parameters, into ``function``'s docstring (where it
    has one)."""
    if function.__doc__:
        function.__doc__ = (function.__doc__.replace("{scorer_parameters}", _SCORER_PARAMETERS_DOC)
                            .replace("{target}", _TARGET_DOC).replace("{groups}", _GROUPS_DOC))
    return function


def _target_column(y, target):
    """Column ``target`` of the labels ``y`` (``y`` itself when None)."""
    if target is None:
        return y
    if isinstance(target, str):
        columns = getattr(y, "columns", None)
        if columns is None or target not in columns:
            have = "" if columns is None else f" (its columns: {list(columns)})"
            raise ValueError(
                f"target={target!r} names a column of y, but y has no column of that "
                f"name{have}; pass y as a DataFrame with it, or target as a position."
            )
        return y[target]
    shape = np.shape(y)
    if len(shape) != 2 or not -shape[1] <= target < shape[1]:
        raise ValueError(
            f"target={target} picks a column of a 2-D y, but y has shape {shape}; pass "
            "y with one column per label, or leave target=None for a y of one label."
        )
    return y.iloc[:, target] if hasattr(y, "iloc") else np.asarray(y)[:, target]


@validate_params_refusing_bools(
    {"estimator": "no_validation", "X": "no_validation", "y": "no_validation",
     **_PROBE_PARAMETERS, "groups": ["array-like", None]},
    # False: the probe's own settings are checked when it is fitted, as in
    # cross_val_score
    prefer_skip_nested_validation=False,
)
@_with_parameter_docs
def probe_score(estimator, X, y, *, block="shared", modalities=None, probe=None, cv=3,
                target=None, groups=None):
    """Accuracy of a linear probe on one block of a fitted estimator.

    X is embedded by ``estimator``; the probe (by default a
    ``LogisticRegression``) is cross-validated on the embedding, and the mean
    held-out accuracy is returned. With the signature of a scikit-learn
    scorer, it can be given as ``scoring=`` to GridSearchCV on an estimator
    of the package or on a Pipeline ending in one (see
    :func:`make_probe_scorer`): the held-out fold is embedded and probed.

    Parameters
    ----------
    estimator : fitted estimator with ``transform_blocks``, Pipeline or search
        A fitted estimator of the package, e.g. :class:`~sklearn_dssl.DisentangledSSL`,
        a fitted Pipeline whose last step is one, or a search refitted on one
        (its ``best_estimator_``).
    X : array-like of shape (n_samples, n_features)
        Data with the columns seen in fit.
    y : array-like of shape (n_samples,) or (n_samples, n_labels)
        The label to probe for; with several, ``target`` picks it.
    block : {"shared", "specific"}, default="shared"
        Which block the probe sees.
    modalities : list of str or int, str, int or None, default=None
        Modalities whose block the probe sees, by name or position (all when
        None).
    probe : classifier or None, default=None
        Unfitted classifier; when None, :func:`default_probe`.
        A regressor probes a continuous ``y`` (the score is then its own,
        e.g. R^2).
    cv : int, cross-validation generator or iterable, default=3
        Cross-validation of the probe on the embedding, as in
        :func:`~sklearn.model_selection.cross_val_score`: a number of
        folds, a splitter, or ``(train, test)`` index pairs of the rows.
    {target}
    {groups}

    Returns
    -------
    score : float
        Mean cross-validated accuracy; chance is the majority-class rate.

    Raises
    ------
    ValueError
        For a classifier probe, when ``y`` is not class labels, holds one
        class, or (two classes, ``cv`` an int) holds a single row of one of
        them.

    Examples
    --------
    >>> from sklearn_dssl import DisentangledSSL
    >>> from sklearn_dssl.datasets import make_paper_synthetic
    >>> from sklearn_dssl.metrics import probe_score
    >>> data = make_paper_synthetic(n_samples=600, n_latent=4, n_features=8, random_state=0)
    >>> model = DisentangledSSL(modalities=data.modalities, n_shared=4, n_specific=4,
    ...     hidden_layer_sizes=(32,), max_epochs_shared=10, max_epochs_specific=2,
    ...     batch_size=64, lr=1e-3, random_state=0).fit(data.data)
    >>> 0.0 <= probe_score(model, data.data, data.target[:, 1]) <= 1.0
    True
    """
    _check_probe(probe)
    if y is None:
        raise ValueError(
            "the probe needs labels, but y is None; pass them, e.g. "
            "search.fit(X, y) for a search scored by make_probe_scorer."
        )
    if hasattr(y, "detach"):  # a tensor, read from the CPU without its gradient
        y = readable_input(y, "y").numpy()
    if target is None and np.ndim(y) == 2 and np.shape(y)[1] > 1:
        raise ValueError(
            f"y has {np.shape(y)[1]} columns, but the probe scores one label; pick it "
            "with target= (its column's position, or name in a DataFrame y)."
        )
    y = _target_column(y, target)
    Z = block_features(estimator, X, block, modalities)
    probe = default_probe() if probe is None else probe
    if is_classifier(probe):
        y = _readable_labels(y)  # before check_cv, which sorts them to stratify
    cv = _splits_read_once(cv)
    if isinstance(cv, list):
        _check_splits_index_the_rows(cv, len(Z))
    folds = check_cv(cv, y, classifier=is_classifier(probe))
    if is_classifier(probe):
        _check_labels(y, len(Z), folds)
    if groups is not None:
        groups = _check_groups(groups, len(Z))
    elif _splits_by_group(folds):
        raise ValueError(
            f"cv={folds!r} splits the rows by group, but no groups were given; pass "
            "groups= (one group label per row). A search passes its held-out rows' "
            "groups to a scorer that asks for them: under "
            "sklearn.config_context(enable_metadata_routing=True), "
            "make_probe_scorer(...).set_score_request(groups=True) and "
            "search.fit(X, y, groups=groups)."
        )
    # the splits themselves: cross_val_score takes groups only without
    # metadata routing, and as params= only with it
    folds = list(folds.split(Z, y, groups))
    try:
        return float(np.mean(cross_val_score(probe, Z, y, cv=folds, error_score="raise")))
    except ValueError:
        # most classifiers cannot be fitted on one class (some, such as
        # nearest neighbours, can): named where the probe's fit failed
        if is_classifier(probe):
            _check_training_folds_hold_two_classes(probe, Z, y, folds)
        raise


def _check_groups(groups, n_rows):
    """``groups`` as a 1-D array of one group label per row."""
    groups = check_array(readable_input(groups, "groups"), ensure_2d=False, dtype=None,
                         ensure_all_finite=False, input_name="groups")
    if groups.ndim == 2 and groups.shape[1] == 1:
        groups = groups.ravel()
    if groups.ndim != 1:
        raise ValueError(
            f"groups has shape {groups.shape}; pass one group label per row, a 1-D "
            "array of length n_samples."
        )
    check_consistent_length(np.empty(n_rows), groups)
    try:
        np.unique(groups)  # what the group splitters do first
    except TypeError as exc:
        raise ValueError(_unreadable_labels(groups, "groups", "a splitter cannot sort")) \
            from exc
    return groups


def default_probe():
    """The probe of :func:`probe_score` and the other metrics when none is given.

    A ``LogisticRegression(max_iter=1000)`` on the standardised embedding, so
    that the score does not depend on the embedding's scale: contrastive
    losses leave it free, and on embeddings of standard deviation near 1e-3
    an unscaled logistic regression is held at the majority class by its
    regularisation.

    Returns
    -------
    probe : Pipeline
        ``make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))``,
        unfitted.

    Examples
    --------
    >>> from sklearn_dssl.metrics import default_probe
    >>> default_probe().steps[-1][1]
    LogisticRegression(max_iter=1000)
    """
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))


def _check_labels(y, n_samples, folds):
    """Refuse labels (a 1-D array, from :func:`_readable_labels`) that a
    cross-validated classifier cannot be scored on."""
    check_consistent_length(y, np.empty(n_samples))
    kind = type_of_target(y, input_name="y")
    if kind not in ("binary", "multiclass"):
        raise ValueError(
            f"y is {kind!r}, but the probe is a classifier and needs class labels; "
            "pass a regressor as probe= to score a continuous target."
        )
    classes, counts = np.unique(y, return_counts=True)
    classes = classes.tolist()
    if len(classes) < 2:
        raise ValueError(f"y holds a single class ({classes[0]!r}); a probe needs two or more.")
    if isinstance(folds, StratifiedKFold) and len(classes) == 2 and counts.min() < 2:
        # the fold that tests the lone row trains on the other class alone
        raise ValueError(
            f"y holds a single row of class {classes[counts.argmin()]!r}, so the probe's "
            "cross-validation would train on one class where that row is held out; "
            "pass more rows of it."
        )


def _splits_by_group(folds):
    """Whether the splitter ``folds`` needs the rows' groups to split them
    (scikit-learn's group splitters ask for them in their metadata request)."""
    try:
        requests = folds.get_metadata_routing().split.requests
    except AttributeError:  # a splitter of the user's own, without routing
        return False
    return requests.get("groups") is True


def _check_training_folds_hold_two_classes(probe, Z, y, folds):
    """Name the split whose training rows hold one class (e.g. rows sorted by
    label, split by KFold) where the probe's fit fails on that split: the
    cause of a failed cross-validation, rather than another error."""
    for i, (train, _) in enumerate(folds):
        classes = np.unique(y[train]).tolist()
        if len(classes) != 1:
            continue
        try:
            clone(probe).fit(Z[train], y[train])
        except ValueError as error:
            raise ValueError(
                f"the training rows of the probe's split {i} hold a single class "
                f"({classes[0]!r}), and the probe could not be fitted on them ({error}); "
                "use a cv whose training rows hold two classes or more, e.g. shuffle the "
                "rows or use StratifiedKFold(shuffle=True)."
            ) from error


def _splits_read_once(cv):
    """``cv`` as a list where it is an iterable of ``(train, test)`` pairs (a
    generator of splits is used up by reading it), else as it is."""
    if cv is not None and not isinstance(cv, Integral) and not hasattr(cv, "split"):
        return list(cv)
    return cv


def _check_splits_index_the_rows(splits, n_rows):
    """Refuse a list of splits that are no ``(train, test)`` pairs of
    integer indices or boolean masks, holding rows on both sides, and pairs
    that point past the ``n_rows`` rows probed: a scorer's list of splits,
    made for some rows, used on a search's held-out fold of fewer."""
    if not splits:
        raise ValueError(
            "cv is an empty list of splits; give at least one (train, test) pair of row "
            "indices, or cv as an int or a splitter such as KFold(3)."
        )
    for i, split in enumerate(splits):
        if isinstance(split, (str, bytes)) or not hasattr(split, "__len__") or len(split) != 2:
            what = (f"a {type(split).__name__} of {len(split)} items" if hasattr(split, "__len__")
                    else repr(split))
            raise ValueError(
                f"cv's split {i} is {what}, not a (train, test) "
                "pair; give cv as a list of (train, test) pairs of row indices, an int or a "
                "splitter such as KFold(3)."
            )
        for side, indices in zip(("training", "test"), map(np.asarray, split)):
            if indices.ndim != 1 or indices.dtype.kind not in "biu" or not (
                    indices.sum() if indices.dtype == bool else indices.size):
                raise ValueError(
                    f"cv's split {i} gives its {side} rows as an array of {indices.dtype} of "
                    f"shape {indices.shape}; each side of a split is a non-empty 1-D array "
                    "of integer row indices, or a boolean mask of the rows selecting at "
                    "least one."
                )
    for train, test in splits:
        for indices in (np.asarray(train), np.asarray(test)):
            if indices.dtype == bool:
                fits = len(indices) == n_rows
            else:
                fits = not indices.size or (indices.max() < n_rows and indices.min() >= -n_rows)
            if not fits:
                raise ValueError(
                    f"cv's splits index rows outside the {n_rows} rows probed; a list of "
                    "(train, test) pairs serves only rows of the number it was made for. "
                    "A search scores each held-out fold, of its own size: give cv as an int "
                    "or a splitter such as KFold(3)."
                )


def _readable_labels(y):
    """``y`` as a 1-D array of labels a classifier reads as classes; a
    ValueError that names the cause for labels of several types or missing
    ones, where scikit-learn raises a TypeError from sorting them or calls
    them 'unknown'."""
    try:
        labels = column_or_1d(y)  # a column of labels is one label, as documented
        # sorting the classes is what labels of several types, or missing
        # among strings, fail
        np.unique(labels)
    except TypeError as exc:
        raise ValueError(_unreadable_labels(y)) from exc
    if labels.dtype == object and type_of_target(labels) == "unknown":
        raise ValueError(_unreadable_labels(labels))
    return labels


def _unreadable_labels(y, name="y", reader="a classifier does not read as classes"):
    """Why the object labels ``y`` (``name`` in the message) are none that
    ``reader`` reads: missing labels, or labels of several types (or of a
    type scikit-learn does not take)."""
    values = np.asarray(y, dtype=object).ravel()
    missing = [i for i, v in enumerate(values)
               if v is None or is_scalar_nan(v) or is_pandas_na(v)]
    if missing:
        return (
            f"{name} lacks the label of {len(missing)} row(s) (None, NaN or pd.NA; the first "
            f"at position {missing[0]}); drop those rows, or give each a label."
        )
    kinds = sorted({type(v).__name__ for v in values})
    return (
        f"{name} holds labels of type {', '.join(kinds)} in an object array, which "
        f"{reader}; convert them to one type, e.g. {name}.astype(int) or {name}.astype(str)."
    )


@validate_params_refusing_bools(
    {"estimator": "no_validation", "X": "no_validation", "y": "no_validation",
     **_PROBE_PARAMETERS, "groups": ["array-like", None]},
    # False: the probe's own settings are checked when it is fitted, as in
    # cross_val_score
    prefer_skip_nested_validation=False,
)
@_with_parameter_docs
def leakage_score(estimator, X, y, *, block="shared", modalities=None, probe=None, cv=3,
                  target=None, groups=None):
    """Accuracy of a linear probe on a label the block should *not* carry.

    The same computation as :func:`probe_score`, read the other way: lower is
    better, chance (0.5 for balanced binary labels) is ideal. Typical uses:
    the shared block on a modality-specific label, or a specific block on
    the shared label.

    Parameters
    ----------
    estimator : fitted estimator with ``transform_blocks``, Pipeline or search
        A fitted estimator of the package, e.g. :class:`~sklearn_dssl.DisentangledSSL`,
        a fitted Pipeline whose last step is one, or a search refitted on one
        (its ``best_estimator_``).
    X : array-like of shape (n_samples, n_features)
        Data with the columns seen in fit.
    y : array-like of shape (n_samples,) or (n_samples, n_labels)
        The label the block should not carry; with several, ``target``
        picks it.
    block : {"shared", "specific"}, default="shared"
        Which block the probe sees.
    modalities : list of str or int, str, int or None, default=None
        Modalities whose block the probe sees, by name or position (all when
        None).
    probe : classifier or None, default=None
        Unfitted classifier; when None, :func:`default_probe`.
    cv : int, cross-validation generator or iterable, default=3
        Cross-validation of the probe on the embedding, as in
        :func:`~sklearn.model_selection.cross_val_score`: a number of
        folds, a splitter, or ``(train, test)`` index pairs of the rows.
    {target}
    {groups}

    Returns
    -------
    leakage : float
        Mean cross-validated accuracy of the probe; lower is better.

    Examples
    --------
    >>> from sklearn_dssl import LinearCCA
    >>> from sklearn_dssl.datasets import make_paper_synthetic
    >>> from sklearn_dssl.metrics import leakage_score
    >>> data = make_paper_synthetic(n_samples=2000, n_latent=3, n_features=8, random_state=0)
    >>> cca = LinearCCA(modalities=data.modalities, n_components=3).fit(data.data)
    >>> # the shared block on modality 1's own label: near chance
    >>> bool(leakage_score(cca, data.data, data.target[:, 0]) < 0.6)
    True
    """
    return probe_score(estimator, X, y, block=block, modalities=modalities, probe=probe, cv=cv,
                       target=target, groups=groups)


@validate_params_refusing_bools(_PROBE_PARAMETERS, prefer_skip_nested_validation=True)
@_with_parameter_docs
def make_probe_scorer(*, block="shared", modalities=None, probe=None, cv=3, target=None):
    """A scorer for GridSearchCV that probes one block for the target ``y``.

    Parameters
    ----------
    {scorer_parameters}

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y) -> float``, :func:`probe_score` with these
        settings. With scikit-learn's metadata routing enabled,
        ``scorer.set_score_request(groups=True)`` has a search pass the
        held-out rows' ``groups`` to it, for a ``cv`` that splits by group.

    See Also
    --------
    make_leakage_scorer : The scorer of a label a block should not carry.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn_dssl import DisentangledSSL
    >>> from sklearn_dssl.metrics import make_probe_scorer
    >>> search = GridSearchCV(
    ...     DisentangledSSL(), {"beta": [0.01, 1.0]},
    ...     scoring=make_probe_scorer(block="shared"))

    Rows in groups (donors, say): the search's folds and the probe's own
    split by group, so that no group is both trained and tested on.

    >>> import sklearn
    >>> from sklearn.model_selection import GroupKFold
    >>> with sklearn.config_context(enable_metadata_routing=True):
    ...     scorer = make_probe_scorer(cv=GroupKFold(3)).set_score_request(groups=True)
    ...     search = GridSearchCV(DisentangledSSL(), {"beta": [0.01, 1.0]},
    ...                           cv=GroupKFold(3), scoring=scorer)
    ...     # search.fit(X, y, groups=groups), inside the same context
    """
    return _ProbeScorer("make_probe_scorer", _probe_settings(block, modalities, probe, cv, target))


@validate_params_refusing_bools(_PROBE_PARAMETERS, prefer_skip_nested_validation=True)
@_with_parameter_docs
def make_leakage_scorer(*, block="shared", modalities=None, probe=None, cv=3, target=None):
    """A scorer for GridSearchCV of the leakage of a label into one block, negated.

    The scorer returns minus :func:`leakage_score`, so that, as for every
    scikit-learn scorer, higher is better (as for ``"neg_log_loss"``). Beside
    :func:`make_probe_scorer` in a search's ``scoring`` dict, it measures
    both sides of disentanglement in one search: how much of its own label
    a block keeps and how much of a label it should not carry leaks into
    it. Searching ``ortho_weight`` on the probe alone would favour the
    settings that keep everything, the other label included.

    Parameters
    ----------
    {scorer_parameters}

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y) -> float``, minus :func:`leakage_score`
        with these settings. It takes ``groups`` as
        :func:`make_probe_scorer`'s does.

    See Also
    --------
    make_probe_scorer : The scorer of a label a block should carry.

    Examples
    --------
    Choose ``ortho_weight`` for the specific block of ``m1``: its own label
    is the first column of ``y``, the shared label the second; refit the
    setting that keeps the most of the first among those that leak the
    least of the second (within 0.02).

    >>> import numpy as np
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn_dssl import DisentangledSSL
    >>> from sklearn_dssl.metrics import make_leakage_scorer, make_probe_scorer
    >>> scoring = {
    ...     "specific": make_probe_scorer(block="specific", modalities="m1", target=0),
    ...     "neg_leakage": make_leakage_scorer(block="specific", modalities="m1", target=1),
    ... }
    >>> def most_specific_of_the_least_leaky(results):
    ...     leakage = -results["mean_test_neg_leakage"]
    ...     specific = results["mean_test_specific"]
    ...     scored = np.isfinite(leakage) & np.isfinite(specific)  # failed settings: NaN
    ...     if not scored.any():
    ...         raise ValueError("every setting failed to fit or score")
    ...     candidates = np.flatnonzero(scored & (leakage <= leakage[scored].min() + 0.02))
    ...     return int(candidates[np.argmax(specific[candidates])])
    >>> search = GridSearchCV(
    ...     DisentangledSSL(modalities={"m1": 100, "m2": 100}),
    ...     {"ortho_weight": [0.1, 1.0, 10.0]},
    ...     scoring=scoring, refit=most_specific_of_the_least_leaky)
    """
    settings = _probe_settings(block, modalities, probe, cv, target)
    return _ProbeScorer("make_leakage_scorer", settings, negate=True)


def _probe_settings(block, modalities, probe, cv, target):
    """The probe's settings for a scorer, checked once, here."""
    _check_probe(probe)
    cv = _splits_read_once(cv)  # the splits, for every call
    return dict(block=block, modalities=modalities, probe=probe, cv=cv, target=target)


class _ProbeScorer:
    """A scorer made by ``factory`` (make_probe_scorer or make_leakage_scorer):
    :func:`probe_score` with its ``settings``, negated for a leakage, shown
    as the call that made it."""

    def __init__(self, factory, settings, negate=False):
        self.factory = factory
        self.settings = settings
        self.negate = negate

    def __call__(self, estimator, X, y=None, **metadata):
        unknown = sorted(set(metadata) - {"groups"})
        if unknown:
            raise TypeError(f"{self!r} takes groups as metadata, not {unknown}.")
        score = probe_score(estimator, X, y, **self.settings, groups=metadata.get("groups"))
        return -score if self.negate else score

    def set_score_request(self, *, groups=True):
        """Ask a search for the ``groups`` of the held-out rows (metadata routing).

        Parameters
        ----------
        groups : bool or str, default=True
            True: the search passes the ``groups`` given to its ``fit`` to
            the scorer, which splits the probe's cross-validation by them
            (with a group ``cv`` such as ``GroupKFold``); a str: the
            metadata of that name instead; False: not passed, as before
            this call.

        Returns
        -------
        self : scorer
        """
        if not isinstance(groups, (bool, str)):
            raise TypeError(f"groups={groups!r}: give True, False or the metadata's name.")
        if not get_config()["enable_metadata_routing"]:
            raise RuntimeError(
                "set_score_request needs metadata routing; enable it with "
                "sklearn.set_config(enable_metadata_routing=True)."
            )
        self._groups_request = groups
        return self

    def get_metadata_routing(self):
        """The metadata the scorer takes: ``groups``, when requested."""
        request = MetadataRequest(owner=self.factory)
        request.score.add_request(param="groups", alias=getattr(self, "_groups_request", False))
        return request

    def __repr__(self):
        given = ", ".join(f"{name}={value!r}" for name, value in self.settings.items())
        return f"{self.factory}({given})"


def _check_probe(probe, name="probe", kinds=("classifier", "regressor")):
    """Check a given probe (or the estimator passed as ``name``): one of
    ``kinds`` where its tags say what it is, and its own settings and those
    of the estimators inside it (a Pipeline's steps), up front: a search
    would otherwise find a bad setting in every fold's scoring."""
    if probe is None:
        return
    if isinstance(probe, type):
        raise TypeError(
            f"{name}={probe.__name__} is a class; pass an instance, e.g. "
            f"{name}={probe.__name__}()."
        )
    kind = _estimator_type(probe)
    if kind is not None and kind not in kinds:
        kind = kind.replace("_", " ")
        raise TypeError(
            f"{name}={probe!r} is {'an' if kind[0] in 'aeiou' else 'a'} {kind}, not "
            f"{' or '.join(f'a {k}' for k in kinds)}; pass "
            f"{'one' if len(kinds) > 1 else f'a {kinds[0]}'}."
        )
    try:
        validate_estimator_settings(probe)
    except ValueError as exc:  # named for the probe, not for this function
        raise _InvalidProbeError(f"{name}={probe!r}: {exc}") from None


def _tags(estimator):
    """``estimator``'s scikit-learn tags; None for one without them."""
    tags = getattr(estimator, "__sklearn_tags__", None)
    return None if tags is None else tags()


def _estimator_type(estimator):
    """What scikit-learn's tags say ``estimator`` is ("classifier",
    "regressor", "clusterer", ...); None for an estimator without tags, or
    whose tags do not say."""
    tags = _tags(estimator)
    return None if tags is None else tags.estimator_type


class _InvalidProbeError(ValueError, TypeError):
    """A probe's own setting is invalid: a ValueError and a TypeError, as
    scikit-learn's InvalidParameterError is (whose message this function's
    parameter check would reword as if the setting were its own)."""


def _check_pair(a, b, names):
    """``a`` and ``b`` (named ``names`` in messages) as 2-D arrays of equal length."""
    a = check_array(readable_input(a, names[0]), ensure_min_samples=2, input_name=names[0])
    b = check_array(readable_input(b, names[1]), ensure_min_samples=2, input_name=names[1])
    check_consistent_length(a, b)
    return a, b


@validate_params_refusing_bools(
    {"z_true": ["array-like"], "z_learned": ["array-like"]}, prefer_skip_nested_validation=True
)
def mcc(z_true, z_learned):
    """Mean correlation coefficient under the best one-to-one matching of dimensions.

    Absolute Pearson correlations between every true and every learned
    dimension, matched one-to-one by the Hungarian algorithm
    (``scipy.optimize.linear_sum_assignment``); the mean of the matched
    correlations. 1 means the learned dimensions are the true ones up to
    permutation, sign and scale.

    Parameters
    ----------
    z_true : array-like of shape (n_samples, n_true)
        The true latents.
    z_learned : array-like of shape (n_samples, n_learned)
        The learned representation of the same rows.

    Returns
    -------
    mcc : float
        Mean over ``min(n_true, n_learned)`` matched pairs. A constant
        dimension correlates with nothing (0).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dssl.metrics import mcc
    >>> z = np.random.default_rng(0).normal(size=(100, 3))
    >>> round(mcc(z, -2 * z[:, [2, 0, 1]]), 6)
    1.0
    """
    a, b = (_centred_over_peak(z) for z in _check_pair(z_true, z_learned, ("z_true", "z_learned")))
    # the true-by-learned block of correlations alone
    norms = np.sqrt(np.outer(np.einsum("ij,ij->j", a, a), np.einsum("ij,ij->j", b, b)))
    with np.errstate(invalid="ignore", divide="ignore"):  # constant dimensions
        corr = (a.T @ b) / norms
    # within [-1, 1], as a correlation is (rounding can step past it)
    corr = np.clip(np.abs(np.nan_to_num(corr)), 0.0, 1.0)
    rows, cols = linear_sum_assignment(-corr)
    return float(corr[rows, cols].mean())


def _order_changing(metric):
    """Warn when ``metric``'s two arrays are passed by position: their order
    becomes ``(z_true, z_learned)`` in 0.4, as in :func:`mcc`."""

    @functools.wraps(metric)
    def warning_on_position(*args, **kwargs):
        if args:
            warnings.warn(
                f"{metric.__name__}(z_learned, z_true) takes its arrays in the opposite "
                "order to mcc(z_true, z_learned) and scikit-learn's metrics; from "
                f"sklearn_dssl 0.4 it will take {metric.__name__}(z_true, z_learned). Pass "
                "them by keyword, z_learned=... and z_true=..., which means the same in "
                "every version and silences this warning.",
                FutureWarning,
                stacklevel=2,
            )
        return metric(*args, **kwargs)

    return warning_on_position


# TODO(0.4): linear_r2(z_true, z_learned, ...), without _order_changing
@_order_changing
@validate_params_refusing_bools(
    {
        "z_learned": ["array-like"],
        "z_true": ["array-like"],
        "test_size": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def linear_r2(z_learned, z_true, *, test_size=0.25, random_state=0):
    """How well a linear map of the learned representation predicts the true latents.

    A ``LinearRegression`` from ``z_learned`` to ``z_true`` fitted on a train
    split; ``r2_score`` on the held-out split, averaged over true dimensions.

    Pass the two arrays by keyword: passed by position they are read as
    ``(z_learned, z_true)``, the opposite order to :func:`mcc`, with a
    ``FutureWarning``; from version 0.4 the positional order will be
    ``(z_true, z_learned)``.

    Parameters
    ----------
    z_learned : array-like of shape (n_samples, n_learned)
        The learned representation.
    z_true : array-like of shape (n_samples, n_true)
        The true latents of the same rows.
    test_size : float, default=0.25
        Fraction of the rows held out for the score.
    random_state : int, RandomState instance or None, default=0
        Seeds the split.

    Returns
    -------
    r2 : float
        Held-out R^2, averaged over the true dimensions; 1 is a perfect
        linear fit. It does not depend on the columns' scales.

    Raises
    ------
    ValueError
        When a column of ``z_true`` is constant over the held-out rows
        (R^2 is undefined for it).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dssl.metrics import linear_r2
    >>> z = np.random.default_rng(0).normal(size=(200, 2))
    >>> round(linear_r2(z_learned=z @ [[1.0, 2.0], [3.0, -1.0]], z_true=z), 6)
    1.0
    """
    # R^2 is the same for columns of any scale: over their peaks, the
    # regression's sums of squares neither overflow nor underflow
    pair = _check_pair(z_learned, z_true, ("z_learned", "z_true"))
    a, b = (_float64_over_peak(z, axis=0) for z in pair)
    return _held_out_r2(LinearRegression(), a, b, test_size, random_state, "linear_r2")


def _held_out_r2(regressor, z_learned, z_true, test_size, random_state, name):
    """R^2 of ``regressor``'s prediction of ``z_true`` from ``z_learned`` on
    held-out rows, averaged over ``z_true``'s columns (``name`` the metric's,
    for messages)."""
    a_train, a_test, b_train, b_test = train_test_split(
        z_learned, z_true, test_size=test_size, random_state=random_state
    )
    if len(a_test) < 2:
        raise ValueError(
            f"{name} holds out {len(a_test)} of the {len(z_learned)} rows, and R^2 needs "
            "at least 2; pass more rows or a larger test_size."
        )
    constant = np.flatnonzero(np.ptp(b_test, axis=0) == 0)
    if constant.size:
        raise ValueError(
            f"z_true's column(s) {constant.tolist()} are constant over the {len(b_test)} "
            "held-out rows, where R^2 is undefined; drop constant columns of z_true, or "
            "pass more rows or a larger test_size."
        )
    one_column = b_train.shape[1] == 1  # as a 1-D target, as regressors of one ask
    try:
        regressor.fit(a_train, b_train[:, 0] if one_column else b_train)
    except ValueError as exc:
        tags = _tags(regressor)
        if (one_column or tags is None or tags.target_tags.multi_output
                or "1d" not in str(exc)):
            raise
        raise ValueError(
            f"{name}: {type(regressor).__name__} failed on the {b_train.shape[1]} columns "
            f"of z_true ({exc}); it may predict one column only: wrap it in "
            "sklearn.multioutput.MultiOutputRegressor, or pass one column of z_true at a "
            "time."
        ) from exc
    prediction = np.asarray(regressor.predict(a_test))
    if prediction.shape not in (b_test.shape, b_test.shape[:1] if one_column else None):
        raise ValueError(
            f"{name}: the regressor predicted an array of shape {prediction.shape} for "
            f"{len(b_test)} rows of {b_test.shape[1]} true column(s); pass one that "
            "predicts every column of z_true."
        )
    # scored over each true column's peak (R^2 does not depend on it): its
    # sums of squares neither overflow nor underflow
    peak = np.max(np.abs(b_test), axis=0)
    return float(r2_score(b_test / peak, prediction.reshape(b_test.shape) / peak,
                          multioutput="uniform_average"))


# the default regressor of nonlinear_r2: the kernel's features (at most this
# many) and the ridge penalties its cross-validation chooses from
NYSTROEM_COMPONENTS = 500
RIDGE_ALPHAS = np.logspace(-6, 2, 9)


def _default_regressor(n_train, random_state):
    """Ridge regression on the standardised inputs beside the RBF kernel
    features of the inputs scaled as a whole (:class:`_WholeScaler`), the
    kernel approximated on at most ``NYSTROEM_COMPONENTS`` of the ``n_train``
    rows, the penalty chosen by leave-one-out cross-validation, the targets
    standardised."""
    kernel = Nystroem(kernel="rbf", n_components=min(NYSTROEM_COMPONENTS, n_train),
                      random_state=random_state)
    features = make_union(StandardScaler(), make_pipeline(_WholeScaler(), kernel))
    return TransformedTargetRegressor(
        regressor=make_pipeline(features, RidgeCV(alphas=RIDGE_ALPHAS)),
        transformer=StandardScaler(),
    )


class _WholeScaler(TransformerMixin, BaseEstimator):
    """Centre each column and divide all by one scale: the root of the
    columns' mean variance. Distances keep the columns' relative scales, so
    a collapsed dimension (noise of 1e-9, say) stays out of an RBF kernel's
    distances, where standardising would make it as wide as any other."""

    def fit(self, X, y=None):
        X = validate_data(self, X)
        self.mean_ = X.mean(axis=0)
        variance = X.var(axis=0).mean()
        self.scale_ = np.sqrt(variance) if variance > 0 else 1.0
        return self

    def transform(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return (X - self.mean_) / self.scale_


@validate_params_refusing_bools(
    {
        "z_true": ["array-like"],
        "z_learned": ["array-like"],
        "regressor": [HasMethods(["fit", "predict"]), None],
        "test_size": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def nonlinear_r2(z_true, z_learned, *, regressor=None, test_size=0.25, random_state=0):
    """How well a nonlinear map of the learned representation predicts the true latents.

    Block identifiability: a representation identifies a block of latents
    when some function of it recovers them, not necessarily a linear one. A
    nonlinear regressor from ``z_learned`` to ``z_true`` is fitted on a train
    split, and ``r2_score`` on the held-out split is averaged over the true
    dimensions, as in :func:`linear_r2` (whose linear map is the special
    case). The gap between the two is what the representation holds of
    ``z_true`` beyond a linear map.

    Parameters
    ----------
    z_true : array-like of shape (n_samples, n_true)
        The true latents, e.g. one block of them.
    z_learned : array-like of shape (n_samples, n_learned)
        The learned representation of the same rows.
    regressor : estimator or None, default=None
        An unfitted regressor with ``fit`` and ``predict`` that predicts
        ``n_true`` columns (a clone is fitted), e.g. an
        :class:`~sklearn.neural_network.MLPRegressor` or
        :class:`~sklearn.kernel_ridge.KernelRidge`, given the rows as
        float64. None takes kernel ridge
        regression with a linear kernel of the standardised representation
        plus an RBF kernel (``gamma`` 1 over the learned width) of the
        representation centred and scaled as a whole, so that a collapsed
        dimension stays small; the RBF kernel approximated by
        :class:`~sklearn.kernel_approximation.Nystroem` on at most 500 of the
        training rows, the penalty chosen from 1e-6 to 100 by
        :class:`~sklearn.linear_model.RidgeCV`, the true columns
        standardised. Its cost grows linearly with the rows (about 6 s for
        22,500 training rows of 100 columns on 2 idle CPU cores), it finds what a
        linear map finds, and the score depends neither on the scale of
        ``z_learned`` as a whole nor on that of each true column. 500
        landmarks capture smooth functions of a few dozen dimensions; of
        wider representations they add little to the linear map, where an
        MLP (much slower) can find more.
    test_size : float, default=0.25
        Fraction of the rows held out for the score.
    random_state : int, RandomState instance or None, default=0
        Seeds the split and the default regressor's choice of rows.

    Returns
    -------
    r2 : float
        Held-out R^2, averaged over the true dimensions; 1 is a perfect fit,
        and 0 or less means the representation predicts nothing of them.

    Raises
    ------
    ValueError
        When a column of ``z_true`` is constant over the held-out rows
        (R^2 is undefined for it).

    See Also
    --------
    linear_r2 : The same with a linear regression.
    mcc : Whether each learned dimension is one true dimension.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dssl.metrics import linear_r2, nonlinear_r2
    >>> z = np.random.default_rng(0).normal(size=(1000, 2))
    >>> bent = np.tanh(z) + 0.1 * z
    >>> round(linear_r2(z_learned=bent, z_true=z), 2)
    0.94
    >>> round(nonlinear_r2(z, bent), 2)
    1.0
    """
    z_true, z_learned = _check_pair(z_true, z_learned, ("z_true", "z_learned"))
    if regressor is None:
        # each true column over its peak, the representation over its peak
        # as a whole (the default scales it as a whole): their variances do
        # not overflow
        z_true = _float64_over_peak(z_true, axis=0)
        z_learned = _float64_over_peak(z_learned, axis=None)
        regressor = _default_regressor(len(z_true) - _n_held_out(len(z_true), test_size),
                                       random_state)
    else:
        z_true, z_learned = (np.asarray(z, dtype=np.float64) for z in (z_true, z_learned))
        _check_probe(regressor, "regressor", kinds=("regressor",))
        regressor = clone(regressor)
    return _held_out_r2(regressor, z_learned, z_true, test_size, random_state,
                        "nonlinear_r2")


def _n_held_out(n_samples, test_size):
    """The rows ``train_test_split`` holds out of ``n_samples`` at ``test_size``."""
    return int(np.ceil(test_size * n_samples))


@validate_params_refusing_bools(
    {
        "queries": ["array-like"],
        "candidates": ["array-like"],
        "k": [Interval(Integral, 1, None, closed="left")],
        "metric": [StrOptions({"cosine"})],
    },
    prefer_skip_nested_validation=True,
)
def retrieval_top_k(queries, candidates, *, k=1, metric="cosine"):
    """Cross-modal retrieval accuracy: is row i's partner among its k nearest candidates.

    For each query (e.g. a modality-1 shared embedding) the candidates (the
    modality-2 shared embeddings of the same rows) are ranked by cosine
    similarity; the fraction of queries whose own row is among the top ``k``.

    Parameters
    ----------
    queries : array-like of shape (n_samples, n_dims)
        One embedding per row, e.g. modality 1's shared block.
    candidates : array-like of shape (n_samples, n_dims)
        The embeddings to search, row i being query i's partner, e.g.
        modality 2's shared block of the same rows.
    k : int, default=1
        A query counts as a hit when its partner is among its ``k`` most
        similar candidates.
    metric : {"cosine"}, default="cosine"
        Similarity used for the ranking.

    Returns
    -------
    accuracy : float
        Chance is ``k / n_samples``. Candidates exactly as similar as the
        partner share its place, as if ties were broken at random: a
        collapsed representation, every row alike, scores chance.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_dssl.metrics import retrieval_top_k
    >>> a = np.eye(3)
    >>> retrieval_top_k(a, a[[0, 2, 1]]), retrieval_top_k(a, a[[0, 2, 1]], k=2)
    (0.3333333333333333, 0.6666666666666666)
    """
    a, b = _check_pair(queries, candidates, ("queries", "candidates"))
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"queries have {a.shape[1]} dimensions but candidates {b.shape[1]}; "
            "they must live in the same space."
        )
    if k >= b.shape[0]:
        warnings.warn(
            f"k={k} is at least the number of candidates ({b.shape[0]}): every partner "
            "is among the top k, so the score is 1 whatever the embeddings; pass a "
            "smaller k or more rows.",
            UndefinedMetricWarning,
            stacklevel=4,  # the caller's line, past the two parameter checks
        )
    # similarities in double precision: in float32 distinct candidates tie
    # with the partner by rounding alone
    a, b = _unit_rows(a), _unit_rows(b)
    # similarities of unit rows closer than this differ by rounding alone (the
    # same product can round differently at another place in the matrix)
    tolerance = 8 * a.shape[1] * np.finfo(np.float64).eps
    hits = 0.0
    # queries in blocks of about _SIMILARITY_BLOCK_BYTES of similarities,
    # however many candidates there are
    rows = max(16, _SIMILARITY_BLOCK_BYTES // (8 * b.shape[0]))
    for start in range(0, a.shape[0], rows):
        gap = a[start : start + rows] @ b.T
        queries = np.arange(gap.shape[0])
        own = gap[queries, queries + start].copy()
        gap -= own[:, None]  # each candidate's similarity less the partner's, in place
        # the partner ranks anywhere among the candidates as similar as it
        # (itself included), after those more similar: the chance that a
        # random order of the ties leaves it in the top k
        above = (gap > tolerance).sum(axis=1)
        tied = (np.abs(gap, out=gap) <= tolerance).sum(axis=1)
        # k beyond the candidates (warned of) counts as all of them
        hits += float(np.clip((min(k, b.shape[0]) - above) / tied, 0.0, 1.0).sum())
    return hits / a.shape[0]


# what retrieval_top_k holds of the similarity matrix at a time
_SIMILARITY_BLOCK_BYTES = 32 * 2**20


def _float64_over_peak(a, axis):
    """A float64 copy of ``a`` over its largest magnitude along ``axis``
    (zeros stay zero), divided in place: products and norms of the result
    neither overflow for huge values nor underflow for tiny ones."""
    a = np.array(a, dtype=np.float64)
    peak = np.maximum(a.max(axis=axis, keepdims=True), -a.min(axis=axis, keepdims=True))
    a /= np.where(peak > 0, peak, 1.0)
    return a


def _centred_over_peak(z):
    """:func:`_float64_over_peak` by columns, then centred in place."""
    z = _float64_over_peak(z, axis=0)
    z -= z.mean(axis=0)
    return z


def _unit_rows(a):
    """A float64 copy of ``a``, each row over its norm (zero rows stay zero),
    for rows of any finite scale."""
    a = _float64_over_peak(a, axis=1)
    a /= np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    return a
