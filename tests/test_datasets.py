"""Synthetic generators: structure, invertibility and label dependence."""

import numpy as np
import pytest
from scipy import special, stats
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from sklearn_dssl.datasets import (
    make_latent_partial_causal,
    make_nonlinear_multimodal,
    make_paper_synthetic,
)
from sklearn_dssl.metrics import linear_r2, retrieval_top_k
from tests.conftest import peak_traced_bytes


@pytest.mark.parametrize("make", [make_paper_synthetic, make_nonlinear_multimodal])
def test_bunch_layout(make):
    data = make(n_samples=200, n_latent=4, n_features=10, random_state=0)
    assert data.data.shape == (200, 20)
    assert data.target.shape == (200, 3)
    assert data.target_names == ["specific_m1", "shared", "specific_m2"]
    assert {k: v.shape for k, v in data.latents.items()} == {
        "shared": (200, 4), "specific_m1": (200, 4), "specific_m2": (200, 4)
    }
    assert data.modalities == {"m1": 10, "m2": 10}
    assert list(data.modalities) == ["m1", "m2"]  # dicts compare without their order
    np.testing.assert_array_equal(data.target.mean(axis=0), [0.5, 0.5, 0.5])
    again = make(n_samples=200, n_latent=4, n_features=10, random_state=0)
    np.testing.assert_array_equal(data.data, again.data)
    X, y = make(n_samples=200, n_latent=4, n_features=10, random_state=0, return_X_y=True)
    np.testing.assert_array_equal(X, data.data)
    np.testing.assert_array_equal(y, data.target)
    with pytest.raises(ValueError, match="'return_X_y' parameter"):
        make(n_samples=200, return_X_y="yes")


def test_paper_synthetic_is_the_linear_mixing_of_the_latents():
    data = make_paper_synthetic(n_samples=100, n_latent=3, n_features=7, random_state=0)
    z = data.latents
    X1 = np.hstack([z["specific_m1"], z["shared"]]) @ data.mixing["m1"]
    X2 = np.hstack([z["specific_m2"], z["shared"]]) @ data.mixing["m2"]
    np.testing.assert_allclose(data.data, np.hstack([X1, X2]))
    assert z["shared"].var() == pytest.approx(0.5, rel=0.1)
    # each modality its own U(-1, 1) mixing
    T1, T2 = data.mixing["m1"], data.mixing["m2"]
    assert np.abs(T1 - T2).max() > 1
    entries = make_paper_synthetic(n_samples=50, n_latent=10, n_features=20,
                                   random_state=0).mixing["m1"]
    assert -1 <= entries.min() < -0.9 and 0.9 < entries.max() <= 1
    assert abs(entries.mean()) < 0.05 and entries.var() == pytest.approx(1 / 3, abs=0.05)


def test_each_label_depends_on_its_own_block_only():
    data = make_paper_synthetic(n_samples=4000, n_latent=5, n_features=10, random_state=0)
    blocks = [data.latents[k] for k in ("specific_m1", "shared", "specific_m2")]
    for j in range(3):
        for i, Z in enumerate(blocks):
            acc = cross_val_score(LogisticRegression(), Z, data.target[:, j], cv=3).mean()
            if i == j:
                assert acc > 0.7
            else:
                assert acc < 0.56


def _leaky_relu_inverse(H, slope):
    return np.where(H > 0, H, H / slope)


@pytest.mark.parametrize("slope", [0.2, 0.5])
def test_nonlinear_mixing_is_invertible_and_not_linear(slope):
    data = make_nonlinear_multimodal(
        n_samples=3000, n_latent=3, n_features=8, negative_slope=slope, random_state=0
    )
    # each modality mixed by its own network
    for W1, W2 in zip(data.mixing["m1"], data.mixing["m2"]):
        assert np.abs(W1 - W2).max() > 0.5
    for m, columns in (("m1", slice(0, 8)), ("m2", slice(8, 16))):
        weights = data.mixing[m]
        H = data.data[:, columns] @ weights[-1].T  # rows of the last layer are orthonormal
        for W in weights[-2::-1]:
            H = _leaky_relu_inverse(H, slope) @ W.T
        expected = np.hstack([data.latents[f"specific_{m}"], data.latents["shared"]])
        np.testing.assert_allclose(H, expected, atol=1e-8)
    # the shared latents are a linear function of X on the paper's data, not here
    linear = make_paper_synthetic(n_samples=3000, n_latent=3, n_features=8, random_state=0)
    assert linear_r2(z_learned=linear.data[:, :8], z_true=linear.latents["shared"]) > 0.999
    assert linear_r2(z_learned=data.data[:, :8], z_true=data.latents["shared"]) < 0.95


@pytest.mark.parametrize("make", [make_paper_synthetic, make_nonlinear_multimodal])
def test_label_noise_flips_labels_under_the_authors_label_law(make):
    # The same seed draws the same latents and label networks; only the
    # noise added before the threshold differs. Under "xavier" the scores
    # vary on a scale of about 0.5, so noise of 0.1 flips several percent of
    # the labels; under "normal" they vary on a scale of tens and it flips
    # almost none.
    def flipped(label_init):
        quiet, noisy = (
            make(n_samples=4000, label_noise=noise, label_init=label_init, random_state=0)
            for noise in (0.0, 0.1)
        )
        np.testing.assert_array_equal(quiet.data, noisy.data)
        np.testing.assert_array_equal(noisy.target.mean(axis=0), [0.5, 0.5, 0.5])
        return (quiet.target != noisy.target).mean(axis=0)

    assert np.all(flipped("normal") < 0.01)
    assert np.all((flipped("xavier") > 0.02) & (flipped("xavier") < 0.2))


def test_authors_label_law_keeps_labels_on_their_own_block():
    data = make_paper_synthetic(
        n_samples=4000, n_latent=5, n_features=10, label_init="xavier", random_state=0
    )
    blocks = [data.latents[k] for k in ("specific_m1", "shared", "specific_m2")]
    for j, Z in enumerate(blocks):
        own = cross_val_score(LogisticRegression(), Z, data.target[:, j], cv=3).mean()
        other = cross_val_score(LogisticRegression(), blocks[(j + 1) % 3], data.target[:, j],
                                cv=3).mean()
        assert own > 0.7 and other < 0.56


def test_unknown_label_init_is_refused():
    with pytest.raises(ValueError, match="label_init"):
        make_paper_synthetic(n_samples=10, label_init="uniform")


@pytest.mark.parametrize("call", [
    lambda: make_paper_synthetic(10, n_features=True),
    lambda: make_nonlinear_multimodal(10, n_latent=True),
    lambda: retrieval_top_k(np.eye(3), np.eye(3), k=True),
    lambda: make_paper_synthetic(10, random_state=True),
    lambda: make_latent_partial_causal(10, random_state=False),
], ids=["paper-n_features", "nonlinear-n_latent", "retrieval-k", "paper-random_state",
        "causal-random_state"])
def test_a_bool_is_no_count_for_the_public_functions(call):
    # scikit-learn's Integral constraint takes it; numpy then fails or runs it as 1
    with pytest.raises(TypeError, match="takes a number, not a bool"):
        call()


def test_one_coupled_latent_is_enough_except_on_the_sphere():
    from sklearn_dssl.datasets import make_latent_partial_causal

    for setting in ("box", "ica"):
        data = make_latent_partial_causal(200, setting=setting, n_coupled=1, random_state=0)
        assert data.latents["coupled_m1"].shape == (200, 1)
    with pytest.raises(ValueError, match="needs n_coupled >= 2, got 1"):
        make_latent_partial_causal(200, setting="sphere", n_coupled=1)


def _invert(data, m, slope):
    """Modality ``m``'s latents, from its columns through its inverted network."""
    width = data.modalities[m]
    columns = slice(0, width) if m == "m1" else slice(width, 2 * width)
    weights = data.mixing[m]
    H = data.data[:, columns] @ weights[-1].T  # square orthonormal layers
    for W in weights[-2::-1]:
        H = _leaky_relu_inverse(H, slope) @ W.T
    return H


@pytest.mark.parametrize("setting", ["sphere", "box", "ica"])
def test_causal_mixing_has_its_layers_and_slope(setting):
    data = make_latent_partial_causal(2000, setting=setting, n_layers=2, negative_slope=0.5,
                                      random_state=0)
    assert len(data.mixing["m1"]) == len(data.mixing["m2"]) == 2
    for m in ("m1", "m2"):
        latents = np.hstack([data.latents[f"coupled_{m}"], data.latents[f"specific_{m}"]])
        np.testing.assert_allclose(_invert(data, m, 0.5), latents, atol=1e-8)


@pytest.mark.parametrize("concentration", [10.0, 50.0])
def test_causal_sphere_coupling_has_the_vmf_mean_cosine(concentration):
    # the mean cosine of vMF(mu, kappa) draws to mu in R^d is I_{d/2}(k) / I_{d/2-1}(k)
    data = make_latent_partial_causal(20000, setting="sphere", n_coupled=5,
                                      concentration=concentration, random_state=0)
    z1, z2 = data.latents["coupled_m1"], data.latents["coupled_m2"]
    np.testing.assert_allclose(np.linalg.norm(z1, axis=1), 1.0)
    expected = special.ive(2.5, concentration) / special.ive(1.5, concentration)
    assert np.mean(np.sum(z1 * z2, axis=1)) == pytest.approx(expected, abs=0.005)


def test_causal_ica_coupling_is_unit_variance_uniform_plus_its_noise():
    data = make_latent_partial_causal(20000, setting="ica", noise_scale=0.3, random_state=0)
    z1, z2 = data.latents["coupled_m1"], data.latents["coupled_m2"]
    np.testing.assert_allclose(z1.std(axis=0), 1.0, atol=0.02)
    np.testing.assert_allclose(stats.kurtosis(z1, axis=0), -1.2, atol=0.05)  # uniform
    np.testing.assert_allclose((z2 - z1).std(axis=0), 0.3, atol=0.01)
    np.testing.assert_allclose(stats.kurtosis(z2 - z1, axis=0), 0.0, atol=0.15)  # normal


@pytest.mark.parametrize("setting", ["sphere", "box", "ica"])
def test_causal_specific_latents_are_standard_normal(setting):
    data = make_latent_partial_causal(20000, setting=setting, n_specific=3, random_state=0)
    for m in ("m1", "m2"):
        z = data.latents[f"specific_{m}"]
        np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=0.03)
        np.testing.assert_allclose(z.std(axis=0), 1.0, atol=0.02)
        np.testing.assert_allclose(stats.kurtosis(z, axis=0), 0.0, atol=0.15)


@pytest.mark.parametrize("make", [make_paper_synthetic, make_nonlinear_multimodal])
@pytest.mark.parametrize("latent_variance", [0.5, 2.0])
def test_every_latent_block_has_the_variance_asked(make, latent_variance):
    data = make(n_samples=20000, n_latent=4, n_features=8, latent_variance=latent_variance,
                random_state=0)
    for block in ("specific_m1", "shared", "specific_m2"):
        np.testing.assert_allclose(data.latents[block].var(axis=0), latent_variance, rtol=0.05)


@pytest.mark.parametrize("make", [make_paper_synthetic, make_nonlinear_multimodal])
def test_the_label_networks_width_is_used(make):
    a = make(n_samples=500, n_latent=3, n_features=8, label_hidden=5, random_state=0)
    b = make(n_samples=500, n_latent=3, n_features=8, label_hidden=50, random_state=0)
    np.testing.assert_array_equal(a.latents["shared"], b.latents["shared"])
    assert (a.target != b.target).mean() > 0.2


def test_the_nonlinear_mixing_has_its_layers():
    for n_layers in (1, 2, 4):
        data = make_nonlinear_multimodal(n_samples=50, n_latent=3, n_features=8,
                                         n_layers=n_layers, random_state=0)
        assert len(data.mixing["m1"]) == len(data.mixing["m2"]) == n_layers


@pytest.mark.parametrize("make, kwargs", [
    (make_paper_synthetic, {}),
    (make_nonlinear_multimodal, {}),
    (make_latent_partial_causal, {"n_coupled": 50, "n_specific": 50}),
])
def test_generators_write_the_modalities_in_place(make, kwargs):
    # each modality's columns go straight into the data matrix: beside the
    # returned arrays, at most about one modality's input and buffer
    peak, data = peak_traced_bytes(lambda: make(20000, random_state=0, **kwargs))
    returned = data.data.nbytes + sum(z.nbytes for z in data.latents.values())
    assert peak < 1.7 * returned


def test_the_sphere_coupling_takes_concentrations_its_sampler_can_draw():
    # scipy's von Mises-Fisher sampler never returns at 1e154 (the bound is
    # checked just above 1e100, where the sampler returns: without the bound
    # the test fails instead of hanging)
    data = make_latent_partial_causal(100, concentration=1e100, random_state=0)
    z1, z2 = data.latents["coupled_m1"], data.latents["coupled_m2"]
    np.testing.assert_allclose(z2, z1, atol=1e-12)
    with pytest.raises(ValueError, match=r"'concentration' parameter .* range \(0.0, 1e\+100\]"):
        make_latent_partial_causal(100, concentration=1e101, random_state=0)


@pytest.mark.parametrize("n_coupled", [2, 5, 8])
@pytest.mark.parametrize("concentration", [10**16.5, 1e17, 5e17, 1e20])
def test_the_sphere_coupling_returns_at_concentrations_scipy_never_drew(n_coupled,
                                                                      concentration):
    # scipy's sampler loops for ever at these (in some dimensions)
    data = make_latent_partial_causal(2000, n_coupled=n_coupled, concentration=concentration,
                                      random_state=0)
    z1, z2 = data.latents["coupled_m1"], data.latents["coupled_m2"]
    np.testing.assert_allclose(np.linalg.norm(z2, axis=1), 1.0)
    # the vMF's spread for a large concentration: 1 - cos ~ (d - 1) / (2 kappa)
    gap = 1.0 - np.sum(z1 * z2, axis=1)
    assert (gap >= -1e-15).all()
    assert np.mean(np.sum((z2 - z1) ** 2, axis=1)) * concentration == pytest.approx(
        n_coupled - 1, rel=0.1)


def test_the_sphere_coupling_is_continuous_where_the_tangent_draws_take_over():
    # the tangent-plane draws above 1e12 and scipy's vMF just below it spread alike
    from sklearn_dssl.datasets._causal import VMF_TANGENT_CONCENTRATION

    spreads = []
    for concentration in (VMF_TANGENT_CONCENTRATION, 1.0000001 * VMF_TANGENT_CONCENTRATION):
        data = make_latent_partial_causal(4000, n_coupled=4, concentration=concentration,
                                          random_state=0)
        z1, z2 = data.latents["coupled_m1"], data.latents["coupled_m2"]
        spreads.append(np.mean(np.sum((z2 - z1) ** 2, axis=1)) * concentration)
    assert spreads == pytest.approx([3.0, 3.0], rel=0.06)


@pytest.mark.parametrize("slope", [1e-9, 0.5, 1 - 1e-9])
def test_nonlinear_slopes_inside_the_open_unit_interval_are_taken(slope):
    data = make_nonlinear_multimodal(n_samples=50, n_latent=2, n_features=4,
                                     negative_slope=slope, random_state=0)
    assert np.isfinite(data.data).all()
    if slope >= 0.5:  # a tiny slope loses the negative side to rounding
        H = _invert(data, "m1", slope)
        expected = np.hstack([data.latents["specific_m1"], data.latents["shared"]])
        np.testing.assert_allclose(H, expected, atol=1e-8)


@pytest.mark.parametrize("slope", [0.0, -1e-9, 1.0, 1 + 1e-9])
def test_nonlinear_slopes_outside_the_open_unit_interval_are_refused(slope):
    # 0 is not invertible, 1 is a linear mixing (make_paper_synthetic's law)
    with pytest.raises(ValueError, match=r"'negative_slope' parameter of "
                                         r"make_nonlinear_multimodal must be a float in the "
                                         r"range \(0\.0, 1\.0\)"):
        make_nonlinear_multimodal(n_samples=50, n_latent=2, n_features=4,
                                  negative_slope=slope, random_state=0)


def test_xavier_label_layers_have_the_torch_scales():
    """Xavier-uniform weights, U(-b, b) with b = sqrt(6 / (fan_in + fan_out)), and
    nn.Linear's default biases, U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the "normal"
    law is standard normal for both. Wide layers, so that the sample bounds and
    standard deviations are within 1% of the law's, far from a wrong scale (fan_in
    alone, or fan_out alone, in the weights' bound: a factor of at least 1.2 here;
    the weights' bound for the biases: 0.06 against 0.2)."""
    from sklearn_dssl.datasets._synthetic import _dense_layer

    rng = np.random.default_rng(0)
    for fan_in, fan_out in ((25, 4000), (4000, 60)):
        weights, bias = _dense_layer(rng, fan_in, fan_out, "xavier")
        assert weights.shape == (fan_in, fan_out) and bias.shape == (fan_out,)
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        assert bound * 0.999 < np.abs(weights).max() <= bound
        assert weights.std() == pytest.approx(bound / np.sqrt(3.0), rel=0.01)
        assert abs(weights.mean()) < 0.01 * bound
        bias_bound = 1.0 / np.sqrt(fan_in)
        assert np.abs(bias).max() <= bias_bound
        if fan_out > 1000:  # enough biases to measure their law
            assert bias_bound * 0.99 < np.abs(bias).max()
            assert bias.std() == pytest.approx(bias_bound / np.sqrt(3.0), rel=0.03)
        else:
            assert np.abs(bias).max() > 0.8 * bias_bound
    weights, bias = _dense_layer(rng, 200, 400, "normal")
    assert weights.std() == pytest.approx(1.0, rel=0.01)
    assert bias.std() == pytest.approx(1.0, rel=0.1) and np.abs(bias).max() > 2.0


def test_paper_synthetic_labels_are_a_nonlinear_function_of_their_block():
    """ALGORITHM.md s.8: each label is a frozen random 2-layer *ReLU* MLP of its
    block. A linear score (ReLU dropped) plus noise 0.1 on a score of scale ~10
    is separable by a hyperplane: the oracle logistic probe reaches ~0.99 on every
    label (measured 0.989-0.998 over 5 seeds x 2 sizes), whereas the ReLU network
    keeps it at 0.75-0.97 (0.83-0.88 for this seed)."""
    data = make_paper_synthetic(n_samples=2000, n_latent=5, n_features=10, random_state=0)
    blocks = ["specific_m1", "shared", "specific_m2"]
    for column, block in enumerate(blocks):
        accuracy = cross_val_score(
            LogisticRegression(max_iter=1000), data.latents[block], data.target[:, column], cv=3
        ).mean()
        assert 0.7 < accuracy < 0.95, (block, accuracy)
