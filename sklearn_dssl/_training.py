"""Training machinery shared by every estimator of the package.

An estimator builds a torch module (what to compute) and a criterion (what to
minimise) and hands them to :func:`train`, which trains them with a
:class:`ContrastiveNet`, a skorch ``NeuralNet`` for label-free objectives.
Device choice, seeding, batching, learning-rate schedule, divergence checks
and progress reporting live here and nowhere else.
"""

import contextlib
import copy
import math
import threading
import warnings

import numpy as np
import torch
from sklearn.base import clone
from skorch import NeuralNet
from skorch.callbacks import Callback, LRScheduler, ProgressBar


def resolve_device(device):
    """Map ``"auto"`` to CUDA when available (else CPU) and check the result."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a torch device; use 'auto', 'cpu' or 'cuda[:k]'."
        ) from exc
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} asks for CUDA, but torch sees no CUDA device; "
            "use device='auto' or 'cpu', or install a CUDA build of torch."
        )
    return device


def seed_from(random_state):
    """A torch seed drawn from a scikit-learn ``random_state``."""
    from sklearn.utils import check_random_state

    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


# torch's random generators are global to the process: seeded blocks in
# different threads take turns, so that each sees only its own seed.
_SEEDED_LOCK = threading.RLock()


@contextlib.contextmanager
def seeded_torch(seed, device):
    """Seed torch's global generators inside the block and restore them after.

    Blocks in different threads of one process run one at a time, which keeps
    thread-parallel fits (e.g. joblib's threading backend) reproducible.
    """
    devices = [torch.device(device)] if torch.device(device).type == "cuda" else []
    with _SEEDED_LOCK, torch.random.fork_rng(devices=devices, device_type="cuda"):
        torch.manual_seed(seed)
        yield


def as_tensor(X, device):
    """A float32 tensor of the ndarray X on ``device``, without copying float32 input on CPU."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    if not X.flags.writeable:  # torch wants writable memory (e.g. read-only memmaps)
        X = X.copy()
    return torch.from_numpy(X).to(device)


def infer(fn, x, device):
    """``fn(tensor of x)`` in inference mode, each output tensor back as an ndarray."""
    with torch.inference_mode():
        out = fn(as_tensor(x, device))
    if isinstance(out, torch.Tensor):
        return out.cpu().numpy()
    return [t.cpu().numpy() for t in out]


class TensorBatches:
    """Mini-batches of a tensor by slicing (and one shuffle per epoch).

    A drop-in for skorch's ``iterator_train``/``iterator_valid``: much cheaper
    than a ``DataLoader`` that indexes and collates row by row. Batches are
    ``(X_batch, None)``. With ``drop_last`` the incomplete last batch is
    dropped, unless it is the only one.
    """

    def __init__(self, dataset, batch_size, shuffle=False, drop_last=False):
        self.data = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last

    def __len__(self):
        n = len(self.data)
        if self.drop_last and n >= self.batch_size:
            return n // self.batch_size
        return math.ceil(n / self.batch_size)

    def __iter__(self):
        data = self.data
        if self.shuffle:
            data = data[torch.randperm(len(data), device=data.device)]
        for i in range(len(self)):
            yield data[i * self.batch_size : (i + 1) * self.batch_size], None


class NonFiniteLossError(FloatingPointError):
    """Raised when a training loss becomes NaN or infinite."""


class StopOnNonFiniteLoss(Callback):
    """Stop training with an informative error as soon as an epoch's loss is not finite."""

    def __init__(self, step_name):
        self.step_name = step_name

    def on_epoch_end(self, net, **kwargs):
        loss = net.history[-1, "train_loss"]
        if not np.isfinite(loss):
            raise NonFiniteLossError(
                f"the {self.step_name} training loss became {loss} at epoch "
                f"{len(net.history)}; lower lr, or scale the features (e.g. "
                "StandardScaler) before fitting."
            )


def completed_epochs(net):
    """Number of epochs the net finished (an interrupted one does not count)."""
    return sum("train_loss" in row for row in net.history)


class KeepLastEpochWeights(Callback):
    """Remember the module's weights at the start and after every epoch."""

    def on_train_begin(self, net, **kwargs):
        self.state_ = copy.deepcopy(net.module_.state_dict())

    def on_epoch_end(self, net, **kwargs):
        self.state_ = copy.deepcopy(net.module_.state_dict())


class ContrastiveNet(NeuralNet):
    """A skorch ``NeuralNet`` for label-free objectives.

    The criterion is called on the module's output alone (no target), the
    optimiser sees only parameters that require a gradient (so frozen
    sub-modules stay frozen), and the data are a tensor cut into batches by
    :class:`TensorBatches`.

    A KeyboardInterrupt (Ctrl-C) ends training as in skorch, and the module
    goes back to the weights of the last completed epoch; ``interrupted_``
    tells whether that happened. A KeyboardInterrupt raised by a callback at
    the end of an epoch (skorch's way to stop early, e.g. ``EarlyStopping``)
    is not an interruption.
    """

    def notify(self, method_name, **cb_kwargs):
        try:
            super().notify(method_name, **cb_kwargs)
        except KeyboardInterrupt:
            self.stopped_by_callback_ = method_name == "on_epoch_end"
            raise

    def fit_loop(self, X, y=None, **fit_params):
        self.interrupted_ = False
        self.stopped_by_callback_ = False
        try:
            return super().fit_loop(X, y, **fit_params)
        except KeyboardInterrupt:
            if not self.stopped_by_callback_:
                self.interrupted_ = True
                keeper = dict(self.callbacks_).get("keep_last_epoch_weights")
                if keeper is not None:
                    self.module_.load_state_dict(keeper.state_)
            raise

    def get_dataset(self, X, y=None):
        return X

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return self.criterion_(y_pred)

    def get_all_learnable_params(self):
        for name, param in super().get_all_learnable_params():
            if param.requires_grad:
                yield name, param


def make_net(module, criterion, *, max_epochs, batch_size, lr, device, callbacks=None,
             verbose=0, step_name="training"):
    """The :class:`ContrastiveNet` that :func:`train` fits, not yet initialised.

    Adam with a cosine-annealed learning rate, shuffled batches with the
    last incomplete batch dropped. :mod:`sklearn_dssl._persistence` builds
    the nets of a loaded model with it, so they match the trained ones.
    """
    own_callbacks = [
        ("lr_schedule", LRScheduler(
            policy=torch.optim.lr_scheduler.CosineAnnealingLR, T_max=max(max_epochs, 1))),
        ("stop_on_non_finite_loss", StopOnNonFiniteLoss(step_name)),
        ("keep_last_epoch_weights", KeepLastEpochWeights()),
    ]
    if verbose:
        own_callbacks.append(("progress_bar", ProgressBar()))
    user_callbacks = [clone(cb, safe=False) for cb in (callbacks or [])]
    return ContrastiveNet(
        module,
        criterion=criterion,
        optimizer=torch.optim.Adam,
        optimizer__fused=True,
        lr=lr,
        max_epochs=max_epochs,
        batch_size=batch_size,
        iterator_train=TensorBatches,
        iterator_train__shuffle=True,
        iterator_train__drop_last=True,
        iterator_valid=TensorBatches,
        train_split=None,
        callbacks=own_callbacks + user_callbacks,
        device=device,
        verbose=verbose,
    )


def train(module, criterion, X, *, max_epochs, batch_size, lr, device, callbacks,
          verbose, step_name):
    """Train ``module`` to minimise ``criterion`` on the float tensor ``X``.

    Adam with a cosine-annealed learning rate, shuffled batches with the
    last incomplete batch dropped, one history row per epoch. Returns the
    fitted :class:`ContrastiveNet`; its ``history`` holds the per-epoch loss.
    Call it inside :func:`seeded_torch` for reproducible results.
    """
    net = make_net(
        module, criterion, max_epochs=max_epochs, batch_size=batch_size, lr=lr,
        device=device, callbacks=callbacks, verbose=verbose, step_name=step_name,
    )
    with warnings.catch_warnings():
        # skorch warns that the module is an instance it will not re-create;
        # that is what we want.
        warnings.filterwarnings("ignore", message=".*already initialized.*")
        net.fit(X.to(device), None)
    return net
