"""Training steps compiled by torch.compile (``compile=True``).

On a CPU the compiled step draws torch's own random numbers in the same
order as the uncompiled one, so every estimator must give the same model up
to float rounding; on a GPU TorchInductor draws its own (seeded from
torch's), so a compiled fit is not the uncompiled one, and the GPU test
checks that it is reproducible. The fitted estimator holds no
compiled graphs (it pickles and saves as usual).
"""

import pickle

import numpy as np
import pytest
import torch
import torch._inductor.config

from sklearn_dssl import load, save
from sklearn_dssl.datasets import make_paper_synthetic
from tests.conftest import TINY_NEURAL, fitted_nets, needs_cxx

pytestmark = needs_cxx

ESTIMATORS = TINY_NEURAL


@pytest.fixture(scope="module")
def X():
    return make_paper_synthetic(n_samples=128, n_latent=2, n_features=3, random_state=0).data


@pytest.fixture(scope="module")
def compiled_dssl(X):
    """A compiled DisentangledSSL fit (compiling from a cold cache costs seconds)."""
    return ESTIMATORS["DisentangledSSL"](compile=True, device="cpu").fit(X)


def _relative_difference(a, b):
    """Largest entrywise difference, relative to the largest entry of ``b``."""
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize("name", ESTIMATORS)
def test_compiled_fit_matches_uncompiled_fit(name, X, request):
    plain = ESTIMATORS[name](device="cpu").fit(X)
    compiled = (request.getfixturevalue("compiled_dssl") if name == "DisentangledSSL"
                else ESTIMATORS[name](compile=True, device="cpu").fit(X))
    assert _relative_difference(compiled.transform(X), plain.transform(X)) < 1e-4
    for net_plain, net_compiled in zip(fitted_nets(plain), fitted_nets(compiled)):
        # every term of the objective is recorded, per batch and per epoch
        assert net_compiled.history[-1].keys() == net_plain.history[-1].keys()
        np.testing.assert_allclose(net_compiled.history[:, "train_loss"],
                                   net_plain.history[:, "train_loss"], rtol=1e-4)


def test_another_seed_moves_the_model_far_more_than_compiling(X):
    # the comparison above can fail: it tells a model from one of another seed
    a = ESTIMATORS["DisentangledSSL"](device="cpu").fit(X).transform(X)
    b = ESTIMATORS["DisentangledSSL"](random_state=1, device="cpu").fit(X).transform(X)
    assert _relative_difference(a, b) > 0.1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_compiled_fit_on_a_gpu_is_reproducible(X):
    # TorchInductor's own generator is seeded from torch's, which random_state seeds
    first, again = (ESTIMATORS["DisentangledSSL"](compile=True, device="cuda").fit(X)
                    for _ in range(2))
    np.testing.assert_array_equal(first.transform(X), again.transform(X))
    other = ESTIMATORS["DisentangledSSL"](compile=True, device="cuda", random_state=1).fit(X)
    assert _relative_difference(other.transform(X), first.transform(X)) > 0.1


def test_fitted_compiled_model_holds_no_graphs_and_persists(X, compiled_dssl, tmp_path):
    model = compiled_dssl
    for net in fitted_nets(model):
        assert "_compiled_objective" not in net.__dict__
    expected = model.transform(X)
    np.testing.assert_allclose(pickle.loads(pickle.dumps(model)).transform(X), expected)
    loaded = load(save(model, tmp_path / "model.zip"))
    assert loaded.compile is True
    np.testing.assert_allclose(loaded.transform(X), expected, rtol=1e-6)


def test_a_net_keeps_its_graphs_between_epochs(X):
    model = ESTIMATORS["MultimodalContrastive"](compile=True).fit(X)
    net, X_model = model.net_, torch.as_tensor(model._in_model_order(X), dtype=torch.float32)
    net.partial_fit(X_model)
    graphs = net.__dict__["_compiled_objective"]
    net.partial_fit(X_model)
    assert net.__dict__["_compiled_objective"] is graphs
    assert "_compiled_objective" not in pickle.loads(pickle.dumps(net)).__dict__


def test_a_missing_compiler_is_named_with_the_fix(X):
    model = ESTIMATORS["MultimodalContrastive"](compile=True)
    with torch._inductor.config.patch({"cpp.cxx": ("no-such-compiler",)}):
        with pytest.raises(RuntimeError, match="could not compile.*compile=False"):
            model.fit(X)
    assert not hasattr(model, "net_")


def test_a_ramped_weight_reaches_the_compiled_step_without_compiling_again(X):
    """The ramp fills a tensor in place: the compiled step reads each batch's
    weight (the loss follows it) from the one graph compiled for the fit."""
    from torch._dynamo.utils import counters

    counters.clear()
    model = ESTIMATORS["DisentangledSSL"](compile=True, output="shared", beta=1.0,
                                          beta_start=1e-3).fit(X)
    assert counters["stats"]["unique_graphs"] == 1
    assert not counters["recompiles"]
    history = model.shared_net_.history

    def per_batch(key):
        return np.concatenate([np.asarray(r, dtype=float) for r in history[:, "batches", :, key]])

    beta = per_batch("beta")
    assert beta[0] == 1e-3 and 0.1 < beta[-1] < 1.0
    np.testing.assert_allclose(
        per_batch("train_loss"), per_batch("train_contrast") + beta * per_batch("train_bottleneck"),
        rtol=1e-5, atol=1e-6)
