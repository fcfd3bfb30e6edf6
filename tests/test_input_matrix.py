"""Every estimator against a matrix of awkward inputs.

Each case either works (finite output of the right shape) or raises a
ValueError or TypeError whose message names the problem (one case makes
DMVAE's training diverge; see ``DIVERGES``).
"""

import warnings
from functools import partial

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.utils._param_validation import Interval

from sklearn_dssl import DMVAE, FOCAL, JointOptSSL, LinearCCA, MultimodalContrastive
from sklearn_dssl.exceptions import ColumnScaleWarning, NonFiniteLossError
from tests.conftest import TINY_NEURAL, small_model

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 6))
COLUMNS = [f"c{i}" for i in range(6)]


TINY = dict(hidden_layer_sizes=(8,), max_epochs=2, batch_size=16, random_state=0)


def _estimators():
    return {
        "DisentangledSSL": lambda **kw: small_model(**kw),
        "LinearCCA": lambda **kw: LinearCCA(n_components=1, **kw),
        "MultimodalContrastive": lambda **kw: MultimodalContrastive(
            n_components=2, similarity="l1", **TINY, **kw),
        **{
            baseline.__name__: partial(baseline, n_shared=2, n_specific=2, **TINY)
            for baseline in (JointOptSSL, FOCAL, DMVAE)
        },
    }


def _memmap(tmp_path):
    path = tmp_path / "X.npy"
    np.save(path, X)
    return np.load(path, mmap_mode="r")


WORKS = {
    "float64": lambda tmp: X,
    "float32": lambda tmp: X.astype(np.float32),
    "float16": lambda tmp: X.astype(np.float16),
    "int64": lambda tmp: (10 * X).astype(np.int64),
    "int8": lambda tmp: (10 * X).astype(np.int8),
    "bool": lambda tmp: X > 0,
    "list of lists": lambda tmp: X.tolist(),
    "read-only memmap": _memmap,
    "Fortran order": lambda tmp: np.asfortranarray(X),
    "masked array without masked entries": lambda tmp: np.ma.masked_array(X),
    "2 rows": lambda tmp: X[:2],
    "one column per modality": lambda tmp: X[:, :2],
    "constant columns": lambda tmp: np.hstack([X[:, :4], np.ones((40, 2))]),
    "huge values": lambda tmp: 1e30 * X,
    "duplicated columns": lambda tmp: np.hstack([X[:, :3], X[:, :3]]),
    "numeric object DataFrame": lambda tmp: pd.DataFrame(X, columns=COLUMNS).astype(object),
    "torch tensor that requires grad": lambda tmp: torch.tensor(X, requires_grad=True),
    "bfloat16 torch tensor": lambda tmp: torch.tensor(X, dtype=torch.bfloat16),
    "tiny values beside normal ones": lambda tmp: np.where(np.abs(X) < 0.1, 1e-45 * X, X),
    "a column of zeros": lambda tmp: np.hstack([X[:, :5], np.zeros((40, 1))]),
    "small values float32 still holds": lambda tmp: 1e-37 * X / np.abs(X).max(),
}


def _with_column(values):
    """A DataFrame of X's first five columns and ``values`` as the sixth."""
    return pd.DataFrame({**dict(zip(COLUMNS[:5], X[:, :5].T)), "when": values})


def _objects_with_last_column(values):
    """X as objects, the numpy scalars of ``values`` as its last column."""
    objects = X.astype(object)
    for row, value in enumerate(values):  # numpy's own scalars, not datetime's
        objects[row, -1] = value
    return objects


# dates, times and durations, which numpy would read as counts since an epoch
TEMPORAL = "hold dates, times or durations"

FAILS = {
    "NaN": (lambda: np.where(X > 1.5, np.nan, X), ValueError, "NaN"),
    "+inf": (lambda: np.where(X > 1.5, np.inf, X), ValueError, "infinity"),
    "-inf": (lambda: np.where(X > 1.5, -np.inf, X), ValueError, "infinity"),
    "string column": (
        lambda: pd.DataFrame({**dict(zip(COLUMNS[:5], X[:, :5].T)), "s": ["a"] * 40}),
        ValueError, "convert string to float",
    ),
    "object strings": (lambda: np.full((40, 6), "x", dtype=object), ValueError, "convert"),
    "complex": (lambda: X.astype(complex), ValueError, "Complex data"),
    "beyond float32": (lambda: 1e39 * X, ValueError, "beyond float32's range"),
    "below float32's normal numbers": (lambda: 1e-46 * X, ValueError, "too small for float32"),
    "datetime column": (
        lambda: _with_column(pd.date_range("2020-01-01", periods=40)), ValueError, TEMPORAL),
    "timezone-aware datetime column": (
        lambda: _with_column(pd.date_range("2020-01-01", periods=40, tz="UTC")),
        ValueError, TEMPORAL),
    "timedelta column": (
        lambda: _with_column(pd.to_timedelta(np.arange(40), unit="s")), ValueError, TEMPORAL),
    "period column": (
        lambda: _with_column(pd.period_range("2020-01", periods=40, freq="M")),
        ValueError, TEMPORAL),
    "pyarrow timestamp column": (
        lambda: _with_column(pd.Series(pd.date_range("2020-01-01", periods=40)).astype(
            "timestamp[us][pyarrow]")), ValueError, TEMPORAL),
    "repeated column names": (
        lambda: pd.DataFrame(X, columns=["a", "b", "a", "c", "d", "c"]), ValueError,
        r"X gives more than one column the name\(s\) \['a', 'c'\]; give each column its own"),
    "pyarrow time-of-day column": (  # whose pandas dtype kind, "O", does not tell
        lambda: _with_column(pd.Series(pd.date_range("2020-01-01", periods=40, freq="min").time)
                             .astype("time64[us][pyarrow]")), ValueError, TEMPORAL),
    "negative values below float32's normal numbers": (
        lambda: -1e-46 * np.abs(X), ValueError, "too small for float32"),
    "datetime64 array": (
        lambda: np.arange(240).astype("datetime64[D]").reshape(40, 6), ValueError,
        r"X holds datetime64\[D\] values"),
    "numpy dates among objects": (
        lambda: _objects_with_last_column(np.arange(40).astype("datetime64[m]")), ValueError, r"numpy dates or durations \(datetime64, timedelta64\) among"),
    "numpy durations in an object column": (
        lambda: _with_column(pd.Series(list(np.arange(40).astype("timedelta64[s]")),
                                       dtype=object)), ValueError, TEMPORAL),
    "an integer beyond float64 among objects": (
        lambda: np.where(np.arange(6) == 2, 10**400, X.astype(object)), ValueError,
        r"X holds integers too large for a float \(int too large"),
    "an integer beyond float64 in an object column": (
        lambda: _with_column(pd.Series([10**400] + [1] * 39, dtype=object)), ValueError,
        r"column\(s\) \['when'\] hold integers too large"),
    "a complex number among objects": (
        lambda: np.where(np.arange(6) == 2, 1 + 2j, X.astype(object)), TypeError,
        "X holds values that are neither real numbers nor text.*complex"),
    "masked array": (lambda: np.ma.masked_greater(X, 1.5), ValueError,
                     r"X is a masked array with \d+ masked entries.*X.filled\(np.nan\)"),
    "a constant modality": (lambda: np.hstack([np.ones((40, 3)), X[:, 3:]]), ValueError,
                            "modality 'm1' is constant on the training rows"),
    "sparse CSR": (lambda: sp.csr_matrix(X), TypeError, "dense data is required"),
    "sparse COO": (lambda: sp.coo_matrix(X), TypeError, "dense data is required"),
    "0 rows": (lambda: X[:0], ValueError, "0 sample"),
    "1 row": (lambda: X[:1], ValueError, "1 sample"),
    "1-D": (lambda: X[:, 0], ValueError, "2D array"),
    "3-D": (lambda: X.reshape(40, 3, 2), ValueError, "dim 3"),
    "0 columns": (lambda: X[:, :0], ValueError, "0 feature"),
    "1 column": (lambda: X[:, :1], ValueError, r"1 feature\(s\)"),
}


# Inputs that work for the other estimators but not for one: DMVAE's
# reconstruction error of values near 1e30 overflows float32, and training
# stops with an error that names the fix.
DIVERGES = {("DMVAE", "huge values"): "scale the features"}
if torch.cuda.is_available():
    # On a GPU, float32 overflows on values near 1e30 in the training of these
    # estimators too (seen on an H200), and stops with the same error.
    DIVERGES.update({(name, "huge values"): "scale the features"
                     for name in ("DisentangledSSL", "JointOptSSL", "FOCAL")})


@pytest.mark.parametrize("name", list(_estimators()))
@pytest.mark.parametrize("case", list(WORKS))
def test_inputs_that_work(name, case, tmp_path):
    data = WORKS[case](tmp_path)
    estimator = _estimators()[name]()
    if (name, case) in DIVERGES:
        with pytest.raises(NonFiniteLossError, match=DIVERGES[name, case]) as caught:
            estimator.fit(data)
        assert isinstance(caught.value, ValueError)  # as for other bad input
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow/invalid value
        Z = estimator.fit(data).transform(data)
    assert Z.shape == (np.shape(data)[0], estimator.get_feature_names_out().size)
    assert Z.dtype == np.float32 and np.isfinite(Z).all()


@pytest.mark.parametrize("name", list(_estimators()))
@pytest.mark.parametrize("case", list(FAILS))
def test_inputs_that_are_refused(name, case):
    make, error, message = FAILS[case]
    with pytest.raises(error, match=message):
        _estimators()[name]().fit(make())


@pytest.mark.parametrize("name", list(_estimators()))
def test_dataframe_columns_at_transform(name):
    df = pd.DataFrame(X, columns=COLUMNS)
    spec = {"a": COLUMNS[:3], "b": COLUMNS[3:]}
    estimator = _estimators()[name](modalities=spec).fit(df)
    expected = estimator.transform(df)
    with pytest.raises(ValueError, match="missing:\n- c5"):
        estimator.transform(df[COLUMNS[:5]])
    with pytest.raises(ValueError, match="must be in the same order"):
        estimator.transform(df[COLUMNS[::-1]])
    with pytest.raises(ValueError, match="unseen at fit time"):
        estimator.transform(df.rename(columns={"c0": "z"}))
    with pytest.raises(ValueError, match="X has 5 features"):
        estimator.transform(X[:, :5])
    # extra rows, a copy or a view: same answer row by row
    np.testing.assert_allclose(estimator.transform(df.iloc[::-1]), expected[::-1], atol=1e-6)


@pytest.mark.parametrize("name", list(_estimators()))
def test_refused_refit_keeps_the_fitted_model(name):
    estimator = _estimators()[name]().fit(X)
    expected = estimator.transform(X)
    for make, error, _ in FAILS.values():
        with pytest.raises(error):
            estimator.fit(make())
        assert estimator.n_features_in_ == 6
        np.testing.assert_array_equal(estimator.transform(X), expected)


@pytest.mark.parametrize("name", list(TINY_NEURAL))
def test_a_contrastive_loss_needs_batches_of_two_rows(name):
    model = TINY_NEURAL[name](batch_size=1)
    if name == "DMVAE":  # a reconstruction loss trains on single rows
        assert model.fit(X).transform(X).shape[0] == len(X)
        return
    with pytest.raises(ValueError, match=r"batch_size.*\[2, inf\)"):
        model.fit(X)


@pytest.mark.parametrize("name", list(_estimators()))
def test_one_modality_alone_refuses_what_transform_refuses(name):
    estimator = _estimators()[name]().fit(X)
    part = X[:, :3]
    for data, error, message in [
        (np.where(part > 1.5, np.nan, part), ValueError, "NaN"),
        (1e39 * part, ValueError, "beyond float32's range"),
        (pd.DataFrame({"a": part[:, 0], "b": part[:, 1],
                       "c": pd.date_range("2020-01-01", periods=40)}), ValueError, TEMPORAL),
        (sp.csr_matrix(part), TypeError, "dense data is required"),
        (np.full((40, 3), "x", dtype=object), ValueError, "convert"),
    ]:
        with pytest.raises(error, match=message):
            estimator.transform_modality(data, "m1")


@pytest.mark.parametrize("name", list(_estimators()))
def test_one_modality_alone_takes_its_columns_in_the_order_given(name):
    """Groups listed out of column order: ``X[:, group]`` is what transform_modality reads."""
    groups = [[2, 0, 4], [5, 1, 3]]
    estimator = _estimators()[name](modalities=groups).fit(X)
    assert [cols.tolist() for cols in estimator.modalities_.values()] == groups
    blocks = estimator.transform_blocks(X)
    for modality, group in zip(("m1", "m2"), groups):
        np.testing.assert_allclose(
            estimator.transform_modality(X[:, group], modality), blocks["shared"][modality],
            rtol=1e-5, atol=1e-6,
        )
    df = pd.DataFrame(X, columns=COLUMNS)
    by_name = [[COLUMNS[i] for i in group] for group in groups]
    estimator = _estimators()[name](modalities=by_name).fit(df)
    np.testing.assert_allclose(
        estimator.transform_modality(df[by_name[0]], "m1"),
        estimator.transform_blocks(df)["shared"]["m1"], rtol=1e-5, atol=1e-6,
    )


@pytest.mark.parametrize("name", list(_estimators()))
def test_one_value_beyond_float32_is_refused_at_fit(name):
    """At fit the range is read from the columns' peaks: one cell is enough."""
    huge = X.copy()
    huge[3, 1] = -1e300
    with pytest.raises(ValueError, match="beyond float32's range"):
        _estimators()[name]().fit(huge)


@pytest.mark.parametrize("name", list(_estimators()))
def test_values_beyond_float32_are_refused_after_fit_too(name):
    """transform, transform_blocks and score check the range, not only fit."""
    estimator = _estimators()[name]().fit(X)
    huge = X.copy()
    huge[0, 0] = 1e300
    for method in ("transform", "transform_blocks", "score"):
        if hasattr(estimator, method):
            with pytest.raises(ValueError, match="beyond float32's range"):
                getattr(estimator, method)(huge)


@pytest.mark.parametrize("name", list(TINY_NEURAL))
def test_columns_at_a_scale_where_float32_overflows_are_warned_of(name):
    with pytest.warns(ColumnScaleWarning, match=r"modality 'm1' have standard deviations up "
                                                r"to 1\.\d+e\+30, near or past the scale \(about "
                                                r"1e20\) at which the encoders' float32"):
        try:
            _estimators()[name]().fit(np.hstack([1e30 * X[:, :3], X[:, 3:]]))
        except NonFiniteLossError:  # DMVAE's reconstruction overflows (DIVERGES)
            assert name == "DMVAE"
    with warnings.catch_warnings():
        warnings.simplefilter("error", ColumnScaleWarning)
        _estimators()[name]().fit(1e4 * X)  # far from it


OVERFLOWED = "embedding of some rows of X is not finite: the model's float32 arithmetic"


def test_values_that_overflow_the_model_are_refused_not_embedded():
    # within float32's range, but far beyond the scale of the fit's rows
    estimator = LinearCCA(n_components=1).fit(X * 1e-20)
    for method in ("transform", "transform_blocks"):
        with pytest.raises(ValueError, match=OVERFLOWED + r" overflowed on X's values \(largest magnitude \d"):
            getattr(estimator, method)(X * 1e19)
    with pytest.raises(ValueError, match=OVERFLOWED):
        estimator.transform_modality(X[:, :3] * 1e19, 0)


@pytest.mark.parametrize("name", list(_estimators()))
def test_every_entry_point_refuses_an_embedding_that_is_not_finite(name, monkeypatch):
    estimator = _estimators()[name]().fit(X)
    encode, encode_one = estimator._encode_batch, estimator._encode_modality_batch
    monkeypatch.setattr(estimator, "_encode_batch", lambda x, blocks: {
        block: [np.where(np.arange(a.shape[1]) == 0, np.nan, a) for a in arrays]
        for block, arrays in encode(x, blocks).items()})
    monkeypatch.setattr(estimator, "_encode_modality_batch",
                        lambda x, index, block: encode_one(x, index, block) * np.inf)
    for method in ("transform", "transform_blocks"):
        with pytest.raises(ValueError, match=OVERFLOWED):
            getattr(estimator, method)(X)
    with pytest.raises(ValueError, match=OVERFLOWED):
        estimator.transform_modality(X[:, :3], 0)


@pytest.mark.parametrize("name", list(_estimators()))
def test_a_bool_is_refused_where_a_number_is_expected(name):
    # scikit-learn's Interval constraints take True for the int 1
    estimator = _estimators()[name]()
    numeric = [p for p, constraints in estimator._parameter_constraints.items()
               if any(isinstance(c, Interval) or c == "random_state" for c in constraints)]
    assert numeric
    for param in numeric:
        # refused by scikit-learn where 1 is out of range, by the package where not
        with pytest.raises(TypeError, match=rf"'?{param}'?(=True: | parameter .* Got True)"):
            _estimators()[name]().set_params(**{param: True}).fit(X)
    # where a bool is meant, it still passes
    flags = {"verbose": True} if "verbose" in estimator.get_params() else {}
    assert np.isfinite(_estimators()[name]().set_params(**flags).fit(X).transform(X)).all()


@pytest.mark.parametrize("name", list(_estimators()))
def test_a_modality_position_that_is_another_modality_s_name_is_refused(name):
    # named 1 and 0, in that order: modality=1 could mean either
    estimator = _estimators()[name](modalities={1: [3, 4, 5], 0: [0, 1, 2]}).fit(X)
    with pytest.raises(ValueError, match=r"modality=1 is ambiguous.*modality='0' or modality='1'"):
        estimator.transform_modality(X[:, 3:6], 1)
    blocks = estimator.transform_blocks(X)["shared"]
    np.testing.assert_allclose(estimator.transform_modality(X[:, 3:6], "1"), blocks["1"],
                               rtol=1e-5, atol=1e-6)
    # a position that is no other modality's name stays a position
    estimator = _estimators()[name](modalities={"a": [0, 1, 2], 1: [3, 4, 5]}).fit(X)
    np.testing.assert_allclose(estimator.transform_modality(X[:, 3:6], 1),
                               estimator.transform_blocks(X)["shared"]["1"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", list(_estimators()))
def test_a_modality_position_out_of_range_or_an_unknown_name_is_refused(name):
    # positions run from 0 to n - 1: -1 is no Python-style "last modality",
    # and n is a ValueError naming the range, not an IndexError
    estimator = _estimators()[name]().fit(X)
    for position in (-1, 2, np.int64(-1), np.int64(2)):
        with pytest.raises(ValueError, match=rf"modality={position} is out of range; there are 2"):
            estimator.transform_modality(X[:, 3:6], position)
    with pytest.raises(ValueError, match=r"modality='m3' is none of \['m1', 'm2'\]"):
        estimator.transform_modality(X[:, 3:6], "m3")
    np.testing.assert_allclose(estimator.transform_modality(X[:, 3:6], 1),
                               estimator.transform_blocks(X)["shared"]["m2"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("sizes", [[[8], [8, 8]], [[8, 4]], np.array([[8], [4]]), (8, True)])
def test_hidden_layer_sizes_that_are_not_a_flat_list_of_widths_are_refused(sizes):
    with pytest.raises(ValueError, match="hidden_layer_sizes must be a positive int or a "
                       "tuple of positive ints"):
        TINY_NEURAL["MultimodalContrastive"](hidden_layer_sizes=sizes).fit(X)


def test_an_int_hidden_layer_size_is_one_hidden_layer_as_in_mlp_classifier():
    one = TINY_NEURAL["MultimodalContrastive"](hidden_layer_sizes=8).fit(X)
    np.testing.assert_array_equal(
        one.transform(X), TINY_NEURAL["MultimodalContrastive"](hidden_layer_sizes=(8,)).fit(X)
        .transform(X))
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        TINY_NEURAL["MultimodalContrastive"](hidden_layer_sizes=0).fit(X)


def test_a_zero_dimensional_array_is_no_column_group():
    with pytest.raises(TypeError, match="a column group must be a slice or a sequence"):
        LinearCCA(modalities=[np.array(3), np.array(3)], n_components=1).fit(X)


@pytest.mark.parametrize("name", list(_estimators()))
def test_column_selectors_pick_the_modalities_of_a_dataframe_in_a_pipeline(name):
    from sklearn.compose import make_column_selector
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    df = pd.DataFrame(X, columns=["rna_a", "atac_a", "rna_b", "atac_b", "rna_c", "atac_c"])
    spec = {"rna": make_column_selector("^rna_"), "atac": make_column_selector("^atac_")}
    by_names = {"rna": ["rna_a", "rna_b", "rna_c"], "atac": ["atac_a", "atac_b", "atac_c"]}
    pipe = make_pipeline(StandardScaler().set_output(transform="pandas"),
                         _estimators()[name](modalities=spec)).fit(df)
    assert {m: c.tolist() for m, c in pipe[-1].modalities_.items()} == {
        "rna": [0, 2, 4], "atac": [1, 3, 5]}
    reference = make_pipeline(StandardScaler().set_output(transform="pandas"),
                              _estimators()[name](modalities=by_names)).fit(df)
    np.testing.assert_array_equal(pipe.transform(df), reference.transform(df))
    if name == "DisentangledSSL":  # the same selectors: no changed step-1 settings
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            pipe[-1].fit_specific(pipe[0].transform(df))
    # an earlier step that outputs arrays leaves the selectors nothing to select by
    unnamed = make_pipeline(StandardScaler(), _estimators()[name](modalities=spec))
    with pytest.raises(ValueError, match=r"modality 'rna': its column selector cannot select "
                       r"from X, which has no column names \(make_column_selector can only be "
                       r"applied to pandas dataframes\)\. Pass a DataFrame; in a Pipeline, have "
                       r"the steps before it output DataFrames: set_output\(transform='pandas'\)"):
        unnamed.fit(df)


@pytest.mark.parametrize("name", ["DisentangledSSL", "MultimodalContrastive", "DMVAE"])
def test_score_of_large_values_is_finite_or_refused(name):
    # computed in float64, where float32 had given NaN or -inf silently
    estimator = _estimators()[name]()
    if name == "MultimodalContrastive":
        estimator.set_params(similarity="euclidean")
    estimator.fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert np.isfinite(estimator.score(1e30 * X))
    if name != "DMVAE":  # a temperature beyond float64's range: no score to give
        with pytest.raises(ValueError, match="the score of X is nan: X's values, or "
                                             "temperature, which the score reads, are too"):
            estimator.set_params(temperature=1e-320).score(X)
    else:  # a reconstruction that overflows, as from weights trained on huge values
        module = estimator.net_.module_
        sizes = module.modality_sizes
        module.reconstruct = lambda x: [torch.full((len(x), n), np.inf) for n in sizes]
        with pytest.raises(ValueError, match="the score of X is -inf: X's values are too "
                                             "extreme for it to be computed"):
            estimator.score(X)


@pytest.mark.parametrize("name", list(_estimators()))
def test_tiny_values_are_judged_at_fit_only(name):
    # at transform a row is embedded whatever rows come with it: one of values
    # below float32's normal numbers, alone or in a batch, gives the same
    estimator = _estimators()[name]().fit(X)
    rows = X[:4].copy()
    rows[0] = 1e-40
    np.testing.assert_allclose(estimator.transform(rows[:1]), estimator.transform(rows)[:1],
                               rtol=1e-5, atol=1e-7)  # products may round by the row's place


def test_a_column_too_small_for_float32_is_named():
    frame = pd.DataFrame(X, columns=COLUMNS).assign(c5=1e-39 * X[:, 5])
    with pytest.raises(ValueError, match=r"X's column\(s\) \['c5'\] hold values too small"):
        _estimators()["LinearCCA"]().fit(frame)


def test_a_polars_style_temporal_dtype_is_refused():
    # polars' dtypes say whether they are temporal; a stand-in for its frames
    from sklearn_dssl._base import readable_input

    class Dtype:
        def __init__(self, temporal):
            self.temporal = temporal

        def is_temporal(self):
            return self.temporal

    class Frame:
        columns = ["a", "when"]
        dtypes = [Dtype(False), Dtype(True)]

    with pytest.raises(ValueError, match=r"X's column\(s\) \['when'\] hold dates"):
        readable_input(Frame())


@pytest.mark.parametrize("score", [np.nan, np.inf, -np.inf])
def test_a_score_that_is_not_finite_is_refused(score):
    from sklearn_dssl._base import check_finite_score

    with pytest.raises(ValueError, match=f"the score of X is {score}"):
        check_finite_score(score)
    assert check_finite_score(-3.5) == -3.5


@pytest.mark.parametrize("name", list(TINY_NEURAL))
def test_columns_of_very_different_scales_are_warned_of(name):
    # an encoder sees mostly the widest columns: unstandardised tables (wine,
    # breast cancer) trained to a contrastive loss near chance
    wide = X * [1, 1, 1e4, 1, 1, 1]
    with pytest.warns(UserWarning, match=r"the columns of modality 'm1' differ in scale by a "
                      r"factor of .*Standardise the columns first") as caught:
        TINY_NEURAL[name]().fit(wide)
    assert not any("'m2'" in str(w.message) for w in caught)
    assert all(issubclass(w.category, ColumnScaleWarning) for w in caught
               if "differ in scale" in str(w.message))
    # a factor of 100, or a constant column beside the others, is not warned of
    for data in (X * [1, 1, 100, 1, 1, 1], np.hstack([X[:, :5], np.zeros((40, 1))])):
        with warnings.catch_warnings():
            warnings.filterwarnings("error", message=".*differ in scale")
            TINY_NEURAL[name]().fit(data)


@pytest.mark.parametrize("factor, warns", [(0.99e3, False), (1.01e3, True)])
def test_the_column_scales_are_warned_of_beyond_a_thousandfold(factor, warns):
    standard = (X - X.mean(axis=0)) / X.std(axis=0)  # every column's std exactly 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        TINY_NEURAL["MultimodalContrastive"]().fit(standard * [1, 1, factor, 1, 1, 1])
    assert sum(issubclass(w.category, ColumnScaleWarning) for w in caught) == int(warns)


def test_linear_cca_does_not_depend_on_the_columns_scales_and_does_not_warn():
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*differ in scale")
        LinearCCA(n_components=1).fit(X * [1, 1, 1e4, 1, 1, 1])


@pytest.mark.parametrize("name", list(_estimators()))
def test_one_modality_is_selected_by_name_from_a_wider_dataframe(name):
    df = pd.DataFrame(X, columns=COLUMNS)
    groups = [["c2", "c0", "c4"], ["c5", "c1", "c3"]]
    estimator = _estimators()[name](modalities=groups).fit(df)
    expected = estimator.transform_blocks(df)["shared"]["m2"]
    # the whole table, or the modality's columns in another order; the table's
    # other columns may hold anything (ids, dates)
    dates = pd.date_range("2020-01-01", periods=len(df))
    for data in (df, df[["c3", "c5", "c1"]], df[COLUMNS[::-1]],
                 df.assign(visit=dates, sample=[f"s{i}" for i in range(len(df))])):
        np.testing.assert_allclose(estimator.transform_modality(data, "m2"), expected,
                                   rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"do not match modality 'm2': X lacks \['c1'\]; pass "
                       r"a DataFrame holding its columns, \['c5', 'c1', 'c3'\]"):
        estimator.transform_modality(df.drop(columns="c1"), "m2")


def test_a_wide_modality_s_missing_columns_are_named_five_at_most():
    names = [f"c{i}" for i in range(16)]
    df = pd.DataFrame(np.tile(X, (1, 3))[:, :16], columns=names)
    estimator = LinearCCA([names[:8], names[8:]], n_components=1).fit(df)
    with pytest.raises(ValueError, match=r"X lacks \['c8', 'c9', 'c10', 'c11', 'c12'\] and more; "
                       r"pass a DataFrame holding its columns, \['c8', 'c9', 'c10', "
                       r"'c11', 'c12'\]\.\.\."):
        estimator.transform_modality(df[names[:8]], "m2")


def test_a_pyarrow_table_s_dates_are_refused_and_its_columns_selected_by_name():
    pa = pytest.importorskip("pyarrow")
    dates = pa.array(pd.date_range("2020-01-01", periods=len(X)).to_pydatetime(),
                     pa.timestamp("us"))
    table = pa.table({name: X[:, i] for i, name in enumerate(COLUMNS)})
    # numpy reads them as microseconds since 1970, as it does pandas' and
    # polars' dates, which are refused
    for data in (table.append_column("visit", dates),
                 table.append_column("visit", dates).to_batches()[0]):
        with pytest.raises(ValueError, match=r"X's column\(s\) \['visit'\] hold dates"):
            LinearCCA(n_components=1).fit(data)
    estimator = LinearCCA([COLUMNS[:3], COLUMNS[3:]], n_components=1).fit(table)
    np.testing.assert_allclose(
        estimator.transform_modality(table.append_column("visit", dates), "m2"),
        estimator.transform_blocks(table)["shared"]["m2"], rtol=1e-6)


@pytest.mark.parametrize("values, shown, dtype", [
    (pd.date_range("2020-01-01", periods=len(X)).date, "datetime.date", object),
    ([1.0] * (len(X) - 1) + [pd.NA], "NAType", object),
    # pandas' string dtype (convert_dtypes, read_csv's dtype_backend), whose
    # column alone reads pd.NA as NaN
    ([str(v) for v in X[:-1, 0]] + [pd.NA], "NAType", "string"),
])
def test_a_column_of_objects_that_are_no_numbers_is_named(values, shown, dtype):
    # numpy's TypeError from float(), which named no column
    df = pd.DataFrame(X, columns=COLUMNS)
    with pytest.raises(ValueError, match=(
            r"X's column\(s\) \['c5'\] hold values that are neither real numbers nor text, "
            rf"such as dates, times, pd\.NA or complex numbers \(.*{shown}.*\); every column "
            r"of X belongs to a modality")):
        LinearCCA(n_components=1).fit(df.assign(c5=pd.Series(values, dtype=dtype)))
    estimator = LinearCCA([COLUMNS[:3], COLUMNS[3:]], n_components=1).fit(df)
    with pytest.raises(ValueError, match=r"X's column\(s\) \['c5'\] hold values that are"):
        estimator.transform_modality(df.assign(c5=pd.Series(values, dtype=dtype)), "m2")


def test_a_text_column_of_a_pyarrow_table_is_named():
    pa = pytest.importorskip("pyarrow")
    table = pa.table({**{c: X[:, i] for i, c in enumerate(COLUMNS)},
                      "sample": [f"s{i}" for i in range(len(X))]})
    with pytest.raises(ValueError, match=r"X's column\(s\) \['sample'\] hold text"):
        LinearCCA(n_components=1).fit(table)


def test_a_nullable_number_column_with_pd_na_is_not_called_text():
    # scikit-learn reads its pd.NA as NaN; only the text column is named
    df = pd.DataFrame(X, columns=COLUMNS).assign(
        c1=pd.array([*X[:-1, 1], None], dtype="Float64"), c5="a")
    with pytest.raises(ValueError, match=r"X's column\(s\) \['c5'\] hold text"):
        LinearCCA(n_components=1).fit(df)


@pytest.mark.parametrize("name", list(_estimators()))
def test_text_columns_beside_the_modalities_are_named(name):
    df = pd.DataFrame(X, columns=COLUMNS).assign(sample=[f"s{i}" for i in range(40)])
    spec = {"a": COLUMNS[:3], "b": COLUMNS[3:]}
    with pytest.raises(ValueError, match=r"X's column\(s\) \['sample'\] hold text \(could not "
                       r"convert string to float: 's0'\); every column of X belongs to a "
                       r"modality and holds numbers\. Leave such columns \(ids, labels\) out "
                       r"of X, e\.g\. X\.drop\(columns=\[\.\.\.\]\), or encode them"):
        _estimators()[name](modalities=spec).fit(df)
    fitted = _estimators()[name](modalities=spec).fit(df.drop(columns="sample"))
    with pytest.raises(ValueError, match=r"Feature names unseen at fit time:\n- sample"):
        fitted.transform(df)  # scikit-learn's check of the names comes first


@pytest.mark.parametrize("name", list(TINY_NEURAL))
def test_a_float64_default_dtype_or_inference_mode_changes_no_fit(name, tmp_path):
    # torch.set_default_dtype(torch.float64), common in scientific code, had
    # the modules built in float64 around float32 rows; a fit under
    # torch.inference_mode() had no autograd
    from sklearn_dssl import load, save

    expected = TINY_NEURAL[name]().fit(X)
    path = save(expected, tmp_path / "model.zip")
    torch.set_default_dtype(torch.float64)
    try:
        model = TINY_NEURAL[name]().fit(X)
        loaded = load(path)
        assert torch.get_default_dtype() == torch.float64  # the caller's, kept
    finally:
        torch.set_default_dtype(torch.float32)
    np.testing.assert_array_equal(model.transform(X), expected.transform(X))
    np.testing.assert_array_equal(loaded.transform(X), expected.transform(X))
    with torch.inference_mode():
        model = TINY_NEURAL[name]().fit(X)
        if name == "DisentangledSSL":
            model.fit_specific(X)
        assert torch.is_inference_mode_enabled()
    np.testing.assert_array_equal(model.transform(X), expected.transform(X))
