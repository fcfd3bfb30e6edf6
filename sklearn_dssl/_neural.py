"""Base of the estimators whose encoders are torch modules trained by skorch.

:class:`NeuralMultimodalTransformer` adds to :class:`MultimodalTransformer`
what every neural estimator of the package shares: the training parameters,
the start of a fit (validation, modalities, device, hidden layers), the
augmenter, the call into :func:`~sklearn_dssl._training.train`, an optional
FastICA rotation of the shared block, inference through a fitted module and
the contrastive :meth:`score`. An estimator adds its modules and its loss.

Single-net estimators store their fitted net as ``net_``; its module follows
a small protocol: ``block_widths`` (``{block: [width per modality]}``),
``encode_blocks(x)`` (``{block: [tensor per modality]}``) and
``encode_modality(x, index, block)``.
"""

import copy
import warnings
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
import torch
from sklearn.base import clone
from sklearn.decomposition import FastICA
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base import INFERENCE_BATCH_ROWS, MultimodalTransformer, check_finite_score
from ._losses import SIMILARITIES, cross_modal_info_nce
from ._modules import TabularAugmenter
from ._training import (PickledAccelerator, as_tensor, callbacks_with_params, device_memory,
                        infer, seed_from, train, training_device)
from ._validation import is_allocation_failure, validate_estimator_settings
from .exceptions import ColumnScaleWarning, ModelMemoryError

# Parameters of every estimator trained by skorch.
TRAINING_PARAMETER_CONSTRAINTS = {
    "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
    # a contrastive loss needs a negative in every batch: at least 2 rows
    "batch_size": [Interval(Integral, 2, None, closed="left")],
    "lr": [Interval(Real, 0, None, closed="neither")],
    "device": [str, torch.device],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "callbacks": [list, None],
    "compile": ["boolean"],
    "accelerator": [None, HasMethods(["prepare", "unwrap_model"]), PickledAccelerator],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither"), None],
}

# Parameters of the estimators that train on augmented views.
AUGMENTATION_PARAMETER_CONSTRAINTS = {
    "augmentation": [StrOptions({"mixed", "noise", "mask", "none"}), callable],
    "noise_scale": [Interval(Real, 0, None, closed="left")],
    "mask_fraction": [Interval(Real, 0, 1, closed="both")],
}

ICA_PARAMETER_CONSTRAINTS = {"ica": ["boolean", FastICA]}

# The widths of the blocks, as the estimators have them, and the parameters
# that set how much memory a fit needs.
WIDTH_PARAMETERS = ("n_shared", "n_specific", "n_components")
SIZE_PARAMETERS = ("hidden_layer_sizes", *WIDTH_PARAMETERS, "batch_size")


class _DeviceMemoryError(ModelMemoryError, torch.cuda.OutOfMemoryError):
    """A :class:`~sklearn_dssl.exceptions.ModelMemoryError` in place of
    torch's ``OutOfMemoryError`` (a GPU's), which code may catch as such."""


# Parameters added after the package's estimators were first saved or
# pickled, each with the value that estimators from before it were trained
# with (not necessarily its default).
EARLIER_VALUES = {"compile": False, "specific_init": "normal", "validation_fraction": None,
                  "beta_start": None, "beta_ramp_epochs": None}


def with_earlier_values(cls, params):
    """``params`` of a saved or pickled ``cls`` estimator, completed with the
    earlier value of each parameter of ``cls`` they lack (:data:`EARLIER_VALUES`)."""
    names = cls._get_param_names()
    return {**{name: value for name, value in EARLIER_VALUES.items() if name in names},
            **params}


# Parameters of the estimators with specific encoders g_i([x_i, f_i(x_i)]).
SPECIFIC_INIT_PARAMETER_CONSTRAINTS = {"specific_init": [StrOptions({"looks_linear", "normal"})]}

# The ``specific_init`` entry of their Parameters sections (each docstring
# has ``{specific_init}`` where it goes).
SPECIFIC_INIT_DOC = """specific_init : {"looks_linear", "normal"}, default="looks_linear"
        Initial weights of the specific encoders. "normal": N(0, 0.01^2)
        weights, as the paper's authors initialise every encoder, with zero
        biases (theirs keep torch's uniform ones): a random nonlinear projection of ``[x_i, f_i(x_i)]`` that
        keeps only part of it. "looks_linear": the same weights mirrored
        (the looks-linear initialisation of Balduzzi et al., 2017), so that
        each specific encoder starts as a linear map of its input, which
        keeps all of it; training then drives out what the shared embedding
        holds and makes the encoder as nonlinear as the loss asks. The
        specific block keeps much of what its encoder starts with, so the
        start matters: on the paper's synthetic data, DisentangledSSL's
        default settings give a specific block that reads 0.717 on its own
        label with "looks_linear" against 0.675 with "normal", at the same
        leakage (see the benchmarks page)."""

# The ``validation_fraction`` entry of every neural estimator's Parameters
# section (each docstring has ``{validation_fraction}`` where it goes).
VALIDATION_FRACTION_DOC = """validation_fraction : float in (0, 1) or None, default=None
        Hold out this fraction of the rows (random rows, drawn from the fit's
        seed) from each training net, and record its objective on them, as
        in training (with its augmented views and posterior samples, where
        the method has them) but without gradients, as
        ``"valid_loss"`` in the net's history after each epoch, each of its
        terms beside it as ``"valid_<term>"``. With it,
        skorch's ``EarlyStopping(monitor="valid_loss", load_best=True)`` in
        ``callbacks`` stops a net when the held-out objective stops
        improving. The held-out rows do not train the encoders; transform,
        score and an ``ica`` rotation still use every row given. None
        trains on all rows. Not with ``accelerator``."""

# The ``compile`` entry of every neural estimator's Parameters section (each
# docstring has ``{compile}`` where it goes).
COMPILE_DOC = """compile : bool, default=False
        Compile each training step (forward pass, loss and their backward
        pass) with ``torch.compile``: TorchInductor fuses the many small
        operations between the matrix products into a few kernels, so that
        epochs run faster. Each fit then starts by compiling (seconds to a
        minute; torch keeps a cache on disk, which later fits of the same
        shapes reuse), so it pays on long fits; the user guide gives measured
        figures. On a CPU it needs a C++ compiler, on a GPU Triton. The
        fitted estimator is the same kind of object (it pickles, saves and
        transforms as without compiling); on a CPU the random draws are
        torch's own, in the same order, so the result matches
        ``compile=False`` up to float rounding. On a GPU TorchInductor
        draws them with its own generator (seeded from torch's, which
        ``random_state`` seeds), so a compiled fit differs from an
        uncompiled one by more than rounding. Not with ``accelerator``,
        which has its own ``dynamo_backend``."""

# The ``callbacks`` entry of the estimators trained as one net (each docstring
# has ``{callbacks}`` where it goes; DisentangledSSL's two nets have their own).
CALLBACKS_DOC = """callbacks : list of skorch callbacks or None, default=None
        Extra skorch callbacks for the training net (instances, classes or
        ``(name, callback)`` pairs, as skorch takes them), which gets its own
        copy of each (built from the callback's skorch parameters: keep
        state in attributes with a trailing ``_``)."""

# The ``accelerator`` entry of every neural estimator's Parameters section
# (each docstring has ``{accelerator}`` where it goes).
ACCELERATOR_DOC = """accelerator : accelerate.Accelerator or None, default=None
        Train through Hugging Face Accelerate (skorch's ``AccelerateMixin``):
        on several GPUs in data parallel, when the script runs under
        ``accelerate launch``, and with the accelerator's mixed precision.
        The accelerator then chooses the device: leave ``device="auto"``.
        Each process trains on its own batches of ``batch_size`` rows, whose
        other rows are its contrastive negatives. The fitted nets hold no
        accelerator state. A pickled estimator (e.g. in joblib's workers)
        keeps a ``PickledAccelerator`` that describes the accelerator and
        refuses to train until the parameter is set again; a saved one
        keeps ``accelerator=None``. See the scaling-out page of the
        documentation."""


def ica_on(ica):
    """Whether the ``ica`` setting asks for the rotation: a FastICA, or True
    (numpy's too, as a grid over ``np.array([False, True])`` passes it)."""
    return isinstance(ica, FastICA) or bool(ica)


# the ratio of a modality's columns' standard deviations beyond which fit
# warns that the narrow columns barely reach the encoder
COLUMN_SCALE_RATIO = 1e3
# Columns of standard deviation beyond this come near the scale (inputs of
# about 1e20, at the initial weights) at which the embeddings' squared
# lengths pass float32's range (about 1e38) and their directions are lost.
COLUMN_SCALE_LIMIT = 1e18

# The warnings every neural fit may give beside its ConvergenceWarning (each
# fit's Warns section has ``{fit_warnings}`` where they go).
FIT_WARNINGS_DOC = """ColumnScaleWarning
            When the standard deviations of a modality's columns differ by more
            than a factor of 1,000: its encoder sees mostly the widest columns;
            or reach 1e18, near the scale at which the encoders' float32
            arithmetic overflows.
            Standardise X first (a StandardScaler before the estimator in a
            Pipeline).
        OverfittingWarning
            With ``validation_fraction``, when the cross-modal contrastive loss
            on the held-out rows ended more than a tenth of its chance level
            above its lowest (a ConvergenceWarning; it replaces the one
            above). Not for a model without that loss (DMVAE)."""


def _column_std(X):
    """Per-column standard deviation of float32 ``X``, finite for any finite X.

    CUDA reduces float32 in float32, where the squared deviations of columns
    of magnitude 1e19 and beyond overflow; only then is the std taken again
    in float64, on the CPU (mps has no float64; the CPU's wider accumulation
    keeps such columns finite).
    """
    std = X.std(dim=0, correction=0)
    if not bool(torch.isfinite(std).all()):
        std = X.cpu().double().std(dim=0, correction=0).to(X.device, X.dtype)
    return std


class ColumnStatistics(NamedTuple):
    """Per-column mean and standard deviation of a training tensor, computed
    once per fit for the scale warning and the augmenters."""

    mean: torch.Tensor
    std: torch.Tensor


def column_statistics(X_model):
    """The :class:`ColumnStatistics` of float32 ``X_model``."""
    return ColumnStatistics(X_model.mean(dim=0), _column_std(X_model))


def check_sphere_width(width, *, parameter, why, fix):
    """Refuse a ``width`` under 2 for embeddings on the unit sphere.

    The unit sphere of R^1 is two points: no direction to learn, and no
    tangent direction to sample around one. ``why`` says what puts the
    embedding on the sphere, ``fix`` what to change.
    """
    if width < 2:
        raise ValueError(f"{why}, which needs {parameter} >= 2, got {width}; {fix}.")


def check_shared_width(head, n_shared):
    """Refuse a shared width under 2: the cross-modal InfoNCE compares the
    posterior samples by their cosine, in one dimension their sign, which
    has no gradient (whatever the head; the spherical ones sample on the
    unit sphere besides)."""
    on_sphere = "" if head == "gaussian" else f" (head={head!r} samples on the unit sphere)"
    check_sphere_width(
        n_shared, parameter="n_shared",
        why=("the contrastive loss compares the shared embeddings by their cosine, in one "
             f"dimension their sign, which does not learn{on_sphere}"),
        fix="raise n_shared",
    )


def _rank(embedding):
    """The rank of an embedding's centred rows (singular values above 1e-6
    of the largest)."""
    # the singular values of the centred rows, from the eigenvalues of their
    # d x d Gram matrix: one product over the rows instead of their SVD
    centred = embedding - embedding.mean(axis=0)
    eigenvalues = np.linalg.eigvalsh(centred.T @ centred)[::-1]
    singular = np.sqrt(np.clip(eigenvalues, 0.0, None))
    return int(np.sum(singular > singular[0] * 1e-6)) if singular[0] > 0 else 0


def check_ica_width_can_be_spanned(width, modality_sizes, hidden_layer_sizes):
    """Refuse, before training, an ``ica`` of shared embeddings that cannot
    span their ``width``: each modality's is an affine map of its encoder's
    last hidden layer (or of its columns, without one), so the stacked
    embeddings span at most the sum of those widths plus one per modality,
    less one for centring, however long the encoders train."""
    inner = [hidden_layer_sizes[-1] if hidden_layer_sizes else size for size in modality_sizes]
    most = sum(w + 1 for w in inner) - 1
    if most < width:
        encoders, fix = (
            (f"encoders whose last hidden layer has {hidden_layer_sizes[-1]} units give "
             "each modality's embedding at most that many directions",
             f"Widen the last hidden layer (hidden_layer_sizes) to {width} units or more")
            if hidden_layer_sizes else
            ("linear encoders (no hidden layer) give each modality's embedding at most "
             "as many directions as its columns",
             f"Add a hidden layer of {width} units or more (hidden_layer_sizes)"))
        lower = (f", or lower n_shared to at most {min(inner)}, so that each modality's "
                 "embedding can span it (its components then mean the same in every "
                 "modality)") if min(inner) >= 2 else ""
        raise ValueError(
            f"ica unmixes the {width} dimensions of the shared embeddings, but {encoders}, "
            f"and an offset: {most} for these {len(modality_sizes)} modalities together, "
            f"however long they train. {fix}{lower}."
        )


def _check_full_rank(embedding):
    """Raise a ValueError when an embedding to be unmixed by ICA is degenerate."""
    rank = _rank(embedding)
    if rank < embedding.shape[1]:
        raise ValueError(
            f"The learned shared embedding has rank {rank} < its width "
            f"{embedding.shape[1]}, so ICA cannot unmix it; train longer, give "
            "more rows, or lower the embedding width (n_components / n_shared)."
        )


def _warn_of_a_degenerate_modality(parts, names):
    """Warn of a modality whose embedding spans fewer directions than its
    width: the one unmixing of the stacked embeddings gives it components
    that are combinations of fewer directions, which do not mean what the
    other modalities' do."""
    for name, part in zip(names, parts):
        rank = _rank(part.astype(np.float64))
        if rank < part.shape[1]:
            warnings.warn(
                f"the learned shared embedding of modality {name!r} has rank {rank} < its "
                f"width {part.shape[1]}: its ICA components are combinations of {rank} "
                "directions and do not each mean what the other modalities' do. Train "
                "longer, give more rows, or lower the embedding width (n_components / "
                "n_shared).",
                UserWarning,
            )


class NeuralMultimodalTransformer(MultimodalTransformer):
    """Base class of the package's neural estimators (not for direct use)."""

    _parameter_constraints: dict = {
        **MultimodalTransformer._parameter_constraints,
        **TRAINING_PARAMETER_CONSTRAINTS,
    }

    # How many modalities the method handles (None: any number >= 2).
    _n_modalities = 2

    def set_params(self, **params):
        """Set the parameters of the estimator and of its callbacks.

        The callbacks' parameters are set as skorch takes them.

        Parameters
        ----------
        **params : dict
            Estimator parameters. ``callbacks__<name>__<parameter>`` sets a
            parameter of the callback skorch would call ``<name>`` (a
            ``(name, callback)`` pair's name, else its class's, e.g.
            ``callbacks__EarlyStopping__patience``), and
            ``callbacks__<name>`` replaces it (None drops it). The callback
            changed is a copy, in a new list: the one given stays as it is.

        Returns
        -------
        self : estimator instance
            The estimator.
        """
        nested = {k: v for k, v in params.items() if k.startswith("callbacks__")}
        super().set_params(**{k: v for k, v in params.items() if k not in nested})
        if nested:
            self.callbacks = callbacks_with_params(self.callbacks, nested)
        return self

    def __getstate__(self):
        # An accelerator belongs to the processes that created it (and one
        # that has trained cannot be pickled): a pickled estimator keeps its
        # fitted nets, which hold no accelerator state, and a description of
        # the accelerator, which refuses to train
        state = super().__getstate__()
        accelerator = state.get("accelerator")
        if accelerator is not None and not isinstance(accelerator, PickledAccelerator):
            state = {**state, "accelerator": PickledAccelerator(accelerator)}
        return state

    def __setstate__(self, state):
        # pickled before a parameter existed: the value it was trained with
        super().__setstate__(with_earlier_values(type(self), state))

    def __copy__(self):
        # a copy in this process keeps the accelerator (see __deepcopy__)
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        return new

    def __deepcopy__(self, memo):
        # a copy in this process: it keeps the accelerator, as clone does,
        # which pickling (and so copy's default through __getstate__) drops
        accelerator = self.__dict__.get("accelerator")
        if accelerator is not None:
            memo[id(accelerator)] = accelerator
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        new.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return new

    # ------------------------------------------------------------------
    # Fitting
    # ------------------------------------------------------------------
    def _start_fit(self, X):
        """Validate X and the common parameters of a new fit.

        Returns ``(X_model, hidden_layer_sizes, device, statistics)``: X as a
        float32 tensor on the device with each modality's columns contiguous,
        and its :class:`ColumnStatistics`.
        """
        given = X
        X = self._validate_input(X, reset=True)
        self._resolve_modalities(given)
        n = len(self.modalities_)
        if self._n_modalities is not None and n != self._n_modalities:
            raise ValueError(
                f"{type(self).__name__} supports exactly {self._n_modalities} modalities "
                f"for now; got {n}: {list(self.modalities_)}."
            )
        hidden = self._check_hidden_layer_sizes()
        device = self._training_device()
        self._check_model_fits_in_memory(hidden, device)
        X_model = as_tensor(self._in_model_order(X, np.float32), device)
        statistics = column_statistics(X_model)
        self._warn_of_column_scales(statistics.std)
        return X_model, hidden, device, statistics

    def _warn_of_column_scales(self, std):
        """Refuse a modality constant on the training rows (standard deviations
        ``std`` of zero). Warn of a modality whose columns' standard
        deviations differ by more than ``COLUMN_SCALE_RATIO``: its encoder
        would see mostly the widest columns, and may learn next to nothing (no
        loss is judged then); and of one whose columns reach
        ``COLUMN_SCALE_LIMIT``, where float32 overflows."""
        std = std.cpu().double().numpy()  # mps has no float64
        parts = np.split(std, np.cumsum(self._modality_sizes)[:-1])
        for name, part in zip(self.modalities_, parts):
            if not np.any(part > 0):
                raise ValueError(
                    f"modality {name!r} is constant on the training rows, so it shares "
                    "nothing with the others and has nothing of its own; drop it or pass "
                    "rows where it varies."
                )
            if part.max() > COLUMN_SCALE_LIMIT:
                warnings.warn(
                    f"the columns of modality {name!r} have standard deviations up to "
                    f"{part.max():.3g}, near or past the scale (about 1e20) at which the "
                    "encoders' float32 arithmetic overflows (the embeddings' lengths pass "
                    "float32's range, and their directions, which the losses compare, are "
                    "lost), so that training may learn nothing. Standardise the columns "
                    "first, e.g. with a StandardScaler before the estimator in a Pipeline.",
                    ColumnScaleWarning,
                )
            varying = part[part > 0]
            if len(varying) > 1 and varying.max() > COLUMN_SCALE_RATIO * varying.min():
                warnings.warn(
                    f"the columns of modality {name!r} differ in scale by a factor of "
                    f"{varying.max() / varying.min():.2g} (standard deviations "
                    f"{varying.min():.3g} to {varying.max():.3g}): its encoder sees mostly "
                    "the widest columns and may learn little of the others. Standardise "
                    "the columns first, e.g. with a StandardScaler before the estimator in "
                    "a Pipeline (sklearn_dssl.save keeps the two together).",
                    ColumnScaleWarning,
                )

    def _training_device(self):
        """The device of a new fit: ``device``, or the ``accelerator``'s."""
        return training_device(self.device, self.accelerator)

    def _check_hidden_layer_sizes(self):
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, Integral):
            sizes = (sizes,)
        elif isinstance(sizes, np.ndarray) and sizes.ndim == 1:
            sizes = tuple(sizes.tolist())
        # a flat sequence of widths; nested ones (e.g. [[8, 4]]) are refused,
        # not flattened
        sizes = tuple(sizes) if isinstance(sizes, (list, tuple, range)) else (None,)
        if not all(isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in sizes):
            raise ValueError(
                "hidden_layer_sizes must be a positive int or a tuple of positive ints, "
                "e.g. (512,), "
                f"got {self.hidden_layer_sizes!r}."
            )
        return tuple(int(s) for s in sizes)  # numpy integers too, e.g. from a search grid

    def _check_model_fits_in_memory(self, hidden, device, widths=None, built=0):
        """Refuse widths whose encoders alone would not fit in the device's
        memory (say a typo in ``hidden_layer_sizes``), before anything is
        allocated: an allocation the system grants but cannot back may end
        the process instead of failing.

        The count is a lower bound: for each block the fit trains (``widths``,
        by default :meth:`_trained_block_widths`), one encoder per modality
        from its columns through ``hidden``, beside the ``built`` weights of
        encoders trained before (step 1's, for step 2), each weight held four
        times (itself, its gradient and Adam's two averages, in float32).
        """
        memory = device_memory(device)
        widths = self._trained_block_widths() if widths is None else widths
        weights = built
        for width in widths.values():
            for size in self._modality_sizes:
                chain = (size, *hidden, width)
                weights += sum(a * b + b for a, b in zip(chain[:-1], chain[1:]))
        needed = 16 * weights
        if memory is not None and needed > memory:
            named = [f"hidden_layer_sizes={hidden!r}",
                     *(f"{name}={value!r}" for name, value in widths.items())]
            columns = " and ".join(map(str, self._modality_sizes))
            raise ModelMemoryError(
                f"{type(self).__name__} needs at least {needed / 2**30:,.1f} GiB for its "
                f"encoders' weights, their gradients and Adam's state, more than the "
                f"{memory / 2**30:,.1f} GiB of memory of the device it trains on ({device}). "
                f"The encoders' weights grow with {', '.join(named[:-1])} and {named[-1]}, "
                f"and with the modalities' columns ({columns}): choose smaller widths."
            )

    def _error_of_fit(self, exc):
        """torch's error for memory it could not allocate, as a
        :class:`~sklearn_dssl.exceptions.ModelMemoryError` that names the
        settings the model's size follows (a ``torch.cuda.OutOfMemoryError`` too
        where torch's was one)."""
        if not is_allocation_failure(exc):
            return None
        params = self.get_params(deep=False)
        sizes = ", ".join(f"{name}={params[name]!r}" for name in SIZE_PARAMETERS
                          if name in params)
        # torch.cuda's name for it, which torch before 2.5 has alone
        cls = (_DeviceMemoryError if isinstance(exc, torch.cuda.OutOfMemoryError)
               else ModelMemoryError)
        return cls(
            f"{type(self).__name__} ran out of memory while fitting "
            f"({str(exc).strip().splitlines()[0]}). Its memory grows with {sizes} and the "
            "rows of X: choose smaller values, or fit on fewer rows."
        )

    def _trained_block_widths(self):
        """The widths of the blocks a fit trains encoders to, by parameter name."""
        params = self.get_params(deep=False)
        return {name: params[name] for name in WIDTH_PARAMETERS
                if isinstance(params.get(name), Integral)}

    def _seeds(self, n):
        """``n`` torch seeds drawn from ``random_state``, one per training step."""
        rng = check_random_state(self.random_state)
        return [seed_from(rng) for _ in range(n)]

    def _check_params(self):
        """Checks of parameter combinations that the constraints cannot
        express, before training (and before the command line reads a table)."""

    def _make_augmenter(self, statistics):
        """The augmenter of the ``augmentation`` parameters, scaled to the
        training rows' :class:`ColumnStatistics`."""
        # copies: each augmenter owns its buffers
        return TabularAugmenter(
            statistics.mean.clone(),
            statistics.std.clone(),
            kind=self.augmentation,
            noise_scale=self.noise_scale,
            mask_fraction=self.mask_fraction,
        )

    def _train(self, module, criterion, X_model, max_epochs, step_name, device,
               file_prefix="", ramps=()):
        net = train(
            module, criterion, X_model,
            max_epochs=max_epochs, batch_size=self.batch_size, lr=self.lr,
            device=device, callbacks=self.callbacks, verbose=self.verbose,
            step_name=step_name, accelerator=self.accelerator, compile=self.compile,
            validation_fraction=self.validation_fraction, file_prefix=file_prefix,
            ramps=ramps,
        )
        # the names of the columns the net reads, in their order, so that its
        # partial_fit selects them from a data frame by name
        net.column_names_ = (
            self.feature_names_in_[np.concatenate(list(self.modalities_.values()))]
            if hasattr(self, "feature_names_in_") else None)
        return net

    # ------------------------------------------------------------------
    # ICA rotation of the shared block
    # ------------------------------------------------------------------
    def _fit_shared_ica(self, X_model, seed):
        """Fit FastICA on the shared training embeddings of all modalities.

        The modalities' embeddings are stacked row-wise, so one unmixing
        serves them all and component ``k`` means the same in each.
        """
        for name in ("ica_", "unmixing_", "mixing_"):
            self.__dict__.pop(name, None)
        if not ica_on(self.ica):
            return
        # float64: the whitening of a low-variance float32 embedding loses
        # precision, and row-wise results of float32 products depend on the
        # batch they are computed in.
        parts = self._stack_by_modality(X_model.cpu().numpy())
        stacked = np.concatenate(parts).astype(np.float64)
        if not isinstance(self.ica, FastICA):  # True or numpy's True
            ica = FastICA(whiten="unit-variance", max_iter=1000, random_state=seed)
        else:
            ica = clone(self.ica)  # its settings were checked before training
            if ica.random_state is None:
                ica.set_params(random_state=seed)
        _check_full_rank(stacked)
        _warn_of_a_degenerate_modality(parts, self.modalities_)
        # Internal arrays stay arrays whatever the global set_output config.
        self.ica_ = ica.set_output(transform="default").fit(stacked)
        self.unmixing_ = self.ica_.components_
        self.mixing_ = self.ica_.mixing_

    def _check_ica(self, width):
        """Refuse an ``ica`` FastICA with invalid settings, or whose
        ``n_components`` would change ``width``.

        Called before training, so that a bad setting costs no fit (the
        estimator's own parameter check does not look inside it).
        """
        ica = self.ica
        if not isinstance(ica, FastICA):
            return
        validate_estimator_settings(ica)
        if ica.whiten is False:
            raise ValueError(
                "ica=FastICA(whiten=False) takes its input as already white, and the "
                "shared embedding is not (nor centred); leave whiten at its default, "
                "'unit-variance'."
            )
        if ica.w_init is not None and np.shape(ica.w_init) != (width, width):
            raise ValueError(
                f"ica=FastICA(w_init=...) has shape {np.shape(ica.w_init)}, and the shared "
                f"embedding's width ({width}) needs ({width}, {width})."
            )
        if ica.n_components not in (None, width):
            raise ValueError(
                f"ica=FastICA(n_components={ica.n_components}) must keep the "
                f"width of the shared embedding ({width}); leave its "
                "n_components at None and set the estimator's width instead."
            )

    def _stack_by_modality(self, X_model):
        """Raw shared embeddings of each modality of ``X_model`` (in model column order)."""
        parts = [[] for _ in self.modalities_]
        for start in range(0, X_model.shape[0], INFERENCE_BATCH_ROWS):
            encoded = self._encode_raw(X_model[start : start + INFERENCE_BATCH_ROWS], ("shared",))
            for part, array in zip(parts, encoded["shared"]):
                part.append(array)
        return [np.concatenate(part) for part in parts]

    def _rotate_shared(self, array):
        if not hasattr(self, "ica_"):
            return array
        return self.ica_.transform(array.astype(np.float64)).astype(np.float32)

    # ------------------------------------------------------------------
    # Inference
    # ------------------------------------------------------------------
    def _encode_batch(self, x, blocks):
        encoded = self._encode_raw(x, blocks)
        if "shared" in encoded:
            encoded["shared"] = [self._rotate_shared(a) for a in encoded["shared"]]
        return encoded

    def _encode_modality_batch(self, x, index, block):
        array = self._encode_modality_raw(x, index, block)
        return self._rotate_shared(array) if block == "shared" else array

    # Single-net estimators: the fitted net is ``net_`` (see the module docstring).
    def _block_widths(self):
        return self.net_.module_.block_widths

    def _fitted_blocks(self):
        return tuple(self.net_.module_.block_widths)

    def _encode_raw(self, x, blocks):
        """Blocks of one batch before the ICA rotation."""
        module = self.net_.module_.eval()

        def encode(t):
            encoded = module.encode_blocks(t)
            return [a for block in blocks for a in encoded[block]]

        arrays = infer(encode, x, self.net_.device)
        n = len(self.modalities_)
        return {block: arrays[i * n : (i + 1) * n] for i, block in enumerate(blocks)}

    def _encode_modality_raw(self, x, index, block):
        module = self.net_.module_.eval()
        return infer(lambda t: module.encode_modality(t, index, block), x, self.net_.device)

    # ------------------------------------------------------------------
    # Unsupervised score
    # ------------------------------------------------------------------
    # The similarity of the contrastive loss that score computes: the one the
    # shared encoders were trained with.
    _score_similarity = "cosine"

    def score(self, X, y=None):
        """Negative cross-modal contrastive loss of the shared block: higher is better.

        The symmetric InfoNCE between the modalities' shared embeddings
        (deterministic: no augmentation or sampling, before any ICA
        rotation), computed on consecutive blocks of ``batch_size`` rows and
        averaged with the block sizes as weights; a last block of one row,
        which has no other row to be told apart from, is left out. It is at
        most 0; a model
        whose shared embeddings tell the partners apart best scores highest,
        so GridSearchCV can use it without labels. Scores are comparable
        between fits with the same ``batch_size`` and ``temperature`` (score
        reads their current values, so either may be set after fit; the
        similarity is the one the encoders were trained with). The
        specific block plays no part: settings that change only it (e.g.
        DisentangledSSL's ``ortho_weight``) all score alike; search those with
        :func:`~sklearn_dssl.metrics.make_probe_scorer` and labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with the columns seen in fit, at least 2 rows.
        y : None
            Ignored.

        Returns
        -------
        score : float
            Negative contrastive loss per row, at most 0.
        """
        check_is_fitted(self)
        # batch_size (2 or more) and temperature may have been set since fit
        self._validate_params()
        X = self._validate_input(X, reset=False)
        if X.shape[0] < 2:
            raise ValueError(
                "score needs at least 2 rows: a row's contrastive loss measures how "
                f"well it is told apart from the other rows; got {X.shape[0]}."
            )
        total, scored = 0.0, 0
        rows = self.batch_size * max(1, INFERENCE_BATCH_ROWS // self.batch_size)
        similarity = SIMILARITIES[self._score_similarity]

        def block_loss(block):
            return cross_modal_info_nce(block, self.temperature, similarity)

        for _, encoded in self._iter_blocks(X, ("shared",), rows, encode=self._encode_raw):
            shared = [torch.from_numpy(a) for a in encoded["shared"]]
            for start in range(0, shared[0].shape[0], self.batch_size):
                block = [s[start : start + self.batch_size] for s in shared]
                if block[0].shape[0] < 2:
                    continue  # only the last row, when X has k * batch_size + 1
                loss = block_loss(block)
                if not torch.isfinite(loss):
                    # again in float64: the similarities of large embeddings,
                    # or at a tiny temperature, overflow float32
                    loss = block_loss([b.double() for b in block])
                total += float(loss) * block[0].shape[0]
                scored += block[0].shape[0]
        return check_finite_score(-total / scored, "temperature")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags
