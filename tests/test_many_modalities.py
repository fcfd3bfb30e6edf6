"""DisentangledSSL, MultimodalContrastive and LinearCCA on more than two modalities."""

import numpy as np
import pytest

from sklearn_dssl import DisentangledSSL, LinearCCA, MultimodalContrastive, load, save
from sklearn_dssl.metrics import linear_r2

N_ROWS = 2000


@pytest.fixture(scope="module")
def three():
    """Three modalities of 5 columns, each a linear mix of a shared 2-d latent
    Z_c and its own 2-d latent, with a little noise."""
    rng = np.random.default_rng(0)
    Z_c = rng.normal(size=(N_ROWS, 2))
    Z_s = [rng.normal(size=(N_ROWS, 2)) for _ in range(3)]
    X = np.hstack([np.hstack([Z_c, z]) @ rng.normal(size=(4, 5))
                   + 0.05 * rng.normal(size=(N_ROWS, 5)) for z in Z_s])
    return X, Z_c, Z_s


def assert_blocks_hold_their_latents(blocks, Z_c, Z_s, *, shared_on_shared, specific_on_shared,
                                     specific_on_own, shared_on_own):
    """Each modality's shared block predicts Z_c and its specific block its
    own latent (linear R^2 above the bounds ``*_on_shared`` and
    ``specific_on_own``), and neither the other's (R^2 below the others)."""
    for name, own in zip("abc", Z_s):
        assert linear_r2(z_learned=blocks["shared"][name], z_true=Z_c) > shared_on_shared
        assert linear_r2(z_learned=blocks["specific"][name], z_true=Z_c) < specific_on_shared
        assert linear_r2(z_learned=blocks["specific"][name], z_true=own) > specific_on_own
        assert linear_r2(z_learned=blocks["shared"][name], z_true=own) < shared_on_own


@pytest.fixture(scope="module")
def dssl(three):
    X, _, _ = three
    return DisentangledSSL(
        modalities={"a": 5, "b": 5, "c": 5}, n_shared=4, n_specific=4,
        hidden_layer_sizes=(32,), max_epochs_shared=20, max_epochs_specific=15,
        batch_size=128, lr=1e-3, random_state=0, device="cpu",
    ).fit(X)


def test_each_modality_gets_a_shared_and_a_specific_block(dssl, three):
    X, _, _ = three
    names = dssl.get_feature_names_out()
    assert names.size == 3 * 4 + 3 * 4
    assert names[[0, 4, 8, 12, 16, 20]].tolist() == [
        "shared_a_0", "shared_b_0", "shared_c_0", "specific_a_0", "specific_b_0", "specific_c_0"]
    Z = dssl.transform(X)
    blocks = dssl.transform_blocks(X)
    np.testing.assert_array_equal(Z[:, 8:12], blocks["shared"]["c"])
    np.testing.assert_array_equal(Z[:, 20:], blocks["specific"]["c"])
    # modality c from its own columns alone
    np.testing.assert_allclose(dssl.transform_modality(X[:, 10:], "c", block="specific"),
                               blocks["specific"]["c"], rtol=1e-5, atol=1e-6)
    score = dssl.score(X)
    assert np.isfinite(score) and score < 0


def test_shared_blocks_hold_the_shared_latent_and_specific_blocks_their_own(dssl, three):
    # measured at this seed: shared R^2 on Z_c 0.985 to 0.995, specific 0.009 at
    # most, specific on its own latent 0.77 to 0.99, shared on it 0.10 at most
    X, Z_c, Z_s = three
    assert_blocks_hold_their_latents(dssl.transform_blocks(X), Z_c, Z_s, shared_on_shared=0.95,
                                     specific_on_shared=0.1, specific_on_own=0.6,
                                     shared_on_own=0.25)


def test_a_model_of_three_modalities_saves_and_loads(dssl, three, tmp_path):
    X, _, _ = three
    loaded = load(save(dssl, tmp_path / "model.zip"))
    assert list(loaded.modalities_) == ["a", "b", "c"]
    np.testing.assert_array_equal(loaded.transform(X[:100]), dssl.transform(X[:100]))


def test_multimodal_contrastive_recovers_the_latent_shared_by_three(three):
    # measured at this seed: R^2 0.980, 0.987 and 0.980
    X, Z_c, _ = three
    model = MultimodalContrastive(
        modalities=[5, 5, 5], n_components=2, similarity="euclidean",
        hidden_layer_sizes=(32,), max_epochs=30, batch_size=128, random_state=0, device="cpu",
    ).fit(X)
    blocks = model.transform_blocks(X)["shared"]
    assert len(blocks) == 3
    for embedding in blocks.values():
        assert linear_r2(z_learned=embedding, z_true=Z_c) > 0.9


def test_linear_cca_blocks_hold_the_latents_of_three_modalities(three):
    # measured: shared R^2 on Z_c 0.997 to 0.999, on its own latent -0.010 to
    # -0.001; specific 0.989 to 0.998 on its own latent, -0.006 to -0.003 on Z_c
    X, Z_c, Z_s = three
    cca = LinearCCA(modalities={"a": 5, "b": 5, "c": 5}, n_components=2).fit(X)
    blocks = cca.transform_blocks(X)
    assert_blocks_hold_their_latents(blocks, Z_c, Z_s, shared_on_shared=0.99,
                                     specific_on_shared=0.01, specific_on_own=0.98,
                                     shared_on_own=0.01)
    assert cca.canonical_correlations_.min() > 0.99
    assert cca.score(X) == pytest.approx(cca.canonical_correlations_.mean(), rel=1e-9)
    # the paired variates agree across all three modalities
    for i in range(2):
        variates = np.column_stack([blocks["shared"][m][:, i] for m in "abc"])
        assert np.corrcoef(variates.T).min() > 0.99
    assert cca.get_feature_names_out()[[0, 2, 4, 6]].tolist() == [
        "shared_a_0", "shared_b_0", "shared_c_0", "specific_a_0"]
