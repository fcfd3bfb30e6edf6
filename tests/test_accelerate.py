"""Training through Hugging Face Accelerate (skorch's AccelerateMixin).

On a CPU: a single-process ``Accelerator(cpu=True)`` gives the same model as a
plain fit, the fitted estimators pickle and save, and two processes on the
CPU (gloo, started as ``torchrun`` would) train on disjoint batches and end
with the same weights. On GPUs: a single-GPU mixed-precision fit, and a two-GPU fit under
``accelerate launch``, each skipped where the GPUs are missing.
"""

import json
import os
import copy
import pickle
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_dssl import load, save
from sklearn_dssl._training import ContrastiveNet
from sklearn_dssl.datasets import make_paper_synthetic
from tests.conftest import TINY_NEURAL, fitted_nets

accelerate = pytest.importorskip("accelerate")
from skorch.hf import AccelerateMixin  # noqa: E402

ESTIMATORS = TINY_NEURAL


@pytest.fixture(scope="module")
def X():
    return make_paper_synthetic(n_samples=128, n_latent=2, n_features=3, random_state=0).data


def _accelerator(**kwargs):
    """A new Accelerator with its own settings.

    Accelerate keeps one state per process, fixed by the first Accelerator:
    reset it, or a later Accelerator would silently keep the earlier
    precision and device (the way accelerate's own tests do).
    """
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    return accelerate.Accelerator(**kwargs)


@pytest.fixture
def cpu_accelerator():
    return _accelerator(cpu=True)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_single_process_cpu_accelerator_gives_the_plain_fit(name, X, cpu_accelerator):
    # One process on the CPU, full precision: the accelerator only places the
    # module and wraps the optimiser, so every random draw and every update
    # is that of a plain fit.
    plain = ESTIMATORS[name](device="cpu").fit(X)
    accelerated = ESTIMATORS[name](accelerator=cpu_accelerator).fit(X)
    np.testing.assert_array_equal(accelerated.transform(X), plain.transform(X))
    for net, plain_net in zip(fitted_nets(accelerated), fitted_nets(plain), strict=True):
        # the fitted nets are plain nets, on the accelerator's device
        assert type(net) is ContrastiveNet and not isinstance(net, AccelerateMixin)
        assert net.device == "cpu"
        assert net.history[:, "train_loss"] == plain_net.history[:, "train_loss"]
    # and they train further as plain nets, with their optimisers built anew
    net = fitted_nets(accelerated)[0]
    net.partial_fit(torch.as_tensor(accelerated._in_model_order(X), dtype=torch.float32),
                    epochs=1)
    assert net.history[-1, "event_lr"] == net.lr


@pytest.mark.parametrize("name", ["DisentangledSSL", "MultimodalContrastive"])
def test_accelerated_fit_pickles_and_saves(name, X, cpu_accelerator, tmp_path):
    model = ESTIMATORS[name](accelerator=cpu_accelerator).fit(X)
    Z = model.transform(X)
    assert Z.shape == (len(X), 8 if name == "DisentangledSSL" else 4)

    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.transform(X), Z)
    # the accelerator belongs to its processes: the copy keeps its description
    assert repr(restored.accelerator).startswith("PickledAccelerator(mixed_precision='no'")
    assert model.accelerator is cpu_accelerator  # pickling leaves the model alone
    with pytest.raises(ValueError, match=r"copied through pickle .* Pipeline's memory cache.* "
                       r"Set the accelerator again: set_params\(accelerator=Accelerator"):
        restored.fit(X)
    restored.set_params(accelerator=None).fit(X)

    with pytest.warns(UserWarning, match=r"accelerator=None"):
        path = save(model, tmp_path / "model.zip")
    loaded = load(path)
    np.testing.assert_array_equal(loaded.transform(X), Z)
    assert loaded.get_params()["accelerator"] is None


def test_an_accelerated_fit_with_a_learning_rate_scheduler_of_its_own_pickles(
        X, cpu_accelerator):
    """skorch's LRScheduler kept the accelerator's wrapper of the optimiser,
    which does not pickle, after training."""
    from skorch.callbacks import LRScheduler

    model = ESTIMATORS["MultimodalContrastive"](
        accelerator=cpu_accelerator, callbacks=[LRScheduler(policy="StepLR", step_size=1)],
    ).fit(X)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.transform(X), model.transform(X))


def test_copies_through_pickle_tell_accelerators_apart(cpu_accelerator):
    """joblib hashes (a Pipeline's memory) and ships (a search's workers)
    estimators through pickle: an accelerated estimator is not taken for a
    plain one, and a worker's copy refuses to train without the accelerator."""
    import joblib
    from sklearn.model_selection import cross_validate

    plain = ESTIMATORS["MultimodalContrastive"]()
    accelerated = ESTIMATORS["MultimodalContrastive"](accelerator=cpu_accelerator)
    assert joblib.hash(plain) != joblib.hash(accelerated)
    assert joblib.hash(accelerated) == joblib.hash(clone(accelerated))
    X = np.random.default_rng(0).normal(size=(64, 8)).astype(np.float32)
    with pytest.raises(ValueError, match="copied through pickle"):
        cross_validate(accelerated, X, cv=2, n_jobs=2, error_score="raise")


def test_clone_and_params_keep_the_accelerator(cpu_accelerator):
    model = ESTIMATORS["DisentangledSSL"](accelerator=cpu_accelerator)
    assert clone(model).accelerator is cpu_accelerator  # Accelerator deep-copies to itself
    assert model.get_params()["accelerator"] is cpu_accelerator
    assert model.set_params(accelerator=None).accelerator is None


def test_mixed_precision_on_the_cpu(X):
    accelerator = _accelerator(cpu=True, mixed_precision="bf16")
    model = ESTIMATORS["DisentangledSSL"](accelerator=accelerator).fit(X)
    assert np.isfinite(model.shared_net_.history[:, "train_loss"]).all()
    Z = model.transform(X)
    assert Z.dtype == np.float32 and np.isfinite(Z).all()
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).transform(X), Z)


class _FakeAccelerator:
    """Stands for an accelerator on a GPU, for the checks made before training."""

    device = torch.device("cuda", 0)
    gradient_accumulation_steps = 1

    def prepare(self, *args):  # pragma: no cover - never reached
        raise AssertionError("training should not start")

    def unwrap_model(self, model):  # pragma: no cover - never reached
        raise AssertionError("training should not start")


def test_device_contradicting_the_accelerator_is_refused(X, cpu_accelerator):
    contradiction = ESTIMATORS["DisentangledSSL"](device="cpu", accelerator=_FakeAccelerator())
    with pytest.raises(ValueError, match="contradicts the accelerator"):
        contradiction.fit(X)
    # naming the accelerator's own device is fine
    ESTIMATORS["MultimodalContrastive"](device="cpu", accelerator=cpu_accelerator).fit(X)


def test_gradient_accumulation_and_bad_accelerators_are_refused(X):
    accumulating = _accelerator(cpu=True, gradient_accumulation_steps=2)
    with pytest.raises(ValueError, match="gradient_accumulation_steps=1"):
        ESTIMATORS["MultimodalContrastive"](accelerator=accumulating).fit(X)
    with pytest.raises(InvalidParameterError, match="accelerator"):
        ESTIMATORS["MultimodalContrastive"](accelerator="cuda").fit(X)


# --------------------------------------------------------------------------
# Several processes: two on the CPU here, two GPUs where they exist
# --------------------------------------------------------------------------
SCRIPT = textwrap.dedent('''
    import json, os, sys
    import torch
    from accelerate import Accelerator
    from sklearn_dssl import DisentangledSSL
    from sklearn_dssl._training import TensorBatches
    from sklearn_dssl.datasets import make_paper_synthetic

    accelerator = Accelerator(cpu=sys.argv[2] == "cpu", mixed_precision=sys.argv[3])
    rank = accelerator.process_index
    # each process's own random stream: the epoch's order is still the main one's
    torch.manual_seed(rank)
    index = torch.arange(100, dtype=torch.float32, device=accelerator.device)[:, None]
    batches = TensorBatches(index, 16, shuffle=True, drop_last=True, accelerator=accelerator)
    rows = torch.cat([batch[:, 0] for batch, _ in batches])
    all_rows = accelerator.gather(rows).tolist()

    X = make_paper_synthetic(n_samples=256, n_latent=2, n_features=3, random_state=0).data
    model = DisentangledSSL(
        n_shared=2, n_specific=2, hidden_layer_sizes=(8,), max_epochs_shared=2,
        max_epochs_specific=2, batch_size=32, lr=1e-3, random_state=0,
        accelerator=accelerator,
    ).fit(X)
    weights = torch.cat([p.detach().float().ravel() for p in model.specific_net_.module_.parameters()])
    gathered = accelerator.gather(weights[None])
    Z = model.transform(X)
    with open(f"{sys.argv[1]}/rank{rank}.json", "w") as f:
        json.dump({
            "processes": accelerator.num_processes, "rows": len(rows), "all_rows": all_rows,
            "same_weights": bool((gathered == gathered[0]).all()),
            "epochs": len(model.specific_net_.history), "shape": list(Z.shape),
            "finite": bool(torch.isfinite(torch.from_numpy(Z)).all()),
            "net_device": str(model.specific_net_.device),
        }, f)
    accelerator.end_training()  # ends the process group before the interpreter exits
    # Leave without finalising the interpreter: a gloo thread of torch may still
    # hold a tensor of the last collective then, and freeing it takes the GIL
    # during finalisation, which aborts the process (1 run in 10 to 20 here) after
    # all of the work above is done and reported (pytorch/pytorch#179291).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
''')


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _script(tmp_path, device, mixed_precision):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    return [str(script), str(tmp_path), device, mixed_precision]


def _reports(tmp_path):
    return [json.loads((tmp_path / f"rank{k}.json").read_text()) for k in range(2)]


def _check_ran(results):
    for result in results:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def _check_two_processes(reports):
    for report in reports:
        assert report["processes"] == 2
        # 100 rows make 6 batches of 16: three per process, none shared
        assert report["rows"] == 48
        assert len(report["all_rows"]) == 96 and len(set(report["all_rows"])) == 96
        # data-parallel training keeps the replicas identical
        assert report["same_weights"]
        assert report["epochs"] == 2 and report["shape"] == [256, 8] and report["finite"]


def test_two_processes_on_the_cpu_train_on_disjoint_batches(tmp_path):
    # the environment torchrun would set, without its own start-up time
    command = [sys.executable, *_script(tmp_path, "cpu", "no")]
    # no GPU in sight: accelerate's barrier would name one per process
    common = {**os.environ, "OMP_NUM_THREADS": "1", "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2",
              "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()),
              "CUDA_VISIBLE_DEVICES": ""}
    processes = [
        subprocess.Popen(command, env={**common, "RANK": str(k), "LOCAL_RANK": str(k)},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for k in range(2)
    ]
    results = []
    try:
        for process in processes:
            stdout, stderr = process.communicate(timeout=120)
            results.append(subprocess.CompletedProcess(process.args, process.returncode,
                                                       stdout, stderr))
    finally:
        for process in processes:  # one that crashed may leave the other waiting
            if process.poll() is None:
                process.kill()
                process.communicate()
    _check_ran(results)
    reports = _reports(tmp_path)
    _check_two_processes(reports)
    assert all(report["net_device"].startswith("cpu") for report in reports)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs at least two CUDA GPUs")
def test_two_gpus_under_accelerate_launch(tmp_path):
    mixed_precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
              "--num_processes", "2", "--num_machines", "1",
              "--main_process_port", str(_free_port()), "--mixed_precision", mixed_precision,
              "--dynamo_backend", "no"]
    result = subprocess.run(
        launch + _script(tmp_path, "cuda", mixed_precision),
        env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=180,
    )
    _check_ran([result])
    reports = _reports(tmp_path)
    _check_two_processes(reports)
    assert [report["net_device"] for report in reports] == ["cuda:0", "cuda:1"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", ["DisentangledSSL", "MultimodalContrastive"])
def test_single_gpu_mixed_precision(name, X, tmp_path):
    mixed_precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    accelerator = _accelerator(mixed_precision=mixed_precision)
    model = ESTIMATORS[name](accelerator=accelerator).fit(X)
    for net in fitted_nets(model):
        assert torch.device(net.device).type == "cuda"
        assert np.isfinite(net.history[:, "train_loss"]).all()
    Z = model.transform(X)
    assert np.isfinite(Z).all()
    np.testing.assert_allclose(pickle.loads(pickle.dumps(model)).transform(X), Z,
                               rtol=1e-6, atol=1e-7)
    with pytest.warns(UserWarning, match=r"accelerator=None"):
        path = save(model, tmp_path / "model")
    # loaded on the CPU
    np.testing.assert_allclose(load(path).transform(X), Z, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["DisentangledSSL", "MultimodalContrastive"])
def test_a_reused_accelerator_keeps_no_fitted_model(name, X):
    # A search clones the estimator with the same accelerator: fits must not
    # leave their modules and optimisers registered on it.
    accelerator = _accelerator(cpu=True)
    estimator = ESTIMATORS[name](accelerator=accelerator)
    for _ in range(2):
        clone(estimator).fit(X).transform(X)
    assert accelerator._models == [] and accelerator._optimizers == []


def test_compile_with_an_accelerator_is_refused_with_the_fix(X):
    model = ESTIMATORS["DisentangledSSL"](compile=True, accelerator=_accelerator(cpu=True))
    with pytest.raises(ValueError, match="compile=True does not combine with an accelerator"
                       ".*dynamo_backend"):
        model.fit(X)
    assert not hasattr(model, "shared_net_")


def test_validation_fraction_with_an_accelerator_is_refused_with_the_fix(X):
    model = ESTIMATORS["MultimodalContrastive"](validation_fraction=0.2,
                                                accelerator=_accelerator(cpu=True))
    with pytest.raises(ValueError, match="validation_fraction does not combine with an "
                                         "accelerator.*leave it at None"):
        model.fit(X)
    assert not hasattr(model, "net_")


def test_a_deep_copy_keeps_the_accelerator(X, cpu_accelerator):
    # a copy in this process, as clone makes; only pickling drops it
    model = ESTIMATORS["DisentangledSSL"](accelerator=cpu_accelerator)
    assert copy.deepcopy(model).accelerator is cpu_accelerator
    model.fit(X)
    copied = copy.deepcopy(model)
    assert copied.accelerator is cpu_accelerator
    assert copied.shared_net_ is not model.shared_net_
    np.testing.assert_array_equal(copied.transform(X), model.transform(X))


def test_a_shallow_copy_keeps_the_accelerator(X, cpu_accelerator):
    model = ESTIMATORS["DisentangledSSL"](accelerator=cpu_accelerator).fit(X)
    copied = copy.copy(model)
    assert copied.accelerator is cpu_accelerator
    assert copied.shared_net_ is model.shared_net_  # shallow
    copied.set_params(beta=2.0)
    assert model.beta != 2.0


def test_an_accelerated_verbose_fit_logs_without_colours_where_they_do_not_show(X, capsys,
                                                                              monkeypatch):
    # the accelerator prints the log and the captions (on its main process
    # only), without colour codes where they do not show
    accelerator = _accelerator(cpu=True)
    printed = []
    accelerator_print = accelerator.print

    def spy(*values, **kwargs):
        printed.extend(str(value) for value in values)
        accelerator_print(*values, **kwargs)

    monkeypatch.setattr(accelerator, "print", spy)
    ESTIMATORS["DisentangledSSL"](accelerator=accelerator, verbose=1).fit(X)
    out = capsys.readouterr().out
    assert "train_loss" in out and "\x1b[" not in out
    assert "step-1 (shared) training:" in printed and "step-2 (specific) training:" in printed
    assert any("train_loss" in line for line in printed)
