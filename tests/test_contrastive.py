"""MultimodalContrastive, the ICA option of the neural estimators, and the causal generator."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.decomposition import FastICA
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_dssl import DisentangledSSL, MultimodalContrastive
from sklearn_dssl._losses import ContrastiveObjective
from sklearn_dssl.datasets import make_latent_partial_causal
from sklearn_dssl.metrics import linear_r2, mcc
from tests.conftest import small_model


def small_contrastive(**params):
    defaults = dict(
        n_components=3,
        hidden_layer_sizes=(8,),
        max_epochs=2,
        batch_size=16,
        random_state=0,
    )
    defaults.update(params)
    return MultimodalContrastive(**defaults)


@pytest.fixture(scope="module")
def ica_data():
    return make_latent_partial_causal(
        4000, setting="ica", n_coupled=3, n_specific=1, n_layers=2, random_state=0
    )


# ---------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("setting", ["sphere", "box", "ica"])
def test_generator_shapes_and_modalities(setting):
    data = make_latent_partial_causal(
        300, setting=setting, n_coupled=3, n_specific=2, random_state=0
    )
    assert data.data.shape == (300, 10)
    assert data.modalities == {"m1": 5, "m2": 5}
    for key in ["coupled_m1", "coupled_m2"]:
        assert data.latents[key].shape == (300, 3)
    for key in ["specific_m1", "specific_m2"]:
        assert data.latents[key].shape == (300, 2)
    assert data.setting == setting
    assert np.isfinite(data.data).all()


def test_generator_is_seeded():
    a = make_latent_partial_causal(50, random_state=3)
    b = make_latent_partial_causal(50, random_state=3)
    np.testing.assert_array_equal(a.data, b.data)


def test_sphere_setting_couples_unit_vectors_with_the_given_concentration():
    data = make_latent_partial_causal(
        20000, setting="sphere", n_coupled=3, concentration=10.0, random_state=0
    )
    z1, z2 = data.latents["coupled_m1"], data.latents["coupled_m2"]
    np.testing.assert_allclose(np.linalg.norm(z1, axis=1), 1.0, rtol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(z2, axis=1), 1.0, rtol=1e-9)
    # For a vMF on S^2, E[mu . x] = coth(kappa) - 1 / kappa.
    expected = 1.0 / np.tanh(10.0) - 1.0 / 10.0
    assert np.mean(np.sum(z1 * z2, axis=1)) == pytest.approx(expected, abs=0.005)
    # z1 is uniform: its mean is near the origin.
    assert np.abs(z1.mean(axis=0)).max() < 0.03


def test_box_setting_keeps_the_coupled_latents_in_the_box():
    data = make_latent_partial_causal(
        20000, setting="box", n_coupled=3, noise_scale=0.1, random_state=0
    )
    z1, z2 = data.latents["coupled_m1"], data.latents["coupled_m2"]
    assert z1.min() >= 0 and z1.max() <= 1 and z2.min() >= 0 and z2.max() <= 1
    # Laplace(0, b) has mean absolute deviation b; truncation only shrinks it.
    deviation = np.abs(z2 - z1).mean()
    assert 0.08 < deviation <= 0.1


def test_box_setting_draws_wide_noise_without_endless_rejection():
    from sklearn_dssl.datasets._causal import _coupled_in_box

    # Laplace noise 1e6 wide is almost never in the box: drawn by inverse
    # transform, the truncated density is nearly flat, whatever z1 is
    data = make_latent_partial_causal(
        4000, setting="box", n_coupled=2, noise_scale=1e6, random_state=0
    )
    z1, z2 = data.latents["coupled_m1"], data.latents["coupled_m2"]
    assert z2.min() >= 0 and z2.max() <= 1 and abs(z2.mean() - 0.5) < 0.02
    assert abs(np.corrcoef(z1.ravel(), z2.ravel())[0, 1]) < 0.05
    # beyond 1e6 the Laplace CDF cannot tell the box's ends apart, and
    # every draw came back as z1 itself (1e17)
    with pytest.raises(ValueError, match=r"setting='box' takes noise_scale up to 1e\+06, got "
                                         r"1e\+17; at 1e\+06 the noise is already uniform"):
        make_latent_partial_causal(100, setting="box", noise_scale=1e17, random_state=0)
    # the Gaussian coupling of the ica setting takes far wider noise, up to
    # where the mixing networks would overflow (1e308 gave inf)
    for noise_scale in (1e17, 1e300):
        wide = make_latent_partial_causal(100, setting="ica", noise_scale=noise_scale,
                                          random_state=0)
        assert np.isfinite(wide.data).all()
    with pytest.raises(ValueError, match=r"setting='ica' takes noise_scale up to 1e\+300, got "
                                         r"1e\+308; wider noise overflows float64"):
        make_latent_partial_causal(100, setting="ica", noise_scale=1e308, random_state=0)
    # the inverse transform and rejection draw the same truncated density
    by_rejection = _coupled_in_box(np.random.RandomState(0), 20000, 3, 0.3)
    by_inversion = _coupled_in_box(np.random.RandomState(0), 20000, 3, 0.3, rejection_rounds=0)
    for z1, z2 in (by_rejection, by_inversion):
        assert z2.min() >= 0 and z2.max() <= 1
    deviations = [np.abs(z2 - z1).mean() for z1, z2 in (by_rejection, by_inversion)]
    assert abs(deviations[0] - deviations[1]) < 0.005, deviations
    assert 0.15 < deviations[0] < 0.25  # truncation shrinks 0.3; independent draws: 1/3


def test_each_modality_carries_its_own_latents():
    # Each modality is an invertible function of its latents: even a linear
    # regression recovers most of them, and nothing of the other modality's.
    data = make_latent_partial_causal(
        3000, setting="ica", n_coupled=3, n_specific=1, random_state=0
    )
    latents = np.hstack([data.latents["coupled_m1"], data.latents["specific_m1"]])
    x1 = data.data[:, :4]
    assert linear_r2(z_learned=x1, z_true=latents) > 0.6
    assert linear_r2(z_learned=x1, z_true=data.latents["specific_m2"]) < 0.05


# ---------------------------------------------------------------------------
# The estimator
# ---------------------------------------------------------------------------


def test_transform_layout_and_feature_names(ica_data):
    X = ica_data.data[:500]
    model = small_contrastive(modalities=ica_data.modalities).fit(X)
    Z = model.transform(X)
    assert Z.shape == (500, 6)
    assert list(model.get_feature_names_out()) == [
        f"shared_{m}_{k}" for m in ("m1", "m2") for k in range(3)
    ]
    shared_only = clone(model).set_params(output="shared").fit(X)
    np.testing.assert_allclose(shared_only.transform(X), Z, rtol=1e-6)


@pytest.mark.parametrize(
    "similarity, inside",
    [
        ("cosine", lambda h: np.allclose(np.linalg.norm(h, axis=1), 1.0, atol=1e-5)),
        ("l1", lambda h: (h > 0).all() and (h < 1).all()),
        ("euclidean", lambda h: np.isfinite(h).all()),
    ],
)
def test_embeddings_live_where_the_similarity_says(ica_data, similarity, inside):
    model = small_contrastive(modalities=ica_data.modalities, similarity=similarity)
    Z = model.fit_transform(ica_data.data[:500])
    assert inside(Z[:, :3]) and inside(Z[:, 3:])


def test_cosine_embeddings_stay_on_the_sphere_for_huge_inputs(ica_data):
    # rows near 1e25 have squared norms beyond float32's range
    model = small_contrastive(modalities=ica_data.modalities).fit(ica_data.data[:500])
    Z = model.transform(1e25 * ica_data.data[:500])
    for block in (Z[:, :3], Z[:, 3:]):
        np.testing.assert_allclose(np.linalg.norm(block, axis=1), 1.0, atol=1e-5)


def test_one_modality_is_enough_to_transform_it(ica_data):
    model = small_contrastive(modalities=ica_data.modalities).fit(ica_data.data[:500])
    Z = model.transform(ica_data.data[:100])
    np.testing.assert_allclose(
        model.transform_modality(ica_data.data[:100, :4], "m1"), Z[:, :3], rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        model.transform_modality(ica_data.data[:100, 4:], "m2"), Z[:, 3:], rtol=1e-5, atol=1e-6
    )


def test_cosine_needs_two_components(ica_data):
    model = small_contrastive(modalities=ica_data.modalities, n_components=1)
    with pytest.raises(ValueError, match="n_components >= 2"):
        model.fit(ica_data.data[:100])
    assert not hasattr(model, "net_")
    small_contrastive(
        modalities=ica_data.modalities, n_components=1, similarity="l1"
    ).fit(ica_data.data[:100])


@pytest.mark.parametrize(
    "params",
    [dict(similarity="dot"), dict(output="specific"), dict(temperature=0.0), dict(ica="yes")],
)
def test_bad_parameters_are_rejected_at_fit(ica_data, params):
    model = small_contrastive(modalities=ica_data.modalities, **params)
    with pytest.raises(InvalidParameterError):
        model.fit(ica_data.data[:100])


def test_there_is_no_specific_block(ica_data):
    model = small_contrastive(modalities=ica_data.modalities).fit(ica_data.data[:100])
    with pytest.raises(ValueError, match="specific"):
        model.transform_modality(ica_data.data[:10, :4], "m1", block="specific")


def test_same_seed_same_embedding(ica_data):
    a = small_contrastive(modalities=ica_data.modalities).fit_transform(ica_data.data[:300])
    b = small_contrastive(modalities=ica_data.modalities).fit_transform(ica_data.data[:300])
    np.testing.assert_array_equal(a, b)


def test_score_is_higher_after_training(ica_data):
    X = ica_data.data
    common = dict(
        modalities=ica_data.modalities,
        similarity="euclidean",
        hidden_layer_sizes=(32,),
        batch_size=128,
    )
    untrained = small_contrastive(max_epochs=1, lr=1e-7, **common).fit(X)
    trained = small_contrastive(max_epochs=10, **common).fit(X)
    assert trained.score(X) > untrained.score(X) + 0.5


def test_score_checks_settings_changed_since_fit_and_keeps_the_trained_similarity(ica_data):
    X = ica_data.data[:300]
    model = small_contrastive(modalities=ica_data.modalities, similarity="l1").fit(X)
    score = model.score(X)
    fitted = model.get_params()
    for param, value in [("batch_size", 1), ("batch_size", 2.5), ("temperature", 0),
                         ("temperature", -1.0), ("similarity", "dot")]:
        with pytest.raises(ValueError, match=f"'{param}' parameter"):
            model.set_params(**{param: value}).score(X)
        model.set_params(**{param: fitted[param]})
    # the encoders were trained for the L1 similarity; the score stays its loss
    assert model.set_params(similarity="cosine").score(X) == score
    # batch_size and temperature are the score's own settings, read when scoring
    assert model.set_params(temperature=0.5).score(X) != score


# ---------------------------------------------------------------------------
# ICA
# ---------------------------------------------------------------------------


def test_ica_is_fastica_on_the_raw_embedding(ica_data):
    X = ica_data.data[:600]
    raw = small_contrastive(modalities=ica_data.modalities, similarity="euclidean").fit(X)
    rotated = clone(raw).set_params(ica=True).fit(X)
    # Same seed: same network, so the ICA model sees the raw embedding.
    np.testing.assert_array_equal(
        rotated.net_.module_.encoders[0][0].weight.detach().cpu().numpy(),
        raw.net_.module_.encoders[0][0].weight.detach().cpu().numpy(),
    )
    Z_raw, Z = raw.transform(X), rotated.transform(X)
    np.testing.assert_allclose(Z[:, :3], rotated.ica_.transform(Z_raw[:, :3]), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(Z[:, 3:], rotated.ica_.transform(Z_raw[:, 3:]), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(rotated.unmixing_, rotated.ica_.components_)
    np.testing.assert_array_equal(rotated.mixing_, rotated.ica_.mixing_)
    # The components of the training embedding have unit variance.
    np.testing.assert_allclose(np.vstack([Z[:, :3], Z[:, 3:]]).std(axis=0), 1.0, rtol=1e-3)
    assert not hasattr(raw, "ica_")


@pytest.mark.parametrize("make_model", [small_contrastive, small_model])
def test_numpy_booleans_set_ica_as_python_ones_do(ica_data, make_model):
    # as a grid search over np.array([False, True]) passes them
    X = ica_data.data[:300]
    model = make_model(modalities=ica_data.modalities)
    for flag in (np.True_, np.False_):
        expected = clone(model).set_params(ica=bool(flag)).fit(X)
        fitted = clone(model).set_params(ica=flag).fit(X)
        assert hasattr(fitted, "ica_") == bool(flag)
        np.testing.assert_array_equal(fitted.transform(X), expected.transform(X))


def test_a_given_fastica_is_cloned_not_fitted(ica_data):
    ica = FastICA(whiten="unit-variance", max_iter=500, tol=1e-3)
    model = small_contrastive(
        modalities=ica_data.modalities, similarity="euclidean", ica=ica
    ).fit(ica_data.data[:300])
    assert not hasattr(ica, "components_")
    assert model.ica_ is not ica and model.ica_.max_iter == 500


def test_ica_recovers_independent_latents(ica_data):
    """Known answer: independent uniform latents mixed by invertible MLPs.

    Contrastive learning alone recovers the coupled latents up to a linear
    map (MCC well below 1); FastICA on the embedding recovers them one by
    one, which a model without ICA, or with a wrong unmixing, cannot.
    """
    model = MultimodalContrastive(
        ica_data.modalities,
        n_components=3,
        similarity="euclidean",
        ica=True,
        hidden_layer_sizes=(64, 64),
        max_epochs=20,
        batch_size=128,
        random_state=0,
    ).fit(ica_data.data)
    z = ica_data.latents["coupled_m1"]
    components = model.transform_modality(ica_data.data[:, :4], "m1")
    raw = model.ica_.inverse_transform(components)
    assert linear_r2(z_learned=raw, z_true=z) > 0.95
    assert mcc(z, components) > 0.95
    assert mcc(z, components) > mcc(z, raw) + 0.1
    assert linear_r2(z_learned=components, z_true=ica_data.latents["specific_m1"]) < 0.1


def test_disentangled_ssl_ica_rotates_only_the_shared_block():
    from sklearn_dssl.datasets import make_paper_synthetic

    data = make_paper_synthetic(600, random_state=0)
    plain = small_model(modalities=data.modalities).fit(data.data)
    rotated = clone(plain).set_params(ica=True).fit(data.data)
    n = plain.n_shared
    Z_plain, Z = plain.transform(data.data), rotated.transform(data.data)
    shared = [slice(0, n), slice(n, 2 * n)]
    for block in shared:
        np.testing.assert_allclose(
            Z[:, block], rotated.ica_.transform(Z_plain[:, block]), rtol=1e-4, atol=1e-5
        )
    # Specific blocks are untouched by the shared block's rotation.
    np.testing.assert_allclose(Z[:, 2 * n :], Z_plain[:, 2 * n :], rtol=1e-5, atol=1e-6)
    assert rotated.unmixing_.shape == (n, n)


def test_a_refit_fits_its_ica_on_its_own_shared_encoders():
    # the ICA is fitted before step 2: a step 2 left by the previous fit
    # (holding that fit's step-1 encoders) must not give it the shared block
    X = np.random.default_rng(0).normal(size=(200, 6))
    fresh = small_model(ica=True, random_state=1).fit(X)
    refit = small_model(ica=True).fit(X).set_params(random_state=1).fit(X)
    np.testing.assert_array_equal(refit.unmixing_, fresh.unmixing_)
    np.testing.assert_array_equal(refit.transform(X), fresh.transform(X))
    # a refit on other columns, or to another width, is a new model too
    wider = np.hstack([X, X[:, :2]])
    np.testing.assert_array_equal(
        refit.set_params(random_state=1).fit(wider).transform(wider),
        small_model(ica=True, random_state=1).fit(wider).transform(wider))
    assert refit.set_params(n_shared=2).fit(X).transform(X).shape == (200, 8)


@pytest.mark.parametrize("make_model", ["contrastive", "disentangled"])
def test_ica_must_keep_the_embedding_width_and_is_checked_before_training(
    ica_data, make_model, monkeypatch
):
    if make_model == "contrastive":
        model = small_contrastive(
            modalities=ica_data.modalities, similarity="euclidean", ica=FastICA(n_components=2)
        )
    else:
        model = DisentangledSSL(
            modalities=ica_data.modalities, n_shared=3, ica=FastICA(n_components=2)
        )

    def no_training(*args, **kwargs):
        raise AssertionError("trained before checking the ICA")

    monkeypatch.setattr(type(model), "_train", no_training)
    with pytest.raises(ValueError, match=r"n_components=2\) must keep the width .*\(3\)"
                       if make_model == "disentangled" else "n_components"):
        model.fit(ica_data.data[:200])
    assert not hasattr(model, "net_") and not hasattr(model, "shared_net_")
    # so are the FastICA's own settings, which the estimator's check does not see
    model.set_params(ica=FastICA(max_iter=0))
    with pytest.raises(ValueError, match="'max_iter' parameter of FastICA"):
        model.fit(ica_data.data[:200])
    # an unwhitened FastICA takes the embedding, neither white nor centred, as white
    model.set_params(ica=FastICA(whiten=False))
    with pytest.raises(ValueError, match=r"FastICA\(whiten=False\) takes its input as already "
                                         r"white.*leave whiten at its default"):
        model.fit(ica_data.data[:200])
    model.set_params(ica=FastICA(w_init=np.eye(2)))
    with pytest.raises(ValueError, match=r"has shape \(2, 2\), and the shared embedding's "
                                         r"width \(3\) needs \(3, 3\)"):
        model.fit(ica_data.data[:200])


def test_ica_warns_of_a_modality_whose_embedding_spans_fewer_directions(ica_data):
    # the stack of both modalities' embeddings has full rank, one modality's
    # not: its components would be combinations of fewer directions
    from sklearn_dssl._neural import _warn_of_a_degenerate_modality

    rng = np.random.default_rng(0)
    full, flat = rng.normal(size=(100, 3)), rng.normal(size=(100, 2)) @ rng.normal(size=(2, 3))
    assert np.linalg.matrix_rank(np.vstack([full, flat])) == 3
    with pytest.warns(UserWarning, match=r"modality 'b' has rank 2 < its width 3: its ICA "
                                         r"components are combinations of 2 directions"):
        _warn_of_a_degenerate_modality([full, flat], ["a", "b"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_of_a_degenerate_modality([full, full + 1.0], ["a", "b"])


def test_ica_on_rows_all_alike_says_so(ica_data):
    # identical rows would give one embedding, of rank 0: refused before
    # training, as modalities that carry nothing (the rank check's own test
    # is below)
    model = small_contrastive(modalities=ica_data.modalities, similarity="l1", ica=True)
    X = ica_data.data[:200].copy()
    X[:] = X[0]
    with pytest.raises(ValueError, match="modality '.*' is constant on the training rows"):
        model.fit(X)


def test_ica_of_a_width_the_encoders_cannot_span_is_refused_before_training(ica_data):
    """Each modality's shared embedding is an affine map of its last hidden
    layer: two modalities through 2 units span at most 2 * 3 - 1 = 5
    centred directions, so an ica of 6 is refused before step 1 trains."""
    from skorch.callbacks import Callback

    from sklearn_dssl import DisentangledSSL
    from sklearn_dssl._neural import check_ica_width_can_be_spanned

    class CountEpochs(Callback):
        epochs = 0

        def on_epoch_end(self, net, **kwargs):
            type(self).epochs += 1

    model = DisentangledSSL(ica_data.modalities, n_shared=6, hidden_layer_sizes=(8, 2), ica=True,
                            max_epochs_shared=1, output="shared", callbacks=[CountEpochs()])
    with pytest.raises(ValueError, match=r"encoders whose last hidden layer has 2 units .* 5 for "
                       r"these 2 modalities together, however long they train\. Widen the last "
                       r"hidden layer \(hidden_layer_sizes\) to 6 units or more, or lower "
                       r"n_shared to at most 2, so that each modality's embedding can span it"):
        model.fit(ica_data.data[:200])
    with pytest.raises(ValueError, match=r"linear encoders \(no hidden layer\) .* as many "
                       r"directions as its columns, and an offset: 9 .* Add a hidden layer of "
                       r"10 units or more \(hidden_layer_sizes\), or lower n_shared to at "
                       r"most 4"):
        model.set_params(hidden_layer_sizes=(), n_shared=10).fit(ica_data.data[:200])
    assert CountEpochs.epochs == 0
    model.set_params(ica=False).fit(ica_data.data[:200])  # without ica, no such bound
    assert CountEpochs.epochs == 1
    # no lower width to advise where a modality's embedding spans one direction
    with pytest.raises(ValueError, match=r"Widen the last hidden layer \(hidden_layer_sizes\) "
                       r"to 6 units or more\.$"):
        check_ica_width_can_be_spanned(6, (4, 4), (8, 1))
    check_ica_width_can_be_spanned(5, (4, 4), (8, 2))  # at the bound
    check_ica_width_can_be_spanned(9, (4, 4), ())
    check_ica_width_can_be_spanned(14, (4, 4, 4), (4,))


def test_the_rank_check_sees_dependent_columns_under_an_offset():
    from sklearn_dssl._neural import _check_full_rank

    rng = np.random.default_rng(0)
    Z = rng.normal(size=(5000, 6)) + 1e3  # far from the origin
    _check_full_rank(Z)
    Z[:, 5] = 2 * Z[:, 3] - Z[:, 1] + 1e-9 * rng.normal(size=5000)
    with pytest.raises(ValueError, match="rank 5 < its width 6"):
        _check_full_rank(Z)


@pytest.mark.parametrize("make_model", ["contrastive", "disentangled"])
def test_ica_does_not_depend_on_where_the_modalities_lie_in_x(ica_data, make_model):
    """The same columns stored in another order give the same components."""
    X = ica_data.data[:600]
    swapped = np.hstack([X[:, 4:], X[:, :4]])
    in_order = {"m1": [0, 1, 2, 3], "m2": [4, 5, 6, 7]}
    reordered = {"m1": [4, 5, 6, 7], "m2": [0, 1, 2, 3]}
    if make_model == "contrastive":
        def build(modalities):
            return small_contrastive(modalities=modalities, similarity="euclidean", ica=True)
    else:
        def build(modalities):
            return small_model(modalities=modalities, n_shared=3, ica=True)
    a = build(in_order).fit(X)
    b = build(reordered).fit(swapped)
    np.testing.assert_allclose(b.transform(swapped), a.transform(X), rtol=1e-5, atol=1e-6)
    # Unit-variance components on the training rows, as FastICA promises.
    Z = a.transform(X)
    assert np.abs(np.vstack([Z[:, :3], Z[:, 3:6]]).std(axis=0) - 1).max() < 0.05


@pytest.mark.parametrize("similarity", ["cosine", "l1", "euclidean"])
def test_parameters_reach_the_trained_objective(similarity):
    """The trained criterion is the InfoNCE of the estimator's similarity and
    temperature: equal loss on fixed inputs, and another temperature changes it."""
    X = np.random.default_rng(0).normal(size=(64, 6))
    model = small_contrastive(similarity=similarity, temperature=0.3, max_epochs=1).fit(X)
    g = torch.Generator().manual_seed(1)
    embeddings = [torch.randn(16, 3, generator=g, dtype=torch.float64) for _ in range(2)]
    expected = ContrastiveObjective(similarity, 0.3)(embeddings).item()
    assert model.net_.criterion_(embeddings).item() == pytest.approx(expected, rel=1e-9)
    default = MultimodalContrastive().temperature
    assert ContrastiveObjective(similarity, default)(embeddings).item() != pytest.approx(
        expected, rel=1e-6)
