"""Metrics against hand-computed cases."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.cluster import KMeans
from sklearn.ensemble import IsolationForest
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold, cross_val_score
from sklearn.multioutput import MultiOutputRegressor
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR

from sklearn_dssl import LinearCCA
from sklearn_dssl.datasets import make_paper_synthetic
from sklearn_dssl.metrics import (
    block_features,
    default_probe,
    leakage_score,
    linear_r2,
    make_leakage_scorer,
    make_probe_scorer,
    mcc,
    nonlinear_r2,
    probe_score,
    retrieval_top_k,
)
from tests.conftest import peak_traced_bytes, small_model


def test_mcc_hand_computed():
    a = np.array([1.0, -1.0, 1.0, -1.0])
    b = np.array([1.0, 1.0, -1.0, -1.0])  # centred and orthogonal to a
    z_true = np.column_stack([a, b])
    z_learned = np.column_stack([3 * b, -(a + b)])
    # |corr|: a-c1 0, a-c2 1/sqrt2, b-c1 1, b-c2 1/sqrt2; best matching a-c2, b-c1
    assert mcc(z_true, z_learned) == pytest.approx((1 + 1 / np.sqrt(2)) / 2)


def test_mcc_matches_each_learned_dimension_to_one_true_dimension():
    """Two learned copies of one true dimension explain one of the two: the
    matching is one-to-one, not each true dimension's best correlation."""
    z = np.random.default_rng(0).normal(size=(2000, 2))
    both_first = np.column_stack([z[:, 0], 2 * z[:, 0]])
    # |corr| of the second true dimension with either copy: near 0
    off = abs(np.corrcoef(z[:, 1], z[:, 0])[0, 1])
    assert mcc(z, both_first) == pytest.approx((1 + off) / 2, abs=1e-9)
    assert mcc(z, both_first) < 0.55


@pytest.mark.parametrize("scale", [1e160, 1e-160])
def test_mcc_at_any_finite_scale(scale):
    z = np.random.default_rng(0).normal(size=(100, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow in the products
        assert mcc(z, scale * z[:, [2, 0, 1]]) == pytest.approx(1.0, abs=1e-12)


def test_mcc_stays_within_one_under_rounding():
    for seed in range(30):
        z = np.random.default_rng(seed).normal(size=(50, 3))
        assert mcc(z, z) <= 1.0 and mcc(z, -3 * z[:, ::-1]) <= 1.0


def test_mcc_of_independent_noise_is_small():
    rng = np.random.default_rng(0)
    assert mcc(rng.normal(size=(5000, 4)), rng.normal(size=(5000, 4))) < 0.05


def test_linear_r2_exact_and_unrelated():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(400, 3))
    assert linear_r2(z_learned=z @ rng.normal(size=(3, 5)), z_true=z) == pytest.approx(1.0)
    assert linear_r2(z_learned=rng.normal(size=(400, 3)), z_true=z) < 0.05
    # half the variance explained: z0 is seen, z1 is not
    assert linear_r2(z_learned=z[:, :1], z_true=z[:, :2]) == pytest.approx(0.5, abs=0.08)
    # 100 unrelated dimensions on 200 rows: a map fitted on the rows it is
    # scored on would explain half the variance (0.52); held-out rows, none
    assert linear_r2(z_learned=rng.normal(size=(200, 100)), z_true=rng.normal(size=(200, 1))) < 0


def test_retrieval_top_k_hand_computed():
    queries = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    candidates = np.array([[1.0, 0.0], [1.0, 0.1], [0.2, 1.0]])
    # cosine rank of the own partner: row 0 first (1 > 0.995 > 0), row 1 second
    # (0.98 for row 2 beats its own 0.0995), row 2 first (0.83 > 0.77 > 0.71)
    assert retrieval_top_k(queries, candidates, k=1) == pytest.approx(2 / 3)
    assert retrieval_top_k(queries, candidates, k=2) == 1.0
    with pytest.raises(ValueError, match="same space"):
        retrieval_top_k(queries, candidates[:, :1])


def test_retrieval_top_k_breaks_ties_at_random():
    # collapsed: every candidate alike, so the partner is anywhere among 4
    collapsed = np.ones((4, 2))
    assert retrieval_top_k(collapsed, collapsed, k=1) == pytest.approx(1 / 4)
    assert retrieval_top_k(collapsed, collapsed, k=3) == pytest.approx(3 / 4)
    # queries 0 and 1 are alike, as are their partners (candidates 0 and 1,
    # of other lengths): each partner ties with the other's, top-1 half the
    # time; query 2 finds its partner alone at the top
    queries = np.array([[1.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    candidates = np.array([[1.0, 0.0], [3.0, 0.0], [-1.0, 0.1]])
    assert retrieval_top_k(queries, candidates) == pytest.approx((0.5 + 0.5 + 1) / 3)
    assert retrieval_top_k(queries, candidates, k=2) == 1.0


def test_retrieval_top_k_of_a_collapsed_representation_is_chance_at_any_size():
    # one candidate row repeated: the product of a query with each copy can
    # round differently at another place in the matrix, and is still a tie
    rng = np.random.default_rng(0)
    n = 2049
    queries = rng.normal(size=(n, 16))
    candidates = np.tile(rng.normal(size=(1, 16)), (n, 1))
    assert retrieval_top_k(queries, candidates) == pytest.approx(1 / n)
    # alike in direction, not in length
    lengths = rng.uniform(0.1, 10, size=(n, 1))
    assert retrieval_top_k(queries, candidates * lengths) == pytest.approx(1 / n)


def test_retrieval_top_k_does_not_tie_by_float32_rounding():
    # cosines 1 - 5e-9 (partner) and 1 - 2e-8: both 1.0 in float32
    queries = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    candidates = np.array([[1.0, 1e-4], [1.0, 2e-4]], dtype=np.float32)
    assert retrieval_top_k(queries, candidates) == 1.0


def test_retrieval_top_k_across_its_blocks_of_1024_queries():
    z = np.random.default_rng(0).normal(size=(1100, 3))
    assert retrieval_top_k(z, z) == 1.0
    # every partner swapped with its neighbour's: never its own row's
    assert retrieval_top_k(z, z[np.arange(1100) ^ 1]) == 0.0


def test_mcc_of_a_constant_dimension_is_zero_without_warnings():
    z = np.random.default_rng(0).normal(size=(50, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mcc(z, np.column_stack([z[:, 0], np.ones(50)])) == pytest.approx(0.5)


def test_linear_r2_refuses_a_held_out_split_of_one_row():
    z = np.random.default_rng(0).normal(size=(4, 2))
    with pytest.raises(ValueError, match="holds out 1 of the 4 rows.*at least 2"):
        linear_r2(z_learned=z, z_true=z)
    assert linear_r2(z_learned=np.vstack([z, z + 1]), z_true=np.vstack([z, z + 1]),
                     test_size=0.25) == (
        pytest.approx(1.0))
    # a larger held-out share leaves the 4 rows 2 to score on
    assert linear_r2(z_learned=z[:, :1], z_true=2 * z[:, :1], test_size=0.5) == pytest.approx(1.0)


@pytest.mark.parametrize("constant", [0.1, 1.0, 7.7])
def test_linear_r2_refuses_a_constant_true_latent(constant):
    # its R^2 is undefined: rounding alone had decided between 0, 1 and -17
    rng = np.random.default_rng(0)
    z = np.column_stack([rng.normal(size=200), np.full(200, constant)])
    with pytest.raises(ValueError, match=r"z_true's column\(s\) \[1\] are constant over the "
                                         "50 held-out rows"):
        linear_r2(z_learned=rng.normal(size=(200, 3)), z_true=z)


@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_linear_r2_at_any_finite_scale(scale):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 3))
    learned = z @ rng.normal(size=(3, 4)) + 0.3 * rng.normal(size=(300, 4))
    expected = linear_r2(z_learned=learned, z_true=z)
    assert 0.5 < expected < 0.99
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or underflow on the way
        assert linear_r2(z_learned=scale * learned, z_true=scale * z) == pytest.approx(
            expected, rel=1e-9)


class _KnownBlocks:
    """A fitted-estimator stand-in whose blocks are given."""

    def __init__(self, blocks):
        self.blocks = blocks

    def transform_blocks(self, X):
        return {b: {m: a[X] for m, a in mods.items()} for b, mods in self.blocks.items()}


def test_probe_and_leakage_read_the_chosen_block():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=600)
    noise = rng.normal(size=(600, 2))
    est = _KnownBlocks(
        {
            "shared": {"m1": np.column_stack([y + 0.1 * noise[:, 0]]), "m2": noise},
            "specific": {"m1": noise, "m2": noise},
        }
    )
    rows = np.arange(600)  # the stand-in indexes its blocks by X
    assert probe_score(est, rows, y, block="shared") > 0.99
    assert probe_score(est, rows, y, block="shared", modalities=["m2"]) < 0.6
    assert leakage_score(est, rows, y, block="specific") < 0.6
    # leakage is the probe's accuracy on a label the block should not carry
    assert leakage_score(est, rows, y, block="shared", modalities=["m1"]) > 0.99
    assert leakage_score(est, rows, y, block="specific") == probe_score(
        est, rows, y, block="specific")
    assert block_features(est, rows, "shared").shape == (600, 3)
    with pytest.raises(ValueError, match="none of"):
        probe_score(est, rows, y, modalities=["m3"])
    with pytest.raises(ValueError, match="modalities is empty"):
        probe_score(est, rows, y, modalities=[])
    with pytest.raises(ValueError, match="'block' parameter of probe_score .* Got 'joint'"):
        probe_score(est, rows, y, block="joint")
    with pytest.raises(ValueError, match="'block' parameter of block_features must be a str among"):
        block_features(est, rows, block="joint")


@pytest.mark.parametrize(
    "y, message",
    [
        (np.zeros(60), r"single class \(0.0\)"),
        (np.linspace(0, 1, 60), "'continuous'.*pass a regressor"),
        (np.r_[np.ones(1), np.zeros(59)], r"single row of class 1.0.*train on one class"),
        (np.zeros((60, 2)), "y has 2 columns, but the probe scores one label"),
        (np.zeros((60, 1)), r"single class \(0.0\)"),  # one column is the one label
        (np.zeros(50), "inconsistent numbers of samples"),
        # scikit-learn sorts the classes (a TypeError) or calls them 'unknown'
        (np.r_[["a", "b"] * 20, [None], ["a", "b"] * 9, ["a"]].astype(object),
         "y lacks the label of 1 row.*first at position 40.*drop those rows"),
        (np.r_[[None], ["a", "b"] * 29, ["a"]].astype(object), "first at position 0"),
        (np.array(["a", "b"] * 29 + [np.nan, "a"], dtype=object), "lacks the label of 1 row"),
        (np.array(["a", "b"] * 29 + [1, "a"], dtype=object), "of type int, str in an object"),
        (np.r_[[0, 1] * 30].astype(object), "of type int in an object array.*y.astype\\(int\\)"),
    ],
)
def test_probe_score_refuses_labels_it_cannot_score(y, message):
    Z = np.random.default_rng(0).normal(size=(60, 2))
    estimator = _KnownBlocks({"shared": {"m1": Z}})
    with pytest.raises(ValueError, match=message):
        probe_score(estimator, np.arange(60), y)


def test_a_training_fold_of_one_class_is_refused_with_the_fix():
    # rows sorted by label, split in order: each fold trains on one class
    Z = np.random.default_rng(0).normal(size=(60, 2))
    y = np.r_[np.zeros(30), np.ones(30)]
    estimator = _KnownBlocks({"shared": {"m1": Z}})
    with pytest.raises(ValueError, match=r"training rows of the probe's split 0 hold a single "
                       r"class \(1.0\), and the probe could not be fitted on them \(This "
                       r"solver needs samples of at least 2 classes.*"
                       r"StratifiedKFold\(shuffle=True\)"):
        probe_score(estimator, np.arange(60), y, cv=KFold(2))
    with pytest.raises(ValueError, match="split 1 hold a single class"):
        probe_score(estimator, np.arange(60), y, cv=[(np.arange(0, 60, 2), np.arange(1, 60, 2)),
                                                     (np.arange(30), np.arange(30, 60))])
    shuffled = KFold(2, shuffle=True, random_state=0)
    assert 0 <= probe_score(estimator, np.arange(60), y, cv=shuffled) <= 1
    # a probe that can be fitted on one class scores, as scikit-learn's would
    from sklearn.dummy import DummyClassifier

    assert probe_score(estimator, np.arange(60), y, cv=KFold(2), probe=DummyClassifier()) == 0.0


def test_a_label_column_is_read_as_the_one_label_without_a_warning():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=60)
    estimator = _KnownBlocks({"shared": {"m1": np.column_stack([y + 0.1 * rng.normal(size=60)])}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        as_column = probe_score(estimator, np.arange(60), pd.DataFrame({"label": y}))
    assert as_column == probe_score(estimator, np.arange(60), y)


def test_a_block_the_model_was_fitted_without_is_named_with_the_fix():
    estimator = _KnownBlocks({"shared": {"m1": np.zeros((10, 1))}})
    with pytest.raises(ValueError, match=r"block='specific' is not one of \['shared'\]: "
                       r"_KnownBlocks was fitted without its specific block; fit it with "
                       r"output='all' for both blocks, or probe block='shared'"):
        block_features(estimator, np.arange(10), block="specific")
    # an estimator that has no such block at all
    from sklearn_dssl import MultimodalContrastive

    X = np.random.default_rng(0).normal(size=(40, 4))
    contrastive = MultimodalContrastive([2, 2], n_components=2, hidden_layer_sizes=(4,),
                                        max_epochs=1, random_state=0).fit(X)
    with pytest.raises(ValueError, match=r"block='specific' is not one of \['shared'\]: "
                       r"MultimodalContrastive has no specific block; probe block='shared'\.$"):
        block_features(contrastive, np.zeros((5, 4)), block="specific")


def test_block_features_puts_the_modalities_in_the_order_asked():
    blocks = {"shared": {"m1": np.ones((5, 1)), "m2": np.full((5, 2), 2.0)}}
    estimator = _KnownBlocks(blocks)
    np.testing.assert_array_equal(block_features(estimator, np.arange(5), modalities=["m2", "m1"]),
                                  np.tile([2.0, 2.0, 1.0], (5, 1)))
    np.testing.assert_array_equal(block_features(estimator, np.arange(5)),
                                  np.tile([1.0, 2.0, 2.0], (5, 1)))


def test_pandas_labels_with_a_missing_value_are_refused_by_name():
    pd = pytest.importorskip("pandas")
    Z = np.random.default_rng(0).normal(size=(60, 2))
    y = pd.Series(["a", "b"] * 30, dtype="string")
    y[7] = pd.NA
    with pytest.raises(ValueError, match="lacks the label of 1 row.*position 7"):
        probe_score(_KnownBlocks({"shared": {"m1": Z}}), np.arange(60), y)


def test_a_scorer_s_splits_that_do_not_fit_the_rows_scored_are_refused():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=120)
    estimator = _KnownBlocks({"shared": {"m1": np.column_stack([y + rng.normal(size=120)])}})
    scorer = make_probe_scorer(cv=list(KFold(3).split(np.arange(120))))
    assert 0.5 < scorer(estimator, np.arange(120), y) <= 1.0  # the rows it was made for
    with pytest.raises(ValueError, match="index rows outside the 40 rows probed.*an int or a "
                       "splitter"):
        scorer(estimator, np.arange(40), y[:40])
    masks = [(np.arange(120) % 2 == 0, np.arange(120) % 2 == 1)]
    assert 0.5 < probe_score(estimator, np.arange(120), y, cv=masks) <= 1.0
    with pytest.raises(ValueError, match="outside the 40 rows"):
        probe_score(estimator, np.arange(40), y[:40], cv=masks)


def test_probe_labels_may_be_tensors_as_the_blocks_may():
    import torch

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=300)
    estimator = _KnownBlocks({"shared": {"m1": np.column_stack([y + 0.3 * rng.normal(size=300)])}})
    expected = probe_score(estimator, np.arange(300), y)
    for labels in (torch.tensor(y), torch.tensor(y, dtype=torch.float32, requires_grad=True),
                   torch.tensor(np.column_stack([y, 1 - y]), dtype=torch.float32)):
        target = 0 if labels.ndim == 2 else None
        assert probe_score(estimator, np.arange(300), labels, target=target) == expected
        assert leakage_score(estimator, np.arange(300), labels, target=target) == expected


def test_a_dataframe_of_labels_is_read_for_its_target_alone():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=300)
    estimator = _KnownBlocks({"shared": {"m1": np.column_stack([y + 0.3 * rng.normal(size=300)])}})
    labels = pd.DataFrame({"when": pd.date_range("2026-01-01", periods=300), "label": y})
    expected = probe_score(estimator, np.arange(300), y)
    assert probe_score(estimator, np.arange(300), labels, target="label") == expected
    assert probe_score(estimator, np.arange(300), labels, target=1) == expected


def test_probe_score_scores_a_rare_class_as_scikit_learn_does():
    # fewer rows of a class than folds: StratifiedKFold warns, every fold
    # still trains on both classes, and the score is a number
    Z = np.random.default_rng(0).normal(size=(60, 2))
    estimator = _KnownBlocks({"shared": {"m1": Z}})
    y = np.r_[np.ones(2), np.zeros(58)]
    with pytest.warns(UserWarning, match="least populated class"):
        assert 0.0 <= probe_score(estimator, np.arange(60), y) <= 1.0


def test_target_picks_the_label_of_a_y_with_several():
    import pandas as pd

    rng = np.random.default_rng(0)
    own, other = rng.integers(0, 2, size=(2, 300))
    est = _KnownBlocks({"specific": {"m1": own[:, None] + 0.1 * rng.normal(size=(300, 1))}})
    rows = np.arange(300)
    y = np.column_stack([own, other])
    frame = pd.DataFrame(y, columns=["own", "other"], index=rows + 1000)
    settings = dict(block="specific", cv=KFold(3))
    kept = probe_score(est, rows, own, **settings)
    leaked = leakage_score(est, rows, other, **settings)
    assert kept > 0.95 and leaked < 0.6
    for target, label in [(0, kept), (-2, kept), (1, leaked), (-1, leaked)]:
        assert probe_score(est, rows, y, target=target, **settings) == label
        assert leakage_score(est, rows, y, target=target, **settings) == label
        assert probe_score(est, rows, frame, target=target, **settings) == label
    assert probe_score(est, rows, frame, target="other", **settings) == leaked
    assert make_probe_scorer(target=0, **settings)(est, rows, y) == kept
    # the leakage scorer is minus the leakage: higher is better, as for every scorer
    assert make_leakage_scorer(target="other", **settings)(est, rows, frame) == -leaked
    assert make_leakage_scorer(target=1, **settings)(est, rows, y) == -leaked
    # a scorer shows the call that made it, also in a search's repr, and pickles
    import pickle

    scorer = make_leakage_scorer(block="specific", modalities="m1", target=1)
    assert repr(scorer) == ("make_leakage_scorer(block='specific', modalities='m1', "
                            "probe=None, cv=3, target=1)")
    assert pickle.loads(pickle.dumps(scorer))(est, rows, y) == scorer(est, rows, y)


@pytest.mark.parametrize("y, target, message", [
    (np.zeros((10, 2)), 2, r"target=2 picks a column of a 2-D y, but y has shape \(10, 2\)"),
    (np.zeros(10), 0, r"target=0 picks a column of a 2-D y, but y has shape \(10,\)"),
    (np.zeros((10, 2)), "own", "target='own' names a column of y, but y has no column"),
    (pd.DataFrame({"a": np.zeros(10), "b": np.ones(10)}), "own",
     r"target='own' names a column of y, but y has no column of that name \(its columns: "
     r"\['a', 'b'\]\)"),
    (None, None, r"the probe needs labels, but y is None; pass them, e.g. search.fit\(X, y\)"),
    (np.zeros((10, 3)), None, "y has 3 columns, but the probe scores one label; pick it with "
                              "target="),
])
def test_a_target_y_lacks_is_refused(y, target, message):
    est = _KnownBlocks({"shared": {"m1": np.zeros((10, 1))}})
    with pytest.raises(ValueError, match=message):
        probe_score(est, np.arange(10), y, target=target)


def test_the_scorers_score_a_refitted_search_as_nested_cross_validation_does():
    # the outer loop of nested cross-validation hands the scorer the search
    data = make_paper_synthetic(n_samples=300, n_latent=3, n_features=5, random_state=0)
    probe = make_probe_scorer(block="shared", target=1)
    inner = GridSearchCV(LinearCCA(modalities=data.modalities),
                         {"n_components": [1, 3]}, scoring=probe, cv=2)
    scores = cross_val_score(inner, data.data, data.target, scoring=probe, cv=KFold(3),
                             error_score="raise")
    assert np.all(scores > 0.6)
    # the same as the scorer of the search's best estimator, in a Pipeline too
    train, test = next(KFold(3).split(data.data))
    search = clone(inner).fit(data.data[train], data.target[train])
    assert scores[0] == probe(search.best_estimator_, data.data[test], data.target[test])
    pipeline = make_pipeline(StandardScaler(), clone(inner)).fit(data.data[train],
                                                                 data.target[train])
    assert np.isfinite(probe(pipeline, data.data[test], data.target[test]))
    with pytest.raises(TypeError, match="or of a search fitted with refit"):
        probe(clone(inner).set_params(refit=False).fit(data.data[train], data.target[train]),
              data.data[test], data.target[test])


def test_leakage_and_probe_scorers_score_one_search_on_a_y_of_several_labels():
    # the specific block of m1 on its own label (column 0) and on the shared
    # one (column 1), both from one search over ortho_weight
    data = make_paper_synthetic(n_samples=300, n_latent=3, n_features=5, random_state=0)
    scoring = {
        "specific": make_probe_scorer(block="specific", modalities="m1", target=0),
        "neg_leakage": make_leakage_scorer(block="specific", modalities="m1", target=1),
    }
    search = GridSearchCV(small_model(), {"ortho_weight": [0.0, 1.0]}, scoring=scoring,
                          refit="specific", cv=2, error_score="raise")
    search.fit(data.data, data.target)
    results = search.cv_results_
    train, test = next(KFold(2).split(data.data))  # the search's folds
    fitted = small_model(ortho_weight=0.0).fit(data.data[train])
    assert results["split0_test_neg_leakage"][0] == pytest.approx(-leakage_score(
        fitted, data.data[test], data.target[test, 1], block="specific", modalities="m1"))
    assert results["split0_test_specific"][0] == pytest.approx(probe_score(
        fitted, data.data[test], data.target[test, 0], block="specific", modalities="m1"))


def test_probe_score_takes_a_regressor_for_a_continuous_target():
    from sklearn.linear_model import Ridge

    Z = np.random.default_rng(0).normal(size=(60, 2))
    estimator = _KnownBlocks({"shared": {"m1": Z}})
    y = Z @ [1.0, 2.0]
    assert probe_score(estimator, np.arange(60), y, probe=Ridge(1e-6)) == pytest.approx(1.0)


def test_probe_scorer_in_grid_search_on_a_bare_estimator():
    data = make_paper_synthetic(n_samples=300, n_latent=3, n_features=5, random_state=0)
    search = GridSearchCV(
        small_model(), {"beta": [0.0, 1.0]}, scoring=make_probe_scorer(block="shared"), cv=2
    ).fit(data.data, data.target[:, 1])
    scores = search.cv_results_["mean_test_score"]
    # the shared block carries Y_c: 0.81 and 0.79; labels shuffled, 0.52 and 0.51
    assert np.all(scores > 0.7), scores


def test_probe_scorer_on_a_pipeline_embeds_through_its_steps():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = make_paper_synthetic(n_samples=300, n_latent=3, n_features=5, random_state=0)
    pipeline = make_pipeline(StandardScaler(), small_model())
    search = GridSearchCV(
        pipeline, {"disentangledssl__beta": [0.0, 1.0]},
        scoring=make_probe_scorer(block="shared"), cv=2, error_score="raise",
    ).fit(data.data, data.target[:, 1])
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    fitted = search.best_estimator_
    expected = block_features(fitted[-1], fitted[0].transform(data.data), "specific", ["m1"])
    np.testing.assert_array_equal(
        block_features(fitted, data.data, "specific", ["m1"]), expected
    )


def test_the_default_probe_reads_a_block_of_any_scale():
    # contrastive losses leave the scale free: a block of standard deviation
    # 1e-3 carries the label as well as the same block at scale 1
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    Z = (y[:, None] - 0.5 + 0.5 * rng.normal(size=(300, 3))) * 1e-3
    small = probe_score(_KnownBlocks({"shared": {"m1": Z}}), np.arange(300), y)
    unit = probe_score(_KnownBlocks({"shared": {"m1": Z * 1e3}}), np.arange(300), y)
    assert small == pytest.approx(unit) and small > 0.85


def test_probe_score_takes_a_generator_of_splits_and_a_modality_name():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    est = _KnownBlocks({"shared": {"m1": y[:, None] + 0.1 * rng.normal(size=(60, 1)),
                                  "m2": rng.normal(size=(60, 1))}})
    splits = list(KFold(3).split(np.arange(60)))
    expected = probe_score(est, np.arange(60), y, cv=splits, modalities=["m1"])
    assert probe_score(est, np.arange(60), y, cv=iter(splits), modalities="m1") == expected
    assert expected > 0.95
    # a search calls its scorer once per fold and setting: a scorer built with
    # an iterator of folds serves every call
    scorer = make_probe_scorer(cv=iter(splits), modalities="m1")
    assert [scorer(est, np.arange(60), y) for _ in range(3)] == [expected] * 3


def test_probe_score_and_its_scorer_use_the_modalities_and_folds_given():
    """On a noise block, the folds decide the score: probe_score and the scorer
    give cross_val_score's figure for the folds passed, on the modality asked for."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 120)
    noise = rng.normal(size=(120, 2))
    est = _KnownBlocks({"shared": {"m1": y[:, None] + 0.1 * rng.normal(size=(120, 1)),
                                  "m2": noise}})
    rows = np.arange(120)
    # by default, 3 folds (stratified, as cross_val_score's for a classifier)
    assert probe_score(est, rows, y, modalities="m2") == pytest.approx(
        cross_val_score(default_probe(), noise, y, cv=3).mean())
    for folds in (KFold(2), KFold(4)):
        expected = cross_val_score(default_probe(), noise, y, cv=folds).mean()
        assert probe_score(est, rows, y, modalities="m2", cv=folds) == pytest.approx(expected)
        scorer = make_probe_scorer(modalities=["m2"], cv=folds)
        assert scorer(est, rows, y) == pytest.approx(expected)
    assert expected < 0.7  # a noise block, far from the m1 block's score
    assert probe_score(est, rows, y, modalities="m1") > 0.95


@pytest.mark.parametrize("make_scorer", [make_probe_scorer, make_leakage_scorer])
@pytest.mark.parametrize("settings, message", [
    ({"block": "specfic"}, "'block' parameter"),
    ({"target": 1.5}, "'target' parameter"),
    ({"cv": -3}, "'cv' parameter"),
    ({"modalities": 1.0}, "'modalities' parameter"),
    ({"probe": "logistic"}, "'probe' parameter"),
    ({"probe": LogisticRegression(C=-1.0)},
     r"probe=LogisticRegression\(C=-1.0\): The 'C' parameter of LogisticRegression"),
    ({"probe": make_pipeline(StandardScaler(), LogisticRegression(max_iter=-5))},
     "The 'max_iter' parameter of LogisticRegression"),
])
def test_a_probe_scorer_with_a_bad_setting_is_refused_when_built(make_scorer, settings, message):
    # inside a search it would score every candidate NaN and pick one anyway
    with pytest.raises(ValueError, match=message):
        make_scorer(**settings)


def test_probe_score_checks_the_probe_and_the_estimators_inside_it():
    X = np.random.default_rng(0).normal(size=(60, 4))
    y = np.arange(60) % 2
    cca = LinearCCA([2, 2], n_components=1).fit(X)
    for probe in (make_pipeline(StandardScaler(), LogisticRegression(class_weight="nope")),
                  LogisticRegression(tol=-1.0)):
        with pytest.raises(ValueError, match="parameter of LogisticRegression must be"):
            probe_score(cca, X, y, probe=probe)
    # a probe of the user's own, without scikit-learn's parameter constraints
    from sklearn.base import BaseEstimator, ClassifierMixin

    class OwnProbe(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            self.model_ = LogisticRegression().fit(X, y)
            self.classes_ = self.model_.classes_
            return self

        def predict(self, X):
            return self.model_.predict(X)

    assert 0 <= probe_score(cca, X, y, probe=OwnProbe()) <= 1
    assert make_probe_scorer(probe=make_pipeline(StandardScaler(), OwnProbe()))(cca, X, y) >= 0
    # a bad setting is a TypeError too, as scikit-learn's InvalidParameterError is
    with pytest.raises(TypeError, match="'C' parameter of LogisticRegression"):
        probe_score(cca, X, y, probe=LogisticRegression(C=-1.0))
    with pytest.raises(TypeError, match=r"probe=LogisticRegression is a class; pass an "
                       r"instance, e.g. probe=LogisticRegression\(\)"):
        probe_score(cca, X, y, probe=LogisticRegression)
    with pytest.raises(TypeError, match="estimator=LinearCCA is a class; pass a fitted"):
        block_features(LinearCCA, X)
    with pytest.raises(ValueError, match="'modalities' parameter of block_features"):
        block_features(cca, X, modalities=1.0)
    with pytest.raises(ValueError, match=r"modalities \[True\] are none of"):
        block_features(cca, X, modalities=True)  # no position


def test_an_estimator_without_blocks_is_refused_with_the_estimators_that_have_them():
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline

    X = np.random.default_rng(0).normal(size=(30, 4))
    y = np.arange(30) % 2
    for estimator in (PCA(2).fit(X), make_pipeline(PCA(2)).fit(X)):
        with pytest.raises(TypeError, match="PCA has no transform_blocks.*DisentangledSSL"):
            probe_score(estimator, X, y)
    # a Pipeline of the package's estimator alone embeds with it
    from sklearn_dssl import LinearCCA

    alone = make_pipeline(LinearCCA([2, 2], n_components=1)).fit(X)
    assert probe_score(alone, X, y) == probe_score(alone[-1], X, y)


@pytest.mark.parametrize("scale", [1e160, 1e-160, 1e-200])
def test_retrieval_top_k_at_any_finite_scale(scale):
    # the norms of such rows overflow or underflow in float64
    z = np.random.default_rng(0).normal(size=(80, 5))
    assert retrieval_top_k(scale * z, z) == 1.0
    assert retrieval_top_k(scale * z, scale * z) == 1.0
    # zero rows stay zero: tied with every other zero row
    assert retrieval_top_k(np.zeros((4, 2)), np.zeros((4, 2)), k=2) == pytest.approx(0.5)


def test_retrieval_holds_a_bounded_block_of_similarities():
    # 12,000 rows: the whole similarity matrix is 1.15 GB, a block of 1,024
    # queries 98 MB; the metric holds about 32 MB of it at a time
    rng = np.random.default_rng(0)
    z = rng.normal(size=(12000, 8))
    peak, accuracy = peak_traced_bytes(lambda: retrieval_top_k(z, z + 0.01 * rng.normal(size=z.shape)))
    assert accuracy > 0.95
    assert peak < 80 * 2**20


def test_mcc_needs_memory_for_the_correlations_it_matches():
    # 200,000 rows of 20 components: the inputs' float64 copies (64 MB) and
    # no stacked copy of both beside them
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200_000, 20)).astype(np.float32)
    peak, value = peak_traced_bytes(lambda: mcc(z, 2 * z[:, ::-1]))
    assert value == pytest.approx(1.0)
    assert peak < 100 * 2**20


@pytest.mark.parametrize("name", ["DisentangledSSL", "MultimodalContrastive", "JointOptSSL",
                                  "LinearCCA"])
def test_the_probe_metrics_on_an_unfitted_estimator_say_so(name):
    from sklearn.exceptions import NotFittedError

    from sklearn_dssl import DisentangledSSL, JointOptSSL, LinearCCA, MultimodalContrastive

    estimator = {"DisentangledSSL": DisentangledSSL, "MultimodalContrastive":
                 MultimodalContrastive, "JointOptSSL": JointOptSSL, "LinearCCA": LinearCCA}[name]()
    X, y = np.zeros((10, 4)), np.arange(10) % 2
    with pytest.raises(NotFittedError):
        block_features(estimator, X)
    with pytest.raises(NotFittedError):
        leakage_score(estimator, X, y)


def test_the_identifiability_metrics_name_the_argument_they_cannot_read():
    dates = np.arange(20).astype("datetime64[D]").reshape(10, 2)
    z = np.random.default_rng(0).normal(size=(10, 2))
    for metric, names in [(mcc, ("z_true", "z_learned")), (linear_r2, ("z_learned", "z_true")),
                          (retrieval_top_k, ("queries", "candidates"))]:
        with pytest.raises(ValueError, match=rf"{names[0]} holds datetime64\[D\] values"):
            metric(**{names[0]: dates, names[1]: z})
        with pytest.raises(ValueError, match=rf"{names[1]} holds datetime64\[D\] values"):
            metric(**{names[0]: z, names[1]: dates})
        with pytest.raises(ValueError, match=f"Input {names[0]} contains NaN"):
            metric(**{names[0]: np.full((10, 2), np.nan), names[1]: z})


def test_linear_r2_scales_each_column_on_its_own():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 2))
    learned = z @ rng.normal(size=(2, 3))
    assert linear_r2(z_learned=learned * [1e200, 1e-200, 1.0],
                     z_true=z * [1e200, 1e-200]) == pytest.approx(1.0)


def test_linear_r2_judges_constancy_on_the_rows_it_scores():
    # a latent constant on the held-out rows only: R^2 undefined there
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 2))
    _, held_out = train_test_split(np.arange(200), test_size=0.25, random_state=0)
    z[held_out, 1] = 0.5
    with pytest.raises(ValueError, match=r"\[1\] are constant over the 50 held-out rows"):
        linear_r2(z_learned=rng.normal(size=(200, 3)), z_true=z)


def test_linear_r2_warns_that_its_positional_order_will_follow_mcc():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 2))
    learned = np.column_stack([z, rng.normal(size=200)])
    with pytest.warns(FutureWarning, match=r"linear_r2\(z_learned, z_true\) takes its arrays "
                      r"in the opposite order to mcc.*0\.4.*by keyword"):
        positional = linear_r2(learned, z)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert linear_r2(z_learned=learned, z_true=z) == positional == pytest.approx(1.0)
        # the order matters: z does not predict the noise column
        assert linear_r2(z_learned=z, z_true=learned) < 0.8


class _RecordingGroupKFold:
    """GroupKFold(3) that records the groups each split is made from."""

    def __init__(self):
        from sklearn.model_selection import GroupKFold

        self.folds, self.seen = GroupKFold(3), []

    def split(self, X, y=None, groups=None):
        self.seen.append(None if groups is None else np.asarray(groups).copy())
        return self.folds.split(X, y, groups)

    def get_n_splits(self, X=None, y=None, groups=None):
        return 3


@pytest.fixture(scope="module")
def grouped():
    from sklearn_dssl import LinearCCA

    data = make_paper_synthetic(n_samples=240, n_latent=2, n_features=4, random_state=0)
    groups = np.repeat(np.arange(12), 20)
    model = LinearCCA(modalities=data.modalities, n_components=2).fit(data.data)
    return data, groups, model


def test_probe_score_splits_by_groups(grouped):
    from sklearn.model_selection import GroupKFold

    data, groups, model = grouped
    y = data.target[:, 1]
    Z = block_features(model, data.data)
    expected = cross_val_score(default_probe(), Z, y, cv=GroupKFold(3), groups=groups).mean()
    assert probe_score(model, data.data, y, cv=GroupKFold(3), groups=groups) == expected
    assert leakage_score(model, data.data, y, cv=GroupKFold(3), groups=groups) == expected
    with pytest.raises(ValueError, match=r"cv=GroupKFold\(n_splits=3.*splits the rows by "
                       r"group, but no groups were given; pass groups=.*"
                       r"set_score_request\(groups=True\)"):
        probe_score(model, data.data, y, cv=GroupKFold(3))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        probe_score(model, data.data, y, cv=GroupKFold(3), groups=groups[:-1])


def test_scorers_take_a_search_s_groups_when_they_request_them(grouped):
    import sklearn
    from sklearn.model_selection import GroupKFold

    from sklearn_dssl import LinearCCA

    data, groups, _ = grouped
    with pytest.raises(RuntimeError, match="needs metadata routing"):
        make_probe_scorer().set_score_request(groups=True)
    with sklearn.config_context(enable_metadata_routing=True):
        inner = _RecordingGroupKFold()
        scoring = {"probe": make_probe_scorer(cv=inner, target=1).set_score_request(groups=True),
                   "leak": make_leakage_scorer(cv=inner, target=0).set_score_request(groups=True)}
        search = GridSearchCV(LinearCCA(modalities=data.modalities), {"n_components": [1, 2]},
                              cv=GroupKFold(4), scoring=scoring, refit="probe")
        search.fit(data.data, data.target, groups=groups)
        # every probe saw the groups of its held-out fold: 3 of the 12
        assert len(inner.seen) == 2 * 2 * 4
        assert all(seen is not None and len(np.unique(seen)) == 3 for seen in inner.seen)
        # two components hold the 2-d shared latent, one does not
        assert search.best_params_ == {"n_components": 2}
        assert search.cv_results_["mean_test_probe"][1] > 0.8
        # not requested: the scorer gets none, and a group cv cannot split
        unrequested = GridSearchCV(LinearCCA(modalities=data.modalities), {"n_components": [2]},
                                   cv=GroupKFold(4), error_score="raise",
                                   scoring=make_probe_scorer(cv=GroupKFold(3), target=1))
        with pytest.raises(ValueError, match="splits the rows by group, but no groups"):
            unrequested.fit(data.data, data.target, groups=groups)
        # unrequested, with a probe cv that needs no groups: the search runs
        GridSearchCV(LinearCCA(modalities=data.modalities), {"n_components": [2]},
                     cv=GroupKFold(4), error_score="raise",
                     scoring=make_probe_scorer(target=1)).fit(data.data, data.target,
                                                              groups=groups)
        with pytest.raises(TypeError, match="give True, False or the metadata's name"):
            make_probe_scorer().set_score_request(groups=None)
    with pytest.raises(TypeError, match=r"takes groups as metadata, not \['sample_weight'\]"):
        make_probe_scorer(target=1)(search.best_estimator_, data.data, data.target,
                                    sample_weight=np.ones(240))


def test_linear_r2_averages_the_true_dimensions_uniformly_whatever_their_spread():
    """ALGORITHM.md s.7: r2_score *averaged over dimensions*. The learned
    representation predicts one true dimension exactly (R^2 = 1) and nothing of
    a second, independent one (R^2 ~ 0): the mean is 0.5. linear_r2 divides each
    column by its peak, so a variance-weighted mean differs from it only between
    columns of different shape: here a bounded +-1 column (variance/peak^2 = 1)
    and a Gaussian one with a single 20-sigma value (variance/peak^2 ~ 1/400),
    where variance weighting gives ~1 instead."""
    rng = np.random.default_rng(0)
    signs = rng.choice([-1.0, 1.0], size=400)
    other = rng.normal(size=400)
    other[7] = 20.0  # the column's peak is far beyond its spread
    for z_true in (np.column_stack([signs, other]), np.column_stack([other, signs])):
        r2 = linear_r2(z_learned=signs[:, None], z_true=z_true, random_state=0)
        assert abs(r2 - 0.5) < 0.05, r2


def _leaky_relu_mixing(z, rng):
    """Two random leaky-ReLU layers of ``z``: invertible and far from linear."""
    for _ in range(2):
        z = z @ rng.normal(size=(z.shape[1], z.shape[1]))
        z = np.where(z > 0, z, 0.2 * z)
    return z


def test_nonlinear_r2_recovers_what_a_linear_map_misses():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2000, 3))
    bent = np.tanh(2 * z) + 0.1 * z  # invertible, one dimension at a time
    assert linear_r2(z_learned=bent, z_true=z) < 0.9
    assert nonlinear_r2(z, bent) > 0.99
    mixed = _leaky_relu_mixing(z, rng)
    linear, nonlinear = linear_r2(z_learned=mixed, z_true=z), nonlinear_r2(z, mixed)
    assert nonlinear > 0.8 and nonlinear > linear + 0.2, (linear, nonlinear)
    # unrelated to z: nothing to recover
    assert abs(nonlinear_r2(z, rng.normal(size=(2000, 6)))) < 0.02
    # z's first column alone, out of three: about a third
    assert nonlinear_r2(z, np.tanh(z[:, :1])) == pytest.approx(1 / 3, abs=0.05)


def test_nonlinear_r2_finds_what_a_linear_map_finds_in_many_dimensions():
    # 40 noisy linear views of 5 latents: an RBF kernel of few landmarks
    # alone scored 0.02 under the linear map's R^2 here
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2000, 5))
    learned = z @ rng.normal(size=(5, 40)) + rng.normal(size=(2000, 40))
    linear = linear_r2(z_learned=learned, z_true=z)
    assert linear > 0.95
    assert nonlinear_r2(z, learned) == pytest.approx(linear, abs=0.005)


def test_nonlinear_r2_with_a_linear_regressor_is_linear_r2():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(300, 2))
    learned = _leaky_relu_mixing(z, rng) + 0.1 * rng.normal(size=(300, 2))
    regressor = LinearRegression()
    assert nonlinear_r2(z, learned, regressor=regressor, random_state=3) == pytest.approx(
        linear_r2(z_learned=learned, z_true=z, random_state=3), rel=1e-9)
    assert not hasattr(regressor, "coef_")  # a clone was fitted


@pytest.mark.parametrize("scale", [1e200, 1e-200, 1e6])
def test_nonlinear_r2_at_any_finite_scale(scale):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(500, 2))
    learned = _leaky_relu_mixing(z, rng)
    expected = nonlinear_r2(z, learned)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or underflow on the way
        assert nonlinear_r2(scale * z, learned) == pytest.approx(expected, rel=1e-6)
        assert nonlinear_r2(z, scale * learned) == pytest.approx(expected, rel=1e-6)
        # each true column on its own scale
        assert nonlinear_r2(z * [1.0, scale], learned) == pytest.approx(expected, rel=1e-6)
        # so with a regressor of the user's
        assert nonlinear_r2(scale * z, learned, regressor=Ridge()) == pytest.approx(
            nonlinear_r2(z, learned, regressor=Ridge()), rel=1e-6)


def test_nonlinear_r2_keeps_collapsed_dimensions_out_of_its_kernel():
    # dimensions of noise 1e-9 beside a representation, as dimensional
    # collapse leaves them: standardised, ten had taken the score from 0.998
    # down to the linear map's 0.87
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2000, 3))
    bent = np.tanh(2 * z) + 0.1 * z
    collapsed = np.hstack([bent, 1e-9 * rng.normal(size=(2000, 10))])
    assert nonlinear_r2(z, collapsed) == pytest.approx(nonlinear_r2(z, bent), abs=0.002)


def test_nonlinear_r2_is_seeded():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(600, 2))
    learned = _leaky_relu_mixing(z, rng)
    assert nonlinear_r2(z, learned, random_state=5) == nonlinear_r2(z, learned, random_state=5)
    assert nonlinear_r2(z, learned, random_state=5) != nonlinear_r2(z, learned, random_state=6)


def test_nonlinear_r2_refuses_bad_input_by_name():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(100, 2))
    with pytest.raises(TypeError, match=r"regressor=MLPRegressor is a class; pass an "
                                        r"instance, e.g. regressor=MLPRegressor\(\)"):
        nonlinear_r2(z, z, regressor=MLPRegressor)
    with pytest.raises(ValueError, match=r"regressor=MLPRegressor\(alpha=-1\.0\).*alpha"):
        nonlinear_r2(z, z, regressor=MLPRegressor(alpha=-1.0))
    with pytest.raises(ValueError, match="regressor"):
        nonlinear_r2(z, z, regressor="kernel ridge")
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        nonlinear_r2(z, z[:50])
    with pytest.raises(ValueError, match="holds out 1 of the 4 rows.*at least 2"):
        nonlinear_r2(z[:4], z[:4])
    with pytest.raises(ValueError, match=r"z_true's column\(s\) \[1\] are constant"):
        nonlinear_r2(np.column_stack([z[:, 0], np.ones(100)]), z)
    with pytest.raises(ValueError, match="z_learned contains NaN"):
        nonlinear_r2(z, np.where(z > 1, np.nan, z))


def test_metrics_read_modalities_by_name_or_position_as_transform_modality_does():
    data = make_paper_synthetic(n_samples=200, n_latent=2, n_features=4, random_state=0)
    cca = LinearCCA(modalities={0: 4, 1: 4}, n_components=2).fit(data.data)
    expected = cca.transform_modality(data.data[:, :4], "0")
    for by in (["0"], "0", [0], 0, [np.int64(0)]):
        np.testing.assert_array_equal(block_features(cca, data.data, modalities=by), expected)
    np.testing.assert_array_equal(
        block_features(cca, data.data, block="specific", modalities=[1, "0"]),
        np.hstack([cca.transform_modality(data.data[:, 4:], 1, block="specific"),
                   cca.transform_modality(data.data[:, :4], 0, block="specific")]))
    y = data.target[:, 1]
    assert probe_score(cca, data.data, y, modalities=[1]) == probe_score(
        cca, data.data, y, modalities=["1"])
    with pytest.raises(ValueError, match=r"modalities=5 is out of range; there are 2 "
                                         r"modalities, \['0', '1'\]\."):
        block_features(cca, data.data, modalities=[5])
    with pytest.raises(ValueError, match=r"modalities \['m3'\] are none of \['0', '1'\]\.$"):
        block_features(cca, data.data, modalities=["m3"])
    swapped = LinearCCA(modalities={1: 4, 0: 4}, n_components=2).fit(data.data)
    with pytest.raises(ValueError, match=r"modalities=0 is ambiguous: the modality at "
                                         r"position 0 is '1', but another is named '0'; "
                                         r"pass the name as a string, modalities='1'"):
        block_features(swapped, data.data, modalities=[0])
    with pytest.raises(ValueError, match="ambiguous"):
        swapped.transform_modality(data.data[:, :4], 0)  # as the metrics read it


def test_probe_groups_are_one_label_per_row():
    data = make_paper_synthetic(n_samples=300, n_latent=2, n_features=4, random_state=0)
    cca = LinearCCA(modalities=data.modalities, n_components=2).fit(data.data)
    groups = np.arange(300) % 6
    expected = probe_score(cca, data.data, data.target[:, 1], cv=GroupKFold(3), groups=groups)
    assert probe_score(cca, data.data, data.target[:, 1], cv=GroupKFold(3),
                       groups=groups[:, None]) == expected
    assert probe_score(cca, data.data, data.target[:, 1], cv=GroupKFold(3),
                       groups=[f"donor {g}" for g in groups]) == expected
    with pytest.raises(ValueError, match=r"groups has shape \(300, 2\); pass one group label "
                                         "per row"):
        probe_score(cca, data.data, data.target[:, 1], cv=GroupKFold(3),
                    groups=np.c_[groups, groups])
    for bad, message in [
            (np.array(["a", "b", None] * 100, dtype=object),
             "groups lacks the label of 100 row.*position 2"),
            (np.array(["a", 1, "b"] * 100, dtype=object),
             "groups holds labels of type int, str.*a splitter cannot sort.*groups.astype")]:
        with pytest.raises(ValueError, match=message):
            probe_score(cca, data.data, data.target[:, 1], cv=GroupKFold(3), groups=bad)


@pytest.mark.parametrize("cv, message", [
    ([], "cv is an empty list of splits"),
    ([(np.arange(60.0), np.arange(60.0, 120))],
     "split 0 gives its training rows as an array of float64 of shape \\(60,\\)"),
    ([(np.arange(60), np.arange(60, 120)), (np.arange(60), np.arange(0))],
     "split 1 gives its test rows as an array of int64 of shape \\(0,\\)"),
    ([(np.arange(60), np.zeros(120, bool))], "split 0 gives its test rows.*boolean mask"),
    ([(np.arange(60), np.arange(60, 120), np.arange(9))], "split 0 is a tuple of 3 items, "
                                                          "not a \\(train, test\\) pair"),
    ([1, 2], "split 0 is 1, not a \\(train, test\\) pair"),
])
def test_a_list_of_splits_that_are_no_pairs_of_row_indices_is_refused(cv, message):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=120)
    estimator = _KnownBlocks({"shared": {"m1": np.column_stack([y + rng.normal(size=120)])}})
    with pytest.raises(ValueError, match=message):
        probe_score(estimator, np.arange(120), y, cv=cv)


@pytest.mark.parametrize("probe, kind", [(KMeans(2), "a clusterer"),
                                         (IsolationForest(), "an outlier detector"),
                                         (GaussianMixture(2), "a density estimator")])
def test_a_probe_that_gives_no_accuracy_is_refused(probe, kind):
    # KMeans' score, its negative inertia, had come back as the probe's (-221)
    data = make_paper_synthetic(n_samples=200, n_latent=2, n_features=4, random_state=0)
    cca = LinearCCA(modalities=data.modalities, n_components=2).fit(data.data)
    with pytest.raises(TypeError, match=f"is {kind}, not a classifier or a regressor; "
                                        "pass one"):
        probe_score(cca, data.data, data.target[:, 1], probe=probe)
    with pytest.raises(TypeError, match=kind):
        make_leakage_scorer(probe=probe)
    z = np.random.default_rng(0).normal(size=(100, 2))
    with pytest.raises(TypeError, match=f"regressor=.* is {kind}, not a regressor; pass a "
                                        "regressor"):
        nonlinear_r2(z, z, regressor=probe)


def test_nonlinear_r2_takes_a_regressor_of_one_column_and_refuses_misshapen_predictions():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(300, 2))
    bent = np.tanh(2 * z)
    with pytest.raises(TypeError, match="is a classifier, not a regressor"):
        nonlinear_r2(z, bent, regressor=LogisticRegression())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DataConversionWarning: one column is 1-D
        assert nonlinear_r2(z[:, :1], bent, regressor=SVR()) > 0.7
    with pytest.raises(ValueError, match=r"SVR failed on the 2 columns of z_true \(y should "
                                         r"be a 1d array.*MultiOutputRegressor"):
        nonlinear_r2(z, bent, regressor=SVR())  # one output only
    assert nonlinear_r2(z, bent, regressor=MultiOutputRegressor(SVR())) > 0.7
    with pytest.raises(ValueError, match=r"predicted an array of shape \(75, 1\) for 75 rows "
                                         r"of 2 true column\(s\)"):
        nonlinear_r2(z, bent, regressor=_FirstColumnRegressor())


class _FirstColumnRegressor(RegressorMixin, BaseEstimator):
    """Predicts the first column of its target alone, as a 2-D array."""

    def fit(self, X, y):
        self.mean_ = np.mean(y, axis=0)[:1]
        return self

    def predict(self, X):
        return np.tile(self.mean_, (len(X), 1))


def test_retrieval_top_k_warns_when_every_partner_is_in_the_top_k():
    z = np.random.default_rng(0).normal(size=(5, 2))
    with pytest.warns(UndefinedMetricWarning, match="k=5 is at least the number of "
                                                    "candidates") as record:
        assert retrieval_top_k(z, z[::-1], k=5) == 1.0
    assert record[0].filename == __file__  # the caller's line
    with pytest.warns(UndefinedMetricWarning, match="k=1180591620717411303424 is at least"):
        assert retrieval_top_k(z, z[::-1], k=2**70) == 1.0  # beyond numpy's integers
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        retrieval_top_k(z, z[::-1], k=4)
