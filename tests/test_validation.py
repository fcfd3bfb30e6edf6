"""Held-out rows during training (``validation_fraction``) and early stopping on them."""

import math
import re

import numpy as np
import pytest
import torch
from sklearn.utils._param_validation import InvalidParameterError
from skorch.callbacks import EarlyStopping

from sklearn_dssl import load, save
from sklearn_dssl._training import HoldOut
from sklearn_dssl.datasets import make_paper_synthetic
from tests.conftest import TINY_NEURAL, fitted_nets

N_ROWS = 120


@pytest.fixture(scope="module")
def X():
    return make_paper_synthetic(n_samples=N_ROWS, n_latent=2, n_features=3, random_state=0).data


def _rows_per_epoch(net, prefix):
    return sum(batch[f"{prefix}_batch_size"] for batch in net.history[-1, "batches"]
               if f"{prefix}_batch_size" in batch)


@pytest.mark.parametrize("name", TINY_NEURAL)
def test_every_net_records_the_objective_on_its_held_out_rows(name, X):
    model = TINY_NEURAL[name](validation_fraction=0.25, device="cpu").fit(X)
    n_valid = math.ceil(0.25 * N_ROWS)
    for net in fitted_nets(model):
        assert np.isfinite(net.history[:, "valid_loss"]).all()
        assert len(net.history[:, "valid_loss"]) == len(net.history)
        assert _rows_per_epoch(net, "valid") == n_valid
        # batches of 32 from the 90 training rows, the incomplete last one dropped
        assert _rows_per_epoch(net, "train") == (N_ROWS - n_valid) // 32 * 32
    assert np.isfinite(model.transform(X)).all()


@pytest.mark.parametrize("name", TINY_NEURAL)
def test_each_term_of_the_held_out_objective_is_recorded_and_sums_to_it(name, X):
    model = TINY_NEURAL[name](validation_fraction=0.25, device="cpu").fit(X)
    for net in fitted_nets(model):
        weights = net.criterion_.term_weights()
        assert weights, "every objective here has named terms"
        for epoch in net.history:
            # the epoch's held-out loss is the weighted sum of its terms'
            # epoch means, as each batch's loss is of its terms
            weighted = sum(weight * epoch[f"valid_{term}"] for term, weight in weights.items())
            assert weighted == pytest.approx(epoch["valid_loss"], rel=1e-5, abs=1e-6)
            for batch in epoch["batches"]:
                if "valid_loss" in batch:
                    assert set(f"valid_{term}" for term in weights) <= set(batch)


def test_without_a_fraction_no_held_out_terms(X):
    model = TINY_NEURAL["DisentangledSSL"](device="cpu").fit(X)
    for net in fitted_nets(model):
        assert not [key for key in net.history[-1] if key.startswith("valid_")]


def test_early_stopping_can_watch_one_held_out_term(X):
    stop = EarlyStopping(monitor="valid_contrast", patience=1, threshold=1e9,
                         threshold_mode="abs")
    model = TINY_NEURAL["MultimodalContrastive"](validation_fraction=0.25, callbacks=[stop],
                                                 device="cpu")
    model.set_params(max_epochs=5).fit(X)
    assert len(model.net_.history) == 2


def test_without_a_fraction_every_row_trains_and_no_valid_loss(X):
    model = TINY_NEURAL["DisentangledSSL"](device="cpu").fit(X)
    for net in fitted_nets(model):
        assert "valid_loss" not in net.history[-1]
        assert _rows_per_epoch(net, "train") == N_ROWS // 32 * 32


def test_held_out_rows_are_reproducible_and_follow_the_seed(X):
    def valid_losses(**params):
        model = TINY_NEURAL["DisentangledSSL"](validation_fraction=0.25, device="cpu",
                                               **params).fit(X)
        return [list(net.history[:, "valid_loss"]) for net in fitted_nets(model)], model.transform(X)

    (losses, Z), (losses_again, Z_again) = valid_losses(), valid_losses()
    assert losses == losses_again
    np.testing.assert_array_equal(Z, Z_again)
    assert valid_losses(random_state=1)[0] != losses


def test_hold_out_splits_the_rows_in_two():
    X = torch.arange(10.0)[:, None]
    torch.manual_seed(0)
    train, valid = HoldOut(0.3)(X)
    assert len(valid) == 3 and len(train) == 7
    rows = torch.cat([X[train.index], X[valid.index]])
    assert sorted(rows[:, 0].tolist()) == list(range(10))
    # each side refers to the rows, without copying them
    assert train.data is X and valid.data is X
    # the rows held out are a random draw of the fit's seed, not the first ones
    torch.manual_seed(0)
    order = torch.randperm(10)
    assert valid.index.tolist() == order[:3].tolist() != [0, 1, 2]


@pytest.mark.parametrize("scoring", ["accuracy", "neg_mean_squared_error", None])
@pytest.mark.parametrize("kind", ["EpochScoring", "BatchScoring"])
def test_a_scoring_callback_that_needs_labels_is_refused_with_the_fix(X, kind, scoring):
    # a scorer's name, or none (the net's score), compares predictions with
    # labels: numpy's shape error, or NaN, without this check
    import skorch.callbacks

    callback = getattr(skorch.callbacks, kind)(scoring, name="score")
    with pytest.raises(ValueError, match=re.escape(
            f"callbacks: {kind}(scoring={scoring!r}) compares the net's predictions with "
            "labels, and this training has none; give it a function of (net, X, y)")):
        TINY_NEURAL["MultimodalContrastive"](device="cpu", callbacks=[callback]).fit(X)


def test_a_scoring_function_may_infer_on_the_held_out_rows(X):
    from skorch.callbacks import EpochScoring

    def agreement(net, X_rows, y):
        with torch.no_grad():
            first, second = net.infer(X_rows)[:2]
        return float(torch.nn.functional.cosine_similarity(first, second).mean())

    for on_train in (True, False):
        model = TINY_NEURAL["MultimodalContrastive"](
            validation_fraction=0.25, device="cpu",
            callbacks=[EpochScoring(agreement, name="agreement", on_train=on_train)]).fit(X)
        assert -1 <= model.net_.history[-1, "agreement"] <= 1


def test_a_callback_given_the_held_out_rows_sees_their_tensor(X):
    # skorch's EpochScoring hands a function the held-out rows as X
    from skorch.callbacks import EpochScoring

    seen = []

    def rows_mean(net, X_valid, y):
        seen.append((X_valid.shape, float(X_valid.abs().mean()), np.asarray(X_valid)[0]))
        return float(X_valid.abs().mean())

    scoring = EpochScoring(rows_mean, name="rows_mean", use_caching=False)
    model = TINY_NEURAL["MultimodalContrastive"](validation_fraction=0.25, device="cpu",
                                                 callbacks=[scoring]).fit(X)
    n_valid = int(np.ceil(0.25 * len(X)))
    assert len(seen) == model.max_epochs
    for shape, mean, first in seen:
        assert shape == (n_valid, X.shape[1])
        rows = np.flatnonzero(np.isclose(X, first).all(axis=1))  # which row came first
        assert rows.size == 1
    assert len({mean for _, mean, _ in seen}) == 1  # the same rows every epoch
    assert model.net_.history[-1, "rows_mean"] == seen[-1][1]


def test_early_stopping_on_the_held_out_loss_stops_each_net(X):
    # a threshold no epoch can improve by: the net stops after patience epochs
    stop = EarlyStopping(monitor="valid_loss", patience=1, threshold=1e9,
                         threshold_mode="abs", load_best=True)
    model = TINY_NEURAL["DisentangledSSL"](validation_fraction=0.25, callbacks=[stop],
                                           device="cpu")
    model.set_params(max_epochs_shared=5, max_epochs_specific=5).fit(X)
    assert [len(net.history) for net in fitted_nets(model)] == [2, 2]
    assert np.isfinite(model.transform(X)).all()


@pytest.mark.parametrize("fraction", [0.005, 0.99])
def test_a_fraction_leaving_too_few_rows_is_refused_before_training(fraction, X):
    model = TINY_NEURAL["MultimodalContrastive"](validation_fraction=fraction)
    with pytest.raises(ValueError, match=r"validation_fraction=.* at least 2 rows on each side"):
        model.fit(X)
    assert not hasattr(model, "net_")


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.1, "0.2"])
def test_a_fraction_outside_zero_one_is_refused(fraction, X):
    with pytest.raises(InvalidParameterError, match="validation_fraction"):
        TINY_NEURAL["DisentangledSSL"](validation_fraction=fraction).fit(X)


def test_a_model_fitted_with_held_out_rows_saves_and_loads(X, tmp_path):
    model = TINY_NEURAL["JointOptSSL"](validation_fraction=0.25, device="cpu").fit(X)
    loaded = load(save(model, tmp_path / "model.zip"))
    assert loaded.get_params()["validation_fraction"] == 0.25
    np.testing.assert_array_equal(loaded.transform(X), model.transform(X))
    assert list(loaded.net_.history[:, "valid_loss"]) == list(model.net_.history[:, "valid_loss"])


def test_watching_a_held_out_score_without_held_out_rows_names_the_fix(X):
    model = TINY_NEURAL["DisentangledSSL"](callbacks=[EarlyStopping(monitor="valid_loss")])
    with pytest.raises(ValueError, match="held-out score .*'valid_loss'.* set validation_fraction"):
        model.fit(X)
    assert not hasattr(model, "shared_net_")


@pytest.mark.parametrize("name", list(TINY_NEURAL))
def test_learning_rate_follows_a_cosine_annealing_to_zero(name):
    """Each epoch starts at lr * (1 + cos(pi * epoch / max_epochs)) / 2."""
    X = np.random.default_rng(0).normal(size=(64, 6))
    epochs = 4
    model = TINY_NEURAL[name](lr=0.01).set_params(**(
        {"max_epochs_shared": epochs, "max_epochs_specific": epochs}
        if name == "DisentangledSSL" else {"max_epochs": epochs})).fit(X)
    expected = 0.01 * (1 + np.cos(np.pi * np.arange(epochs) / epochs)) / 2
    for net in fitted_nets(model):
        np.testing.assert_allclose(net.history[:, "event_lr"], expected, rtol=1e-12)
        assert net.optimizer_.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_a_callback_watching_a_score_the_history_lacks_names_the_ones_it_has(X):
    model = TINY_NEURAL["MultimodalContrastive"](callbacks=[EarlyStopping(monitor="train_los")])
    with pytest.raises(ValueError, match=r"'train_los'.*recorded every epoch are \[.*'train_loss'"):
        model.fit(X)
    # skorch's LRScheduler words it otherwise (a scoring callback to place before it)
    from skorch.callbacks import LRScheduler

    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau
    model.set_params(callbacks=[LRScheduler(policy=plateau, monitor="train_los")])
    with pytest.raises(ValueError, match=r"'train_los'.*recorded every epoch are \[.*'train_loss'"):
        model.fit(X)
    model.set_params(callbacks=[LRScheduler(policy=plateau, monitor="valid_loss")])
    with pytest.raises(ValueError, match=r"\('valid_loss'\), but no rows are held out; set "
                                         r"validation_fraction"):
        model.fit(X)
    model.set_params(validation_fraction=0.25).fit(X)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine with CUDA can train there")
def test_a_torch_device_is_named_as_torch_names_it(X):
    model = TINY_NEURAL["DisentangledSSL"](device=torch.device("cuda"))
    with pytest.raises(ValueError, match="device='cuda' asks for CUDA, but torch sees no CUDA"):
        model.fit(X)


def test_a_cuda_index_past_the_devices_is_refused_with_the_count(monkeypatch):
    from sklearn_dssl._training import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert [resolve_device(d) for d in ("cuda", "cuda:1", torch.device("cuda", 0))] == [
        "cuda", "cuda:1", torch.device("cuda", 0)]
    with pytest.raises(ValueError, match=r"device='cuda:2': torch sees 2 CUDA device\(s\), "
                       r"numbered from 0; use 'cuda' or 'cuda:k' with k below 2"):
        resolve_device("cuda:2")
