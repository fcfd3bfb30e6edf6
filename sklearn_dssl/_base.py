"""Scikit-learn side shared by the multimodal estimators.

:class:`MultimodalTransformer` owns what every estimator of the package has in
common: the ``modalities`` specification, input validation, the mapping of X
to the model's column order, the block layout of ``transform`` (shared blocks
of every modality, then specific blocks), feature names and batched inference.
A subclass says which blocks it produces (:meth:`_block_widths`) and how to
compute them for a batch (:meth:`_encode_batch`); it owns no training loop
(see :mod:`sklearn_dssl._training`).
"""

import contextlib
import warnings
from collections.abc import Iterable, Mapping
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import (
    _check_feature_names_in,
    check_array,
    check_is_fitted,
    validate_data,
)

from ._modalities import resolve_modalities
from ._validation import refuse_bool_numbers, repeated_names

BLOCKS = ("shared", "specific")

# Rows per forward pass in transform: bounds memory to the output itself.
INFERENCE_BATCH_ROWS = 4096
# Rows per block when training columns are reordered into float32.
REORDER_BATCH_ROWS = 16384

class MultimodalTransformer(TransformerMixin, BaseEstimator):
    """Base class of the package's estimators (not for direct use)."""

    _parameter_constraints: dict = {
        "modalities": [None, "array-like", dict],
        "output": [StrOptions({"all", *BLOCKS})],
    }

    # The blocks the method computes, in output order.
    _blocks = BLOCKS

    # The dtypes X is read in: kept when X has one of them, else the first
    # (the neural estimators train in float32; LinearCCA computes in float64).
    _input_dtypes = (np.float32, np.float64)

    # ------------------------------------------------------------------
    # Subclass hooks
    # ------------------------------------------------------------------
    def _block_widths(self):
        """Widths of each block, as ``{block: [width for each modality]}``."""
        raise NotImplementedError

    def _encode_batch(self, x, blocks):
        """Blocks of one batch as ``{block: [ndarray per modality]}``.

        ``x`` is an ndarray with the modalities' columns side by side, in
        the order of ``modalities_``.
        """
        raise NotImplementedError

    def _encode_modality_batch(self, x, index, block):
        """One block (ndarray) of modality ``index`` from its columns ``x`` alone."""
        raise NotImplementedError

    def _fitted_blocks(self):
        """The blocks the fitted model can compute (all of them by default)."""
        return self._blocks

    @staticmethod
    def _block_names(blocks, fitted):
        """``transform_blocks``' ``blocks`` (a name or names) as a list of
        str; ``fitted`` are the names to suggest."""
        if isinstance(blocks, str):
            return [blocks]
        names = list(blocks) if isinstance(blocks, Iterable) and not isinstance(
            blocks, (bytes, Mapping)) else None
        if names is None or not all(isinstance(name, str) for name in names):
            raise TypeError(
                f"blocks={blocks!r} is not a block's name or a sequence of them; pass "
                f"one of {list(fitted)}, a list of them, or None for all of them."
            )
        return names

    def _check_blocks_fitted(self, blocks):
        unknown = [b for b in blocks if b not in self._blocks]
        if unknown:
            raise ValueError(
                f"{type(self).__name__} has no {unknown[0]} block; its blocks are "
                f"{list(self._blocks)}."
            )
        missing = [b for b in blocks if b not in self._fitted_blocks()]
        if missing:
            raise NotFittedError(
                f"this {type(self).__name__} has no fitted {missing[0]} block (it was "
                "fitted with output='shared', or its training was interrupted); call "
                "fit_specific, or transform with output='shared'."
            )

    # ------------------------------------------------------------------
    # Input handling
    # ------------------------------------------------------------------
    @contextlib.contextmanager
    def _unchanged_on_error(self):
        """Restore the fitted state if the block raises: a failed (re)fit, e.g.
        on bad input or a diverging loss, leaves the previous model usable.
        The error raised is :meth:`_error_of_fit`'s, where it gives one.
        """
        state = dict(self.__dict__)
        try:
            yield
        except Exception as exc:
            self.__dict__.clear()
            self.__dict__.update(state)
            replacement = self._error_of_fit(exc)
            if replacement is not None:
                raise replacement from exc
            raise

    def _error_of_fit(self, exc):
        """The error to raise in place of ``exc``, which a fit raised, or None
        to raise ``exc`` itself."""
        return None

    def __getstate__(self):
        state = super().__getstate__()
        if isinstance(state.get("modalities"), Mapping):
            # A dict's order is the order of the blocks, but joblib.hash, the
            # key of Pipeline(memory=...)'s cache, sorts a dict's items: two
            # orders would share a cached fit. The order goes beside it, as a list.
            state = {**state, "_modality_order": [str(name) for name in state["modalities"]]}
        return state

    def __setstate__(self, state):
        state = dict(state)
        state.pop("_modality_order", None)
        super().__setstate__(state)

    def _validate_params(self):
        """scikit-learn's parameter validation, refusing ``True``/``False`` as counts.

        A bool is an ``Integral`` to scikit-learn's constraints, so widths,
        epochs and batch sizes of ``True`` would pass them and fail later.
        """
        super()._validate_params()
        refuse_bool_numbers(self._parameter_constraints, self.get_params(deep=False))

    def _validate_input(self, X, *, reset):
        """Validated float32/float64 ndarray of X (new fit when ``reset``)."""
        X = readable_input(X)
        with naming_unreadable_columns(X):
            X = validate_data(
                self,
                X,
                reset=reset,
                dtype=list(self._input_dtypes),
                ensure_min_samples=2 if reset else 1,
            )
        if reset:
            peaks = check_float32_columns_at_fit(X, getattr(self, "feature_names_in_", None))
            return check_float32_range(X, peaks)
        return check_float32_range(X)

    def _resolve_modalities(self, X):
        """Fit ``modalities_`` from the spec and the data ``X`` as given to fit;
        call after validating X with reset."""
        self.modalities_ = self._column_groups(X)

    def _column_groups(self, X):
        """The column groups the ``modalities`` spec gives for ``X`` (as given
        to fit: callable groups select from it) with the columns seen in fit."""
        return resolve_modalities(
            self.modalities, self.n_features_in_, getattr(self, "feature_names_in_", None), X
        )

    @property
    def _modality_sizes(self):
        return tuple(len(columns) for columns in self.modalities_.values())

    def _in_model_order(self, X, dtype=None):
        """X (validated ndarray) with each modality's columns contiguous, in order.

        With a ``dtype``, as a C-contiguous array of that dtype, the layout
        of the training tensor, made in one copy at most: columns to reorder
        are copied in blocks of rows straight into it, without a whole copy in
        X's dtype first, and columns in order (of a column-major X, such as
        pandas gives) are not converted in X's layout and then copied again.
        """
        order = np.concatenate(list(self.modalities_.values()))
        if np.array_equal(order, np.arange(X.shape[1])):
            return X if dtype is None else X.astype(dtype, order="C", copy=False)
        if dtype is None:
            return X[:, order]
        reordered = np.empty((X.shape[0], len(order)), dtype=dtype)
        for start in range(0, X.shape[0], REORDER_BATCH_ROWS):
            rows = slice(start, start + REORDER_BATCH_ROWS)
            reordered[rows] = X[rows][:, order]
        return reordered

    # ------------------------------------------------------------------
    # Output layout
    # ------------------------------------------------------------------
    def _output_blocks(self):
        return self._blocks if self.output == "all" else (self.output,)

    @property
    def _n_features_out(self):
        widths = self._block_widths()
        return sum(sum(widths[b]) for b in self._output_blocks())

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns: ``<block>_<modality>_<i>``.

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked against the names seen in fit; the output names do
            not depend on them.

        Returns
        -------
        feature_names_out : ndarray of str objects
            Shared blocks of every modality, then specific blocks of every
            modality, as selected by ``output``.
        """
        check_is_fitted(self)
        _check_feature_names_in(self, input_features, generate_names=False)
        # the names of what transform returns: none for a block not fitted
        self._check_blocks_fitted(self._output_blocks())
        widths = self._block_widths()
        return np.asarray(
            [
                f"{block}_{name}_{i}"
                for block in self._output_blocks()
                for name, width in zip(self.modalities_, widths[block])
                for i in range(width)
            ],
            dtype=object,
        )

    # ------------------------------------------------------------------
    # Inference
    # ------------------------------------------------------------------
    def _iter_blocks(self, X, blocks, batch_rows=INFERENCE_BATCH_ROWS, encode=None):
        """Yield ``(row slice, {block: [ndarray per modality]})`` batch by batch.

        ``encode`` defaults to :meth:`_encode_batch`.
        """
        encode = encode or self._encode_batch
        for start in range(0, X.shape[0], batch_rows):
            rows = slice(start, start + batch_rows)
            encoded = encode(self._in_model_order(X[rows]), blocks)
            if isinstance(encoded, dict):  # embeddings (not another measure of a batch)
                for arrays in encoded.values():
                    check_finite_embedding(arrays, X[rows])
            yield rows, encoded

    def transform(self, X):
        """Embed X: the shared blocks of every modality, then the specific blocks.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with the columns seen in fit.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features_out), dtype float32
            Columns as in :meth:`get_feature_names_out`. Computed in batches,
            so memory beyond the output does not grow with ``n_samples``.
            The neural estimators' blocks have no set scale (a contrastive
            loss does not fix it; it is often far below 1): standardise them
            before an estimator that depends on scale, e.g. a regularised
            classifier.
        """
        check_is_fitted(self)
        X = self._validate_input(X, reset=False)
        blocks = self._output_blocks()
        self._check_blocks_fitted(blocks)
        out = np.empty((X.shape[0], self._n_features_out), dtype=np.float32)
        for rows, encoded in self._iter_blocks(X, blocks):
            out[rows] = np.concatenate([a for b in blocks for a in encoded[b]], axis=1)
        return out

    def transform_blocks(self, X, blocks=None):
        """Embed X and return every block separately.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with the columns seen in fit.
        blocks : str, sequence of str or None, default=None
            The blocks to compute ("shared", "specific"); None computes every
            fitted block, whatever
            ``output`` says. Fewer blocks can take less work (DisentangledSSL's
            shared block needs its step-1 encoders alone).

        Returns
        -------
        blocks : dict
            ``{"shared": {modality: ndarray}, "specific": {modality: ndarray}}``
            (the blocks asked for), each array of shape (n_samples, width of
            the block).
        """
        check_is_fitted(self)
        fitted = self._fitted_blocks()
        if blocks is None:
            blocks = fitted
        else:
            blocks = self._block_names(blocks, fitted)
            if not blocks:
                raise ValueError(
                    f"blocks is empty; name at least one of {list(fitted)}, or pass None "
                    "for all of them."
                )
            self._check_blocks_fitted(blocks)
        X = self._validate_input(X, reset=False)
        widths = self._block_widths()
        result = {
            b: {
                m: np.empty((X.shape[0], w), np.float32)
                for m, w in zip(self.modalities_, widths[b])
            }
            for b in fitted if b in blocks
        }
        for rows, encoded in self._iter_blocks(X, tuple(result)):
            for block, arrays in encoded.items():
                for name, array in zip(self.modalities_, arrays):
                    result[block][name][rows] = array
        return result

    def transform_modality(self, X, modality, block="shared"):
        """Embed one modality from its own columns alone.

        With ``block="shared"`` this gives, e.g., the modality-1 embeddings to
        match against modality-2 embeddings in cross-modal retrieval.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_columns_of_modality)
            The modality's columns, in the order of ``modalities_[modality]``,
            which is the order the ``modalities`` specification gave them in
            (``X_full[:, model.modalities_[modality]]``). After a fit on a
            DataFrame with column names, a DataFrame holding the modality's
            columns by name, in any order and beside any others: they are
            selected by name.
        modality : str or int
            The modality's name (a key of ``modalities_``) or position.
        block : {"shared", "specific"}, default="shared"
            Which embedding to compute.

        Returns
        -------
        X_new : ndarray of shape (n_samples, width of the block), dtype float32
            The modality's embedding in the chosen block.
        """
        check_is_fitted(self)
        names = list(self.modalities_)
        name = modality_name(modality, names, "modality")
        if name not in names:
            raise ValueError(
                f"modality={modality!r} is none of {names}; pass a modality's name or "
                "its position."
            )
        index = names.index(name)
        if block not in self._blocks:
            raise ValueError(f"block={block!r} is not one of {list(self._blocks)}.")
        self._check_blocks_fitted((block,))
        columns = self.modalities_[names[index]]
        expected_names = None
        if hasattr(self, "feature_names_in_"):
            expected_names = self.feature_names_in_[columns]
        X = check_named_columns(X, len(columns), f"modality {names[index]!r}", expected_names,
                                type(self).__name__, self._input_dtypes)
        out = np.empty((X.shape[0], self._block_widths()[block][index]), dtype=np.float32)
        for start in range(0, X.shape[0], INFERENCE_BATCH_ROWS):
            rows = slice(start, start + INFERENCE_BATCH_ROWS)
            out[rows] = check_finite_embedding(
                [self._encode_modality_batch(X[rows], index, block)], X[rows])[0]
        return out


def modality_name(modality, names, what):
    """The name of ``modality``, given by name or by its position among
    ``names`` (``what`` names the parameter in the messages); a name that is
    none of ``names`` is returned as it is, for the caller to refuse.

    A position out of range is refused, and so is a position whose number is
    another modality's name (fit names modalities by strings: "0" for the
    key 0 of a dict).
    """
    if not isinstance(modality, Integral) or isinstance(modality, bool):
        return modality
    if not 0 <= modality < len(names):
        raise ValueError(
            f"{what}={modality} is out of range; there are {len(names)} modalities, "
            f"{names}."
        )
    name = names[modality]
    if str(modality) in names and str(modality) != name:
        raise ValueError(
            f"{what}={modality} is ambiguous: the modality at position {modality} is "
            f"{name!r}, but another is named {str(modality)!r}; pass the name as a "
            f"string, {what}={name!r} or {what}={str(modality)!r}."
        )
    return name


def check_finite_embedding(arrays, X):
    """``arrays``, the embeddings of the rows ``X``; a ValueError where one
    is not finite: rows of values within float32's range, but so large that
    the model's float32 arithmetic overflows on them."""
    if all(np.isfinite(a).all() for a in arrays):
        return arrays
    peak = float(np.abs(X).max()) if X.size else 0.0
    raise ValueError(
        f"the embedding of some rows of X is not finite: the model's float32 arithmetic "
        f"overflowed on X's values (largest magnitude {peak:.3g}). Give X on the scale of "
        "the rows the model was fitted on (scaled as they were, e.g. by the same "
        "StandardScaler)."
    )


def check_named_columns(X, n_columns, what, expected_names, estimator_name,
                        dtypes=(np.float32, np.float64)):
    """Validate the ``n_columns`` columns of ``what`` (e.g. "modality 'rna'"),
    read in one of ``dtypes`` (X's own if it has one of them, else the
    first): a data frame's by name where ``expected_names`` gives them.

    Warns, as scikit-learn's transformers do, when X has column names and
    the estimator was fitted without, or the other way round.
    """
    columns = frame_columns(X)
    columns = None if columns is None else columns[0]
    named = columns is not None and all(isinstance(c, str) for c in columns)
    if expected_names is not None and not named:
        warnings.warn(f"X does not have valid feature names, but {estimator_name} was "
                      "fitted with feature names", UserWarning, stacklevel=3)
    elif expected_names is None and named:
        warnings.warn(f"X has feature names, but {estimator_name} was fitted without "
                      "feature names", UserWarning, stacklevel=3)
    if expected_names is not None and named and [str(c) for c in columns] != list(expected_names):
        present = set(columns)
        missing = [c for c in expected_names if c not in present]
        if missing:
            raise ValueError(
                f"the columns of X do not match {what}: X lacks "
                f"{missing[:5]}{' and more' if len(missing) > 5 else ''}; pass a DataFrame "
                f"holding its columns, {list(expected_names)[:5]}"
                f"{'...' if len(expected_names) > 5 else ''}."
            )
        # the modality's columns of a wider table, selected by name as
        # ColumnTransformer does, before they are read: the others may hold
        # anything
        X = X[list(expected_names)] if hasattr(X, "loc") else X.select(list(expected_names))
    X = readable_numbers(X, dtypes)
    if X.shape[1] != n_columns:
        raise ValueError(f"X has {X.shape[1]} columns, but {what} has {n_columns}.")
    return check_float32_range(X)


def readable_numbers(X, dtypes, **check_array_params):
    """``X`` as an array of numbers in one of ``dtypes`` (scikit-learn's
    ``check_array`` with ``check_array_params``), refusing what it cannot read
    as numbers with the columns that hold it (:func:`readable_input`,
    :func:`naming_unreadable_columns`)."""
    X = readable_input(X)
    with naming_unreadable_columns(X):
        return check_array(X, dtype=list(dtypes), **check_array_params)


@contextlib.contextmanager
def naming_unreadable_columns(X):
    """Turn numpy's error reading the data frame ``X`` as numbers in the block
    into a ValueError naming the columns it cannot read (other errors pass)."""
    try:
        yield
    except (ValueError, TypeError, OverflowError) as exc:
        unreadable = _unreadable_columns_error(X, exc)
        if unreadable is None:
            raise
        raise unreadable from None


def _unreadable_columns_error(X, exc):
    """The ValueError naming the columns of a data frame ``X`` that numpy could
    not read as numbers, which ``exc`` (numpy's error reading ``X``)
    reported; None for another error."""
    message = str(exc)
    if isinstance(exc, ValueError) and "could not convert" in message:
        what = "hold text"
        fix = "encode them as numbers"
    elif isinstance(exc, TypeError) and "argument must be" in message:
        # float() of an object that is no number: a date, a time, pd.NA, a
        # complex number
        what = ("hold values that are neither real numbers nor text, such as dates, times, "
                "pd.NA or complex numbers")
        fix = ("convert them to numbers (dates to, e.g., days since a reference; pd.NA to "
               "NaN, then impute)")
    elif isinstance(exc, OverflowError):  # a Python int beyond float64
        what = "hold integers too large for a float"
        fix = "scale them (or their logarithms) into float32's range"
    else:
        return None
    if frame_columns(X) is None:  # numpy's TypeError stays one, as scikit-learn's checks ask
        return (TypeError if isinstance(exc, TypeError) else ValueError)(
            f"X {what.replace('hold', 'holds', 1)} ({exc}); every column of X belongs to a "
            f"modality and holds numbers: leave such columns (ids, labels) out of X, or {fix}."
        )
    columns = _text_columns(X)
    if not columns:
        return None
    return ValueError(
        f"X's column(s) {columns[:5]}{' and more' if len(columns) > 5 else ''} {what} "
        f"({exc}); every column of X belongs to a modality and holds numbers. Leave "
        f"such columns (ids, labels) out of X, e.g. X.drop(columns=[...]), or {fix}."
    )


def _text_columns(X):
    """The columns of a data frame ``X`` that numpy cannot read as numbers."""
    frame = frame_columns(X)
    if frame is None or not hasattr(X, "__getitem__"):
        return []
    text = []
    for column in frame[0]:
        values = X[column]
        try:
            np.asarray(values, dtype=np.float64)
            if getattr(getattr(values, "dtype", None), "kind", None) == "O":
                # through objects, as scikit-learn reads a frame of mixed
                # dtypes: a pandas string column reads its pd.NA as NaN on
                # its own, not so (a nullable number column's pd.NA is NaN)
                np.asarray(np.asarray(values, dtype=object), dtype=np.float64)
        except (ValueError, TypeError, OverflowError):
            text.append(column)
    return text


def readable_input(X, name="X"):
    """``X`` in a form numpy reads as numbers, or a ValueError naming what it cannot.

    A torch tensor is read from the CPU, without its gradient, and bfloat16
    (which numpy lacks) as float32. Dates, times and durations are refused:
    numpy would read them as counts of their unit since an epoch. ``name``
    names X in the messages.
    """
    if hasattr(X, "detach") and hasattr(X, "cpu"):  # a torch tensor
        X = X.detach().cpu()
        if str(X.dtype) == "torch.bfloat16":
            X = X.float()
        return X
    if isinstance(X, np.ma.MaskedArray) and np.ma.getmaskarray(X).any():
        raise ValueError(
            f"{name} is a masked array with {int(np.ma.getmaskarray(X).sum())} masked "
            "entries, and numpy would read the values under the mask; fill them first, e.g. "
            f"{name}.filled(np.nan) followed by an imputer (sklearn.impute.SimpleImputer)."
        )
    frame = frame_columns(X)
    if frame is not None:
        names, dtypes = frame
        repeated = repeated_names(names)
        if repeated:
            raise ValueError(
                f"{name} gives more than one column the name(s) {repeated[:5]}; give each "
                f"column its own name (e.g. by setting {name}.columns)."
            )
        temporal = [c for c, dtype in zip(names, dtypes) if _is_temporal(dtype) or (
            getattr(dtype, "kind", None) == "O" and hasattr(X, "iloc")
            and _holds_temporal_scalars(X[c]))]
        if temporal:
            raise ValueError(
                f"{name}'s column(s) {temporal[:5]} hold dates, times or durations, which "
                "cannot be read as numbers; convert them to numbers first (e.g. durations "
                f"in seconds), or drop them from {name}."
            )
    elif _is_temporal(getattr(X, "dtype", None)):
        raise ValueError(
            f"{name} holds {X.dtype} values, dates or durations, which cannot be read as "
            "numbers; convert them to numbers first (e.g. durations in seconds)."
        )
    elif getattr(getattr(X, "dtype", None), "kind", None) == "O" and _holds_temporal_scalars(X):
        raise ValueError(
            f"{name} holds numpy dates or durations (datetime64, timedelta64) among its "
            "objects, which cannot be read as numbers; convert them to numbers first (e.g. "
            "durations in seconds)."
        )
    return X


def _holds_temporal_scalars(values):
    """Whether the objects ``values`` hold numpy dates or durations, which
    numpy would read as counts of their unit since an epoch."""
    kinds = set(map(type, np.asarray(values, dtype=object).ravel()))
    return any(issubclass(kind, (np.datetime64, np.timedelta64)) for kind in kinds)


def frame_columns(X):
    """``(names, dtypes)`` of the columns of a data frame ``X`` (pandas',
    polars', or a pyarrow Table or RecordBatch), or None for anything else."""
    columns = getattr(X, "columns", None)
    dtypes = getattr(X, "dtypes", None)
    if columns is not None and dtypes is not None:  # pandas, polars
        return list(columns), list(dtypes)
    schema = getattr(X, "schema", None)
    names = getattr(X, "column_names", None)
    if schema is not None and names is not None and type(X).__module__.startswith("pyarrow"):
        return list(names), list(schema.types)
    return None


def _is_temporal(dtype):
    """Whether ``dtype`` (numpy's, pandas', polars' or pyarrow's) holds dates,
    times or durations."""
    is_temporal = getattr(dtype, "is_temporal", None)  # polars
    if callable(is_temporal):
        return bool(is_temporal())
    if getattr(dtype, "kind", None) in ("M", "m") or type(dtype).__name__ == "PeriodDtype":
        return True
    # pandas' ArrowDtype holds its pyarrow type; a pyarrow Table's are those
    arrow = getattr(dtype, "pyarrow_dtype", dtype)
    if type(arrow).__module__.startswith("pyarrow"):
        import pyarrow

        return pyarrow.types.is_temporal(arrow)
    return False


def check_finite_score(score, setting=None):
    """``score``, or a ValueError when it is not finite (NaN would rank anywhere
    in a search); ``setting`` names a parameter the score reads, if any."""
    if not np.isfinite(score):
        also = "" if setting is None else f", or {setting}, which the score reads,"
        raise ValueError(
            f"the score of X is {score}: X's values{also} are too extreme for it to be "
            "computed. Scale the features as they were at fit (e.g. with the same "
            "StandardScaler)"
            + ("." if setting is None else f", or bring {setting} nearer its default.")
        )
    return score


def check_float32_range(X, column_peaks=None):
    """``X``, refused when it holds float64 values float32 cannot hold.

    The neural models compute in float32 and every model returns float32:
    such values would silently become inf, then NaN. ``column_peaks``, the
    largest magnitude of each column of a float64 X where already known
    (:func:`check_float32_columns_at_fit`), spares a pass over X.
    """
    limit = np.finfo(np.float32).max
    peak = 0.0
    if X.dtype == np.float64 and X.size:
        peak = max(X.max(), -X.min()) if column_peaks is None else column_peaks.max()
    if limit < peak < np.inf:  # infinite values are refused as such, where they are
        raise ValueError(
            f"X holds values beyond float32's range (largest magnitude "
            f"{peak:.3g}, float32 ends at {limit:.3g}); the estimators return "
            "float32, and the neural ones compute in it. Scale the features first, e.g. with "
            "sklearn.preprocessing.StandardScaler."
        )
    return X


def check_float32_columns_at_fit(X, feature_names=None):
    """Refuse float64 training columns whose every value lies below float32's
    smallest normal number: in float32 they lose their precision or become
    zeros, so that a model would train on nothing from them, and a block at
    their scale (LinearCCA's specific block) would be returned as zeros. (At
    transform, a row of such values is what it was at fit: next to nothing.)

    Returns each column's largest magnitude, for :func:`check_float32_range`
    (None where X is not float64 or is empty).
    """
    if X.dtype != np.float64 or not X.size:
        return None
    peaks = np.maximum(X.max(axis=0), -X.min(axis=0))
    tiny = np.finfo(np.float32).tiny
    small = np.flatnonzero((peaks > 0) & (peaks < tiny))
    if small.size:
        columns = (small if feature_names is None else feature_names[small])[:5].tolist()
        raise ValueError(
            f"X's column(s) {columns} hold values too small for float32 (largest magnitude "
            f"{peaks[small[0]]:.3g}; float32's smallest normal number is {tiny:.3g}), "
            "which would lose their precision or become zeros; the estimators train "
            "and return float32. Scale the features first, e.g. with "
            "sklearn.preprocessing.StandardScaler."
        )
    return peaks
