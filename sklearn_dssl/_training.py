"""Training machinery shared by every estimator of the package.

An estimator builds a torch module (what to compute) and a criterion (what to
minimise) and hands them to :func:`train`, which trains them with a
:class:`ContrastiveNet`, a skorch ``NeuralNet`` for label-free objectives.
Device choice, seeding, batching, learning-rate schedule, divergence checks,
progress reporting and training through Hugging Face Accelerate live here and
nowhere else.
"""

import contextlib
import copy
import functools
import math
import os
import re
import signal
import sys
import threading
import types
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from skorch import NeuralNet
from skorch.callbacks import Callback, LRScheduler, PassthroughScoring, ProgressBar
from skorch.callbacks.scoring import ScoringBase
from skorch.dataset import unpack_data
from skorch.exceptions import DeviceWarning
from skorch.hf import AccelerateMixin  # imports accelerate only when used

from ._base import check_float32_range, check_named_columns, frame_columns, readable_numbers
from .exceptions import NonFiniteLossError, OverfittingWarning


def resolve_device(device):
    """Map ``"auto"`` to CUDA when available (else CPU) and check the result."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={str(device)!r} is not a torch device; use 'auto', 'cpu' or "
            "'cuda[:k]'."
        ) from exc
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(device)!r} asks for CUDA, but torch sees no CUDA device; "
            "use device='auto' or 'cpu', or install a CUDA build of torch."
        )
    if parsed.type == "cuda" and (parsed.index or 0) >= torch.cuda.device_count():
        raise ValueError(
            f"device={str(device)!r}: torch sees {torch.cuda.device_count()} CUDA "
            f"device(s), numbered from 0; use 'cuda' or 'cuda:k' with k below "
            f"{torch.cuda.device_count()}."
        )
    if parsed.type not in ("cpu", "cuda") and not _accelerator_available(parsed.type):
        raise ValueError(
            f"device={str(device)!r}: torch has no usable {parsed.type!r} device here; use "
            "'auto', 'cpu' or 'cuda[:k]'."
        )
    return device


# Where Linux holds a container's memory limit: cgroup v2, then v1.
CGROUP_MEMORY_LIMITS = ("/sys/fs/cgroup/memory.max",
                        "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def device_memory(device):
    """The memory of ``device`` in bytes, or None where torch or the system
    does not say. A CPU's is the machine's, or its container's limit where
    that is lower."""
    device = torch.device(device)
    if device.type == "cuda":
        index = torch.cuda.current_device() if device.index is None else device.index
        return torch.cuda.get_device_properties(index).total_memory
    if device.type != "cpu":
        return None
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # e.g. Windows
        return None
    for path in CGROUP_MEMORY_LIMITS:
        try:
            with open(path) as file:
                limit = file.read().strip()
        except OSError:
            continue
        if limit.isdigit():  # cgroup v2 writes "max" for no limit
            return min(memory, int(limit))
    return memory


def _usable_here(device):
    """Whether torch can compute on ``device`` on this machine."""
    try:
        resolve_device(device)
    except ValueError:
        return False
    return True


def _accelerator_available(kind):
    """Whether torch can compute on devices of the type ``kind`` (e.g. "mps") here."""
    if kind == "mps":
        return torch.backends.mps.is_available()
    module = getattr(torch, kind, None)  # torch.xpu and the like
    return bool(getattr(module, "is_available", lambda: False)())


class PickledAccelerator:
    """What a pickled estimator keeps of its ``accelerator``, which does not
    pickle (it belongs to the processes that created it): a description of
    its settings, so that copies made through pickle (joblib's workers, a
    Pipeline's ``memory``) tell fits with different accelerators apart, and
    a refit asks for an accelerator rather than train without one."""

    def __init__(self, accelerator):
        self.description = ", ".join(
            f"{name}={str(getattr(accelerator, name, None))!r}"
            for name in ("mixed_precision", "distributed_type", "device", "num_processes"))

    def __repr__(self):
        return f"PickledAccelerator({self.description})"

    def __eq__(self, other):
        return isinstance(other, PickledAccelerator) and other.description == self.description

    def __hash__(self):
        return hash(self.description)


def training_device(device, accelerator=None):
    """The device a fit trains on: ``device``'s, or the accelerator's when one is given.

    With an accelerator, the accelerator places the model and the data;
    ``device`` must then be "auto" or name the accelerator's device.
    """
    if isinstance(accelerator, PickledAccelerator):
        raise ValueError(
            f"accelerator={accelerator!r}: this estimator was copied through pickle (by "
            "joblib's workers of a search or cross-validation with n_jobs > 1, or out of a "
            "Pipeline's memory cache, say), which an accelerate.Accelerator does not "
            "survive, so it cannot train as asked. Set the accelerator again: "
            "set_params(accelerator=Accelerator(...)) (the Pipeline's step's, e.g. "
            "pipe.set_params(<step>__accelerator=...)), or None to train without one; "
            "searches with an accelerator need n_jobs=1."
        )
    if accelerator is None:
        return resolve_device(device)
    chosen = torch.device(accelerator.device)
    if device != "auto":
        asked = torch.device(resolve_device(device))
        if asked.type != chosen.type or (
            asked.index is not None and chosen.index is not None and asked.index != chosen.index
        ):
            raise ValueError(
                f"device={str(device)!r} contradicts the accelerator, which trains on "
                f"{chosen}; leave device='auto' when passing an accelerator: the "
                "accelerator chooses the device."
            )
    steps = getattr(accelerator, "gradient_accumulation_steps", 1)
    if steps != 1:
        raise ValueError(
            f"the accelerator accumulates gradients over {steps} steps, which the "
            "estimators do not support (a contrastive loss over several small batches "
            "is not the loss of one large batch); use gradient_accumulation_steps=1."
        )
    return str(chosen)


def seed_from(random_state):
    """A torch seed drawn from a scikit-learn ``random_state``."""
    from sklearn.utils import check_random_state

    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


# torch's random generators are global to the process: seeded blocks in
# different threads take turns, so that each sees only its own seed.
_SEEDED_LOCK = threading.RLock()


@contextlib.contextmanager
def torch_defaults():
    """torch's default dtype float32 and default device the CPU inside the
    block, the caller's after.

    The modules and losses compute in float32, the dtype of the rows they
    train on, and are built on the CPU from its seeded generator (training
    moves them to their device), also for a caller who set other defaults
    (``torch.set_default_dtype``, ``torch.set_default_device``). torch keeps
    one default dtype for the whole process: while a block runs with it
    changed here, other threads see float32 too. Under torch's usual
    defaults nothing is changed.
    """
    with _SEEDED_LOCK, contextlib.ExitStack() as stack:
        if torch.get_default_device().type != "cpu":
            stack.enter_context(torch.device("cpu"))
        dtype = torch.get_default_dtype()
        if dtype != torch.float32:
            torch.set_default_dtype(torch.float32)
            stack.callback(torch.set_default_dtype, dtype)
        yield


def with_autograd(fit):
    """``fit`` with autograd available: called under ``torch.inference_mode()``
    (whose tensors cannot be trained on), it trains as anywhere else."""
    return torch.inference_mode(False)(fit)


@contextlib.contextmanager
def seeded_torch(seed, device):
    """Seed torch's CPU generator and ``device``'s own inside the block, and
    restore them after; no other device's generator is touched. The block
    builds and trains in float32, on modules built on the CPU
    (:func:`torch_defaults`).

    Blocks in different threads of one process run one at a time, which keeps
    thread-parallel fits (e.g. joblib's threading backend) reproducible.
    """
    device = torch.device(device)
    on_device = device.type != "cpu"
    with _SEEDED_LOCK, torch_defaults(), torch.random.fork_rng(
        devices=[device] if on_device else [], device_type=device.type if on_device else "cuda"
    ):
        # not torch.manual_seed, which also seeds every other device
        torch.default_generator.manual_seed(seed)
        if on_device:  # cuda, xpu, mps, ...: the backend's own seeding, of this device
            backend = getattr(torch, device.type)
            with (backend.device(device) if device.index is not None and hasattr(backend, "device")
                  else contextlib.nullcontext()):
                backend.manual_seed(seed)
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


class Rows:
    """The rows ``index`` of the tensor ``data``, without copying them.

    What :class:`HoldOut` gives for each side of its split:
    :class:`TensorBatches` gathers each batch from ``data``. Whatever else
    asks for them, such as a callback given the held-out rows (skorch's
    ``EpochScoring`` with a function of X), gets the tensor of those rows,
    gathered then: its attributes and methods, its items and its array.
    """

    def __init__(self, data, index):
        self.data = data
        self.index = index

    def __len__(self):
        return len(self.index)

    @property
    def device(self):
        return self.data.device

    def tensor(self):
        """The rows, gathered into a tensor of their own."""
        return self.data.index_select(0, self.index)

    def __getattr__(self, name):
        if name.startswith("__") or "data" not in self.__dict__:
            raise AttributeError(name)  # copy and pickle ask before __init__ has run
        return getattr(self.tensor(), name)

    def __getitem__(self, key):
        return self.tensor()[key]

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.tensor().cpu(), dtype=dtype)


class TensorBatches:
    """Mini-batches of a tensor by slicing (and one shuffle per epoch).

    A drop-in for skorch's ``iterator_train``/``iterator_valid``: much cheaper
    than a ``DataLoader`` that indexes and collates row by row. Batches are
    ``(X_batch, None)``. The dataset is a tensor, or :class:`Rows` of one,
    whose batches are gathered from it. With ``drop_last`` the incomplete
    last batch is dropped, unless it is the only one; without, a last batch of one row
    joins the batch before it, as a contrastive loss needs two rows (the
    held-out rows' loss would count it as 0).

    With an ``accelerator`` running several processes (data-parallel
    training), every process holds all the rows; the epoch's order is that
    of the main process (broadcast to the others), and process ``k`` of
    ``N`` takes batches ``k``, ``k + N``, ``k + 2N``, ... of it, so the
    processes see disjoint batches of ``batch_size`` rows. Each gets the same
    number of batches: up to ``N - 1`` batches of an epoch are left out.
    """

    def __init__(self, dataset, batch_size, shuffle=False, drop_last=False, accelerator=None):
        self.data = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.accelerator = accelerator

    def _shards(self):
        """``(number of processes, index of this one)``."""
        if self.accelerator is None:
            return 1, 0
        return self.accelerator.num_processes, self.accelerator.process_index

    def _n_batches(self):
        n = len(self.data)
        if self.drop_last and n >= self.batch_size:
            return n // self.batch_size
        if n % self.batch_size == 1 and n > 1 and self._shards()[0] == 1:
            return n // self.batch_size  # the last batch takes the odd row
        return math.ceil(n / self.batch_size)

    def __len__(self):
        return self._n_batches() // self._shards()[0]

    def __iter__(self):
        data, rows = ((self.data.data, self.data.index) if isinstance(self.data, Rows)
                      else (self.data, None))
        n_shards, shard = self._shards()
        order = None
        if self.shuffle:
            order = torch.randperm(len(self.data), device=data.device)
            if n_shards > 1:
                from accelerate.utils import broadcast

                order = broadcast(order, from_process=0)
            if rows is not None:
                order = rows[order]
        elif rows is not None:
            order = rows
        n_batches = len(self)
        for i in range(n_batches):
            start = (i * n_shards + shard) * self.batch_size
            stop = start + self.batch_size
            if i == n_batches - 1 and n_shards == 1 and not self.drop_last:
                stop = None  # with a row left over (see _n_batches)
            # a shuffled batch, or one of some of the rows, gathers its rows:
            # no shuffled copy of all the data
            yield (data[start:stop] if order is None
                   else data.index_select(0, order[start:stop])), None


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
                "StandardScaler) before fitting, or bring extreme loss settings "
                "(a tiny temperature, huge term weights, a Gaussian head's tiny kappa) "
                "nearer their defaults; an "
                "augmentation of your own must return finite values."
            )


def completed_epochs(net):
    """Number of epochs the net finished (an interrupted one does not count)."""
    return sum("train_loss" in row for row in net.history)


def warn_if_interrupted(net, step=None, outcome="the model keeps those weights."):
    """Tell the user that a KeyboardInterrupt stopped ``net``'s training.

    ``step`` names the training in the message (e.g. ``"step 1"``);
    ``outcome`` says what the fitted estimator holds as a result.
    """
    if net.interrupted_:
        where = f" in {step}" if step else ""
        warnings.warn(
            f"training was interrupted{where} after {completed_epochs(net)} complete "
            f"epoch(s); {outcome}",
            UserWarning,
        )


def warn_if_no_better_than_chance(net, criterion, step_name):
    """Warn when training left the cross-modal contrast no better than chance.

    ``criterion.cross_modal_infonce`` is ``(term, count)``: the name of the
    history term that sums ``count`` symmetric cross-modal InfoNCE losses
    (``None``, the default, skips the check). For embeddings that carry
    nothing shared, each is at least ``log(batch rows)`` in expectation
    (equal similarities give exactly that), so a last epoch at or above
    ``count * log(rows)`` (less a float32 rounding margin) shows no learning
    of what the modalities share. The loss judged is that of the held-out
    rows where the net holds some out (``valid_<term>``), so that encoders
    which only tell the training rows apart warn too, and otherwise that of
    the training batches (``train_<term>``). Either is the loss of augmented,
    sampled batches, so a fit just above chance may still pair rows a little
    better than random embeddings do. An interrupted fit is left to
    :func:`warn_if_interrupted`.
    """
    term, count = getattr(criterion, "cross_modal_infonce", None) or (None, 0)
    if term is None or net.interrupted_ or not completed_epochs(net):
        return
    # the epoch whose weights the net holds: the last, or the best that a
    # callback restored
    last_epoch = _kept_epoch(net)
    prefix = "valid" if f"valid_{term}" in last_epoch else "train"
    last = last_epoch[f"{prefix}_{term}"]
    rows, chance = _chance_loss(last_epoch, prefix, count)
    kept = "" if last_epoch is net.history[-1] else f" (at epoch {last_epoch['epoch']}, " \
        "whose weights the model keeps)"
    # float32 losses of embeddings that carry nothing (equal similarities)
    # land a rounding error below log(rows); batches of such embeddings
    # scatter around it, so a loss within two standard errors of its
    # batches' mean does not tell learning from chance either
    margin = 2.0 * _standard_error(last_epoch, prefix, term, count)
    if last >= chance * (1.0 - 1e-5) - margin:
        where = ("at or above" if last >= chance * (1.0 - 1e-5)
                 else f"within two standard errors of its batches ({margin:.2g}) of")
        warnings.warn(
            f"the {step_name} training ended with its cross-modal contrastive loss "
            f"{_where_judged(prefix)}{kept} at {last:.4g}, {where} its chance level "
            f"({_chance_level(count, rows)} = {chance:.4g} for batches of "
            f"{_batch_rows(rows)} rows, the loss of embeddings that carry nothing "
            f"shared): training has not taught the encoders what the modalities share"
            f"{' beyond the rows it was trained on' if prefix == 'valid' else ''}. "
            "Train for more epochs or at another lr (too low barely moves the weights, "
            "too high throws them about), make the posterior head, where there is one, "
            "less noisy (a larger kappa), or the other terms of the loss lighter; "
            "standardise the columns if their scales differ widely; or the modalities "
            "may share nothing.",
            ConvergenceWarning,
        )


def _standard_error(epoch, prefix, term, count):
    """The standard error of a history row's mean excess of ``term`` (a sum
    of ``count`` cross-modal InfoNCE losses) over its chance level, over its
    ``prefix`` ("train" or "valid") batches, each judged against its own
    rows' chance level; 0 for fewer than 2 batches."""
    excess = [batch[f"{prefix}_{term}"] - count * np.log(batch[f"{prefix}_batch_size"])
              for batch in epoch["batches"] if f"{prefix}_{term}" in batch]
    if len(excess) < 2:
        return 0.0
    return float(np.std(excess, ddof=1) / np.sqrt(len(excess)))


def _chance_loss(epoch, prefix, count):
    """The rows of the ``prefix`` ("train" or "valid") batches of a history
    row, and the loss of ``count`` cross-modal InfoNCE terms on them for
    embeddings that carry nothing shared."""
    rows = [batch[f"{prefix}_batch_size"] for batch in epoch["batches"]
            if f"{prefix}_batch_size" in batch]
    # the epoch's loss is the row-weighted mean of its batches' losses
    return rows, count * float(np.average(np.log(rows), weights=rows))


# How far above its lowest, as a share of its chance level, the held-out
# cross-modal contrast may end before fit warns of overfitting.
OVERFIT_SHARE_OF_CHANCE = 0.1


def warn_if_held_out_contrast_rose(net, criterion, step_name):
    """Warn when the held-out cross-modal contrast ended well above its lowest.

    With held-out rows (``validation_fraction``), a contrast that fell below
    its chance level and then rose again by more than
    ``OVERFIT_SHARE_OF_CHANCE`` of that level shows encoders fitted to the
    training rows at the expense of others. Not judged: training that a
    callback stopped (early stopping) or the user interrupted, training
    whose callbacks restore the best epoch's weights at its end
    (``load_best=True``, as skorch's EarlyStopping and Checkpoint take it,
    even when they did not stop it), and nets without a cross-modal term.
    Its warning replaces :func:`warn_if_no_better_than_chance`'s, which
    would tell of the same last epoch without the cause. Returns whether it
    warned.
    """
    term, count = getattr(criterion, "cross_modal_infonce", None) or (None, 0)
    if term is None or net.interrupted_ or net.stopped_by_callback_ or _kept_best(net):
        return False
    losses = [row[f"valid_{term}"] for row in net.history if f"valid_{term}" in row]
    if len(losses) < 2:
        return False
    best = int(np.argmin(losses))
    _, chance = _chance_loss(net.history[-1], "valid", count)
    # encoders that never did better than chance on the held-out rows learned
    # nothing to lose: the chance warning tells of them
    if losses[best] >= chance or losses[-1] - losses[best] <= OVERFIT_SHARE_OF_CHANCE * chance:
        return False
    at_chance = f" (at or above its chance level, {chance:.4g})" if losses[-1] >= chance else ""
    warnings.warn(
        f"the {step_name} training ended with its cross-modal contrastive loss on the "
        f"held-out rows at {losses[-1]:.4g}{at_chance}, up from {losses[best]:.4g} after "
        f"epoch {best + 1} of {len(losses)}: the encoders fit the training rows at the "
        "expense of others. Stop training where the held-out loss is lowest, with "
        "callbacks=[EarlyStopping(monitor='valid_loss', load_best=True)] (skorch), or "
        "train for fewer epochs or at a lower lr.",
        OverfittingWarning,
    )
    return True


def _best_restoring_callbacks(net):
    """The callbacks of ``net`` that restore the best epoch's weights at the
    end of training (``load_best=True``, as skorch's EarlyStopping and
    Checkpoint take it)."""
    return [callback for _, callback in getattr(net, "callbacks_", [])
            if getattr(callback, "load_best", False)]


def _kept_best(net):
    """Whether a callback of ``net`` restored its best epoch's weights."""
    return bool(_best_restoring_callbacks(net))


def _kept_epoch(net):
    """The history row of the weights ``net`` holds: the epoch that an
    EarlyStopping with ``load_best`` restored, else the last."""
    for callback in _best_restoring_callbacks(net):
        best = getattr(callback, "best_epoch_", None)
        rows = [row for row in net.history if best is not None and row.get("epoch") == best]
        if rows:
            return rows[0]
    return net.history[-1]


def _where_judged(prefix):
    return "on the held-out rows" if prefix == "valid" else "on the training batches"


def _chance_level(count, rows):
    """``log(r)``, ``2 x log(r)`` or, for batches of several sizes, their mean."""
    log = f"log({rows[0]})" if len(set(rows)) == 1 else "the row-weighted mean log(rows)"
    return log if count == 1 else f"{count} x {log}"


def _batch_rows(rows):
    sizes = sorted(set(rows), reverse=True)
    return str(sizes[0]) if len(sizes) == 1 else " and ".join(map(str, sizes))


class KeepLastEpochWeights(Callback):
    """Remember the module's weights at the start and after every epoch.

    The copy serves only while training runs (an interrupted epoch goes back
    to it); it is dropped at the end, so a fitted net does not carry it.
    """

    def on_train_begin(self, net, **kwargs):
        self.state_ = copy.deepcopy(net.module_.state_dict())

    def on_epoch_end(self, net, **kwargs):
        self.state_ = copy.deepcopy(net.module_.state_dict())

    def on_train_end(self, net, **kwargs):
        self.state_ = None


class WeightRamp(Callback):
    """Move a weight of the objective exponentially from ``start`` to ``end``.

    Before each training batch of the first ``epochs`` epochs (a float
    counts in batches, so a ramp may end inside an epoch) the objective's
    attribute ``weight`` is set to ``start * (end / start) ** progress``,
    ``progress`` being the fraction of the ramp's batches done; it stays at
    ``end`` after, and is recorded in the history under its name with every
    training batch. This is the exponential ramp of the DisentangledSSL
    authors' code (their ``beta_start_value``, ``beta_end_value`` and
    ``beta_n_iterations``). The held-out rows' objective is computed at
    ``end``, so that its epochs compare (early stopping judges them).
    Progress counts the epochs in the net's history: a fit resumed from a
    checkpoint (skorch's ``LoadInitState``, which loads the history) goes on
    with the ramp where the checkpoint left it.

    The weight is a tensor while training runs, filled in place, so that a
    compiled training step reads each batch's value without compiling
    again; training ends with it at ``end``, a float again. A net trained
    further (``partial_fit`` of a fitted net) trains at ``end``.
    """

    def __init__(self, weight, start, end, epochs):
        self.weight = weight
        self.start = start
        self.end = end
        self.epochs = epochs

    def on_train_begin(self, net, **kwargs):
        self.value_ = None
        if getattr(net, "further_epochs_", None):  # the ramp is over
            return
        objective = _unwrapped(net, net.criterion_)
        device = next(net.module_.parameters()).device
        self.value_ = torch.tensor(float(self.start), dtype=torch.float32, device=device)
        self.filled_ = float(self.start)  # the value_ holds, to fill it only on a change
        setattr(objective, self.weight, self.value_)

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        if self.value_ is not None:
            # the epochs the history holds before this one's row, so that a
            # fit resumed from a checkpoint goes on with the ramp
            self.epochs_done_ = len(net.history) - 1
            self.batches_per_epoch_ = max(len(net.get_iterator(dataset_train, training=True)), 1)
            self.batches_done_ = 0

    def on_batch_begin(self, net, training=False, **kwargs):
        if self.value_ is None:
            return
        if training:
            done = self.epochs_done_ + self.batches_done_ / self.batches_per_epoch_
            value = self.start * (self.end / self.start) ** min(done / self.epochs, 1.0)
            net.history.record_batch(self.weight, value)
            self.batches_done_ += 1
        else:
            value = self.end
        if value != self.filled_:  # one kernel on the device, where it changes
            self.value_.fill_(value)
            self.filled_ = value

    def on_train_end(self, net, **kwargs):
        setattr(_unwrapped(net, net.criterion_), self.weight, self.end)
        self.value_ = None


def _unwrapped(net, model):
    """``model`` as the net's code built it, without an accelerator's wrapper."""
    accelerator = getattr(net, "accelerator", None)
    return model if accelerator is None else accelerator.unwrap_model(model)


class TrainingLRScheduler(LRScheduler):
    """skorch's ``LRScheduler``, holding its torch scheduler only while training.

    The scheduler built when training starts is dropped when it ends, as
    every ``LRScheduler``'s is (:func:`_release_schedulers`; the next
    training builds a new one from the history, as skorch does anyway), so a
    pickled net does not store the optimiser a second time through it.

    A net trained further (``partial_fit`` on a fitted net) starts the
    schedule again over that call's epochs, from the net's learning rate: the
    schedule the net was fitted with ends at 0, where skorch would go on
    with it, so that a further epoch would not train. So does a training
    that resumes from a checkpoint (skorch's ``LoadInitState``, whose
    ``on_train_begin`` loads the history and the optimiser's state, at the
    rate of 0 a fit ends at, after this callback's has built the schedule).
    """

    def _get_scheduler(self, net, policy, **scheduler_kwargs):
        epochs = getattr(net, "further_epochs_", None)
        if net.history and epochs:
            # a new schedule (skorch would resume the fit's at the epoch the
            # history has reached)
            scheduler_kwargs = self._restarted(net, epochs, scheduler_kwargs)
        return super()._get_scheduler(net, policy, **scheduler_kwargs)

    @staticmethod
    def _restarted(net, epochs, scheduler_kwargs):
        """Settings of a schedule from the net's rate over ``epochs``, its
        optimiser's rate set to start there."""
        for group in net.optimizer_.param_groups:
            group["lr"] = group["initial_lr"] = net.lr
        return {**scheduler_kwargs, "T_max": max(epochs, 1), "last_epoch": -1}

    def on_train_begin(self, net, **kwargs):
        super().on_train_begin(net, **kwargs)
        self.rows_at_start_ = len(net.history)

    def on_epoch_begin(self, net, **kwargs):
        # the history holds the epoch beginning: more rows before it than
        # when the schedule was built were loaded in between
        start, self.rows_at_start_ = getattr(self, "rows_at_start_", None), None
        if start is not None and len(net.history) - 1 > start:
            epochs = getattr(net, "further_epochs_", None) or net.max_epochs
            self.lr_scheduler_ = super()._get_scheduler(
                net, self.policy_, **self._restarted(net, epochs, self.kwargs))


def loss_and_terms(criterion, y_pred):
    """The loss of the module output ``y_pred`` and its named terms.

    The terms are those of an objective with named terms (see
    :class:`~sklearn_dssl._losses.WeightedTerms`), an empty dict otherwise.
    """
    if not getattr(criterion, "term_names", ()):
        return criterion(y_pred), {}
    terms = criterion.terms(y_pred)
    return criterion.combine(terms), terms


def batch_objective(module, criterion, x):
    """The module's output on the batch ``x``, its loss and the loss's named terms."""
    y_pred = module(x)
    return (y_pred, *loss_and_terms(criterion, y_pred))


def compiled_objective(device):
    """:func:`batch_objective`, to be compiled by ``torch.compile`` for one net.

    The function gets a code object of its own: dynamo keeps its compiled
    graphs per code object, and one shared by every net would reach its
    recompilation limit after a few fits (new hyperparameters, new shapes)
    and run the later ones uncompiled. On a CPU the random draws stay torch's
    own (``fallback_random``), in the same order as without compiling, so a
    compiled fit matches an uncompiled one up to float rounding; TorchInductor's
    own CPU generator is slower than torch's. On a GPU TorchInductor draws
    them itself.
    """
    code = batch_objective.__code__.replace()  # a copy
    fn = types.FunctionType(code, batch_objective.__globals__, batch_objective.__name__)
    options = {"fallback_random": True} if torch.device(device).type == "cpu" else None
    return torch.compile(fn, options=options)


def _float32_tensor(X):
    """X, an array-like or tensor of numbers, as the float32 tensor that
    batches are cut from; a ValueError or TypeError names what cannot be
    read as numbers (dates, text, complex values, pandas' missing values),
    as the estimators' fit does."""
    if torch.is_tensor(X):
        if X.is_complex():
            raise TypeError(
                f"X is a tensor of {X.dtype} values, and the nets train on real "
                "numbers; pass its real part (X.real) or its magnitude (X.abs())."
            )
        return X.detach().to(torch.float32)
    X = readable_numbers(X, (np.float32, np.float64), ensure_all_finite=False,
                         ensure_min_samples=0)
    X = check_float32_range(X).astype(np.float32, copy=False)
    # torch warns of a tensor on a read-only array (a data frame's view)
    return torch.as_tensor(X if X.flags.writeable else X.copy())


def _module_device(module):
    """The device ``module``'s parameters are on."""
    return next(module.parameters()).device


def _check_rows_to_train_on(X):
    """Refuse what the estimators' ``fit`` refuses before training a fitted
    net further on ``X`` (a float32 tensor): fewer than 2 rows (a
    contrastive loss needs a negative for every row), and values that are
    not finite. One pass over ``X``, without a mask of its size."""
    if len(X) < 2:
        raise ValueError(
            f"X has {len(X)} row(s); training needs at least 2 (a contrastive loss "
            "needs a negative for every row), as the estimators' fit does."
        )
    if X.numel():
        low, high = torch.aminmax(X)
        if not (torch.isfinite(low) and torch.isfinite(high)):
            raise ValueError(
                "X holds NaN or infinite values, which training cannot use; impute or "
                "drop them first (the estimators' fit refuses them too)."
            )


# How skorch's LRScheduler says that the score its ReduceLROnPlateau
# monitors is not in the history.
_SCHEDULER_SCORE_NOT_FOUND = re.compile(
    r"'(.*)' was not found in history\. A Scoring callback with name=")


@contextlib.contextmanager
def _noting_ctrl_c(net):
    """Note on ``net`` (``_ctrl_c_pressed``) that a Ctrl-C pressed while the
    block runs raised a KeyboardInterrupt (through Python's handler, or the
    one installed before): the flag tells it from the KeyboardInterrupt a
    callback raises.

    Only the main thread receives signals and may set their handlers;
    elsewhere, and where SIGINT does not raise KeyboardInterrupt (ignored, or
    left to the system), the block runs as it is.
    """
    net.__dict__.pop("_ctrl_c_pressed", None)
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield
        return

    def note_and_interrupt(signum, frame):
        try:
            previous(signum, frame)
        except KeyboardInterrupt:
            net._ctrl_c_pressed = True
            raise

    signal.signal(signal.SIGINT, note_and_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        net.__dict__.pop("_ctrl_c_pressed", None)


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
    is not an interruption; a Ctrl-C pressed while such callbacks run is.

    With ``compile=True`` each training step (the module's forward pass and
    the loss, with their backward pass) runs as graphs compiled by
    ``torch.compile`` for this net (see :func:`compiled_objective`), kept
    until :meth:`release_compiled` and left out of pickles; the module and
    criterion themselves stay plain modules, so the fitted net pickles, saves
    and infers as without compiling.
    """

    def initialize(self):
        # fresh weights and optimiser: whatever was loaded is gone
        self.__dict__.pop("_loaded_for_inference", None)
        return super().initialize()

    @with_autograd
    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Train further on ``X``: all modalities' columns side by side, in the
        order of the estimator's ``modalities_``, as an array or tensor; or
        a data frame holding the columns the estimator was fitted on, which
        are selected by name (``column_names_``)."""
        try:
            return self._partial_fit(X, y, classes, **fit_params)
        finally:
            _release_schedulers(self)

    def _partial_fit(self, X, y=None, classes=None, **fit_params):
        if self.__dict__.get("_loaded_for_inference"):
            raise RuntimeError(
                "this net was loaded by sklearn_dssl.load with its weights but not its "
                "optimiser's state, so it cannot continue training; refit the estimator "
                "instead."
            )
        names = getattr(self, "column_names_", None)
        columns = frame_columns(X)
        if columns is not None:
            if names is not None:
                X = check_named_columns(X, len(names), "the net's input", names,
                                        type(self).__name__)
            elif all(isinstance(c, str) for c in columns[0]):  # names, as scikit-learn's
                warnings.warn(
                    "X has column names, but this net reads its columns by position (its "
                    "estimator was fitted without column names, or by a version before nets "
                    "kept them): give X's columns in the order of the estimator's "
                    "modalities_.",
                    UserWarning,
                    stacklevel=2,
                )
        X = _float32_tensor(X)
        module = getattr(self, "module_", None)
        sizes = getattr(getattr(module, "shared", module), "modality_sizes", None)
        if sizes is not None and (X.ndim != 2 or X.shape[1] != sum(sizes)):
            raise ValueError(
                f"X has shape {tuple(X.shape)}, but the net reads {sum(sizes)} columns: "
                "every modality's columns side by side, in the order of the estimator's "
                "modalities_."
            )
        if not len(getattr(self, "history", ())):
            # a first fit, by an estimator, which checked the rows and puts
            # itself back as it was if training fails
            return super().partial_fit(X, y, classes, **fit_params)
        # a fitted net trained further, on rows the estimator has not checked;
        # its learning-rate schedule starts again over these epochs
        # (TrainingLRScheduler)
        _check_rows_to_train_on(X)
        self.further_epochs_ = fit_params.get("epochs") or self.max_epochs
        before = self._training_state()
        try:
            with seeded_torch(self._further_training_seed(), _module_device(self.module_)):
                return super().partial_fit(X, y, classes, **fit_params)
        except Exception:
            # a loss that stopped being finite (the optimiser has written
            # non-finite weights), a callback's error in mid-epoch: the net
            # as it was, as a failed fit leaves its estimator, without what
            # the package's callbacks hold while training (skorch ends the
            # training without them; the schedulers go in partial_fit)
            self._restore_training_state(before)
            callbacks = dict(self.callbacks_)
            if "keep_last_epoch_weights" in callbacks:
                callbacks["keep_last_epoch_weights"].on_train_end(self)
            raise
        finally:
            self.__dict__.pop("further_epochs_", None)

    def _further_training_seed(self):
        """The seed of a fitted net's further training: drawn from the seed
        its estimator trained it under and the epochs it has trained, so that
        equal nets trained further alike stay equal, and each call shuffles
        and augments anew."""
        entropy = [getattr(self, "training_seed_", 0), len(self.history)]
        return int(np.random.SeedSequence(entropy).generate_state(1)[0] >> 1)

    def _training_state(self):
        """What a failed further training puts back: the weights, the
        optimiser's state and the history, copied."""
        return (copy.deepcopy(self.module_.state_dict()),
                copy.deepcopy(self.optimizer_.state_dict()), copy.deepcopy(self.history))

    def _restore_training_state(self, state):
        weights, optimizer, history = state
        self.module_.load_state_dict(weights)
        self.optimizer_.load_state_dict(optimizer)
        self.history = history

    def infer(self, x, **fit_params):
        # a callback's function may infer on the rows it is given, which
        # are Rows with validation_fraction
        return super().infer(x.tensor() if isinstance(x, Rows) else x, **fit_params)

    def torch_compile(self, module, name):
        # skorch would wrap module_ and criterion_; the training step is
        # compiled instead (train_step_single)
        return module

    def notify(self, method_name, **cb_kwargs):
        try:
            super().notify(method_name, **cb_kwargs)
        except KeyboardInterrupt:
            # skorch's callbacks stop training by raising KeyboardInterrupt at
            # the end of an epoch; a Ctrl-C that lands there is still one
            self.stopped_by_callback_ = (method_name == "on_epoch_end"
                                         and not self.__dict__.get("_ctrl_c_pressed"))
            raise
        except KeyError as exc:
            missing = self._missing_score(str(exc), exc.args[0])
            if missing is not None:
                raise missing from exc
            raise
        except ValueError as exc:
            # skorch's LRScheduler (ReduceLROnPlateau) words its KeyError so
            name = _SCHEDULER_SCORE_NOT_FOUND.match(str(exc))
            missing = name and self._missing_score(str(exc), f"'{name[1]}'")
            if missing is not None:
                raise missing from exc
            raise

    def _missing_score(self, message, name):
        """The error telling that a callback reads a score the history does
        not hold (skorch's ``message``), or None for another KeyError."""
        # skorch holds out rows by default; here only validation_fraction does
        if self.train_split is None and "'valid_" in message:
            return ValueError(
                f"A callback reads a held-out score from the history ({name}), "
                "but no rows are held out; set validation_fraction (e.g. 0.1), or "
                "monitor 'train_loss'."
            )
        if "not found in history" in message and len(self.history):
            keys = [k for k in self.history[-1] if k not in ("batches", "epoch", "dur")
                    and not k.endswith("_batch_count")]
            return ValueError(
                f"A callback reads a score from the history that it does not hold "
                f"({name}); the scores recorded every epoch are {keys}. Check "
                "the name the callback monitors."
            )
        return None

    def fit_loop(self, X, y=None, **fit_params):
        if isinstance(X, torch.Tensor) and self.device is not None:
            X = X.to(self.device)  # skorch moves each batch; the rows move once
        self.interrupted_ = False
        self.stopped_by_callback_ = False
        try:
            with _noting_ctrl_c(self):
                return super().fit_loop(X, y, **fit_params)
        except KeyboardInterrupt:
            if not self.stopped_by_callback_:
                self.interrupted_ = True
                keeper = dict(self.callbacks_).get("keep_last_epoch_weights")
                if keeper is not None:
                    self.module_.load_state_dict(keeper.state_)
            raise

    def train_step_single(self, batch, **fit_params):
        objective = self.__dict__.get("_compiled_objective")
        if not self.compile or objective is None:
            step = super().train_step_single(batch, **fit_params)
            if self.compile:
                # compiled after one uncompiled step, which builds what the
                # modules build on first use (e.g. the vMF head's quantile
                # table), so that it is in place when torch.compile traces them
                self._compiled_objective = compiled_objective(step["loss"].device)
            return step
        self._set_training(True)
        Xi, _ = unpack_data(batch)
        try:
            y_pred, loss, terms = objective(self.module_, self.criterion_, Xi)
        except torch._dynamo.exc.BackendCompilerFailed as exc:
            reason = str(exc).strip().splitlines()[0]
            raise RuntimeError(
                f"compile=True: torch.compile could not compile the training step "
                f"({reason}). It needs a working C++ compiler on a CPU and Triton on "
                "a GPU; install one, or fit with compile=False."
            ) from exc
        self._batch_terms = {name: value.detach() for name, value in terms.items()}
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}

    def validation_step(self, batch, **fit_params):
        # The objective on held-out rows, without gradients. The modules run
        # as in training (augmented views, posterior samples): the objective
        # is defined on those, and step 2's module gives one view in eval mode.
        self._set_training(True)
        Xi, _ = unpack_data(batch)
        with torch.no_grad():
            y_pred = self.infer(Xi, **fit_params)
            loss, terms = loss_and_terms(self.criterion_, y_pred)
        self._record_terms("valid", terms)
        return {"loss": loss, "y_pred": y_pred}

    def get_dataset(self, X, y=None):
        return X

    def get_loss(self, y_pred, y_true, X=None, training=False):
        loss, terms = loss_and_terms(self.criterion_, y_pred)
        if training:
            self._batch_terms = {name: value.detach() for name, value in terms.items()}
        return loss

    def train_step(self, batch, **fit_params):
        # The terms of an objective with named terms go to the batch history
        # here, after the optimiser step has been issued, in one transfer: on
        # a GPU, reading them waits no longer than skorch's own read of the loss.
        self._batch_terms = {}
        step = super().train_step(batch, **fit_params)
        self._record_terms("train", self._batch_terms)
        self._batch_terms = {}  # tensors on the device: not kept after the step
        return step

    def _record_terms(self, prefix, terms):
        """Each named term of the batch's objective as ``<prefix>_<name>``, in one transfer."""
        if terms:
            values = torch.stack([v.detach().float() for v in terms.values()]).tolist()
            for name, value in zip(terms, values):
                self.history.record_batch(f"{prefix}_{name}", value)

    def release_compiled(self):
        """Free the graphs compiled for training; a further epoch compiles again."""
        self.__dict__.pop("_compiled_objective", None)

    def __getstate__(self):
        # skorch pickles module_ and criterion_ with torch.save, and its
        # unpickling maps them to the CPU when CUDA is missing; the nets are
        # built from module and criterion instances, the same objects, which
        # plain pickle would write with their devices: they go with them
        # (skorch issue #1096), so that a GPU-fitted model unpickles on a
        # CPU-only machine and the pairs stay one object each.
        dependent = self.cuda_dependent_attributes_
        self.cuda_dependent_attributes_ = [*dependent, "module", "criterion"]
        try:
            state = super().__getstate__()
        finally:
            self.cuda_dependent_attributes_ = dependent
        state["cuda_dependent_attributes_"] = dependent
        state.pop("_compiled_objective", None)  # graphs of this process
        state.pop("_batch_terms", None)  # the last batch's terms, on the device
        return state

    def __setstate__(self, state):
        # skorch maps a net fitted on CUDA to the CPU where CUDA is missing;
        # so for any device this machine lacks (a second GPU, Apple's mps)
        device = state.get("device")
        if device is not None and not _usable_here(device):
            warnings.warn(
                f"the net was fitted on {device!r}, which this machine lacks; it is "
                "loaded on the CPU.", DeviceWarning)
            state["device"] = "cpu"
        super().__setstate__(state)

    def get_all_learnable_params(self):
        for name, param in super().get_all_learnable_params():
            if param.requires_grad:
                yield name, param


class AcceleratedContrastiveNet(AccelerateMixin, ContrastiveNet):
    """A :class:`ContrastiveNet` trained through Hugging Face Accelerate.

    The accelerator places the module, wraps it for data-parallel training
    when several processes run, and handles mixed precision. :func:`train`
    replaces it by a plain :class:`ContrastiveNet` after training, so fitted
    estimators hold no accelerator state.
    """

    def _initialize_accelerator(self):
        # A criterion without trainable parameters needs no preparing, and
        # DistributedDataParallel refuses to wrap one; the loss is computed
        # under the accelerator's autocast anyway.
        criteria = self._criteria
        self._criteria = [
            name for name in criteria
            if any(p.requires_grad for p in getattr(self, name + "_").parameters())
        ]
        try:
            return super()._initialize_accelerator()
        finally:
            self._criteria = criteria


class HoldOut:
    """skorch's ``train_split`` for a tensor of rows: a random ``fraction`` held out.

    The net calls it at the start of each ``fit_loop``; :func:`train` runs
    that inside :func:`seeded_torch`, so the held-out rows follow the fit's
    seed. Returns ``(X_train, X_valid)``, each the :class:`Rows` of ``X``
    on its side: neither copies them.
    """

    def __init__(self, fraction):
        self.fraction = fraction

    def __call__(self, X, y=None, **fit_params):
        order = torch.randperm(len(X), device=X.device)
        n_valid = held_out_rows(len(X), self.fraction)
        return Rows(X, order[n_valid:]), Rows(X, order[:n_valid])


def held_out_rows(n_rows, fraction):
    """How many of ``n_rows`` rows :class:`HoldOut` holds out: ``ceil(fraction * n_rows)``,
    as scikit-learn's ``ShuffleSplit`` does, checked to leave two rows on each
    side (a contrastive loss needs a negative for every row)."""
    n_valid = math.ceil(fraction * n_rows)
    if n_valid < 2 or n_rows - n_valid < 2:
        raise ValueError(
            f"validation_fraction={fraction} holds out {n_valid} of {n_rows} rows, leaving "
            f"{n_rows - n_valid} to train on; the estimators need at least 2 rows on each "
            "side (a contrastive loss needs a negative for every row). Change "
            "validation_fraction, or leave it at None to train on all rows."
        )
    return n_valid


def _fresh_callback(callback, file_prefix="", kind=None):
    """``type(callback)(**params)``, or ``kind(**params)``: the callback's
    parameters, not its state.

    The parameters themselves are shared, not copied: a writer, a run or a
    sink given to a logging callback (skorch's ``TensorBoard(writer)``,
    ``EarlyStopping(sink=...)``) receives what every net's copy sends it. A
    callback among them (``LoadInitState``'s checkpoint) is built afresh
    the same way, and initialised, as the net initialises its own callbacks.
    ``file_prefix`` goes before the name of each file a callback writes
    (its ``f_*`` parameters: skorch's ``Checkpoint`` and
    ``TrainEndCheckpoint``), in whatever folder the name gives, so that two
    nets of one fit do not write over each other's files.
    """
    params = callback.get_params(deep=False)
    for name, value in params.items():
        if isinstance(value, Callback):
            params[name] = _fresh_callback(value, file_prefix).initialize()
        elif file_prefix and name.startswith("f_") and isinstance(value, (str, os.PathLike)):
            folder, base = os.path.split(os.fspath(value))
            params[name] = os.path.join(folder, file_prefix + base)
    return (kind or type(callback))(**params)


def copy_callback(callback, file_prefix=""):
    """A fresh copy of a user's callback for one net, so that nets share no state.

    The copy is built from the callback's parameters, which for a skorch
    callback are its attributes whose names do not end in ``_``
    (:func:`_fresh_callback`). As in skorch, an entry is a callback, a
    callback class, or a ``(name, callback)`` pair.
    """
    named = isinstance(callback, tuple) and len(callback) == 2 and isinstance(callback[0], str)
    entry = callback[1] if named else callback
    if not (isinstance(entry, Callback)
            or (isinstance(entry, type) and issubclass(entry, Callback))):
        raise TypeError(
            f"callbacks: {entry!r} is not a skorch callback; pass instances of "
            "skorch.callbacks.Callback (e.g. EarlyStopping(monitor='train_loss')), "
            "their classes, or (name, callback) pairs."
        )
    # skorch's own bar counts the incomplete last batch, which training drops
    counting = BatchCountingProgressBar if type(entry) is ProgressBar else None
    if entry is ProgressBar:
        return (callback[0], BatchCountingProgressBar) if named else BatchCountingProgressBar
    if isinstance(entry, type):  # skorch builds it for each net
        return callback
    _check_scoring_needs_no_labels(entry)
    try:
        fresh = _fresh_callback(entry, file_prefix, kind=counting)
    except (TypeError, RuntimeError) as exc:
        name = type(entry).__name__
        raise TypeError(
            f"callbacks: {name} cannot be copied for a new net ({exc}). Each training net "
            f"gets a copy built by {name}(**params) from its skorch parameters, its "
            "attributes whose names do not end in '_'; accept each of them in __init__, "
            "or name attributes that hold state with a trailing '_' (e.g. self.rows_)."
        ) from exc
    return (callback[0], fresh) if named else fresh


def _check_scoring_needs_no_labels(callback):
    """Refuse skorch's ``EpochScoring`` and ``BatchScoring`` given a
    scikit-learn scorer's name, or no scoring (the net's ``score``): both
    compare predictions with labels, and the package's training has none."""
    if isinstance(callback, ScoringBase) and (
            callback.scoring is None or isinstance(callback.scoring, str)):
        raise ValueError(
            f"callbacks: {type(callback).__name__}(scoring={callback.scoring!r}) compares "
            "the net's predictions with labels, and this training has none; give it a "
            "function of (net, X, y) that returns a number (X holds the rows it scores, "
            "every modality's columns side by side, and y is None), or have a callback "
            "monitor a score the net records: 'train_loss', 'valid_loss' with "
            "validation_fraction, and each term of the objective (e.g. 'train_contrast')."
        )


def _callback_names(callbacks):
    """The name skorch gives each entry of ``callbacks``: a pair's own, else
    its class's, numbered from 1 (``EpochScoring_1``) where several share it."""
    names = [entry[0] if isinstance(entry, tuple) else
             (entry if isinstance(entry, type) else type(entry)).__name__
             for entry in callbacks]
    counts = {name: names.count(name) for name in names}
    seen = dict.fromkeys(names, 0)
    numbered = []
    for entry, name in zip(callbacks, names):
        if counts[name] > 1 and not isinstance(entry, tuple):
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        numbered.append(name)
    return numbered


def callbacks_with_params(callbacks, params):
    """A new list of ``callbacks`` with ``params`` set, as skorch's
    ``set_params`` takes them: ``callbacks__<name>`` (a callback in its place,
    or None to drop it) and ``callbacks__<name>__<parameter>``. The callbacks
    changed are copies, made as a fit makes them (:func:`_fresh_callback`):
    the user's stay as given."""
    callbacks = list(callbacks or [])
    names = _callback_names(callbacks)  # before any is dropped
    for key, value in params.items():
        name, _, parameter = key[len("callbacks__"):].partition("__")
        if name not in names:
            raise ValueError(
                f"set_params: {key} names no callback; the callbacks given are "
                f"{names or 'none'} (named as skorch names them: a pair's name, else "
                "the class's). Give a new list as callbacks=[...], or name each "
                "callback with a (name, callback) pair."
            )
        i = names.index(name)
        named = isinstance(callbacks[i], tuple)
        entry = callbacks[i][1] if named else callbacks[i]
        if entry is None:
            raise ValueError(f"set_params: {key} sets a parameter of a dropped callback")
        if not parameter:
            entry = value
        else:
            entry = entry() if isinstance(entry, type) else _fresh_callback(entry)
            entry.set_params(**{parameter: value})
        callbacks[i] = (name, entry) if named else entry
    return [cb for cb in callbacks if (cb[1] if isinstance(cb, tuple) else cb) is not None]


class BatchCountingProgressBar(ProgressBar):
    """skorch's progress bar, its total the number of batches the net's
    iterators give: training drops an incomplete last batch, which skorch's
    count (rows over batch size, rounded up) includes."""

    def _get_batches_per_epoch_phase(self, net, dataset, training):
        if dataset is None:
            return 0
        return len(net.get_iterator(dataset, training=training))


_COLOUR_CODES = re.compile(r"\x1b\[[0-9;]*m")


def print_uncoloured(*values, printer=print, **kwargs):
    """``printer`` (``print``), without the terminal colour codes of skorch's
    per-epoch log."""
    printer(*(_COLOUR_CODES.sub("", str(value)) for value in values), **kwargs)


def log_sink(printer=print):
    """Where a net prints its per-epoch log: ``printer`` (``print``, or an
    accelerator's) where its colours show (stdout a terminal, a notebook),
    else through :func:`print_uncoloured` (a log file, a pipe would keep
    them as escape codes)."""
    if _shows_in_place(sys.stdout):
        return printer
    return print_uncoloured if printer is print else functools.partial(
        print_uncoloured, printer=printer)


def _progress_bar_shows():
    """Whether a progress bar can redraw in place (see :func:`_shows_in_place`)."""
    return _shows_in_place(sys.stderr)


def _shows_in_place(stream):
    """Whether ``stream`` shows a terminal's colours and redraws: it is a
    terminal, or the process is a Jupyter kernel (a notebook, Colab, an
    editor's). Elsewhere (a log file, a pipe) the codes stay in the output."""
    isatty = getattr(stream, "isatty", None)
    return "ipykernel" in sys.modules or bool(isatty is not None and isatty())


def _own_callbacks(criterion, max_epochs, step_name, validation_fraction, verbose):
    """The ``(name, callback)`` pairs every training net of the package keeps."""
    own = [
        ("lr_schedule", TrainingLRScheduler(
            policy=torch.optim.lr_scheduler.CosineAnnealingLR, T_max=max(max_epochs, 1))),
        ("stop_on_non_finite_loss", StopOnNonFiniteLoss(step_name)),
        ("keep_last_epoch_weights", KeepLastEpochWeights()),
    ]
    # each named term of the objective, averaged over the epoch's batches
    term_names = getattr(criterion, "term_names", ())
    own += [
        (f"train_{name}", PassthroughScoring(name=f"train_{name}", on_train=True))
        for name in term_names
    ]
    if validation_fraction is not None:  # and on the held-out rows
        own += [(f"valid_{name}", PassthroughScoring(name=f"valid_{name}")) for name in term_names]
    if verbose and _progress_bar_shows():
        own.append(("progress_bar", BatchCountingProgressBar()))
    return own


def _user_callbacks(callbacks, own_callbacks, verbose, file_prefix):
    """A copy of each of the user's ``callbacks`` for one net, refused when
    one is named like a callback of the package's."""
    user = [copy_callback(cb, file_prefix) for cb in (callbacks or [])]
    own_names = [name for name, _ in own_callbacks]
    if verbose and "progress_bar" not in own_names:  # the same names whatever the terminal
        own_names.append("progress_bar")
    taken = [cb[0] for cb in user if isinstance(cb, tuple) and cb[0] in own_names]
    if taken:
        raise ValueError(
            f"callbacks: the name {taken[0]!r} is one of the package's own callbacks "
            f"({', '.join(own_names)}), which every net keeps; give yours another name. "
            "A callback of yours acts beside them (e.g. a second LRScheduler also "
            "changes the learning rate)."
        )
    return user


def make_net(module, criterion, *, max_epochs, batch_size, lr, device, callbacks=None,
             verbose=0, step_name="training", accelerator=None, compile=False,
             validation_fraction=None, file_prefix="", ramps=()):
    """The :class:`ContrastiveNet` that :func:`train` fits, not yet initialised.

    Adam with a cosine-annealed learning rate, shuffled batches with the
    last incomplete batch dropped; an objective with named terms (see
    :class:`~sklearn_dssl._losses.WeightedTerms`) gets one history column
    per term, ``"train_<name>"``, per batch and per epoch.
    :mod:`sklearn_dssl._persistence` builds the nets of a loaded model with
    it, so they match the trained ones.
    With an ``accelerator``, an :class:`AcceleratedContrastiveNet` that
    trains through it (the accelerator places the module, so ``device`` is
    left to it), each process on its own batches. ``compile`` compiles its
    training steps (see :class:`ContrastiveNet`). With a
    ``validation_fraction``, the net holds out that fraction of the rows it
    is given (:class:`HoldOut`) and records the objective on them as
    ``"valid_loss"``. The net gets its own copy of each of ``callbacks``
    (:func:`copy_callback`), those that write files with ``file_prefix``
    before their file names. Each of ``ramps``, a :class:`WeightRamp`, moves
    a weight of the objective during training; it is named
    ``"<weight>_ramp"`` among the net's callbacks.
    """
    own_callbacks = _own_callbacks(criterion, max_epochs, step_name, validation_fraction,
                                   verbose)
    own_callbacks += [(f"{ramp.weight}_ramp", ramp) for ramp in ramps]
    user_callbacks = _user_callbacks(callbacks, own_callbacks, verbose, file_prefix)
    # skorch's log prints through any sink but print whatever the verbosity
    cls, extra = ContrastiveNet, {"callbacks__print_log__sink": log_sink() if verbose else print}
    if accelerator is not None:
        cls = AcceleratedContrastiveNet
        extra = {
            "accelerator": accelerator,
            "iterator_train__accelerator": accelerator,
            # the accelerator's print prints on the main process only
            "callbacks__print_log__sink": log_sink(accelerator.print) if verbose else print,
        }
        if accelerator.device_placement:
            device = None  # the accelerator places the module
    return cls(
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
        train_split=None if validation_fraction is None else HoldOut(validation_fraction),
        callbacks=own_callbacks + user_callbacks,
        device=device,
        verbose=verbose,
        compile=compile,
        **extra,
    )


def _check_training_settings(X, batch_size, accelerator, compile, validation_fraction):
    """Refuse settings of :func:`train` that do not combine, before any training."""
    if validation_fraction is not None:
        if accelerator is not None:
            raise ValueError(
                "validation_fraction does not combine with an accelerator, whose "
                "processes would each hold out other rows; leave it at None and "
                "evaluate on rows kept out of the fit (e.g. with score)."
            )
        held_out_rows(len(X), validation_fraction)  # refused before any training
    if accelerator is not None and compile:
        raise ValueError(
            "compile=True does not combine with an accelerator, which runs the "
            "training step itself; leave compile=False and give the accelerator "
            "its own dynamo_backend (e.g. Accelerator(dynamo_backend='inductor'))."
        )
    if accelerator is not None:
        n_batches = len(TensorBatches(X, batch_size, drop_last=True))
        if n_batches < accelerator.num_processes:
            raise ValueError(
                f"{accelerator.num_processes} processes need at least one batch each, "
                f"but {len(X)} rows make {n_batches} batch(es) of batch_size="
                f"{batch_size}; lower batch_size or use fewer processes."
            )


def train(module, criterion, X, *, max_epochs, batch_size, lr, device, callbacks,
          verbose, step_name, accelerator=None, compile=False, validation_fraction=None,
          file_prefix="", ramps=()):
    """Train ``module`` to minimise ``criterion`` on the float tensor ``X``.

    Adam with a cosine-annealed learning rate, shuffled batches with the
    last incomplete batch dropped, one history row per epoch. Returns the
    fitted :class:`ContrastiveNet`; its ``history`` holds the per-epoch loss.
    Call it inside :func:`seeded_torch` for reproducible results.

    With an ``accelerator`` (``device`` is then its device, see
    :func:`training_device`), training runs through it, and the returned
    net is a plain :class:`ContrastiveNet` holding the unwrapped module, its
    history and callbacks: it pickles, and holds no reference to the
    accelerator. With ``compile``, each training step runs compiled by
    ``torch.compile`` (not with an accelerator, which has its own option).
    With ``validation_fraction``, that fraction of the rows is held out of
    training, and the history's ``"valid_loss"`` is the objective on them
    (not with an accelerator). Callbacks that write files put
    ``file_prefix`` before their file names, and ``ramps`` move weights of
    the objective (see :func:`make_net`).
    """
    settings = dict(
        max_epochs=max_epochs, batch_size=batch_size, lr=lr, device=device,
        callbacks=callbacks, verbose=verbose, step_name=step_name,
        validation_fraction=validation_fraction, file_prefix=file_prefix, ramps=ramps,
    )
    _check_training_settings(X, batch_size, accelerator, compile, validation_fraction)
    net = make_net(module, criterion, accelerator=accelerator, compile=compile, **settings)
    # by name: a callback may freeze parameters (skorch's Freezer) as training starts
    initial = {name: p.detach().clone() for name, p in module.named_parameters()
               if p.requires_grad}
    if verbose:  # a caption for the per-epoch log
        log_sink(print if accelerator is None else accelerator.print)(f"{step_name} training:")
    with warnings.catch_warnings():
        # skorch warns that the module is an instance it will not re-create;
        # that is what we want.
        warnings.filterwarnings("ignore", message=".*already initialized.*")
        net.fit(X.to(device), None)
        net.release_compiled()  # the fitted estimator trains no further
        if accelerator is not None:
            net = _without_accelerator(net, make_net(net.module_, net.criterion_, **settings))
    # the seed training ran under (seeded_torch's), from which further
    # training draws its own
    net.training_seed_ = torch.initial_seed()
    if not warn_if_held_out_contrast_rose(net, criterion, step_name):
        warn_if_no_better_than_chance(net, criterion, step_name)
    warn_if_weights_unchanged(net, initial, step_name)
    return net


def warn_if_weights_unchanged(net, initial, step_name):
    """Warn when training left the trained weights where they started
    (``initial``, the module's trainable parameters by name): no entry
    moved by a millionth of the largest initial weight. A learning
    rate of nearly nothing does that, and so does a loss without gradient;
    step 2's loss, which no other warning judges, would not tell."""
    if net.interrupted_ or not completed_epochs(net) or not initial:
        return
    trained = dict(net.module_.named_parameters())
    pairs = [(before, trained[name].detach()) for name, before in initial.items()
             if name in trained and trained[name].shape == before.shape and before.numel()]
    if not pairs:
        return
    largest = max(float(before.abs().max()) for before, _ in pairs)
    moved = max(float((before.to(after.device) - after).abs().max()) for before, after in pairs)
    if moved <= 1e-6 * largest:
        warnings.warn(
            f"the {step_name} training left the weights where they started (no entry "
            f"moved by more than {moved:.2g}, against initial weights up to "
            f"{largest:.2g}): the lr is too small to move them, or the loss has no "
            "gradient for them. Raise lr, or check the loss's settings.",
            ConvergenceWarning,
            stacklevel=2,
        )


def _release_schedulers(net):
    """Drop the torch schedulers that skorch's ``LRScheduler`` callbacks keep
    after training (the package's own drops its own): each holds the
    optimiser, which a pickle would then store again, on its device (a
    GPU-fitted model would not unpickle on a CPU), or an accelerator's
    wrapper of it, which does not pickle at all. skorch builds them again
    when training starts (:meth:`ContrastiveNet.partial_fit` calls this at
    the end of every training)."""
    for _, callback in getattr(net, "callbacks_", ()):
        if isinstance(callback, LRScheduler):
            callback.lr_scheduler_ = None


def _without_accelerator(trained, plain):
    """``plain``, initialised with the state of the accelerated net ``trained``.

    ``trained``'s module and criterion were unwrapped at the end of training
    (skorch's ``unwrap_after_train``); ``plain`` takes them, the history,
    the interruption flags and the callbacks that carry state from training.
    Its optimiser and learning-rate schedule are fresh: the estimators never
    continue a fitted net's training.
    """
    plain.initialize()
    fitted = dict(trained.callbacks_)
    plain.callbacks_ = [
        (name, cb if name in ("lr_schedule", "print_log") else fitted.get(name, cb))
        for name, cb in plain.callbacks_
    ]
    plain.history = trained.history
    plain.interrupted_ = trained.interrupted_
    plain.stopped_by_callback_ = trained.stopped_by_callback_
    _release_from_accelerator(trained)
    return plain


def _release_from_accelerator(net):
    """Drop the references ``net.accelerator`` keeps to ``net``'s training objects.

    ``accelerator.prepare`` registers every module and optimiser it wraps;
    without this, an accelerator reused across fits (a search, ``clone``)
    would keep every fitted candidate's weights and optimiser state alive.
    """
    accelerator = net.accelerator
    ours = {id(obj) for obj in (net.module_, net.criterion_, net.optimizer_)}
    accelerator._models = [
        m for m in accelerator._models if id(accelerator.unwrap_model(m)) not in ours
        and id(m) not in ours
    ]
    accelerator._optimizers = [
        o for o in accelerator._optimizers
        if id(o) not in ours and id(getattr(o, "optimizer", None)) not in ours
    ]
