"""Persistence, memory, concurrency and the warnings of training."""

import pickle
import re
import signal
import warnings
from types import SimpleNamespace

import joblib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.exceptions import ConvergenceWarning
from skorch.callbacks import Callback, Checkpoint, EarlyStopping
from skorch.history import History

from sklearn_dssl import DisentangledSSL, LinearCCA, MultimodalContrastive
from sklearn_dssl._training import (
    Rows,
    TensorBatches,
    as_tensor,
    seeded_torch,
    train,
    warn_if_held_out_contrast_rose,
    warn_if_no_better_than_chance,
)
from sklearn_dssl.datasets import make_paper_synthetic
from sklearn_dssl.exceptions import OverfittingWarning
from tests.conftest import TINY_NEURAL, peak_traced_bytes, small_model


@pytest.fixture(scope="module")
def data():
    return make_paper_synthetic(n_samples=200, n_latent=2, n_features=4, random_state=0)


@pytest.mark.parametrize("make", [small_model, lambda: LinearCCA(n_components=2)])
def test_pickle_and_joblib_round_trips(make, data, tmp_path):
    model = make().fit(data.data)
    expected = model.transform(data.data)
    joblib.dump(model, tmp_path / "model.joblib")
    for loaded in (pickle.loads(pickle.dumps(model)), joblib.load(tmp_path / "model.joblib")):
        np.testing.assert_array_equal(loaded.transform(data.data), expected)
        np.testing.assert_array_equal(
            loaded.transform_blocks(data.data)["shared"]["m1"],
            model.transform_blocks(data.data)["shared"]["m1"],
        )


def test_a_fitted_net_holds_no_training_only_copies_and_can_go_on(data):
    model = small_model(hidden_layer_sizes=(64,)).fit(data.data)
    net = model.shared_net_
    callbacks = dict(net.callbacks_)
    # the last epoch's weights and the torch scheduler (which holds the
    # optimiser) serve only while training; pickles would carry them
    assert callbacks["keep_last_epoch_weights"].state_ is None
    assert callbacks["lr_schedule"].lr_scheduler_ is None
    # the optimiser is kept: training goes on where it stopped (Adam's steps
    # counted on), its learning rate annealed again from the net's
    steps = [float(state["step"]) for state in net.optimizer_.state.values()]
    net.partial_fit(torch.as_tensor(data.data, dtype=torch.float32))
    assert len(net.history) == 2 * model.max_epochs_shared
    batches = sum(len(row["batches"]) for row in net.history[model.max_epochs_shared:])
    assert [float(state["step"]) for state in net.optimizer_.state.values()] == [
        step + batches for step in steps]
    assert net.history[model.max_epochs_shared, "event_lr"] == model.lr


def test_transform_of_a_million_rows_needs_memory_for_the_output_only(data):
    model = small_model(n_shared=2, n_specific=2).fit(data.data)
    X = np.random.default_rng(0).normal(size=(1_000_000, 8)).astype(np.float32)
    peak, Z = peak_traced_bytes(lambda: model.transform(X))
    assert Z.shape == (1_000_000, 8)
    # output: 32 MB; one batch of 4096 rows is far below 1 MB
    assert peak < Z.nbytes + 2_000_000


def test_float32_input_reaches_training_without_a_copy(monkeypatch):
    import sklearn_dssl._neural as module

    X = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
    seen = []

    def spy(module_, criterion, X_model, **kwargs):
        seen.append(X_model)
        return train(module_, criterion, X_model, **kwargs)

    monkeypatch.setattr(module, "train", spy)
    small_model(device="cpu").fit(X)  # on a GPU the rows are copied there, once
    assert len(seen) == 2 and all(t.dtype == torch.float32 for t in seen)
    assert all(np.shares_memory(t.numpy(), X) for t in seen)


def test_held_out_rows_are_gathered_from_the_training_rows_not_copied(monkeypatch):
    # validation_fraction splits the rows by index: every batch, trained on
    # or held out, is gathered from the rows as given
    X = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
    sources = []
    iterate = TensorBatches.__iter__

    def spy(self):
        sources.append(self.data.data if isinstance(self.data, Rows) else self.data)
        return iterate(self)

    monkeypatch.setattr(TensorBatches, "__iter__", spy)
    small_model(device="cpu", validation_fraction=0.2).fit(X)
    assert len(sources) == 4 * 2  # 2 epochs of both nets, each its two sides
    assert all(np.shares_memory(source.numpy(), X) for source in sources)


def test_interleaved_float64_columns_reach_training_in_one_float32_copy(monkeypatch):
    # modalities of interleaved columns are reordered straight into float32, a
    # block of rows at a time, not through a whole float64 copy (16 MB here)
    from sklearn_dssl._base import MultimodalTransformer

    X = np.random.default_rng(0).normal(size=(200_000, 10))
    interleaved = {"a": np.arange(0, 10, 2), "b": np.arange(1, 10, 2)}
    model = small_model(modalities=interleaved).fit(X[:300])
    peak, reordered = peak_traced_bytes(lambda: model._in_model_order(X, np.float32))
    expected = X[:, [0, 2, 4, 6, 8, 1, 3, 5, 7, 9]].astype(np.float32)
    np.testing.assert_array_equal(reordered, expected)
    assert peak < reordered.nbytes + X.nbytes / 8
    # and fit and fit_specific ask for float32
    asked = []
    in_model_order = MultimodalTransformer._in_model_order

    def spy(self, X, dtype=None):
        asked.append(dtype)
        return in_model_order(self, X, dtype)

    monkeypatch.setattr(MultimodalTransformer, "_in_model_order", spy)
    model.fit(X[:300])
    model.fit_specific(X[:300])
    assert asked == [np.float32, np.float32]


def test_column_major_float64_input_reaches_training_in_one_float32_copy():
    # pandas hands over a table's columns as a column-major array (a table read
    # by read_csv, say): converted straight into the row-major float32 that
    # training slices, not into float32 of X's layout and then copied again
    X = np.asfortranarray(np.random.default_rng(0).normal(size=(200_000, 10)))
    model = small_model().fit(X[:300])
    peak, X_model = peak_traced_bytes(
        lambda: as_tensor(model._in_model_order(X, np.float32), "cpu"))
    assert X_model.is_contiguous()
    np.testing.assert_array_equal(X_model.numpy(), X.astype(np.float32))
    assert peak < X_model.numpy().nbytes + X.nbytes / 8


def _interrupt_at_call(k):
    """An augmentation that acts like a Ctrl-C at its k-th call."""
    calls = []

    def augment(x):
        calls.append(1)
        if len(calls) == k:
            raise KeyboardInterrupt
        return x
    return augment


def test_interrupt_in_step_one_keeps_last_complete_epoch(data):
    # batch 16 on 200 rows: 12 batches an epoch; interrupt in epoch 3
    with pytest.warns(UserWarning, match="interrupted in step 1 after 2 complete"):
        model = small_model(max_epochs_shared=5, augmentation=_interrupt_at_call(30)).fit(data.data)
    assert model.shared_net_.interrupted_ and not hasattr(model, "specific_net_")
    # the same first two epochs give the same weights as an uninterrupted run's
    two_epochs = small_model(max_epochs_shared=5, augmentation="none")
    two_epochs.set_params(callbacks=[_StopAfter(2)]).fit(data.data)
    np.testing.assert_array_equal(
        model.set_params(output="shared").transform(data.data),
        two_epochs.set_params(output="shared").transform(data.data),
    )
    assert not two_epochs.shared_net_.interrupted_  # a callback's stop is no interruption
    # and the interrupted model can still get step 2
    assert model.set_params(output="all").fit_specific(data.data).transform(data.data).shape == (200, 10)


def test_interrupt_in_step_two_keeps_both_blocks(data):
    # step 1: 2 epochs x 12 calls; step 2 calls twice a batch
    with pytest.warns(UserWarning, match="interrupted in step 2 after 1 complete"):
        model = small_model(max_epochs_specific=3, augmentation=_interrupt_at_call(24 + 30)).fit(data.data)
    assert model.specific_net_.interrupted_
    assert np.isfinite(model.transform(data.data)).all()


class _InterruptAtBatch(Callback):
    """A Ctrl-C in the middle of training, at the k-th batch."""

    def __init__(self, k):
        self.k = k

    def on_batch_end(self, net, **kwargs):
        self.k -= 1
        if self.k == 0:
            raise KeyboardInterrupt


@pytest.mark.parametrize("name, settings, outcome", [
    ("MultimodalContrastive", dict(n_components=3, ica=False), "."),
    ("MultimodalContrastive", dict(n_components=3, ica=True), " and fits the ICA on them."),
    ("JointOptSSL", dict(n_shared=3, n_specific=3), "."),
])
def test_interrupt_of_a_one_step_estimator_warns(data, name, settings, outcome):
    import sklearn_dssl

    model = getattr(sklearn_dssl, name)(
        modalities=data.modalities, hidden_layer_sizes=(8,), max_epochs=3, batch_size=16,
        callbacks=[_InterruptAtBatch(20)], random_state=0, **settings)
    # 13 batches an epoch (200 rows, batch 16): interrupted in epoch 2
    with pytest.warns(UserWarning, match=(r"interrupted after 1 complete epoch\(s\); the model "
                                          r"keeps those weights" + re.escape(outcome))):
        model.fit(data.data)
    assert model.net_.interrupted_ and np.isfinite(model.transform(data.data)).all()


class _StopAfter(Callback):
    """Stop training after n epochs the way skorch's EarlyStopping does."""

    def __init__(self, n):
        self.n = n

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) >= self.n:
            raise KeyboardInterrupt


class _CtrlCAtEpochEnd(Callback):
    """A Ctrl-C pressed while the callbacks at the end of epoch n run."""

    def __init__(self, n):
        self.n = n

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.n:
            signal.raise_signal(signal.SIGINT)


def test_ctrl_c_at_the_end_of_an_epoch_is_an_interruption(data):
    # skorch's own stop (_StopAfter) raises KeyboardInterrupt in the same
    # place, and DisentangledSSL goes on to step 2 after it; after a Ctrl-C
    # it stops
    with pytest.warns(UserWarning, match="interrupted in step 1 after 2 complete"):
        model = small_model(max_epochs_shared=5, callbacks=[_CtrlCAtEpochEnd(2)]).fit(data.data)
    assert model.shared_net_.interrupted_ and not model.shared_net_.stopped_by_callback_
    assert not hasattr(model, "specific_net_")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    # a callback's stop, with Python's handler in place
    model = small_model(max_epochs_shared=5, callbacks=[_StopAfter(2)]).fit(data.data)
    assert model.shared_net_.stopped_by_callback_ and not model.shared_net_.interrupted_
    assert hasattr(model, "specific_net_")


def test_a_ctrl_c_that_the_user_s_handler_lets_pass_interrupts_nothing(data):
    # a handler that notes the key and goes on (e.g. "press again to quit"):
    # a callback's stop later in the fit is still a callback's stop
    pressed = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    try:
        model = small_model(max_epochs_shared=5,
                            callbacks=[_CtrlCAtEpochEnd(1), _StopAfter(2)]).fit(data.data)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert len(pressed) == 2  # in the first epoch of each step
    assert model.shared_net_.stopped_by_callback_ and not model.shared_net_.interrupted_
    assert len(model.shared_net_.history) == 2 and hasattr(model, "specific_net_")


@pytest.mark.parametrize("backend", ["threading", "loky"])
def test_parallel_fits_match_sequential_fits(data, backend):
    seeds = [0, 1, 2, 3]

    def fit(seed):
        return small_model(random_state=seed).fit(data.data).transform(data.data)

    sequential = [fit(seed) for seed in seeds]
    with joblib.parallel_backend(backend, n_jobs=2):
        parallel = joblib.Parallel()(joblib.delayed(fit)(seed) for seed in seeds)
    for a, b in zip(sequential, parallel):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(sequential[0], sequential[1])


def test_thread_parallel_fits_do_not_leak_seeds_into_torch(data):
    torch.manual_seed(7)
    expected = torch.rand(2)
    torch.manual_seed(7)
    joblib.Parallel(n_jobs=2, backend="threading")(
        joblib.delayed(lambda: small_model().fit(data.data))() for _ in range(2)
    )
    torch.testing.assert_close(torch.rand(2), expected)


def test_a_cpu_fit_seeds_no_accelerator_generator(data, monkeypatch):
    # torch.manual_seed would seed every GPU (and mps, xpu) without restoring them
    seeded = []
    for backend in ("cuda", "mps", "xpu"):
        module = getattr(torch, backend)
        for name in ("manual_seed", "manual_seed_all"):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, lambda seed, b=backend: seeded.append(b))
    small_model().fit(data.data)
    assert seeded == []


@pytest.mark.parametrize("device, forked, seeds", [
    ("cuda:1", ([torch.device("cuda:1")], "cuda"), [("device", torch.device("cuda:1")),
                                                  ("cuda", 5)]),
    ("xpu:1", ([torch.device("xpu:1")], "xpu"), [("device", torch.device("xpu:1")),
                                                ("xpu", 5)]),
    ("mps", ([torch.device("mps")], "mps"), [("mps", 5)]),
    ("cpu", ([], "cuda"), []),
])
def test_a_device_fit_seeds_and_restores_that_device_alone(monkeypatch, device, forked, seeds):
    # no GPU here: torch's device calls are recorded instead of made
    import contextlib

    calls = []

    @contextlib.contextmanager
    def fork_rng(devices, device_type):
        calls.append(("fork", (devices, device_type)))
        yield

    @contextlib.contextmanager
    def cuda_device(which):  # torch.cuda.device, torch.xpu.device
        calls.append(("device", which))
        yield

    monkeypatch.setattr(torch.random, "fork_rng", fork_rng)
    monkeypatch.setattr(torch.cuda, "device", cuda_device)
    monkeypatch.setattr(torch.xpu, "device", cuda_device)  # seeds xpu:1, not the current xpu
    for backend in ("cuda", "xpu", "mps"):
        monkeypatch.setattr(getattr(torch, backend), "manual_seed",
                            lambda seed, b=backend: calls.append((b, seed)))
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: calls.append(("all", seed)))
    cpu_state = torch.get_rng_state()
    try:
        with seeded_torch(5, device):
            pass
    finally:
        torch.set_rng_state(cpu_state)  # the recorded fork_rng restored nothing
    assert calls == [("fork", forked), *seeds]


def _chance_warnings(fit):
    """The contrast-at-chance ConvergenceWarnings that ``fit()`` raises."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # the suite's configuration ignores them
        fit()
    return [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)
            and "cross-modal contrastive loss" in str(w.message)]


@pytest.fixture(scope="module")
def learnable():
    # 600 rows, batch 64: step 1 of the vMF head below ends at 0.6 of chance
    return make_paper_synthetic(n_samples=600, n_latent=4, n_features=8, random_state=0)


def _learning_settings(**params):
    return {**dict(n_shared=4, n_specific=4, hidden_layer_sizes=(32,), max_epochs_shared=10,
                   max_epochs_specific=2, batch_size=64, lr=1e-3, random_state=0), **params}


def test_a_fit_that_learns_the_shared_block_does_not_warn(learnable):
    model = DisentangledSSL(learnable.modalities, **_learning_settings())
    assert _chance_warnings(lambda: model.fit(learnable.data)) == []
    # and it learned (0.60 of chance at this seed, 0.55 to 0.72 at seeds 1-3;
    # the warning fires at 1)
    assert model.shared_net_.history[-1, "train_contrast"] < 0.85 * np.log(64)


def test_a_head_too_noisy_to_learn_through_warns_once_for_step_one(learnable):
    # the unit-variance Gaussian head at the same settings: step 1 stays at
    # chance; step 2, trained after it, is not checked
    model = DisentangledSSL(learnable.modalities,
                            **_learning_settings(head="gaussian", kappa=1.0))
    messages = _chance_warnings(lambda: model.fit(learnable.data))
    assert len(messages) == 1
    assert messages[0].startswith("the step-1 (shared) training ended")
    assert "at or above its chance level (log(64) = 4.159 for batches of 64 rows" in messages[0]
    assert "a larger kappa" in messages[0]
    assert model.shared_net_.history[-1, "train_contrast"] >= np.log(64)


def test_a_learning_rate_that_throws_the_weights_about_warns(learnable):
    model = DisentangledSSL(learnable.modalities, **_learning_settings(lr=1e6))
    messages = _chance_warnings(lambda: model.fit(learnable.data))
    assert len(messages) == 1 and "too high throws them about" in messages[0]


@pytest.mark.parametrize("name, level", [
    ("MultimodalContrastive", "log(32) = 3.466"),
    ("JointOptSSL", "log(32) = 3.466"),
    ("FOCAL", "2 x log(32) = 6.931"),  # its term sums the two views' InfoNCE
    ("DMVAE", None),  # no contrastive term
])
def test_every_contrastive_estimator_warns_when_it_learns_nothing(learnable, name, level):
    model = TINY_NEURAL[name](modalities=learnable.modalities, lr=1e-9)
    messages = _chance_warnings(lambda: model.fit(learnable.data))
    if level is None:
        assert messages == []
        return
    step = "contrastive" if name == "MultimodalContrastive" else name
    assert len(messages) == 1 and messages[0].startswith(f"the {step} training")
    assert f"its chance level ({level} for batches of 32 rows" in messages[0]


def _one_epoch_net(term, value, rows=64):
    """A stand-in for a fitted net: one epoch whose ``term`` ended at ``value``."""
    history = History()
    history.new_epoch()
    history.new_batch()
    history.record_batch("train_batch_size", rows)
    history.record("train_loss", 1.0)
    history.record(f"train_{term}", value)
    return SimpleNamespace(history=history, interrupted_=False)


@pytest.mark.parametrize("count", [1, 2])
@pytest.mark.parametrize("ratio, warns", [(0.999, False), (1.0, True), (1.5, True)])
def test_the_chance_level_is_count_times_log_of_the_batch_rows(count, ratio, warns):
    # 0.999 of chance is below it by more than the float32 margin: no warning
    net = _one_epoch_net("shared", ratio * count * np.log(64))
    criterion = SimpleNamespace(cross_modal_infonce=("shared", count))
    messages = _chance_warnings(lambda: warn_if_no_better_than_chance(net, criterion, "test"))
    assert len(messages) == int(warns)
    # an interrupted fit is left to its own warning
    net.interrupted_ = True
    assert _chance_warnings(lambda: warn_if_no_better_than_chance(net, criterion, "test")) == []


def _epoch_of_batches(term, values, rows=64):
    """A stand-in for a fitted net: one epoch of batches whose ``term`` took
    ``values``, and ended at their mean."""
    history = History()
    history.new_epoch()
    for value in values:
        history.new_batch()
        history.record_batch("train_batch_size", rows)
        history.record_batch(f"train_{term}", value)
    history.record("train_loss", 1.0)
    history.record(f"train_{term}", float(np.mean(values)))
    return SimpleNamespace(history=history, interrupted_=False)


def test_a_loss_within_the_batches_noise_of_chance_warns():
    chance = np.log(64)
    criterion = SimpleNamespace(cross_modal_infonce=("contrast", 1))
    # batches scattered by 0.05 around a mean 0.002 below chance: no telling
    scattered = chance - 0.002 + 0.05 * np.array([1, -1, 1, -1, 0.5, -0.5])
    messages = _chance_warnings(lambda: warn_if_no_better_than_chance(
        _epoch_of_batches("contrast", scattered), criterion, "x"))
    assert len(messages) == 1
    assert "within two standard errors of its batches (0.039) of its chance level" in messages[0]
    # the same mean from batches that agree on it: below chance, told apart
    agreeing = chance - 0.002 + 1e-4 * np.array([1, -1, 1, -1, 0.5, -0.5])
    assert _chance_warnings(lambda: warn_if_no_better_than_chance(
        _epoch_of_batches("contrast", agreeing), criterion, "x")) == []


def test_embeddings_that_carry_nothing_warn_despite_float32_rounding():
    # equal similarities: the float32 cross-entropy is log(64) up to rounding
    # (a hair below it, measured with torch 2.13 on a CPU)
    uniform = F.cross_entropy(torch.zeros(64, 64), torch.arange(64)).item()
    assert abs(uniform - np.log(64)) < 1e-5
    for value in (uniform, np.log(64) * (1 - 5e-6)):
        net = _one_epoch_net("contrast", value)
        criterion = SimpleNamespace(cross_modal_infonce=("contrast", 1))
        assert len(_chance_warnings(
            lambda: warn_if_no_better_than_chance(net, criterion, "x"))) == 1


def test_encoders_that_only_tell_the_training_rows_apart_warn_on_held_out_rows():
    # two unrelated modalities of noise: step 1 gets under chance on its one
    # training batch, which it learns by heart, but not on rows it never saw
    X = np.random.default_rng(0).standard_normal((300, 20)).astype(np.float32)
    model = DisentangledSSL([10, 10], output="shared", max_epochs_shared=30, random_state=0)
    assert _chance_warnings(lambda: model.fit(X)) == []
    history = model.shared_net_.history
    assert history[-1, "train_contrast"] < 0.9 * np.log(256)
    messages = _chance_warnings(lambda: model.set_params(validation_fraction=0.2).fit(X))
    assert len(messages) == 1
    assert "contrastive loss on the held-out rows at" in messages[0]
    assert "(log(60) = 4.094 for batches of 60 rows" in messages[0]
    assert "beyond the rows it was trained on" in messages[0]
    history = model.shared_net_.history
    assert history[-1, "train_contrast"] < 0.9 * np.log(240)
    assert history[-1, "valid_contrast"] > np.log(60)


def test_the_held_out_chance_level_weighs_batches_of_several_sizes():
    # held-out batches of 64 and 8 rows: the epoch's loss is their row-weighted mean
    net = _one_epoch_net("contrast", 1.0)
    for rows in (64, 8):
        net.history.new_batch()
        net.history.record_batch("valid_batch_size", rows)
    chance = (64 * np.log(64) + 8 * np.log(8)) / 72
    criterion = SimpleNamespace(cross_modal_infonce=("contrast", 2))
    for ratio, warns in [(0.999, False), (1.0, True)]:
        net.history.record("valid_contrast", ratio * 2 * chance)
        messages = _chance_warnings(lambda: warn_if_no_better_than_chance(net, criterion, "x"))
        assert len(messages) == int(warns)
    assert (f"(2 x the row-weighted mean log(rows) = {2 * chance:.4g} for batches of 64 and "
            "8 rows") in messages[0]
    assert "loss on the held-out rows at" in messages[0]


def test_the_chance_level_counts_the_rows_of_a_batch_smaller_than_batch_size(learnable):
    # 600 rows at batch_size 1000 train in one batch of 600
    model = TINY_NEURAL["FOCAL"](modalities=learnable.modalities, lr=1e-9, batch_size=1000)
    messages = _chance_warnings(lambda: model.fit(learnable.data))
    assert len(messages) == 1 and "(2 x log(600) = 12.79 for batches of 600 rows" in messages[0]


def test_a_row_left_over_joins_the_last_batch_unless_training_drops_it():
    def sizes(n, **kwargs):
        return [len(batch) for batch, _ in TensorBatches(torch.zeros(n, 2), 16, **kwargs)]

    assert sizes(65) == [16, 16, 16, 17]  # one row alone has no negative to contrast with
    assert sizes(66) == [16, 16, 16, 16, 2]
    assert sizes(64) == [16] * 4
    assert sizes(1) == [1]
    assert sizes(65, drop_last=True) == [16] * 4
    assert sizes(15, drop_last=True) == [15]
    assert len(TensorBatches(torch.zeros(65, 2), 16)) == 4


def test_a_shuffled_epoch_gathers_each_batch_from_one_permutation():
    # each batch gathers its rows (no shuffled copy of all the data): together
    # the rows of the order torch's generator draws, each row once
    X = torch.arange(100.0).reshape(50, 2)
    torch.manual_seed(0)
    batches = [b for b, _ in TensorBatches(X, 16, shuffle=True, drop_last=True)]
    torch.manual_seed(0)
    order = torch.randperm(50)
    assert [len(b) for b in batches] == [16, 16, 16]
    torch.testing.assert_close(torch.cat(batches), X[order[:48]])
    assert all(b.is_contiguous() for b in batches)


def test_batches_of_some_rows_are_those_rows_in_their_order_or_shuffled():
    X = torch.arange(100.0).reshape(50, 2)
    index = torch.tensor([7, 3, 40, 12, 0, 33, 21, 9, 48, 5, 30, 17, 2, 44, 26, 11, 38])
    batches = [b for b, _ in TensorBatches(Rows(X, index), 8)]
    assert [len(b) for b in batches] == [8, 9]  # the 17th row joins the last batch
    torch.testing.assert_close(torch.cat(batches), X[index])
    torch.manual_seed(0)
    batches = [b for b, _ in TensorBatches(Rows(X, index), 8, shuffle=True, drop_last=True)]
    torch.manual_seed(0)
    order = torch.randperm(17)
    torch.testing.assert_close(torch.cat(batches), X[index[order[:16]]])
    assert len(TensorBatches(Rows(X, index), 8, drop_last=True)) == 2


def test_rows_stand_for_the_tensor_of_their_rows():
    # what a callback given the held-out rows sees: those rows, in their order
    X = torch.arange(40.0).reshape(20, 2) - 15
    index = torch.tensor([7, 3, 12, 0])
    rows, expected = Rows(X, index), X[index]
    torch.testing.assert_close(rows.tensor(), expected)
    assert rows.shape == (4, 2) and len(rows) == 4
    torch.testing.assert_close(rows.abs(), expected.abs())
    torch.testing.assert_close(rows[1], X[3])
    np.testing.assert_array_equal(np.asarray(rows), expected.numpy())


def test_held_out_rows_are_scored_in_batches_of_two_rows_or_more(learnable):
    # 600 rows, a tenth held out: 60 rows, at batch_size 59 one batch of 60
    model = TINY_NEURAL["MultimodalContrastive"](
        modalities=learnable.modalities, validation_fraction=0.1, batch_size=59
    ).fit(learnable.data)
    for epoch in model.net_.history:
        held_out = [b["valid_batch_size"] for b in epoch["batches"] if "valid_batch_size" in b]
        assert held_out == [60]


def test_a_cached_pipeline_refits_a_modalities_dict_given_in_another_order(tmp_path):
    # joblib.hash, the key of Pipeline(memory=...)'s cache, sorts a dict's
    # items; the order of a modalities dict is that of the blocks
    import pickle

    import joblib
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.random.default_rng(0).normal(size=(60, 4))
    first = {"rna": [0, 1], "prot": [2, 3]}
    second = {"prot": [2, 3], "rna": [0, 1]}
    assert joblib.hash(LinearCCA(first)) != joblib.hash(LinearCCA(second))
    memory = joblib.Memory(tmp_path, verbose=0)
    for modalities in (first, second):
        pipeline = Pipeline([("cca", LinearCCA(modalities, n_components=1)),
                             ("scale", StandardScaler())], memory=memory).fit(X)
        assert list(pipeline[0].modalities_) == list(modalities)
        assert pipeline.get_feature_names_out()[0] == f"shared_{next(iter(modalities))}_0"
    # pickling keeps nothing more than the estimator's own attributes
    again = pickle.loads(pickle.dumps(pipeline[0]))
    assert sorted(vars(again)) == sorted(vars(pipeline[0]))


def _rise_warnings(fit):
    """The held-out-rise warnings that ``fit()`` raises."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit()
    return [str(w.message) for w in caught if "up from" in str(w.message)]


def _held_out_net(values, rows=64, callbacks=()):
    """A stand-in for a fitted net whose held-out contrast took ``values``."""
    history = History()
    for value in values:
        history.new_epoch()
        history.new_batch()
        history.record_batch("valid_batch_size", rows)
        history.record("valid_contrast", value)
    return SimpleNamespace(history=history, interrupted_=False, stopped_by_callback_=False,
                           callbacks_=[(type(cb).__name__, cb) for cb in callbacks])


@pytest.mark.parametrize("values, warns", [
    ([3.0, 2.0, 2.0 + 0.099 * np.log(64)], False),  # within a tenth of chance of the lowest
    ([3.0, 2.0, 2.0 + 0.101 * np.log(64)], True),
    ([3.0, 2.0, 2.5, 1.9], False),  # it rose, then fell to a new low
    ([np.log(64), 4.5, 5.0], False),  # never under chance: the chance warning's case
    ([3.0], False),
])
def test_a_held_out_contrast_that_rose_from_its_lowest_warns(values, warns):
    criterion = SimpleNamespace(cross_modal_infonce=("contrast", 1))
    net = _held_out_net(values)
    messages = _rise_warnings(lambda: warn_if_held_out_contrast_rose(net, criterion, "x"))
    assert len(messages) == int(warns)
    if warns:
        assert messages[0].startswith("the x training ended with its cross-modal contrastive "
                                      f"loss on the held-out rows at {values[-1]:.4g}, up from "
                                      "2 after epoch 2 of 3")
        assert "EarlyStopping(monitor='valid_loss', load_best=True)" in messages[0]
    # training stopped by a callback, or by the user, is not judged
    for flag in ("stopped_by_callback_", "interrupted_"):
        stopped = _held_out_net(values)
        setattr(stopped, flag, True)
        assert _rise_warnings(
            lambda: warn_if_held_out_contrast_rose(stopped, criterion, "x")) == []
    # nor is training whose callbacks restored the best epoch's weights
    for callback in (EarlyStopping(load_best=True), Checkpoint(load_best=True)):
        kept = _held_out_net(values, callbacks=[callback])
        assert _rise_warnings(lambda: warn_if_held_out_contrast_rose(kept, criterion, "x")) == []
    kept = _held_out_net(values, callbacks=[EarlyStopping(load_best=False)])
    assert len(_rise_warnings(
        lambda: warn_if_held_out_contrast_rose(kept, criterion, "x"))) == int(warns)


def test_the_held_out_rise_is_judged_against_count_times_the_chance_level():
    # FOCAL's term sums two InfoNCE losses: its chance level, and the rise
    # allowed, are twice those of one
    criterion = SimpleNamespace(cross_modal_infonce=("contrast", 2))
    for rise, warns in [(0.15, False), (0.25, True)]:  # in units of log(64)
        values = [6.0, 4.0, 4.0 + rise * np.log(64)]
        net = _held_out_net(values)
        messages = _rise_warnings(lambda: warn_if_held_out_contrast_rose(net, criterion, "x"))
        assert len(messages) == int(warns)


def _overfitting(**params):
    # 200 rows of two noisy modalities sharing 2 factors, 40 epochs at a high
    # lr: the held-out contrast is lowest after epoch 10 (3.21) and ends at
    # 3.88, above its chance level (3.40 for held-out batches of 32 and 28)
    rng = np.random.default_rng(0)
    z = rng.normal(size=(200, 2))
    X = np.hstack([z @ rng.normal(size=(2, 8)) + 2 * rng.normal(size=(200, 8))
                   for _ in range(2)])
    model = MultimodalContrastive(n_components=4, hidden_layer_sizes=(64,), max_epochs=40,
                                  batch_size=32, lr=3e-3, random_state=0, **params)
    return model, X


def test_encoders_that_overfit_warn_once_with_the_cause_and_not_of_chance():
    model, X = _overfitting(validation_fraction=0.3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X)
    rises = [w for w in caught if "cross-modal contrastive" in str(w.message)]
    messages = [str(w.message) for w in rises]
    assert len(messages) == 1 and rises[0].category is OverfittingWarning
    assert issubclass(OverfittingWarning, ConvergenceWarning)  # as the chance warning
    assert "held-out rows at 3.877 (at or above its chance level, 3.403), up from 3.206 " \
        "after epoch 10 of 40" in messages[0]
    # without held-out rows, or stopped early, nothing to warn of
    model, X = _overfitting()
    assert _rise_warnings(lambda: model.fit(X)) == []
    model, X = _overfitting(validation_fraction=0.3, callbacks=[
        EarlyStopping(monitor="valid_loss", patience=5, load_best=True)])
    assert _rise_warnings(lambda: model.fit(X)) == []
    assert len(model.net_.history) < 40
    # early stopping that never stops still restores the best epoch's weights
    model, X = _overfitting(validation_fraction=0.3, callbacks=[
        EarlyStopping(monitor="valid_loss", patience=100, load_best=True)])
    assert _rise_warnings(lambda: model.fit(X)) == []
    assert len(model.net_.history) == 40


def test_the_chance_level_is_judged_at_the_epoch_whose_weights_are_kept():
    # EarlyStopping(load_best=True) restored epoch 1, at chance; the last
    # epoch, 2, was under it
    history = History()
    for epoch, value in ((1, np.log(64)), (2, 0.5 * np.log(64))):
        history.new_epoch()
        history.record("epoch", epoch)
        history.record("train_loss", 1.0)
        history.new_batch()
        history.record_batch("valid_batch_size", 64)
        history.record("valid_contrast", value)
    criterion = SimpleNamespace(cross_modal_infonce=("contrast", 1))
    for best, load_best, warns in ((1, True, True), (2, True, False), (1, False, False)):
        # without load_best the net keeps the last epoch's weights, whatever was best
        stopping = EarlyStopping(load_best=load_best)
        stopping.best_epoch_ = best
        net = SimpleNamespace(history=history, interrupted_=False,
                              callbacks_=[("early_stopping", stopping)])
        messages = _chance_warnings(lambda: warn_if_no_better_than_chance(net, criterion, "x"))
        assert len(messages) == int(warns)
    assert ("loss on the held-out rows (at epoch 1, whose weights the model keeps) at 4.159, "
            "at or above its chance level") in _chance_warnings(
        lambda: warn_if_no_better_than_chance(
            SimpleNamespace(history=history, interrupted_=False,
                            callbacks_=[("es", SimpleNamespace(load_best=True, best_epoch_=1))]),
            criterion, "x"))[0]


def test_training_that_leaves_the_weights_where_they_started_warns(data):
    model = small_model(lr=1e-12)
    with pytest.warns(ConvergenceWarning, match=r"the step-2 \(specific\) training left the "
                                                r"weights where they started.*Raise lr"):
        model.fit(data.data)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        small_model().fit(data.data)
    assert not [w for w in caught if "where they started" in str(w.message)]


def test_a_callback_that_freezes_parameters_as_training_starts_trains(data):
    from skorch.callbacks import Freezer

    model = small_model(callbacks=[Freezer("encoders.0.0.weight")], max_epochs_shared=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(data.data)
    assert np.isfinite(model.transform(data.data)).all()
