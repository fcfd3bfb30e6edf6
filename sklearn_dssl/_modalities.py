"""Parse a ``modalities`` specification into validated column groups.

This is the only module that understands the forms a user may give for
``modalities``; estimators call :func:`resolve_modalities` and work with the
ordered mapping it returns.
"""

from collections.abc import Mapping, Sequence
from numbers import Integral, Real

import numpy as np


def resolve_modalities(spec, n_features, feature_names=None, X=None):
    """Turn a ``modalities`` specification into named column-index groups.

    Parameters
    ----------
    spec : None, sequence or dict
        - ``None``: two halves of the columns, as equal as possible (the first
          modality takes the extra column when the count is odd);
        - a sequence of ints: the number of columns of each modality, in
          column order;
        - a sequence of groups, each a sequence of column indices, a slice, a
          boolean mask over the columns, (when ``feature_names`` are known,
          e.g. for a DataFrame) a sequence of column names or a slice of
          them (both ends included, as ``DataFrame.loc`` takes them), or a callable
          that takes ``X`` and returns one of these, as in scikit-learn's
          ``ColumnTransformer`` (e.g. ``make_column_selector``);
        - a dict ``{name: group}`` with any of the forms above as values
          (ints meaning column counts, in column order).

        Modalities not named by a dict are called ``"m1"``, ``"m2"``, ...
    n_features : int
        Number of columns of X.
    feature_names : ndarray of str or None
        Column names of X, when X had string column names.
    X : array-like or None
        The data as given to fit, for the callable groups.

    Returns
    -------
    modalities : dict of str to ndarray of int
        Modality names mapped to column indices, in modality order; each
        group keeps the column order it was given in (a mask or a count
        gives ascending columns, a slice or range its own order).

    Raises
    ------
    ValueError
        If the groups overlap, leave columns unused, are fewer than two, or do
        not fit X. TypeError if the spec has a form not listed above.
    """
    if spec is None:
        if n_features < 2:
            raise ValueError(
                f"modalities=None splits X into two halves, but X has {n_features} "
                "feature(s); pass at least 2 columns or give the modalities "
                "explicitly."
            )
        first = (n_features + 1) // 2
        return _check_partition(
            {"m1": np.arange(first), "m2": np.arange(first, n_features)}, n_features
        )

    if is_labelled_series(spec):  # e.g. value_counts() of the columns' prefixes
        spec = dict(spec.items())
    if isinstance(spec, Mapping):
        names = [str(name) for name in spec]
        first = {}
        for key, name in zip(spec, names):
            if name in first:
                raise ValueError(
                    f"modality names {first[name]!r} and {key!r} collide as strings: both "
                    f"are {name!r} once cast to str, the form the fitted model keeps "
                    "(modalities_, feature names); give the modalities names that differ "
                    "as strings."
                )
            first[name] = key
        groups = list(spec.values())
    elif not _is_sequence(spec):
        raise TypeError(
            "modalities must be None, a sequence of column counts or column groups, "
            f"or a dict of them; got {type(spec).__name__}."
        )
    else:
        groups = list(spec)
        names = [f"m{i}" for i in range(1, len(groups) + 1)]

    if len(groups) < 2:
        raise ValueError(
            f"modalities must describe at least 2 modalities, got {len(groups)}."
        )

    groups = [_selected(group, name, X) for name, group in zip(names, groups)]
    if all(_is_int(group) for group in groups):
        counts = [int(group) for group in groups]
        if any(count < 1 for count in counts):
            raise ValueError(f"modality column counts must be positive, got {counts}.")
        if sum(counts) != n_features:
            raise ValueError(
                f"modality column counts {counts} add up to {sum(counts)}, but X has "
                f"{n_features} features; the counts must cover every column once."
            )
        bounds = np.cumsum([0, *counts])
        columns = [np.arange(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]
    elif any(_is_int(group) for group in groups):
        raise TypeError(
            "modalities mixes column counts with column groups; give either counts "
            "for every modality or a column group for every modality."
        )
    else:
        columns = [
            _group_indices(group, name, n_features, feature_names)
            for name, group in zip(names, groups)
        ]
    return _check_partition(dict(zip(names, columns)), n_features, feature_names)


def _selected(group, name, X):
    """A callable group's columns, as it selects them from X; any other group as given."""
    if not callable(group) or isinstance(group, type):
        return group
    if X is None:
        raise ValueError(
            f"modality {name!r} is a callable column selector, which needs the data "
            "it selects from; this call has none."
        )
    try:
        selected = group(X)
    except Exception as exc:
        if getattr(X, "columns", None) is not None:
            raise ValueError(
                f"modality {name!r}: its column selector failed on X "
                f"({type(exc).__name__}: {exc}); it must return the modality's column "
                "names, indices, a slice or a boolean mask of X's columns."
            ) from exc
        if not isinstance(exc, (ValueError, TypeError, AttributeError, LookupError)):
            raise  # a fault of the selector's own, not of X's lacking names
        # e.g. make_column_selector on the array of an earlier pipeline step
        raise ValueError(
            f"modality {name!r}: its column selector cannot select from X, which has no "
            f"column names ({exc}). Pass a DataFrame; in a Pipeline, have the steps before "
            "it output DataFrames: set_output(transform='pandas')."
        ) from exc
    if callable(selected) or isinstance(selected, (str, bytes)) or not (
        isinstance(selected, slice) or _is_sequence(selected)
    ):
        raise TypeError(
            f"modality {name!r}: its column selector returned {selected!r}; a selector "
            "must return column names, indices, a slice or a boolean mask."
        )
    return selected


def _is_sequence(value):
    """A list-like of entries: a sequence, an array, or a pandas Index or Series."""
    if isinstance(value, (str, bytes, Mapping)):
        return False
    if isinstance(value, np.ndarray):
        return value.ndim > 0  # a 0-d array is one value
    if isinstance(value, Sequence):
        return True
    # pandas and polars columns: array-likes that are not Sequences
    return all(hasattr(value, attr) for attr in ("__array__", "__iter__", "__len__"))


def is_labelled_series(value):
    """A pandas Series whose index holds strings, which name the modalities
    as a dict's keys do (e.g. the ``value_counts()`` of the columns'
    prefixes); one indexed by numbers alone is a sequence of groups, as a
    list is."""
    if not (type(value).__module__.startswith("pandas") and getattr(value, "ndim", None) == 1
            and hasattr(value, "index")):
        return False
    return any(isinstance(label, str) for label in value.index)


def _is_int(value):
    return isinstance(value, Integral) and not isinstance(value, bool)


def _group_indices(group, name, n_features, feature_names):
    """Column indices of one modality's group, checked against X."""
    if isinstance(group, str):  # one column, by name, as in ColumnTransformer
        group = [group]
    if isinstance(group, slice):
        indices = _slice_indices(group, name, n_features, feature_names)
    else:
        if isinstance(group, Real) and not isinstance(group, (bool, np.bool_)):
            raise TypeError(
                f"modality {name!r} is {group!r}, a number but not an int; give column "
                "counts as ints (e.g. modalities=[100, 50]), or a column group."
            )
        if not _is_sequence(group):
            raise TypeError(
                f"modality {name!r}: a column group must be a slice or a sequence of "
                f"column indices or names, got {type(group).__name__}."
            )
        values = np.asarray(list(group), dtype=object)
        if values.size == 0:
            indices = np.array([], dtype=int)
        elif all(isinstance(v, str) for v in values):
            indices = _names_to_indices(values, name, feature_names)
        elif all(isinstance(v, (bool, np.bool_)) for v in values):
            if values.size != n_features:
                raise ValueError(
                    f"modality {name!r} is a boolean mask of {values.size} entries, but "
                    f"X has {n_features} features; a mask needs one entry per column."
                )
            indices = np.flatnonzero(values.astype(bool))
        elif all(_is_int(v) for v in values):
            # checked as Python ints: an index past C's long would overflow an array
            bad = [int(v) for v in values if not -n_features <= int(v) < n_features]
            if bad:
                raise ValueError(
                    f"modality {name!r} gives column position(s) {bad[:5]}"
                    f"{' and more' if len(bad) > 5 else ''}, but X has {n_features} "
                    f"features (positions 0 to {n_features - 1}, or -{n_features} to -1). "
                    "Integers are positions, as in ColumnTransformer: to select columns "
                    "labelled by integers, name them with strings "
                    "(X.columns = X.columns.astype(str)) and select those names."
                )
            indices = values.astype(int) % n_features
        else:
            raise TypeError(
                f"modality {name!r}: a column group holds integer indices, column "
                "names or a boolean mask, not a mix or other types."
            )
    if indices.size == 0:
        raise ValueError(f"modality {name!r} has no columns.{_columns_seen(feature_names)}")
    if np.unique(indices).size != indices.size:
        hint = ""
        if indices.size == n_features and set(indices.tolist()) <= {0, 1}:
            hint = " (a mask over the columns holds True and False, not 1 and 0)"
        raise ValueError(f"modality {name!r} lists a column more than once{hint}.")
    return indices


def _columns_seen(feature_names, shown=5):
    """The first column names of X, for a message about a group that selects
    none of them (after a ColumnTransformer, say, whose names carry prefixes)."""
    if feature_names is None:
        return ""
    names = [str(n) for n in feature_names[:shown]]
    more = f", ... ({len(feature_names)} in all)" if len(feature_names) > shown else ""
    return (f" X's columns are {', '.join(map(repr, names))}{more}: check the names or "
            "pattern that select them against these.")


def _slice_indices(group, name, n_features, feature_names):
    """The columns of a slice: of positions, or of column names with both ends
    included (as ``DataFrame.loc`` and ``ColumnTransformer`` take them)."""
    if group.step == 0:
        raise ValueError(f"modality {name!r} is {group!r}; a slice's step cannot be zero.")
    bounds = (group.start, group.stop)
    if not any(isinstance(bound, str) for bound in bounds):
        try:
            return np.arange(n_features)[group]
        except TypeError:
            raise TypeError(
                f"modality {name!r} is {group!r}; a slice of columns has int positions "
                "(or column names) as its bounds, and an int step."
            ) from None
    if not all(bound is None or isinstance(bound, str) for bound in bounds) or not (
        group.step is None or _is_int(group.step)
    ):
        raise TypeError(
            f"modality {name!r} is {group!r}; a slice of column names has names (or "
            "None) at both ends, and an int step."
        )
    start, stop = (
        None if bound is None else int(_names_to_indices([bound], name, feature_names)[0])
        for bound in bounds
    )
    if stop is not None:  # its end included
        stop = stop + 1 if (group.step or 1) > 0 else (stop - 1 if stop > 0 else None)
    return np.arange(n_features)[slice(start, stop, group.step)]


def _names_to_indices(values, name, feature_names):
    if feature_names is None:
        raise ValueError(
            f"modality {name!r} is given by column names, which needs X to be a "
            "DataFrame with string column names (in a Pipeline, have the steps "
            "before it output DataFrames: set_output(transform='pandas')); pass "
            "column indices otherwise."
        )
    position = {feature: i for i, feature in enumerate(feature_names)}
    missing = [v for v in values if v not in position]
    if missing:
        shown = list(feature_names[:8])
        raise ValueError(
            f"modality {name!r} names columns not in X: {missing[:5]}"
            f"{' and more' if len(missing) > 5 else ''}. X's {len(feature_names)} columns "
            f"are {shown}{'...' if len(feature_names) > 8 else ''}; in a Pipeline, X is the "
            "output of the steps before the estimator (a SimpleImputer drops a column it "
            "saw no value in, unless keep_empty_features=True)."
        )
    return np.array([position[v] for v in values], dtype=int)


def _check_partition(modalities, n_features, feature_names=None):
    """Check that the groups cover each column of X exactly once."""
    counts = np.bincount(np.concatenate(list(modalities.values())), minlength=n_features)

    def columns(mask):  # by name where X has names
        indices = np.flatnonzero(mask)
        return (indices if feature_names is None else feature_names[indices]).tolist()

    if (counts > 1).any():
        raise ValueError(
            f"modalities overlap: column(s) {columns(counts > 1)} belong to more than "
            "one modality."
        )
    if (counts == 0).any():
        raise ValueError(
            f"column(s) {columns(counts == 0)} of X belong to no modality; drop them "
            "from X (e.g. a label column) or add them to a modality."
        )
    return modalities
