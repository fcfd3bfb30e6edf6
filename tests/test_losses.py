"""Losses and posterior heads against direct numpy / closed-form computations."""

import pickle

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.special import ive, logsumexp

from sklearn_dssl._losses import (
    SharedObjective,
    SpecificObjective,
    cosine_bottleneck,
    cross_modal_info_nce,
    cosine_similarity_matrix,
    dot_similarity_matrix,
    euclidean_similarity_matrix,
    info_nce,
    l1_similarity_matrix,
    orthogonality,
    squared_bottleneck,
)
from sklearn_dssl._modules import (
    GaussianHead,
    PowerSphericalHead,
    SharedEncoders,
    SpecificEncoders,
    TabularAugmenter,
    VonMisesFisherHead,
    make_mlp,
)


def _unit(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def _numpy_info_nce_direction(a, b, temperature):
    """Mean over anchors i of -log softmax_j(cos(a_i, b_j) / t)[i]."""
    logits = _unit(a) @ _unit(b).T / temperature
    return np.mean(logsumexp(logits, axis=1) - np.diag(logits))


@pytest.fixture
def batches():
    rng = np.random.default_rng(0)
    return rng.normal(size=(5, 3)), rng.normal(size=(5, 3))


@pytest.mark.parametrize("temperature", [0.07, 1.0])
def test_info_nce_is_mean_of_both_directions(batches, temperature):
    a, b = batches
    expected = 0.5 * (
        _numpy_info_nce_direction(a, b, temperature) + _numpy_info_nce_direction(b, a, temperature)
    )
    got = info_nce(torch.tensor(a), torch.tensor(b), temperature).item()
    assert got == pytest.approx(expected, rel=1e-10)
    # the two directions differ, so a one-directional loss would fail this test
    assert _numpy_info_nce_direction(a, b, temperature) != pytest.approx(
        _numpy_info_nce_direction(b, a, temperature)
    )


def test_info_nce_rewards_aligned_pairs(batches):
    a, _ = batches
    a = torch.tensor(a)
    assert info_nce(a, a, 0.07) < info_nce(a, a.flip(0), 0.07)


def test_bottleneck_terms(batches):
    a, b = batches
    cos = np.sum(_unit(a) * _unit(b), axis=1)
    assert cosine_bottleneck(torch.tensor(a), torch.tensor(b)).item() == pytest.approx(-cos.mean())
    sq = np.sum((a - b) ** 2, axis=1).mean()
    assert squared_bottleneck(torch.tensor(a), torch.tensor(b)).item() == pytest.approx(sq)


def test_orthogonality_is_frobenius_norm_of_normalised_cross_product():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(6, 4)), rng.normal(size=(6, 2))
    expected = np.linalg.norm(_unit(a).T @ _unit(b), ord="fro")
    assert orthogonality(torch.tensor(a), torch.tensor(b)).item() == pytest.approx(expected)
    # columns that are orthogonal across the batch give zero
    a0 = np.array([[1.0, 0.0], [-1.0, 0.0]])
    b0 = np.array([[1.0, 0.0], [1.0, 0.0]])
    assert orthogonality(torch.tensor(a0), torch.tensor(b0)).item() == pytest.approx(0.0)


def test_shared_objective_combines_contrast_and_bottleneck(batches):
    a, b = (torch.tensor(x) for x in batches)
    head = GaussianHead(kappa=1e12)  # samples equal the means
    torch.manual_seed(0)
    loss = SharedObjective(head, temperature=0.5, beta=2.0)([a, b]).item()
    expected = info_nce(a, b, 0.5).item() + 2.0 * squared_bottleneck(a, b).item()
    assert loss == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("head_cls", [VonMisesFisherHead, PowerSphericalHead])
def test_spherical_heads_bottleneck_is_minus_the_mean_cosine_of_the_means(head_cls, batches):
    """A bottleneck to be minimised pulls the posteriors together: aligned means
    give its minimum -1, opposite means its maximum 1, whatever their lengths."""
    a, b = (torch.tensor(x) for x in batches)
    head = head_cls(10.0)
    assert head.bottleneck(a, a).item() == pytest.approx(-1.0)
    assert head.bottleneck(a, 3.0 * a).item() == pytest.approx(-1.0)
    assert head.bottleneck(a, -a).item() == pytest.approx(1.0)
    cos = np.sum(_unit(batches[0]) * _unit(batches[1]), axis=1)
    assert head.bottleneck(a, b).item() == pytest.approx(-cos.mean())
    assert head.bottleneck(a, b).item() == pytest.approx(cosine_bottleneck(a, b).item())


@pytest.mark.parametrize("head_cls", [VonMisesFisherHead, PowerSphericalHead])
def test_shared_objective_with_a_spherical_head_adds_beta_times_minus_the_mean_cosine(
    batches, head_cls
):
    # b close to a: a mean cosine near 1, so a bottleneck of the wrong sign
    # moves the loss by about 2 * beta
    a = torch.tensor(batches[0])
    b = a + 0.1 * torch.tensor(batches[1])
    objective = SharedObjective(head_cls(50.0), temperature=0.5, beta=2.0)
    torch.manual_seed(0)
    loss = objective([a, b]).item()
    torch.manual_seed(0)  # the same samples, drawn around both modalities' means at once
    samples_a, samples_b = head_cls(50.0).sample(torch.cat([a, b])).split(len(a))
    contrast = info_nce(samples_a, samples_b, 0.5, dot_similarity_matrix).item()
    mean_cosine = np.mean(np.sum(_unit(a.numpy()) * _unit(b.numpy()), axis=1))
    assert mean_cosine > 0.9
    assert loss == pytest.approx(contrast - 2.0 * mean_cosine, rel=1e-9)


def test_specific_objective_pairs_specific_with_other_modalitys_shared():
    rng = np.random.default_rng(2)
    s1, s2, c1, c2 = (torch.tensor(rng.normal(size=(4, 3))) for _ in range(4))
    v1, v2, d1, d2 = (torch.tensor(rng.normal(size=(4, 3))) for _ in range(4))
    views = [([s1, s2], [c1, c2]), ([v1, v2], [d1, d2])]
    got = SpecificObjective(temperature=0.1, ortho_weight=0.5)(views).item()
    contrast = info_nce(torch.cat([s1, c2], 1), torch.cat([v1, d2], 1), 0.1) + info_nce(
        torch.cat([s2, c1], 1), torch.cat([v2, d1], 1), 0.1
    )
    ortho = 0.5 * (orthogonality(s1, c1) + orthogonality(s2, c2)) + 0.5 * (
        orthogonality(v1, d1) + orthogonality(v2, d2)
    )
    assert got == pytest.approx((contrast + 0.5 * ortho).item())
    terms = SpecificObjective(temperature=0.1, ortho_weight=0.5).terms(views)
    assert terms["contrast"].item() == pytest.approx(contrast.item())
    assert terms["orthogonality"].item() == pytest.approx(ortho.item())


def test_specific_objective_pairs_each_modality_with_the_next_modalitys_shared():
    """With three modalities, modality i's joint representation is its specific
    embedding beside modality i + 1's shared one, the last modality's beside the
    first's (a cycle, not i - 1)."""
    rng = np.random.default_rng(3)

    def normals(k):
        return [torch.tensor(rng.normal(size=(6, 3))) for _ in range(k)]

    s, c, v, d = normals(3), normals(3), normals(3), normals(3)
    views = [(s, c), (v, d)]
    objective = SpecificObjective(temperature=0.1, ortho_weight=0.5)
    partner = {0: 1, 1: 2, 2: 0}
    contrast = sum(
        info_nce(torch.cat([s[i], c[j]], 1), torch.cat([v[i], d[j]], 1), 0.1)
        for i, j in partner.items()
    )
    ortho = 0.5 * sum(orthogonality(s[i], c[i]) + orthogonality(v[i], d[i]) for i in range(3))
    terms = objective.terms(views)
    assert terms["contrast"].item() == pytest.approx(contrast.item(), rel=1e-10)
    assert terms["orthogonality"].item() == pytest.approx(ortho.item(), rel=1e-10)
    assert objective(views).item() == pytest.approx((contrast + 0.5 * ortho).item())
    # the other cycle (i - 1) gives another loss: the test tells them apart
    backwards = sum(
        info_nce(torch.cat([s[j], c[i]], 1), torch.cat([v[j], d[i]], 1), 0.1)
        for i, j in partner.items()
    )
    assert backwards.item() != pytest.approx(contrast.item(), rel=1e-6)


def test_terms_of_weight_zero_are_left_out_of_the_sum():
    objective = SharedObjective(GaussianHead(kappa=1.0), beta=0.0)
    assert set(objective.term_names) == {"contrast", "bottleneck"}
    terms = {"contrast": torch.tensor(2.5), "bottleneck": torch.tensor(float("nan"))}
    assert objective.combine(terms).item() == 2.5
    objective.beta = 0.5
    terms["bottleneck"] = torch.tensor(-1.0)
    assert objective.combine(terms).item() == 2.0


def _vmf_mean_cosine(kappa, dim):
    """E[<z, mu>] for z ~ vMF(mu, kappa) on the unit sphere in R^dim."""
    return ive(dim / 2, kappa) / ive(dim / 2 - 1, kappa)


@pytest.mark.parametrize(
    "head_cls, expected_mean_cosine",
    [
        (VonMisesFisherHead, _vmf_mean_cosine),
        (PowerSphericalHead, lambda kappa, dim: kappa / (dim - 1 + kappa)),
    ],
)
@pytest.mark.parametrize("dim", [3, 100])
def test_spherical_heads_sample_unit_vectors_concentrated_as_kappa_says(
    head_cls, expected_mean_cosine, dim
):
    torch.manual_seed(0)
    mean = torch.randn(20000, dim, dtype=torch.float64)
    direction = mean / mean.norm(dim=1, keepdim=True)
    previous = -1.0
    for kappa in [1.0, 10.0, 1000.0]:
        z = head_cls(kappa).sample(mean)
        assert torch.allclose(z.norm(dim=1), torch.ones(len(z), dtype=z.dtype), atol=1e-6)
        cosine = (z * direction).sum(dim=1).mean().item()
        assert cosine == pytest.approx(expected_mean_cosine(kappa, dim), abs=0.01)
        assert cosine > previous
        previous = cosine


def _vmf_cosine_cdf(kappa, dim):
    """CDF of <z, mu> for z ~ vMF(mu, kappa) in R^dim, by numerical integration.

    On the circle (dim 2, where the cosine's density is unbounded at +-1), from
    the von Mises distribution of the angle theta: w <= x when |theta| >= arccos x.
    """
    if dim == 2:
        return lambda x: 2.0 - 2.0 * stats.vonmises(kappa).cdf(np.arccos(np.clip(x, -1, 1)))
    w = np.linspace(-1.0, 1.0, 200001)
    log_density = kappa * (w - 1.0) + (dim - 3) / 2 * np.log(np.clip(1.0 - w * w, 1e-300, None))
    density = np.exp(log_density - log_density.max())
    cdf = np.concatenate([[0.0], np.cumsum((density[1:] + density[:-1]) / 2)])
    return lambda x: np.interp(x, w, cdf / cdf[-1])


@pytest.mark.parametrize(
    "kappa, dim", [(1000.0, 100), (10.0, 5), (1.0, 3), (50.0, 10), (5.0, 2), (1e4, 100)]
)
def test_vmf_cosines_follow_the_vmf_marginal(kappa, dim):
    """The vMF head draws the cosine to the mean with the vMF density
    exp(kappa w) (1 - w^2)^((d - 3) / 2): Kolmogorov-Smirnov distance far below
    what the Power Spherical cosine (a different law of the same mean role) gives."""
    torch.manual_seed(0)
    cdf = _vmf_cosine_cdf(kappa, dim)
    w = VonMisesFisherHead(kappa)._sample_cosine(20000, dim, "cpu").numpy()
    assert w.dtype == np.float64 and np.all(np.abs(w) <= 1.0)
    # critical value of the KS statistic at level 0.001 for 20,000 draws: 0.0138
    assert stats.kstest(w, cdf).statistic < 0.0138
    if kappa > 1.0:
        other = PowerSphericalHead(kappa)._sample_cosine(20000, dim, "cpu").numpy()
        assert stats.kstest(other, cdf).statistic > 0.05


@pytest.mark.parametrize("head_cls", [VonMisesFisherHead, PowerSphericalHead])
def test_concentrated_samples_in_two_dimensions_keep_their_angle(head_cls):
    """At d=2, kappa=1e5 a sample's angle to the mean is about 0.003: in
    float32 its cosine rounds to 1 for a sizeable share of the draws, which
    then lie on the mean; the angle's law must survive the float32 sample."""
    torch.manual_seed(0)
    mean = torch.tensor([[1.0, 0.0]]).expand(20000, 2)
    head = head_cls(1e5)
    z = head.sample(mean)
    assert z.dtype == torch.float32
    angles = torch.atan2(z[:, 1], z[:, 0]).abs().double().numpy()
    assert (angles == 0).mean() < 0.001
    torch.manual_seed(1)
    reference = torch.acos(head._sample_cosine(20000, 2, "cpu")).numpy()  # float64
    assert stats.ks_2samp(angles, reference).statistic < 0.02


def test_the_vmf_head_samples_after_a_cast_of_the_module():
    head = VonMisesFisherHead(100.0)
    head.sample(torch.randn(4, 3))  # tabulates its float64 knots as buffers
    head.float()
    assert head.sample(torch.randn(4, 3)).shape == (4, 3)


@pytest.mark.parametrize("head_cls", [VonMisesFisherHead, PowerSphericalHead])
def test_spherical_samples_spread_uniformly_around_the_mean(head_cls):
    """The part of a sample orthogonal to the mean direction has mean zero and
    covariance E[1 - w^2] / (d - 1) times the projection off the mean."""
    torch.manual_seed(0)
    dim, n = 5, 40000
    mu = torch.tensor([0.5, -0.5, 0.5, 0.5, 0.0], dtype=torch.float64)
    z = head_cls(10.0).sample(3.0 * mu.expand(n, dim))
    w = z @ mu
    orthogonal = z - w[:, None] * mu
    projection = torch.eye(dim, dtype=torch.float64) - torch.outer(mu, mu)
    expected = (1.0 - w.pow(2)).mean() / (dim - 1) * projection
    assert orthogonal.mean(0).abs().max() < 0.01
    assert (orthogonal.T @ orthogonal / n - expected).abs().max() < 0.005


def test_spherical_samples_are_differentiable_in_the_mean():
    mean = torch.randn(8, 5, requires_grad=True)
    VonMisesFisherHead(100.0).sample(mean).sum().backward()
    assert torch.isfinite(mean.grad).all() and mean.grad.abs().sum() > 0


@pytest.mark.parametrize("head_cls", [VonMisesFisherHead, PowerSphericalHead])
def test_a_pickled_head_leaves_its_quantile_table_behind(head_cls):
    """The vMF head's table (2 x 8193 float64) is tabulated again after
    unpickling, not carried in every pickle of a fitted model; the samples
    are the same."""
    head = head_cls(1000.0)
    mean = torch.randn(6, 100)
    torch.manual_seed(0)
    expected = head.sample(mean)
    restored = pickle.loads(pickle.dumps(head))
    assert len(pickle.dumps(head)) < 2000
    assert head._buffers == {}  # the table is no buffer: moving the module leaves it
    assert ("_knots_cdf" in vars(head)) is (head_cls is VonMisesFisherHead)
    assert "_knots_cdf" not in vars(restored)
    torch.manual_seed(0)
    torch.testing.assert_close(restored.sample(mean), expected, rtol=0, atol=0)
    assert restored.state_dict() == {}  # never part of the saved weights


def test_the_vmf_table_stays_float64_where_it_was_read_as_the_module_moves():
    # a device without float64 (Apple's MPS) could not take a float64 buffer:
    # moving or casting the module must leave the table alone
    head = VonMisesFisherHead(1000.0)
    head.sample(torch.randn(6, 10))
    table = head._knots_cdf
    head.half()
    head.to("cpu", torch.float16)
    assert head._knots_cdf is table and table.dtype == torch.float64
    assert head._knots_for == (1000.0, 10, torch.device("cpu"))
    head.sample(torch.randn(6, 12))  # another width tabulates again
    assert head._knots_cdf is not table and len(head._knots_cdf) == 8193


def test_gaussian_head_noise_has_variance_one_over_kappa():
    torch.manual_seed(0)
    mean = torch.zeros(50000, 4)
    z = GaussianHead(kappa=4.0).sample(mean)
    assert z.var().item() == pytest.approx(0.25, rel=0.02)


# ---------------------------------------------------------------------------
# Similarities of multimodal contrastive learning
# ---------------------------------------------------------------------------


def _numpy_similarities(a, b):
    difference = a[:, None, :] - b[None, :, :]
    return {
        "cosine": _unit(a) @ _unit(b).T,
        "l1": -np.abs(difference).sum(axis=2),
        "euclidean": -(difference**2).sum(axis=2),
    }


@pytest.mark.parametrize("name", ["cosine", "l1", "euclidean"])
def test_similarity_matrices_match_numpy(name):
    from sklearn_dssl._losses import SIMILARITIES

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 4)), rng.normal(size=(5, 4))
    got = SIMILARITIES[name](torch.tensor(a), torch.tensor(b)).numpy()
    np.testing.assert_allclose(got, _numpy_similarities(a, b)[name], rtol=1e-10, atol=1e-10)


def test_the_vmf_head_draws_its_cosines_on_the_cpu_for_a_device_without_float64(
        monkeypatch):
    # no MPS here: the meta device stands in for one without float64
    from sklearn_dssl import _modules

    monkeypatch.setattr(_modules, "_NO_FLOAT64", frozenset({"meta"}))
    head = VonMisesFisherHead(100.0)
    drawn_on = []
    sample_cosine = head._sample_cosine

    def recorded(n, dim, device):
        drawn_on.append(torch.device(device).type)
        return sample_cosine(n, dim, device)

    monkeypatch.setattr(head, "_sample_cosine", recorded)
    z = head.sample(torch.randn(4, 3, device="meta"))
    assert drawn_on == ["cpu"]
    assert z.device.type == "meta" and z.shape == (4, 3) and z.dtype == torch.float32
    head.sample(torch.randn(4, 3))
    assert drawn_on == ["cpu", "cpu"]


def test_euclidean_similarities_do_not_depend_on_an_offset_shared_by_all_rows():
    from sklearn_dssl._losses import euclidean_similarity_matrix

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(256, 10)), rng.normal(size=(256, 10))
    reference = _numpy_similarities(a, b)["euclidean"]
    # float32 rows near 1e3: their own rounding moves distances by about 1e-3;
    # expanded about the origin the cancellation moved them by about 5
    a32, b32 = (torch.tensor(x + 1e3, dtype=torch.float32) for x in (a, b))
    got = euclidean_similarity_matrix(a32, b32).double().numpy()
    assert np.abs(got - reference).max() < 0.05


@pytest.mark.parametrize("name", ["cosine", "l1", "euclidean"])
def test_contrastive_objective_is_the_symmetric_info_nce_of_its_similarity(name):
    from sklearn_dssl._losses import ContrastiveObjective

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(8, 3)), rng.normal(size=(8, 3))
    logits = _numpy_similarities(a, b)[name] / 0.3
    expected = 0.5 * (
        np.mean(logsumexp(logits, axis=1) - np.diag(logits))
        + np.mean(logsumexp(logits.T, axis=1) - np.diag(logits))
    )
    got = ContrastiveObjective(name, temperature=0.3)([torch.tensor(a), torch.tensor(b)])
    assert float(got) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("setting, name", [("box", "l1"), ("sphere", "cosine")])
def test_true_partners_have_a_lower_contrastive_loss_than_shuffled_ones(setting, name):
    from sklearn_dssl._losses import ContrastiveObjective
    from sklearn_dssl.datasets import make_latent_partial_causal

    data = make_latent_partial_causal(512, setting=setting, n_coupled=3, random_state=0)
    z1 = torch.tensor(data.latents["coupled_m1"])
    z2 = torch.tensor(data.latents["coupled_m2"])
    objective = ContrastiveObjective(name, temperature=0.1)
    paired = float(objective([z1, z2]))
    shuffled = float(objective([z1, z2[torch.randperm(512, generator=torch.Generator().manual_seed(0))]]))
    # Chance level is log(512) = 6.2: the true latents are far below it.
    assert paired < shuffled - 2.0


# ---------------------------------------------------------------------------
# Batched losses and augmentation
# ---------------------------------------------------------------------------


def test_batched_losses_equal_the_losses_of_each_problem():
    torch.manual_seed(0)
    a, b = torch.randn(3, 16, 5), torch.randn(3, 16, 4)
    for similarity in (cosine_similarity_matrix, l1_similarity_matrix, euclidean_similarity_matrix):
        batched = info_nce(a[..., :4], b, 0.2, similarity)
        each = torch.stack([info_nce(a[i, :, :4], b[i], 0.2, similarity) for i in range(3)])
        assert batched.item() == pytest.approx(each.mean().item(), rel=1e-6)
    assert torch.allclose(
        orthogonality(a, b), torch.stack([orthogonality(a[i], b[i]) for i in range(3)])
    )


@pytest.mark.parametrize("noise_scale, mask_fraction", [(0.1, 0.1), (2.0, 0.5), (1.0, 0.0)])
def test_mixed_augmentation_noises_masks_or_keeps_a_third_of_the_rows_each(
    noise_scale, mask_fraction
):
    """Each row is noised (N(0, (noise_scale * scale)^2) on every entry), masked
    (each entry set to the feature mean with probability mask_fraction) or kept."""
    torch.manual_seed(0)
    n, d = 30000, 40
    center, scale = torch.full((d,), 7.0), torch.linspace(0.5, 2.0, d)
    x = torch.zeros(n, d)
    out = TabularAugmenter(center, scale, "mixed", noise_scale, mask_fraction)(x)
    masked_entries = out == 7.0
    kept = (out == 0.0).all(dim=1)
    noised = ~kept & ~masked_entries.any(dim=1)
    if mask_fraction:
        masked = masked_entries.any(dim=1)
        assert masked.float().mean().item() == pytest.approx(1 / 3, abs=0.01)
        masked_rows = out[masked]
        assert ((masked_rows == 0.0) | (masked_rows == 7.0)).all()
        assert masked_entries[masked].float().mean().item() == pytest.approx(
            mask_fraction, abs=0.01
        )
    assert noised.float().mean().item() == pytest.approx(1 / 3, abs=0.01)
    assert kept.float().mean().item() == pytest.approx(1 / 3 if mask_fraction else 2 / 3, abs=0.01)
    relative = out[noised] / (noise_scale * scale)
    assert relative.mean().abs().item() < 0.01
    assert relative.std().item() == pytest.approx(1.0, abs=0.01)
    # noise and mask are independent of the row: every column is noised alike
    assert torch.allclose(relative.std(dim=0), torch.ones(d), atol=0.05)


def test_noise_and_mask_augmentations_alone():
    """"noise" adds N(0, (noise_scale * scale)^2) to every entry of every row;
    "mask" sets each entry to its feature's mean with probability mask_fraction."""
    torch.manual_seed(0)
    n, d = 30000, 40
    center, scale = torch.full((d,), 7.0), torch.linspace(0.5, 2.0, d)
    x = torch.zeros(n, d)
    noised = TabularAugmenter(center, scale, "noise", 0.3, 0.2)(x)
    relative = noised / (0.3 * scale)
    assert relative.mean().abs().item() < 0.01
    assert relative.std().item() == pytest.approx(1.0, abs=0.01)  # 10x noise: 10
    assert torch.allclose(relative.std(dim=0), torch.ones(d), atol=0.05)
    masked = TabularAugmenter(center, scale, "mask", 0.3, 0.2)(x)
    assert ((masked == 0.0) | (masked == 7.0)).all()  # masked to the mean, not to 0
    assert (masked == 7.0).float().mean().item() == pytest.approx(0.2, abs=0.01)


def test_looks_linear_mlp_of_one_hidden_pair_is_the_hand_computed_linear_map():
    """Hidden width 2 holds one pair: f(x) = c relu(a.x) - c relu(-a.x) = c (a.x)."""
    torch.manual_seed(0)
    mlp = make_mlp(3, (2,), 1, looks_linear=True)
    first, last = mlp[0].weight.detach(), mlp[-1].weight.detach()
    a, c = first[0], last[0, 0]
    assert torch.equal(first[1], -a) and torch.equal(last[0, 1], -c)
    x = torch.tensor([[1.0, -2.0, 0.5], [-3.0, 0.25, 2.0]])
    expected = c * (x @ a)
    torch.testing.assert_close(mlp(x).detach()[:, 0], expected)


@pytest.mark.parametrize("hidden", [(64,), (7,), (6, 9), (5, 4, 3)])
@pytest.mark.parametrize("init_std", [0.01, None])
def test_looks_linear_mlp_starts_linear_and_keeps_its_initial_weight_law(hidden, init_std):
    torch.manual_seed(0)
    mlp = make_mlp(11, hidden, 5, init_std, looks_linear=True)
    x = torch.randn(40, 11, dtype=torch.float64)
    mlp = mlp.double()
    with torch.no_grad():
        linear_map = mlp(torch.eye(11, dtype=torch.float64))
        torch.testing.assert_close(mlp(x), x @ linear_map)
        torch.testing.assert_close(mlp(2.0 * x - 3.0 * x.flip(0)),
                                   2.0 * mlp(x) - 3.0 * mlp(x.flip(0)))
    assert all(layer.bias.abs().max() == 0 for layer in mlp if isinstance(layer, torch.nn.Linear))
    if init_std is not None and hidden == (64,):
        kept = mlp[0].weight[:32]  # the layer's own N(0, 0.01^2) draws
        assert 0.008 < float(kept.detach().std()) < 0.012
    plain = make_mlp(11, hidden, 5, init_std)
    with torch.no_grad():  # without mirroring, the ReLU network is not linear
        plain = plain.double()
        assert not torch.allclose(plain(-x), -plain(x))


def test_looks_linear_leaves_an_mlp_with_a_one_unit_hidden_layer_as_drawn():
    torch.manual_seed(0)
    drawn = make_mlp(4, (3, 1), 2).state_dict()
    torch.manual_seed(0)
    kept = make_mlp(4, (3, 1), 2, looks_linear=True).state_dict()
    assert all(torch.equal(drawn[name], kept[name]) for name in drawn)


# ---------------------------------------------------------------------------
# The step-2 module
# ---------------------------------------------------------------------------


def _small_specific_encoders(augmenter=None):
    """Step-1 and step-2 modules of two modalities (3 and 4 columns), with
    N(0, 1) weights: the default N(0, 0.01^2) would make every output, and
    every difference between outputs, too small to tell apart."""
    torch.manual_seed(0)
    augmenter = augmenter if augmenter is not None else torch.nn.Identity()
    shared = SharedEncoders((3, 4), (5,), 2, augmenter, init_std=1.0)
    specific = SpecificEncoders(shared, (6,), 3, augmenter)
    with torch.no_grad():
        for parameter in specific.encoders.parameters():
            parameter.normal_()
    return shared, specific


def _rows_of_both_modalities():
    """8 rows for :func:`_small_specific_encoders`, and each modality's columns."""
    x = torch.randn(8, 7)
    return x, x.split((3, 4), dim=1)


def test_specific_encoders_read_each_modality_beside_its_shared_embedding():
    """g_i's input is [x_i, f_i(x_i)]: its output is g_i of that concatenation,
    for the whole batch and for one modality alone."""
    shared, specific = _small_specific_encoders()
    x, parts = _rows_of_both_modalities()
    with torch.no_grad():
        got_specific, got_shared = specific.encode(x)
        for i, part in enumerate(parts):
            f_i = shared.encoders[i](part)
            expected = specific.encoders[i](torch.cat([part, f_i], dim=1))
            torch.testing.assert_close(got_shared[i], f_i)
            torch.testing.assert_close(got_specific[i], expected)
            torch.testing.assert_close(specific.encode_modality(part, i), expected)


def test_the_specific_output_depends_on_the_shared_encoders_weights():
    # other step-1 weights, the same g_i: f_i(x_i) is part of g_i's input,
    # so the specific embeddings change with it
    _, specific = _small_specific_encoders()
    x, parts = _rows_of_both_modalities()
    with torch.no_grad():
        before, _ = specific.encode(x)
        before_alone = [specific.encode_modality(part, i) for i, part in enumerate(parts)]
        for parameter in specific.shared.parameters():
            parameter.add_(1.0)
        after, _ = specific.encode(x)
        after_alone = [specific.encode_modality(part, i) for i, part in enumerate(parts)]
    for i in range(2):
        assert (after[i] - before[i]).abs().max() > 0.1
        assert (after_alone[i] - before_alone[i]).abs().max() > 0.1


def test_the_second_training_view_is_the_first_view_augmented_again():
    """TwoAugmentedViews: x is the batch augmented once, v is x augmented again
    (not a second draw from the batch), and each view's embeddings are those
    of its own rows."""
    calls = []

    def record(x):
        out = x + 1.0 + 10.0 * len(calls)  # each call a different, known shift
        calls.append((x.clone(), out.clone()))
        return out

    augmenter = TabularAugmenter(torch.zeros(7), torch.ones(7), kind=record)
    _, specific = _small_specific_encoders(augmenter)
    batch = torch.randn(8, 7)
    with torch.no_grad():
        (specific_x, shared_x), (specific_v, shared_v) = specific.train()(batch)
    assert len(calls) == 2
    torch.testing.assert_close(calls[0][0], batch, rtol=0, atol=0)
    torch.testing.assert_close(calls[1][0], calls[0][1], rtol=0, atol=0)
    with torch.no_grad():
        for view, (specific_rows, shared_rows) in zip(
            (calls[0][1], calls[1][1]), ((specific_x, shared_x), (specific_v, shared_v))
        ):
            expected_specific, expected_shared = specific.encode(view)
            for got, expected in zip(specific_rows + shared_rows,
                                     expected_specific + expected_shared):
                torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("head", [VonMisesFisherHead(1000.0), GaussianHead(1.0)])
def test_step1_bottleneck_averages_every_pair_of_three_modalities(head):
    """Docstring of DisentangledSSL: with more than two modalities, step 1's
    contrastive *and bottleneck* terms average over the pairs of modalities.
    Modality c is far from a and b, so a bottleneck of the pair (a, b) alone
    differs from the mean over (a, b), (a, c), (b, c) by a wide margin."""
    torch.manual_seed(0)
    a = torch.randn(16, 4)
    b = a + 0.1 * torch.randn(16, 4)
    c = -a + 0.1 * torch.randn(16, 4)  # opposite: cosine about -1
    means = [a, b, c]
    terms = SharedObjective(head, beta=1.0).terms(means)
    pairs = [(a, b), (a, c), (b, c)]
    expected = torch.stack([head.bottleneck(x, y) for x, y in pairs]).mean()
    torch.testing.assert_close(terms["bottleneck"], expected)
    assert abs(terms["bottleneck"] - head.bottleneck(a, b)) > 0.3


def test_step1_contrast_averages_every_pair_of_three_modalities():
    """The same for the contrastive term (and MultimodalContrastive / FOCAL,
    which share cross_modal_info_nce): the three pairwise symmetric InfoNCE
    losses, averaged."""
    torch.manual_seed(0)
    a = torch.randn(32, 4)
    b = a + 0.05 * torch.randn(32, 4)
    c = torch.randn(32, 4)  # unrelated: its pairs sit near chance, log(32)
    pairs = [(a, b), (a, c), (b, c)]
    expected = torch.stack([info_nce(x, y, 0.07) for x, y in pairs]).mean()
    torch.testing.assert_close(cross_modal_info_nce([a, b, c], 0.07), expected)
    assert abs(expected - info_nce(a, b, 0.07)) > 1.0


def test_the_power_spherical_head_takes_a_kappa_past_float32_s_range():
    # torch.full of a concentration past float32's largest number overflowed
    head = PowerSphericalHead(1e39)
    mean = torch.nn.functional.normalize(torch.randn(64, 5), dim=1)
    sample = head.sample(mean)
    assert torch.isfinite(sample).all()
    torch.testing.assert_close(sample, mean)  # as concentrated as float32 holds
