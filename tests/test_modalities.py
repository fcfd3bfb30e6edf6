"""The ``modalities`` specification: every accepted form and every refusal."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sklearn_dssl._modalities import resolve_modalities

NAMES = np.array(["a", "b", "c", "d", "e"], dtype=object)


def _as_lists(modalities):
    return {name: cols.tolist() for name, cols in modalities.items()}


@pytest.mark.parametrize(
    "spec, expected",
    [
        (None, {"m1": [0, 1, 2], "m2": [3, 4]}),
        ([2, 3], {"m1": [0, 1], "m2": [2, 3, 4]}),
        # a group keeps its columns in the order given
        ([[4, 0], [1, 2, 3]], {"m1": [4, 0], "m2": [1, 2, 3]}),
        ((slice(0, 2), slice(2, None)), {"m1": [0, 1], "m2": [2, 3, 4]}),
        ([[-1], [0, 1, 2, 3]], {"m1": [4], "m2": [0, 1, 2, 3]}),
        ({"rna": 3, "protein": 2}, {"rna": [0, 1, 2], "protein": [3, 4]}),
        ({"rna": slice(3, 5), "protein": [0, 1, 2]}, {"rna": [3, 4], "protein": [0, 1, 2]}),
        ([["a", "c"], ["b", "d", "e"]], {"m1": [0, 2], "m2": [1, 3, 4]}),
        ({"x": np.array(["e"]), "y": ["a", "b", "c", "d"]}, {"x": [4], "y": [0, 1, 2, 3]}),
        ([np.array([0, 1]), range(2, 5)], {"m1": [0, 1], "m2": [2, 3, 4]}),
        # boolean masks, as numpy arrays or lists, as ColumnTransformer takes them
        ([NAMES == "b", NAMES != "b"], {"m1": [1], "m2": [0, 2, 3, 4]}),
        ({"x": [True, True, False, False, False], "y": [False, False, True, True, True]},
         {"x": [0, 1], "y": [2, 3, 4]}),
        # pandas: an Index of column names, a boolean Series, a Series of counts
        ({"x": pd.Index(["c", "a"]), "y": pd.Index(["b", "d", "e"])},
         {"x": [2, 0], "y": [1, 3, 4]}),
        ([pd.Series(NAMES == "b"), pd.Series(NAMES != "b")], {"m1": [1], "m2": [0, 2, 3, 4]}),
        (pd.Series([2, 3]), {"m1": [0, 1], "m2": [2, 3, 4]}),
        # a Series indexed by strings names the modalities, as a dict's keys;
        # by numbers, it is a sequence of groups
        (pd.Series([2, 3], index=["rna", "protein"]), {"rna": [0, 1], "protein": [2, 3, 4]}),
        (pd.Series([2, 3], index=[5, 1]), {"m1": [0, 1], "m2": [2, 3, 4]}),
        (pd.Series({"x": ["c", "a"], "y": ["b", "d", "e"]}), {"x": [2, 0], "y": [1, 3, 4]}),
        # a group of one column by its name, as ColumnTransformer takes it
        ({"x": "e", "y": ["a", "b", "c", "d"]}, {"x": [4], "y": [0, 1, 2, 3]}),
        # slices of column names include both ends, as DataFrame.loc's
        ([slice("a", "b"), slice("c", None)], {"m1": [0, 1], "m2": [2, 3, 4]}),
        ({"x": slice("d", "b", -1), "y": slice(None, "e", 4)}, {"x": [3, 2, 1], "y": [0, 4]}),
        ([slice("b", "a", -1), slice("e", "c", -1)], {"m1": [1, 0], "m2": [4, 3, 2]}),
    ],
)
def test_accepted_specs(spec, expected):
    assert _as_lists(resolve_modalities(spec, 5, NAMES)) == expected


@pytest.mark.parametrize(
    "spec, n_features, names, message",
    [
        (None, 1, None, r"1 feature\(s\)"),
        ([5], 5, None, "at least 2 modalities"),
        ([2, 2], 5, None, "add up to 4"),
        ([0, 5], 5, None, "positive"),
        ([[0, 1], [1, 2, 3, 4]], 5, None, "overlap.*\\[1\\]"),
        ([[0, 1], [2, 3]], 5, None, r"column\(s\) \[4\] of X belong to no modality"),
        ([[0, 7], [1, 2, 3, 4]], 5, None,
         r"gives column position\(s\) \[7\], but X has 5 features \(positions 0 to 4, or -5 "
         r"to -1\)\. Integers are positions, as in ColumnTransformer: to select columns "
         r"labelled by integers, name them with strings"),
        ([[0, 0], [1, 2, 3, 4]], 5, None, "more than once"),
        ([[], [0, 1, 2, 3, 4]], 5, None, "no columns"),
        ([["a"], ["b", "zz"]], 5, NAMES,
         r"'m2' names columns not in X: \['zz'\]\. X's 5 columns are \['a', 'b', 'c', 'd', "
         r"'e'\]; in a Pipeline, X is the output of the steps before the estimator \(a "
         r"SimpleImputer drops a column it saw no value in, unless keep_empty_features=True\)"),
        ([["a"], ["b"]], 5, None, r"DataFrame.*set_output\(transform='pandas'\)"),
        # columns named where X has names
        ([["a", "b"], ["c", "d"]], 5, NAMES, r"column\(s\) \['e'\] of X belong to no modality"),
        ([["a", "b"], ["b", "c", "d", "e"]], 5, NAMES, r"overlap: column\(s\) \['b'\]"),
        ([[True, False], [False, True]], 5, None, "boolean mask of 2 entries, but X has 5"),
        ([NAMES == "a", NAMES == "z"], 5, None, "'m2' has no columns"),
        ({"a": 2, "A": 3}, 5, None, None),  # distinct names are fine
        ([[1, 1, 1, 0, 0], [0, 0, 0, 1, 1]], 5, None,
         r"more than once \(a mask over the columns holds True and False, not 1 and 0\)"),
        ([[1, 1, 0], [2, 3, 4]], 5, None, r"'m1' lists a column more than once\.$"),  # no mask
        ([[0, 5], [1, 2, 3, 4]], 5, None, r"position\(s\) \[5\], but X has 5"),
        ([[0, -6], [1, 2, 3, 4]], 5, None, r"position\(s\) \[-6\], but X has 5"),
        ([[-5], [1, 2, 3, 4]], 5, None, None),  # column 0, counted from the end
        ([[0, 2**70], [1, 2, 3, 4]], 5, None, r"position\(s\) \[1180591620717411303424\]"),
        ([[np.uint64(2**64 - 1)], [0, 1, 2, 3, 4]], 5, None,
         r"position\(s\) \[18446744073709551615\], but X has 5"),
        ([slice(0, 2, 0), slice(2, None)], 5, None, "a slice's step cannot be zero"),
        ([slice("a", "b"), slice("c", None)], 5, None, "given by column names"),
        ([slice("a", "zz"), slice("c", None)], 5, NAMES, r"not in X: \['zz'\]"),
    ],
)
def test_refused_specs(spec, n_features, names, message):
    if message is None:
        resolve_modalities(spec, n_features, names)
        return
    with pytest.raises(ValueError, match=message):
        resolve_modalities(spec, n_features, names)


_MIXED_TYPES = r"'m1': a column group holds integer indices, column names or a boolean mask"


@pytest.mark.parametrize(
    "spec, message",
    [
        ("ab", "modalities must be None, a sequence .* got str"),
        (3, "modalities must be None, a sequence .* got int"),
        ([2, [0, 1, 2]], r"mixes column counts with column groups; give either counts for "
                         "every modality or a column group for every modality"),
        ([[0, 1.5], [2, 3, 4]], _MIXED_TYPES),
        ([[0, "b"], [2, 3, 4]], _MIXED_TYPES),
        ([{0}, {1}], "'m1': a column group must be a slice or a sequence .* got set"),
        ([[True, 1, 0, 0, 0], [False, 0, 1, 1, 1]], _MIXED_TYPES),
        ([2.5, 2.5], "'m1' is 2.5, a number but not an int"),
        ([slice(0, 2.5), slice(3, None)], "a slice of columns has int positions"),
        ([slice("a", 2), slice(3, None)], "a slice of column names has names"),
        ([slice("a", "b", "c"), slice(2, None)], "a slice of column names has names"),
    ],
)
def test_badly_typed_specs_raise_type_error(spec, message):
    with pytest.raises(TypeError, match=message):
        resolve_modalities(spec, 5, NAMES)


def test_a_series_of_groups_named_by_strings_and_numbers_names_them_as_a_dict():
    with pytest.raises(ValueError, match="collide as strings"):
        resolve_modalities(pd.Series([2, 3], index=["1", 1]), 5, NAMES)
    assert list(resolve_modalities(pd.Series([2, 3], index=["a", 1]), 5, NAMES)) == ["a", "1"]


def test_names_that_collide_as_strings_are_refused_as_such():
    # the fitted model keys modalities_ (and the feature names) by str(name)
    with pytest.raises(ValueError, match=r"modality names 1 and '1' collide as strings: both "
                                         r"are '1' once cast to str.*give the modalities "
                                         r"names that differ as strings\.$"):
        resolve_modalities({1: [0, 1], "1": [2, 3]}, 4)
    assert list(resolve_modalities({1: [0, 1], "one": [2, 3]}, 4)) == ["1", "one"]


@given(st.lists(st.integers(1, 6), min_size=2, max_size=5), st.randoms(use_true_random=False))
def test_partitions_round_trip(counts, rnd):
    """Any shuffled partition of the columns, given by indices or by counts, comes back.

    Each group comes back in the order it was given.
    """
    n = sum(counts)
    columns = list(range(n))
    rnd.shuffle(columns)
    bounds = np.cumsum([0, *counts])
    groups = [columns[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]
    by_index = resolve_modalities(groups, n)
    assert [cols.tolist() for cols in by_index.values()] == groups
    assert list(by_index) == [f"m{i + 1}" for i in range(len(counts))]
    by_count = resolve_modalities(counts, n)
    assert np.array_equal(np.concatenate(list(by_count.values())), np.arange(n))
    named = resolve_modalities(dict(zip("abcdef", groups)), n)
    assert list(named) == list("abcdef"[: len(groups)])


def test_callable_groups_select_from_the_data_as_in_column_transformer():
    from sklearn.compose import make_column_selector

    X = pd.DataFrame(np.zeros((3, 5)), columns=["rna_a", "atac_a", "rna_b", "atac_b", "rna_c"])
    names = X.columns.to_numpy(dtype=object)
    spec = {"rna": make_column_selector("^rna_"), "atac": make_column_selector("^atac_")}
    assert _as_lists(resolve_modalities(spec, 5, names, X)) == {
        "rna": [0, 2, 4], "atac": [1, 3]}
    # any callable of X, returning any form of group; mixed with plain groups
    spec = [lambda X: [c.startswith("rna") for c in X.columns], slice(None, None, 2)]
    with pytest.raises(ValueError, match="overlap"):
        resolve_modalities(spec, 5, names, X)
    spec = [lambda X: np.flatnonzero([c.startswith("atac") for c in X.columns]), [0, 2, 4]]
    assert _as_lists(resolve_modalities(spec, 5, names, X)) == {"m1": [1, 3], "m2": [0, 2, 4]}


@pytest.mark.parametrize("returned, error, message", [
    (3, TypeError, "'m2': its column selector returned 3; a selector must return"),
    ("rna_a", TypeError, "returned 'rna_a'"),
    ([], ValueError, "'m2' has no columns. X's columns are 'rna_a', 'atac_a': check"),
])
def test_a_selector_that_selects_no_group_is_refused(returned, error, message):
    X = pd.DataFrame(np.zeros((3, 2)), columns=["rna_a", "atac_a"])
    with pytest.raises(error, match=message):
        resolve_modalities([["rna_a"], lambda X: returned], 2, np.array(["rna_a", "atac_a"]), X)


def test_a_group_selecting_nothing_shows_the_first_columns_of_x():
    # e.g. a pattern written for the names before a ColumnTransformer prefixed them
    names = np.array([f"scaler__rna_{i}" for i in range(8)], dtype=object)
    with pytest.raises(ValueError, match=r"'rna' has no columns. X's columns are "
                       r"'scaler__rna_0', .*'scaler__rna_4', \.\.\. \(8 in all\)"):
        resolve_modalities({"rna": [n.startswith("rna_") for n in names], "x": [0]},
                           8, names)


def test_a_selector_without_data_names_what_it_needs():
    with pytest.raises(ValueError, match="callable column selector, which needs the data"):
        resolve_modalities([lambda X: [0], [1]], 2)


def test_a_float_column_count_says_counts_are_ints():
    with pytest.raises(TypeError, match=r"modality 'm1' is 2.0, a number but not an int; give "
                                        r"column counts as ints"):
        resolve_modalities([2.0, 3.0], 5)


def test_more_than_five_positions_past_x_are_named_five_at_most():
    with pytest.raises(ValueError, match=r"position\(s\) \[5, 6, 7, 8, 9\] and more, but X has 5"):
        resolve_modalities([[0, 5, 6, 7, 8, 9, 10], [1, 2, 3, 4]], 5)


def test_a_selector_s_own_fault_on_an_array_is_its_own_error():
    def selector(X):
        return 1 / 0

    with pytest.raises(ZeroDivisionError):
        resolve_modalities([selector, [2, 3]], 4, X=np.zeros((3, 4)))


@pytest.mark.parametrize("error", [ValueError, TypeError, AttributeError, KeyError, IndexError])
def test_a_selector_that_fails_on_an_array_asks_for_a_dataframe(error):
    def selector(X):
        raise error("needs a DataFrame")

    X = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"modality 'm1': its column selector cannot select "
                       r"from X, which has no column names \('?needs a DataFrame'?\)\. Pass a "
                       r"DataFrame; in a Pipeline, have the steps before it output DataFrames"):
        resolve_modalities([selector, [2, 3]], 4, X=X)
    # on a DataFrame the selector's own error, named with its modality
    df = pd.DataFrame(X, columns=list("abcd"))
    with pytest.raises(ValueError, match=rf"^modality 'm1': its column selector failed on X "
                       rf"\({error.__name__}: '?needs a DataFrame'?\); it must return") as caught:
        resolve_modalities([selector, ["c", "d"]], 4, feature_names=np.array(list("abcd")),
                           X=df)
    assert type(caught.value.__cause__) is error
