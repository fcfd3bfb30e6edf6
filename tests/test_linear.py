"""LinearCCA: closed-form CCA with shared and specific blocks."""

import warnings

import numpy as np
import pytest
from sklearn.cross_decomposition import CCA
from sklearn.exceptions import NotFittedError

from sklearn_dssl import LinearCCA, load, save
from sklearn_dssl.datasets import make_paper_synthetic
from sklearn_dssl.metrics import linear_r2


@pytest.fixture(scope="module")
def data():
    return make_paper_synthetic(n_samples=4000, n_latent=4, n_features=10, random_state=0)


def test_blocks_recover_shared_and_specific_latents(data):
    cca = LinearCCA(modalities=data.modalities, n_components=4).fit(data.data)
    blocks = cca.transform_blocks(data.data)
    z = data.latents
    np.testing.assert_allclose(cca.canonical_correlations_, 1.0, atol=1e-4)
    for m in ("m1", "m2"):
        assert linear_r2(z_learned=blocks["shared"][m], z_true=z["shared"]) > 0.999
        assert linear_r2(z_learned=blocks["specific"][m], z_true=z["shared"]) < 0.01
        assert linear_r2(z_learned=blocks["specific"][m], z_true=z[f"specific_{m}"]) > 0.999
    assert cca.get_feature_names_out()[[0, 4, 8, 18]].tolist() == [
        "shared_m1_0", "shared_m2_0", "specific_m1_0", "specific_m2_0"
    ]
    assert cca.transform(data.data).shape == (4000, 4 + 4 + 10 + 10)


def test_residual_is_orthogonal_to_own_variates(data):
    cca = LinearCCA(modalities=data.modalities, n_components=2).fit(data.data)
    blocks = cca.transform_blocks(data.data)
    cross = blocks["shared"]["m1"].T.astype(float) @ blocks["specific"]["m1"] / 4000
    np.testing.assert_allclose(cross, 0.0, atol=1e-3)


def test_canonical_correlations_match_scikit_learn():
    rng = np.random.default_rng(0)
    shared = rng.normal(size=(500, 2))
    X1 = np.hstack([shared + 0.5 * rng.normal(size=(500, 2)), rng.normal(size=(500, 3))])
    X2 = np.hstack([shared @ [[1.0, 0.5], [0.0, 1.0]] + rng.normal(size=(500, 2)),
                    rng.normal(size=(500, 2))])
    X = np.hstack([X1, X2])
    ours = LinearCCA(modalities=[5, 4], n_components=2, ridge=0.0).fit(X)
    u, v = CCA(n_components=2, max_iter=5000, tol=1e-12, scale=False).fit(X1, X2).transform(X1, X2)
    theirs = [abs(np.corrcoef(u[:, i], v[:, i])[0, 1]) for i in range(2)]
    np.testing.assert_allclose(ours.canonical_correlations_, theirs, rtol=1e-4)
    blocks = ours.transform_blocks(X)
    got = [np.corrcoef(blocks["shared"]["m1"][:, i], blocks["shared"]["m2"][:, i])[0, 1]
           for i in range(2)]
    np.testing.assert_allclose(got, ours.canonical_correlations_, rtol=1e-4)


def test_the_variates_do_not_depend_on_the_columns_units():
    # one column of each modality in units 1e5 times larger: the ridge must
    # not swamp the others, whose signal carries the correlation
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2000, 1))
    X = np.hstack([z + 0.1 * rng.normal(size=(2000, 1)), rng.normal(size=(2000, 2)),
                   z + 0.1 * rng.normal(size=(2000, 1)), rng.normal(size=(2000, 2))])
    scaled = X * np.array([1, 1e5, 1, 1, 1e5, 1])
    plain = LinearCCA([[0, 1, 2], [3, 4, 5]], n_components=1).fit(X)
    units = LinearCCA([[0, 1, 2], [3, 4, 5]], n_components=1).fit(scaled)
    assert units.canonical_correlations_[0] > 0.98
    np.testing.assert_allclose(units.canonical_correlations_, plain.canonical_correlations_,
                               rtol=1e-6)
    # nor their signs: a column in other units, or the columns in another
    # order, give the same variates (over several draws of the data)
    for seed in range(10):
        rng = np.random.default_rng(seed)
        z = rng.normal(size=(600, 3))
        X = np.hstack([z @ rng.normal(size=(3, 6)) + rng.normal(size=(600, 6)),
                       z @ rng.normal(size=(3, 6)) + rng.normal(size=(600, 6))])
        shared = LinearCCA([6, 6], n_components=3, output="shared").fit(X).transform(X)
        order = np.r_[rng.permutation(6), 6 + rng.permutation(6)]
        for other in (X * np.r_[2.0, np.ones(11)], X * np.r_[1e4, np.ones(11)], X[:, order]):
            np.testing.assert_allclose(
                LinearCCA([6, 6], n_components=3, output="shared").fit(other).transform(other),
                shared, rtol=1e-3, atol=1e-3, err_msg=f"seed {seed}")


def test_with_a_ridge_the_reported_correlations_are_the_variates_own():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(500, 2))
    X = np.hstack([z @ rng.normal(size=(2, 4)) + rng.normal(size=(500, 4)),
                   z @ rng.normal(size=(2, 4)) + rng.normal(size=(500, 4))])
    cca = LinearCCA([[0, 1, 2, 3], [4, 5, 6, 7]], n_components=3, ridge=1.0).fit(X)
    blocks = cca.transform_blocks(X)
    measured = [np.corrcoef(blocks["shared"]["m1"][:, j], blocks["shared"]["m2"][:, j])[0, 1]
                for j in range(3)]
    np.testing.assert_allclose(cca.canonical_correlations_, measured, atol=1e-5)


def test_the_ridge_is_added_to_each_covariance_relative_to_its_variances():
    # regularised CCA in closed form: whiten each modality by
    # (C_ii + ridge * diag(C_ii))^-1/2, then the top singular pair of the
    # whitened cross-covariance; the first variate of m1 must be that one
    rng = np.random.default_rng(1)
    z = rng.normal(size=(400, 2))
    mix = rng.normal(size=(4, 4))  # correlated columns, where a ridge matters
    X1 = (z @ rng.normal(size=(2, 4)) + rng.normal(size=(400, 4))) @ mix
    X2 = z @ rng.normal(size=(2, 3)) + rng.normal(size=(400, 3))
    X = np.hstack([X1, 10.0 * X2])

    def first_variate(ridge):
        A, B = X1 - X1.mean(0), X2 - X2.mean(0)
        C11, C22, C12 = A.T @ A, B.T @ B, A.T @ B

        def inverse_sqrt(C):
            values, vectors = np.linalg.eigh(C + ridge * np.diag(np.diag(C)))
            return vectors / np.sqrt(values) @ vectors.T

        W1 = inverse_sqrt(C11)
        U, _, _ = np.linalg.svd(W1 @ C12 @ inverse_sqrt(C22))
        return A @ W1 @ U[:, 0]

    for ridge in (0.0, 1.0):
        ours = LinearCCA([4, 3], n_components=1, ridge=ridge).fit(X)
        variate = ours.transform_blocks(X)["shared"]["m1"][:, 0]
        assert abs(np.corrcoef(variate, first_variate(ridge))[0, 1]) > 1 - 1e-9, ridge
    # and the ridge changes the variate on these data
    assert abs(np.corrcoef(first_variate(0.0), first_variate(1.0))[0, 1]) < 0.999


def test_transform_modality_alone(data):
    cca = LinearCCA(modalities=data.modalities, n_components=4).fit(data.data)
    np.testing.assert_allclose(
        cca.transform_modality(data.data[:, 10:], "m2"),
        cca.transform_blocks(data.data)["shared"]["m2"], rtol=1e-6,
    )


def test_the_fitted_width_holds_until_the_next_fit(data):
    cca = LinearCCA(modalities=data.modalities, n_components=2).fit(data.data)
    expected = cca.transform(data.data)
    cca.set_params(n_components=3)  # as a search does on a fitted estimator
    np.testing.assert_array_equal(cca.transform(data.data), expected)
    assert len(cca.get_feature_names_out()) == expected.shape[1] == 2 + 2 + 10 + 10
    assert cca.transform_modality(data.data[:, :10], "m1").shape == (4000, 2)
    assert cca.fit(data.data).transform(data.data).shape[1] == 3 + 3 + 10 + 10


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(modalities=[10, 10], n_components=11), "n_components=11 exceeds"),
        (dict(modalities=[5, 5, 10], n_components=6), "n_components=6 exceeds the smallest "
         "modality's 5 columns"),
        (dict(modalities=[20], n_components=2), "at least 2 modalities"),
    ],
)
def test_bad_settings(data, params, message):
    with pytest.raises(ValueError, match=message):
        LinearCCA(**params).fit(data.data)


def test_singular_training_data_is_refused_with_its_fix(data):
    X = data.data.copy()
    X[:, 1] = X[:, 0]  # a duplicated column of modality m1
    with pytest.raises(ValueError, match="'m1' are linearly dependent.*set ridge > 0"):
        LinearCCA(modalities=data.modalities, n_components=2, ridge=0.0).fit(X)
    # the default ridge makes the same data usable
    assert np.isfinite(LinearCCA(modalities=data.modalities, n_components=2).fit(X)
                       .transform(X)).all()
    X[:, 10:] = 3.0  # modality m2 constant
    with pytest.raises(ValueError, match="'m2' is constant"):
        LinearCCA(modalities=data.modalities, n_components=2).fit(X)


def test_more_components_than_training_rows_span_are_refused(data):
    # 3 rows span 2 directions of each modality: further variates would be 0
    # on them and noise amplified by 1/sqrt(ridge) on other rows
    with pytest.raises(ValueError, match=r"n_components=3 exceeds the 2 directions in which "
                       r"modality 'm1' varies on the training rows .*use at most 2"):
        LinearCCA(modalities=data.modalities, n_components=3).fit(data.data[:3])
    cca = LinearCCA(modalities=data.modalities, n_components=2).fit(data.data[:3])
    np.testing.assert_allclose(cca.canonical_correlations_, 1.0, atol=1e-4)
    np.testing.assert_allclose(cca.transform_blocks(data.data[:3])["specific"]["m1"], 0.0,
                               atol=1e-3)
    assert np.abs(cca.transform(data.data)).max() < 1e3


def test_integer_input_is_read_in_float64_as_the_model_computes():
    # large integers (counts, identifiers) lose their low digits in float32:
    # LinearCCA reads them in float64, where it computes
    rng = np.random.default_rng(0)
    shared = rng.integers(-50, 50, size=(500, 1))
    X = 10**8 + np.hstack([shared + rng.integers(-5, 5, size=(500, 2)),
                           shared + rng.integers(-5, 5, size=(500, 2))])
    as_float = LinearCCA(n_components=1).fit(X.astype(np.float64))
    for data in (X, X.astype(np.longdouble)):
        cca = LinearCCA(n_components=1).fit(data)
        np.testing.assert_allclose(cca.canonical_correlations_,
                                   as_float.canonical_correlations_, rtol=1e-10)
        np.testing.assert_array_equal(cca.transform(data), as_float.transform(X.astype(float)))
        np.testing.assert_array_equal(cca.transform_modality(data[:, :2], "m1"),
                                      as_float.transform_modality(X[:, :2].astype(float), "m1"))


def _regularised_cca_by_hand(X1, X2, k, ridge):
    """Regularised CCA from the full covariances, as the method is defined:
    whiten ``C_ii + ridge * diag(C_ii)``, take the SVD of the whitened
    cross-covariance, regress each centred modality on its variates."""
    means = [X1.mean(0), X2.mean(0)]
    centred = [X1 - means[0], X2 - means[1]]
    n = len(X1)
    whiteners = []
    for c in centred:
        C = c.T @ c / n
        values, vectors = np.linalg.eigh(C + ridge * np.diag(np.diag(C)))
        whiteners.append(vectors / np.sqrt(values) @ vectors.T)
    U, _, Vt = np.linalg.svd(whiteners[0] @ (centred[0].T @ centred[1] / n) @ whiteners[1])
    weights = [whiteners[0] @ U[:, :k], whiteners[1] @ Vt[:k].T]
    loadings = [np.linalg.lstsq(c @ W, c, rcond=None)[0] for c, W in zip(centred, weights)]
    return means, weights, loadings


@pytest.mark.parametrize("n_rows, widths", [(300, (12, 8)), (40, (90, 60))],
                         ids=["more-rows-than-columns", "more-columns-than-rows"])
def test_blocks_match_regularised_cca_computed_by_hand(n_rows, widths):
    # wide modalities (more columns than rows) are whitened through the rows'
    # Gram matrix: the same blocks as from the full covariances
    rng = np.random.default_rng(0)
    z = rng.normal(size=(n_rows + 50, 3))
    X = np.hstack([z @ rng.normal(size=(3, w)) + rng.normal(size=(n_rows + 50, w))
                   for w in widths])
    train, new = X[:n_rows], X[n_rows:]
    cca = LinearCCA(modalities=list(widths), n_components=3, ridge=0.1).fit(train)
    means, weights, loadings = _regularised_cca_by_hand(
        train[:, :widths[0]], train[:, widths[0]:], 3, 0.1)
    blocks = cca.transform_blocks(new)
    for i, m in enumerate(("m1", "m2")):
        centred = new[:, sum(widths[:i]):sum(widths[:i + 1])] - means[i]
        shared = centred @ weights[i]
        signs = np.sign((shared * blocks["shared"][m]).sum(0))  # SVD's signs are free
        np.testing.assert_allclose(blocks["shared"][m], shared * signs, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(blocks["specific"][m], centred - shared @ loadings[i],
                                   rtol=1e-4, atol=1e-5)


def test_wide_modalities_never_form_a_columns_by_columns_matrix():
    # 3,000 columns of 50 rows: a 3,000 x 3,000 float64 matrix is 72 MB
    import tracemalloc

    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3000 + 10))
    tracemalloc.start()
    try:
        cca = LinearCCA(modalities=[3000, 10], n_components=5).fit(X)
        cca.transform(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20e6
    assert cca.transform(X).shape == (50, 5 + 5 + 3000 + 10)


def test_wide_modalities_need_a_ridge():
    X = np.random.default_rng(0).normal(size=(20, 30 + 5))
    with pytest.raises(ValueError, match="'m1' are linearly dependent.*fewer rows than "
                       "columns.*set ridge > 0"):
        LinearCCA(modalities=[30, 5], n_components=2, ridge=0.0).fit(X)


def test_residual_maps_are_deprecated_and_still_give_the_specific_block(data):
    cca = LinearCCA(modalities=data.modalities, n_components=2).fit(data.data)
    with pytest.warns(FutureWarning, match="residual_maps_ was deprecated.*Use loadings_"):
        maps = cca.residual_maps_
    specific = cca.transform_blocks(data.data[:50])["specific"]
    for (m, cols), R, mean in zip(cca.modalities_.items(), maps, cca.means_):
        np.testing.assert_allclose((data.data[:50, cols] - mean) @ R, specific[m],
                                   rtol=1e-4, atol=1e-5)


def test_pickles_from_before_loadings_unpickle_to_the_same_model(data):
    cca = LinearCCA(modalities=data.modalities, n_components=2).fit(data.data)
    state = cca.__getstate__()
    with pytest.warns(FutureWarning):
        state["residual_maps_"] = cca.residual_maps_
    del state["loadings_"]  # as pickled before 0.2
    restored = LinearCCA.__new__(LinearCCA)
    restored.__setstate__(state)
    assert "residual_maps_" not in vars(restored)  # converted, not kept beside
    np.testing.assert_allclose(restored.loadings_[0], cca.loadings_[0], atol=1e-10)
    np.testing.assert_array_equal(restored.transform(data.data), cca.transform(data.data))


def test_score_is_the_mean_correlation_of_the_paired_variates():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(1000, 3))
    X = np.hstack([z @ rng.normal(size=(3, 8)) + 2 * rng.normal(size=(1000, 8))
                   for _ in range(2)])
    cca = LinearCCA(n_components=3, ridge=0.0).fit(X[:600])
    # on the training rows, the canonical correlations
    assert cca.score(X[:600]) == pytest.approx(cca.canonical_correlations_.mean(), rel=1e-9)
    blocks = cca.transform_blocks(X[600:])
    by_hand = [np.corrcoef(blocks["shared"]["m1"][:, i], blocks["shared"]["m2"][:, i])[0, 1]
               for i in range(3)]
    assert 0.3 < min(by_hand) < max(by_hand) < 0.95  # a spread that a wrong mean would miss
    assert cca.score(X[600:]) == pytest.approx(np.mean(by_hand), abs=1e-5)


def test_score_chooses_the_ridge_of_noisy_wide_modalities_without_labels():
    from sklearn.model_selection import GridSearchCV

    rng = np.random.default_rng(0)
    z = rng.normal(size=(100, 2))
    X = np.hstack([z @ rng.normal(size=(2, 150)) + 3 * rng.normal(size=(100, 150))
                   for _ in range(2)])
    small = LinearCCA(n_components=2, ridge=1e-6).fit(X)
    assert small.score(X) > 0.999  # more columns than rows: the training rows say nothing
    search = GridSearchCV(LinearCCA(n_components=2), {"ridge": [1e-6, 100.0]}).fit(X)
    low, high = search.cv_results_["mean_test_score"]
    assert search.best_params_ == {"ridge": 100.0} and high > low + 0.02


def test_score_needs_two_rows_and_counts_a_constant_pair_as_zero(data):
    cca = LinearCCA(modalities=data.modalities, n_components=2).fit(data.data)
    with pytest.raises(ValueError, match="at least 2 rows.*got 1"):
        cca.score(data.data[:1])
    assert cca.score(np.repeat(data.data[:1], 5, axis=0)) == 0.0


def test_listing_or_showing_a_wide_model_computes_no_residual_maps():
    # dir() (tab completion) and the HTML display list the attributes: the
    # deprecated columns x columns maps are computed only when named
    import tracemalloc

    X = np.random.default_rng(0).normal(size=(50, 4000 + 10))
    cca = LinearCCA(modalities=[4000, 10], n_components=2).fit(X)
    tracemalloc.start()
    try:
        names = dir(cca)
        html = cca._repr_html_()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20e6  # one 4000 x 4000 float64 map is 128 MB
    assert "residual_maps_" not in names and "residual_maps_" not in html
    with pytest.raises(AttributeError, match="no attribute 'residual_mapz_'"):
        cca.residual_mapz_
    with pytest.raises(NotFittedError), pytest.warns(FutureWarning, match="residual_maps_"):
        LinearCCA().residual_maps_
    with pytest.raises(NotFittedError):
        LinearCCA().score(X)


@pytest.mark.parametrize("rows, widths, components, directions, combination", [
    (20, (50, 40), 20, 19, (1, 0, 0)),   # wide: centring leaves 19 directions of 20 rows
    (200, (6, 6), 6, 5, (1, 0, 0)),      # narrow, one column a copy of another
    (60, (4, 5), 4, 3, (0.7, 1.3, -0.1)),  # or a combination of three others
    (5000, (4, 5), 4, 3, (0.7, 1.3, -0.1)),  # rounding grows with the rows
])
def test_directions_rounding_leaves_are_not_counted(rows, widths, components, directions,
                                                    combination):
    # whether rounding leaves a lost direction's eigenvalue just above or
    # below 0 depends on the data: several draws
    for seed in range(20):
        X = np.random.default_rng(seed).normal(size=(rows, sum(widths)))
        X[:, 1] = X[:, [0, 2, 3]] @ combination
        with pytest.raises(ValueError, match=rf"n_components={components} exceeds the "
                           rf"{directions} directions in which modality 'm1' varies"):
            LinearCCA(modalities=list(widths), n_components=components).fit(X)
    with pytest.raises(ValueError, match="'m1' are linearly dependent.*set ridge > 0"):
        LinearCCA(modalities=list(widths), n_components=2, ridge=0.0).fit(X)


def test_score_of_anticorrelated_pairs_is_negative():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(500, 2))
    X = np.hstack([z @ rng.normal(size=(2, 5)) + rng.normal(size=(500, 5)) for _ in range(2)])
    cca = LinearCCA(n_components=2).fit(X)
    flipped = np.hstack([X[:, :5], 2 * X[:, 5:].mean(axis=0) - X[:, 5:]])
    assert cca.score(X) > 0.5
    assert cca.score(flipped) == pytest.approx(-cca.score(X), rel=1e-6)


def test_the_wide_route_drops_the_direction_centring_removes():
    # centred, 20 rows span 19 directions; rounding leaves the 20th Gram
    # eigenvalue just above or below 0, by the draw
    from sklearn_dssl._linear import _scaled_covariance_eigen

    for seed in range(40):
        X = np.random.default_rng(seed).normal(size=(20, 50))
        X -= X.mean(axis=0)
        values, vectors, without_variance = _scaled_covariance_eigen(X, None, np.ones(50))
        assert len(values) == 19 and vectors.shape == (50, 19) and without_variance == 31


def _three_modalities(n_rows=3000, widths=(8, 10, 12), seed=0):
    """Three modalities sharing 2 latents, each with 3 of its own, noiseless."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=(n_rows, 2))
    own = [rng.normal(size=(n_rows, 3)) for _ in widths]
    X = np.hstack([np.hstack([shared, z]) @ rng.normal(size=(5, w)) for z, w in zip(own, widths)])
    return X, shared, own


def test_a_modality_that_shares_nothing_leaves_the_others_pairs_intact():
    X, shared, _ = _three_modalities()
    X[:, 18:] = np.random.default_rng(1).normal(size=(len(X), 12))  # c: noise alone
    cca = LinearCCA(modalities=[8, 10, 12], n_components=2).fit(X)
    blocks = cca.transform_blocks(X)
    for name in ("m1", "m2"):
        assert linear_r2(z_learned=blocks["shared"][name], z_true=shared) > 0.99
    # the noise correlates with nothing but chance (its 12 columns are chosen
    # to correlate on the training rows): each pair with it counts near 0
    assert np.all((1 / 3 < cca.canonical_correlations_) & (cca.canonical_correlations_ < 0.45))


def test_the_joint_directions_of_two_modalities_are_the_singular_vectors_of_cca():
    from sklearn_dssl._linear import _joint_directions

    cross = np.random.default_rng(0).normal(size=(6, 4))
    U, _, Vt = np.linalg.svd(cross)
    D1, D2 = _joint_directions({(0, 1): cross}, [6, 4], 3)
    signs = np.sign(np.sum(D1 * U[:, :3], axis=0))
    np.testing.assert_allclose(D1 * signs, U[:, :3], atol=1e-12)
    np.testing.assert_allclose(D2 * signs, Vt[:3].T, atol=1e-12)


def test_both_routes_give_the_same_whitened_cross_covariances_of_every_pair():
    # a wide modality takes the rows route in every pair it is in
    from sklearn_dssl._linear import (_covariance, _regularised_whitener,
                                      _whitened_cross_covariances)

    rng = np.random.default_rng(0)
    centred = [x - x.mean(axis=0) for x in (rng.normal(size=(200, w)) for w in (5, 7, 9))]
    covariances = [_covariance(c) for c in centred]
    whiteners = [_regularised_whitener(c, C, 0.1, "m") for c, C in zip(centred, covariances)]
    by_columns = _whitened_cross_covariances(centred, covariances, whiteners)
    by_rows = _whitened_cross_covariances(centred, [covariances[0], None, covariances[2]],
                                          whiteners)
    assert sorted(by_columns) == sorted(by_rows) == [(0, 1), (0, 2), (1, 2)]
    for pair in by_columns:
        np.testing.assert_allclose(by_rows[pair], by_columns[pair], atol=1e-12)


@pytest.mark.parametrize("n_modalities", [2, 3])
def test_correlations_of_identical_variates_stay_within_one(n_modalities):
    # rounding had taken the correlations of perfectly correlated variates
    # past 1 (by up to 1.6e-13 at ridge 0)
    rng = np.random.default_rng(0)
    A = rng.normal(size=(200, 5))
    X = np.hstack([A] + [A @ rng.normal(size=(5, 5)) for _ in range(n_modalities - 1)])
    for ridge in (0.0, 1e-6):
        cca = LinearCCA(modalities=[5] * n_modalities, n_components=5, ridge=ridge).fit(X)
        np.testing.assert_allclose(cca.canonical_correlations_, 1.0, atol=1e-6)
        assert cca.canonical_correlations_.max() <= 1.0
        assert cca.score(X) <= 1.0
    # one component of seed 7, whose correlation on X rounds to 1 + 6.7e-16
    rng = np.random.default_rng(7)
    A = rng.normal(size=(200, 5))
    X = np.hstack([A, A @ rng.normal(size=(5, 5))])
    assert LinearCCA(modalities=[5, 5], n_components=1, ridge=0.0).fit(X).score(X) <= 1.0


@pytest.mark.parametrize(
    "widths, rows, constant, expected",
    [
        ((60, 70), 400, 0, 50),  # 50 where the data allow it
        ((8, 12), 100, 0, 8),  # else the narrowest modality's columns
        ((60, 70), 30, 0, 29),  # or the directions the training rows span
        ((10, 12), 100, 3, 7),  # constant columns are not directions
        ((10, 12, 14), 100, 3, 7),  # of any of three modalities
    ],
)
def test_the_default_width_is_50_or_what_the_data_allow(widths, rows, constant, expected):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(rows, 4))
    X = np.hstack([z @ rng.normal(size=(4, w)) + rng.normal(size=(rows, w)) for w in widths])
    X[:, :constant] = 0.1  # a constant that rounding does not centre to 0 exactly
    cca = LinearCCA(modalities=list(widths)).fit(X)
    assert cca.n_components_ == expected
    assert cca.transform(X).shape == (rows, len(widths) * expected + sum(widths))
    assert [w.shape[1] for w in cca.weights_] == [expected] * len(widths)
    if expected == 50:
        return
    # an explicit width beyond the bound is still refused, naming the cause
    with pytest.raises(ValueError, match=rf"n_components={expected + 1} exceeds .*use at most "
                       rf"{expected}"):
        LinearCCA(modalities=list(widths), n_components=expected + 1).fit(X)


@pytest.mark.parametrize("value", [0.1, 1 / 3, 1e6 + 0.1])
def test_a_constant_column_is_no_direction_whatever_its_value(value):
    # the mean of a column of 0.1 rounds to another number than 0.1, and the
    # remainder left by centring must not be whitened into a variate
    rng = np.random.default_rng(0)
    z = rng.normal(size=(100, 2))
    X = np.hstack([z @ rng.normal(size=(2, 2)) + 0.5 * rng.normal(size=(100, 2)),
                   np.full((100, 1), value),
                   z @ rng.normal(size=(2, 3)) + 0.5 * rng.normal(size=(100, 3))])
    cca = LinearCCA(modalities=[3, 3]).fit(X)
    exact = X.copy()
    exact[:, 2] = 0.0  # the same column at a value centring leaves at 0 exactly
    reference = LinearCCA(modalities=[3, 3]).fit(exact)
    assert cca.n_components_ == 2
    np.testing.assert_allclose(cca.canonical_correlations_, reference.canonical_correlations_)
    off = X[:3].copy()
    off[:, 2] += 1e-6  # new rows where the column moves a little move the blocks a little
    np.testing.assert_allclose(cca.transform(off)[:, :4], cca.transform(X[:3])[:, :4],
                               atol=1e-9)
    with pytest.raises(ValueError, match=r"'m1' are linearly dependent .*\(constant"):
        LinearCCA(modalities=[3, 3], ridge=0.0).fit(X)


def test_small_real_variation_is_a_direction_however_far_from_zero_or_close_to_another():
    rng = np.random.default_rng(0)
    s = rng.normal(size=20_000)
    other = np.c_[s + 0.1 * rng.normal(size=20_000), rng.normal(size=20_000)]
    # a column on a large offset (timestamps in microseconds), its variation
    # exactly representable
    offset = np.c_[1.7e15 + np.round(s * 1000) / 4, rng.normal(size=20_000)]
    cca = LinearCCA(modalities=[2, 2], n_components=1).fit(np.c_[offset, other])
    assert cca.canonical_correlations_[0] > 0.99
    # a column that differs from another by a millionth, the difference shared
    first = rng.normal(size=20_000)
    close = np.c_[first, first + 1e-6 * s]
    for ridge in (0.0, 1e-12):
        cca = LinearCCA(modalities=[2, 2], n_components=1, ridge=ridge).fit(np.c_[close, other])
        assert cca.canonical_correlations_[0] > 0.99


def test_n_components_is_read_from_the_fitted_weights(data, tmp_path):
    with pytest.raises(NotFittedError, match="This LinearCCA instance is not fitted yet"):
        LinearCCA().n_components_
    cca = LinearCCA(modalities=data.modalities, n_components=2).fit(data.data)
    cca.set_params(n_components=3)  # the fitted width holds until the next fit
    assert cca.n_components_ == 2
    assert load(save(cca, tmp_path / "cca.zip")).n_components_ == 2
    assert "n_components_" not in vars(cca)  # nothing new for save to store


def test_a_modality_that_shares_nothing_in_a_direction_correlates_zero_there():
    # three modalities: the third shares nothing with the first two, its
    # variate is 0 (a part of norm 0), and its pairs correlate 0, as score
    # counts them, not 0/0
    first = np.array([1.0, -1, 1, -1, 1, -1, 1, -1])
    third = np.array([1.0, 1, -1, -1, 1, 1, -1, -1])
    X = np.column_stack([first, first, third])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cca = LinearCCA(modalities=[1, 1, 1], output="shared").fit(X)
    np.testing.assert_allclose(cca.canonical_correlations_, [1 / 3])
    assert cca.score(X) == pytest.approx(1 / 3)


def test_a_modality_whose_every_direction_the_variates_take_is_warned_of():
    X = np.random.default_rng(0).normal(size=(100, 7))
    with pytest.warns(UserWarning, match=r"modality 'm1' has 3 column\(s\), all of whose "
                                         r"directions the 3 canonical variate\(s\) take, so "
                                         r"that its specific block is zero on every row; set "
                                         r"n_components below 3") as caught:
        cca = LinearCCA(modalities=[3, 4]).fit(X)  # the default width: the narrower's 3
    assert caught[0].filename == __file__  # the caller's line
    np.testing.assert_allclose(cca.transform_blocks(X)["specific"]["m1"], 0, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LinearCCA(modalities=[3, 4], n_components=2).fit(X)
        LinearCCA(modalities=[3, 4], output="shared").fit(X)
        # fewer rows than columns: the variates take the training rows'
        # directions, not every row's
        wide = np.random.default_rng(1).normal(size=(30, 200))
        cca = LinearCCA(modalities=[100, 100]).fit(wide)
    new_rows = np.random.default_rng(2).normal(size=(5, 200))
    assert np.abs(cca.transform_blocks(new_rows)["specific"]["m1"]).max() > 0.1
