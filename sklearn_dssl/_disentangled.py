"""DisentangledSSL: shared and modality-specific representations in two steps.

Wang et al., "An Information Criterion for Controlled Disentanglement of
Multimodal Data", ICLR 2025.
"""

import warnings
from collections import namedtuple
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context, clone
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._losses import SharedObjective, SpecificObjective
from ._modules import HEADS, SharedEncoders, SpecificEncoders
from ._neural import (
    ACCELERATOR_DOC,
    AUGMENTATION_PARAMETER_CONSTRAINTS,
    COMPILE_DOC,
    EARLIER_VALUES,
    FIT_WARNINGS_DOC,
    ICA_PARAMETER_CONSTRAINTS,
    SPECIFIC_INIT_DOC,
    SPECIFIC_INIT_PARAMETER_CONSTRAINTS,
    VALIDATION_FRACTION_DOC,
    NeuralMultimodalTransformer,
    check_ica_width_can_be_spanned,
    check_shared_width,
    column_statistics,
    ica_on,
)
from ._training import (
    WeightRamp,
    as_tensor,
    infer,
    seeded_torch,
    warn_if_interrupted,
    with_autograd,
)

_StepSeeds = namedtuple("_StepSeeds", ["shared", "specific", "ica"])

# fit_specific warns when most columns lie far from the fit's: a mean further
# than this many of the fit's standard deviations from the fit's mean, or a
# (nonzero) standard deviation more than this ratio off the fit's
SHIFT_IN_FIT_DEVIATIONS = 5.0
SCALE_RATIO_TO_FIT = 10.0

# The parameters that only step 1 uses: fit_specific keeps the step 1 that
# was fitted with them, and says so when they have changed since.
STEP1_ONLY_PARAMETERS = ("n_shared", "beta", "beta_start", "beta_ramp_epochs", "head", "kappa",
                         "max_epochs_shared", "ica")


def _same_setting(value, fitted):
    """Whether a parameter's value equals the one step 1 was fitted with.

    Estimators (an ``ica``) compare by type and parameters, as a loaded copy
    must; a random generator is taken as equal to anything (fitting draws
    from it, and a saved model cannot store it).
    """
    if isinstance(value, BaseEstimator) or isinstance(fitted, BaseEstimator):
        return type(value) is type(fitted) and _same_setting(
            value.get_params(deep=False), fitted.get_params(deep=False)
        )
    if isinstance(value, dict) and isinstance(fitted, dict):
        return value.keys() == fitted.keys() and all(
            _same_setting(value[k], fitted[k]) for k in value
        )
    if isinstance(value, np.random.RandomState) or isinstance(fitted, np.random.RandomState):
        return True  # a saved model stores a generator as its default, None
    if isinstance(value, np.ndarray) or isinstance(fitted, np.ndarray):
        # e.g. FastICA's w_init; step1_params_ holds a copy
        return np.shape(value) == np.shape(fitted) and bool(np.array_equal(value, fitted))
    if isinstance(value, list | tuple) and isinstance(fitted, list | tuple):
        return len(value) == len(fitted) and all(map(_same_setting, value, fitted))
    try:
        return bool(value == fitted)
    except (TypeError, ValueError):
        return value is fitted


class DisentangledSSL(NeuralMultimodalTransformer):
    """Disentangled shared and modality-specific representations (DisentangledSSL).

    Learns, from one table whose column groups are the modalities, a *shared*
    embedding per modality (what the modalities have in common, computable
    from either alone) and a *specific* embedding per modality (what only
    that modality carries). Training has two steps, each run by a skorch net:

    1. shared encoders ``f_i`` trained with a cross-modal InfoNCE loss on
       samples of a spherical (or Gaussian) posterior around ``f_i(x_i)``,
       plus ``beta`` times a bottleneck that pulls the modalities' posteriors
       together;
    2. with ``f_i`` frozen, specific encoders ``g_i([x_i, f_i(x_i)])``
       trained with a self-contrastive InfoNCE loss between two augmented
       views, plus ``ortho_weight`` times the orthogonality penalty
       ``||S_i^T C_i||_F`` against the shared embedding.

    Parameters
    ----------
    modalities : None, sequence or dict, default=None
        How the columns of X split into modalities. None: two halves (the
        first takes the extra column when the count is odd). A sequence of
        ints: column counts, in column order. A sequence of column groups,
        each a sequence of column indices, a slice, a boolean mask over the
        columns, for a DataFrame a list of column names or a slice of them
        (both ends included), or a callable that
        selects a group from X as given to fit, as in ``ColumnTransformer``
        (e.g. ``make_column_selector(pattern="^rna_")``). A dict
        ``{name: count or group}`` also names the
        modalities (names default to ``"m1"``, ``"m2"``, ...). Every column
        must belong to exactly one modality. Two or more modalities: with
        more than two, step 1's contrastive and bottleneck terms average
        over the pairs of modalities, and in step 2 modality ``i`` pairs its
        specific embedding with the shared embedding of modality ``i + 1``
        (the last with the first), as modality 1 with modality 2's when
        there are two.
    n_shared : int, default=100
        Width of each modality's shared embedding, at least 2 (the
        contrastive loss compares the embeddings by their cosine).
    n_specific : int, default=100
        Width of each modality's specific embedding.
    hidden_layer_sizes : int or tuple of int, default=(512,)
        Hidden ReLU layers of every encoder; ``()`` gives linear encoders.
    {specific_init}
    beta : float, default=0.1
        Weight of the bottleneck in step 1 (the paper's beta). Larger values
        keep less modality-specific information in the shared embedding.
        With ``beta_start``, the value the weight ends at.
    beta_start : float or None, default=None
        With a float, the bottleneck's weight follows the authors'
        exponential ramp: it starts at ``beta_start`` and moves, batch by
        batch, to ``beta`` over the first ``beta_ramp_epochs`` epochs of
        step 1 (geometrically: ``beta_start * (beta / beta_start) **
        progress``), then stays at ``beta``. Both must then be positive. The
        weight of each training batch is in ``shared_net_.history`` under
        ``"beta"``; the training loss follows it, while the loss on held-out
        rows (``validation_fraction``) is taken at ``beta``, so that early
        stopping compares epochs on one objective. None keeps ``beta``
        constant, as in the paper's experiments. Training ``shared_net_``
        further (its ``partial_fit``) keeps ``beta``; a fit resumed from a
        checkpoint (skorch's ``LoadInitState``) goes on with the ramp from
        the epochs in the checkpoint's history.
    beta_ramp_epochs : float or None, default=None
        Length of the ramp, in epochs of step 1 (fractions count in batches:
        the authors' 8,000 batches are 28.5 epochs of 72,000 rows in
        batches of 256); at most ``max_epochs_shared``. None: all of step 1.
        Only used with ``beta_start``.
    ortho_weight : float, default=1.0
        Weight of the orthogonality penalty in step 2 (the paper's lambda).
        Larger values push the specific embedding away from the shared one.
    temperature : float, default=0.07
        Temperature of every InfoNCE loss.
    head : {"vmf", "power_spherical", "gaussian"}, default="vmf"
        Posterior of the shared encoder in step 1: von Mises-Fisher as in the
        paper, the rejection-free Power Spherical distribution, or a Gaussian.
        At the same ``kappa`` the Power Spherical is more spread than the
        vMF: its mean cosine to the mean direction is ``kappa / (d - 1 +
        kappa)`` in ``d`` dimensions, the vMF's about ``1 - (d - 1) / (2
        kappa)`` for ``kappa`` much larger than ``d``, where the Power
        Spherical's spread is twice the vMF's and twice the vMF's ``kappa``
        matches it. At ``kappa`` equal to ``d`` its spread is 1.3 times the
        vMF's.
    kappa : float, default=1000.0
        Concentration of the spherical heads; for the Gaussian head the
        inverse noise variance: the default adds noise of standard deviation
        about 0.03 to the embedding, ``kappa=1`` unit-variance noise (the
        paper's Gaussian variant, ``z = e + N(0, I)``). The Gaussian
        bottleneck is the squared distance of the two means, without the
        factor ``kappa`` of the Gaussians' symmetric KL divergence, so a
        ``beta`` weighs it alike at every ``kappa``.
    augmentation : {"mixed", "noise", "mask", "none"} or callable, default="mixed"
        Augmentation of each training batch. "noise" adds Gaussian noise of
        ``noise_scale`` times each feature's standard deviation; "mask"
        replaces a random ``mask_fraction`` of the entries by their feature's
        mean; "mixed" picks noise, mask or identity per row, as the paper's
        authors do, one choice for all the row's modalities (their code draws
        one for each modality). A callable gets the batch as a float32 torch
        tensor (all columns, modality by modality) and returns a floating
        tensor of the same shape on the same device (cast back to float32;
        anything else raises an error naming it); it should draw its randomness from
        torch's global generator so that ``random_state`` governs it.
    noise_scale : float, default=0.1
        Standard deviation of the additive noise, relative to each feature's.
    mask_fraction : float, default=0.1
        Probability that an entry is masked.
    max_epochs_shared : int, default=50
        Epochs of step 1.
    max_epochs_specific : int, default=30
        Epochs of step 2.
    ica : bool or FastICA, default=False
        Rotate the shared block with linear ICA: after step 1, FastICA is
        fitted on the shared training embeddings of every modality (stacked,
        so one unmixing serves them all) and the shared block of
        :meth:`transform` is its independent components. True uses
        ``FastICA(whiten="unit-variance", max_iter=1000)``; pass a FastICA
        instance to choose its settings (it is cloned). Off by default.
    batch_size : int, default=256
        Rows per training batch (the incomplete last batch of an epoch is
        dropped, unless it is the only one: fewer rows than
        ``batch_size``); also the block size of :meth:`score`.
    lr : float, default=1e-4
        Initial learning rate of Adam, cosine-annealed over each step.
    {validation_fraction}
    output : {"all", "shared", "specific"}, default="all"
        Which blocks :meth:`transform` returns. With "shared", :meth:`fit`
        trains step 1 only (step 2 would go unused; :meth:`fit_specific`
        adds it later).
    device : str or torch.device, default="auto"
        Torch device to train on: "auto" (CUDA when available, else CPU),
        "cpu", "cuda" or "cuda:k". A model trained on a GPU can be unpickled
        on a CPU-only machine.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, batch order, augmentation and posterior
        samples. On a CPU, the same value gives the same embeddings.
    verbose : int, default=0
        If > 0, print skorch's per-epoch log, with a progress bar where stderr
        is a terminal or in a notebook.
    callbacks : list of skorch callbacks or None, default=None
        Extra skorch callbacks (instances, classes or ``(name, callback)``
        pairs, as skorch takes them), copied into the nets of both steps. Each
        net gets its own copy, built from the callback's skorch parameters
        (its attributes whose names do not end in ``_``), so keep state in
        attributes with a trailing ``_``.
    {compile}
    {accelerator}

    Attributes
    ----------
    modalities_ : dict of str to ndarray of int
        Modality names mapped to the column indices of X they hold, in the
        order the ``modalities`` specification gave them.
    shared_net_ : skorch.NeuralNet
        The fitted step-1 net; ``shared_net_.history`` holds its per-epoch
        training loss and, unweighted, its two terms (``"train_contrast"``,
        ``"train_bottleneck"``), per epoch and per batch; with
        ``beta_start``, also each training batch's weight ``"beta"``.
    specific_net_ : skorch.NeuralNet
        The fitted step-2 net (the step-1 encoders inside it are frozen);
        ``specific_net_.history`` holds its per-epoch training loss and,
        unweighted, its two terms (``"train_contrast"``,
        ``"train_orthogonality"``). Absent after a fit with ``output="shared"``.
    ica_ : FastICA
        The ICA fitted on the shared embeddings (only with ``ica``).
    unmixing_ : ndarray of shape (n_shared, n_shared)
        ``ica_.components_``: the unmixing matrix applied to the centred
        shared embeddings (only with ``ica``).
    mixing_ : ndarray of shape (n_shared, n_shared)
        ``ica_.mixing_``, the pseudo-inverse of ``unmixing_`` (only with ``ica``).
    step1_params_ : dict
        The values of the parameters that only step 1 uses (``n_shared``,
        ``beta``, ``beta_start``, ``beta_ramp_epochs``, ``head``, ``kappa``,
        ``max_epochs_shared``, ``ica``) when
        step 1 was fitted: :meth:`fit_specific` keeps that step 1 and warns
        when they have changed since.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    sklearn.cross_decomposition.CCA : Linear shared components of two views.

    Notes
    -----
    Interrupting :meth:`fit` (Ctrl-C, KeyboardInterrupt) ends training with
    a warning and keeps the weights of the last completed epoch, so the
    estimator can transform: interrupted in step 1, it has the shared block
    only (``output="shared"``; :meth:`fit_specific` trains step 2 later);
    interrupted in step 2, it has both blocks.

    :meth:`fit_specific` retrains step 2 alone, e.g. to sweep
    ``ortho_weight`` without retraining step 1. With an integer
    ``random_state`` it gives the same model as a full :meth:`fit` with the
    new values, when only parameters that step 2 alone uses have changed.

    References
    ----------
    Wang, Gupta, Zhang, Tonekaboni, Jegelka, Jaakkola and Uhler, "An
    Information Criterion for Controlled Disentanglement of Multimodal Data",
    ICLR 2025.

    Examples
    --------
    >>> from sklearn_dssl import DisentangledSSL
    >>> from sklearn_dssl.datasets import make_paper_synthetic
    >>> data = make_paper_synthetic(
    ...     n_samples=600, n_latent=4, n_features=8, random_state=0)
    >>> model = DisentangledSSL(
    ...     modalities=data.modalities, n_shared=4, n_specific=4,
    ...     hidden_layer_sizes=(32,), max_epochs_shared=10, max_epochs_specific=2,
    ...     batch_size=64, lr=1e-3, random_state=0)
    >>> Z = model.fit_transform(data.data)
    >>> Z.shape
    (600, 16)
    >>> model.get_feature_names_out()[[0, 4, 8, 12]].tolist()
    ['shared_m1_0', 'shared_m2_0', 'specific_m1_0', 'specific_m2_0']
    """

    __doc__ = (
        __doc__.replace("{compile}", COMPILE_DOC)
        .replace("{validation_fraction}", VALIDATION_FRACTION_DOC)
        .replace("{accelerator}", ACCELERATOR_DOC)
        .replace("{specific_init}", SPECIFIC_INIT_DOC)
    )

    _parameter_constraints: dict = {
        **NeuralMultimodalTransformer._parameter_constraints,
        **AUGMENTATION_PARAMETER_CONSTRAINTS,
        **ICA_PARAMETER_CONSTRAINTS,
        **SPECIFIC_INIT_PARAMETER_CONSTRAINTS,
        "n_shared": [Interval(Integral, 1, None, closed="left")],
        "n_specific": [Interval(Integral, 1, None, closed="left")],
        "beta": [Interval(Real, 0, None, closed="left")],
        "beta_start": [Interval(Real, 0, None, closed="neither"), None],
        "beta_ramp_epochs": [Interval(Real, 0, None, closed="neither"), None],
        "ortho_weight": [Interval(Real, 0, None, closed="left")],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "head": [StrOptions(set(HEADS))],
        "kappa": [Interval(Real, 0, None, closed="neither")],
        "max_epochs_shared": [Interval(Integral, 1, None, closed="left")],
        "max_epochs_specific": [Interval(Integral, 1, None, closed="left")],
    }

    _n_modalities = None  # two or more

    def __init__(
        self,
        modalities=None,
        *,
        n_shared=100,
        n_specific=100,
        hidden_layer_sizes=(512,),
        specific_init="looks_linear",
        beta=0.1,
        beta_start=None,
        beta_ramp_epochs=None,
        ortho_weight=1.0,
        temperature=0.07,
        head="vmf",
        kappa=1000.0,
        augmentation="mixed",
        noise_scale=0.1,
        mask_fraction=0.1,
        max_epochs_shared=50,
        max_epochs_specific=30,
        ica=False,
        batch_size=256,
        lr=1e-4,
        validation_fraction=None,
        output="all",
        device="auto",
        random_state=None,
        verbose=0,
        callbacks=None,
        compile=False,
        accelerator=None,
    ):
        self.modalities = modalities
        self.n_shared = n_shared
        self.n_specific = n_specific
        self.hidden_layer_sizes = hidden_layer_sizes
        self.specific_init = specific_init
        self.beta = beta
        self.beta_start = beta_start
        self.beta_ramp_epochs = beta_ramp_epochs
        self.ortho_weight = ortho_weight
        self.temperature = temperature
        self.head = head
        self.kappa = kappa
        self.augmentation = augmentation
        self.noise_scale = noise_scale
        self.mask_fraction = mask_fraction
        self.max_epochs_shared = max_epochs_shared
        self.max_epochs_specific = max_epochs_specific
        self.ica = ica
        self.batch_size = batch_size
        self.lr = lr
        self.validation_fraction = validation_fraction
        self.output = output
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.compile = compile
        self.accelerator = accelerator

    # ------------------------------------------------------------------
    # Fitting
    # ------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    @with_autograd
    def fit(self, X, y=None):
        """Fit step 1 (shared encoders), then step 2 (specific encoders).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            All modalities side by side, as described by ``modalities``.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : DisentangledSSL
            The fitted estimator.

        Warns
        -----
        ConvergenceWarning
            When step 1's contrastive loss ends its last epoch at or above its
            chance level, ``log`` of the batch's rows (or within two standard
            errors of its batches below it): the shared encoders
            have not learned what the modalities share. With
            ``validation_fraction``, the loss on the held-out rows is judged.
        {fit_warnings}
        """
        with self._unchanged_on_error():
            self._fit(X)
        return self

    fit.__doc__ = fit.__doc__.replace("{fit_warnings}", FIT_WARNINGS_DOC)

    def _check_params(self):
        check_shared_width(self.head, self.n_shared)
        self._check_ica(self.n_shared)
        if self.beta_start is not None and self.beta == 0:
            raise ValueError(
                f"beta_start={self.beta_start!r} ramps the bottleneck's weight "
                "geometrically to beta, which cannot end at beta=0; set a positive beta, "
                "or, for no bottleneck, leave beta_start at None."
            )
        if self.beta_start is not None and self.beta_ramp_epochs is not None and (
                self.beta_ramp_epochs > self.max_epochs_shared):
            raise ValueError(
                f"beta_ramp_epochs={self.beta_ramp_epochs!r} is longer than step 1 "
                f"(max_epochs_shared={self.max_epochs_shared!r}): the bottleneck's weight "
                "would never reach beta. Set beta_ramp_epochs to at most max_epochs_shared, "
                "or leave it at None for a ramp over all of step 1."
            )

    def _trained_block_widths(self):
        # with output="shared", fit trains step 1 alone
        widths = {"n_shared": self.n_shared}
        return widths if self.output == "shared" else {**widths, "n_specific": self.n_specific}

    def _beta_ramps(self):
        """The :class:`WeightRamp` of step 1's bottleneck weight, if any."""
        if self.beta_start is None:
            return ()
        epochs = self.max_epochs_shared if self.beta_ramp_epochs is None \
            else self.beta_ramp_epochs
        return (WeightRamp("beta", float(self.beta_start), float(self.beta), float(epochs)),)

    def _fit(self, X):
        X_model, hidden, device, statistics = self._start_fit(X)
        self._check_params()
        if ica_on(self.ica):
            check_ica_width_can_be_spanned(self.n_shared, self._modality_sizes, hidden)
        # a previous fit's step 2 holds a copy of its step-1 encoders, which
        # would otherwise give the shared block that the ICA is fitted on
        self.__dict__.pop("specific_net_", None)
        seed_shared, seed_specific, seed_ica = self._step_seeds()
        with seeded_torch(seed_shared, device):
            module = SharedEncoders(
                self._modality_sizes, hidden, self.n_shared, self._make_augmenter(statistics)
            )
            criterion = SharedObjective(
                HEADS[self.head](self.kappa), temperature=self.temperature, beta=self.beta
            )
            self.shared_net_ = self._train(
                module, criterion, X_model, self.max_epochs_shared, "step-1 (shared)", device,
                file_prefix="step1_", ramps=self._beta_ramps(),
            )
        self._fit_shared_ica(X_model, seed_ica)
        self.step1_params_ = {
            # a copy of an estimator parameter (ica), which set_params may change in place
            name: clone(value) if isinstance(value, BaseEstimator) else value
            for name, value in ((n, getattr(self, n)) for n in STEP1_ONLY_PARAMETERS)
        }
        if self.output == "shared" or self.shared_net_.interrupted_:
            # step 2 would not be used, or the user stopped training:
            # fit_specific adds it on demand
            self.__dict__.pop("specific_net_", None)
            warn_if_interrupted(
                self.shared_net_, "step 1",
                "the model keeps those weights and has no specific block: transform with "
                "output='shared', or call fit_specific to train step 2.",
            )
        else:
            self._fit_specific(X_model, hidden, seed_specific, device, statistics)
            warn_if_interrupted(self.specific_net_, "step 2")

    @_fit_context(prefer_skip_nested_validation=True)
    @with_autograd
    def fit_specific(self, X, y=None):
        """Refit step 2 alone, keeping the fitted step-1 (shared) encoders.

        Use it to sweep ``ortho_weight`` or other step-2 settings
        (``n_specific``, ``specific_init``, ``max_epochs_specific``,
        augmentation) without
        retraining step 1. Parameters that only step 1 uses (``beta``,
        ``beta_start``, ``beta_ramp_epochs``, ``head``, ``kappa``,
        ``max_epochs_shared``, ``n_shared``, ``ica``)
        keep the values of the last :meth:`fit`, and so do the column groups
        (``modalities_``): the step-1 encoders read those. A ``UserWarning``
        says so when any of them has been changed since the fit (also for a
        model read back by :func:`sklearn_dssl.load`). Parameters that both
        steps use (``hidden_layer_sizes``, ``temperature``, the augmentation,
        ``batch_size``, ``lr``, ``random_state``, ``validation_fraction``)
        take their current values in the new step 2 only, without a warning.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data with the columns seen in :meth:`fit`.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : DisentangledSSL
            The estimator with a new step 2.
        """
        check_is_fitted(self, "shared_net_")
        with self._unchanged_on_error():
            X_checked = self._validate_input(X, reset=False)
            if X_checked.shape[0] < 2:
                raise ValueError(
                    "fit_specific needs at least 2 rows (a contrastive loss needs a negative "
                    f"for every row), got {X_checked.shape[0]}."
                )
            # after the input's own checks, which name what is wrong with X itself
            self._warn_of_changed_step1_settings(X)
            X = X_checked
            hidden = self._check_hidden_layer_sizes()
            device = self._training_device()
            # step 1's encoders as they were built, step 2's from the settings
            shared = sum(p.numel() for p in self.shared_net_.module_.parameters())
            self._check_model_fits_in_memory(
                hidden, device, widths={"n_specific": self.n_specific}, built=shared)
            X_model = as_tensor(self._in_model_order(X, np.float32), device)
            statistics = column_statistics(X_model)
            self._warn_of_columns_unlike_step_one(statistics)
            self._fit_specific(X_model, hidden, self._step_seeds().specific, device,
                               statistics)
        return self

    def _warn_of_columns_unlike_step_one(self, statistics):
        """Warn when X's columns (their ``statistics``, in model order) are far
        from those step 1 was fitted on, which its augmenter keeps: e.g. the
        raw table of a Pipeline whose scaler step 1 read through."""
        augmenter = getattr(self.shared_net_.module_, "augmenter", None)
        if not hasattr(augmenter, "center"):
            return
        mean, std = (t.detach().cpu().double().numpy() for t in statistics)
        center, scale = (t.detach().cpu().double().numpy()
                         for t in (augmenter.center, augmenter.scale))
        spread = np.where(scale > 0, scale, 1.0)
        # a column constant on some of the rows (an indicator, counts of a
        # cell type) is no sign of another table
        unlike = (np.abs(mean - center) > SHIFT_IN_FIT_DEVIATIONS * spread) | (
            (scale > 0) & (std > 0)
            & ((std > SCALE_RATIO_TO_FIT * scale) | (std * SCALE_RATIO_TO_FIT < scale)))
        # some columns of a part of the rows may lie far off; most of a
        # modality's (one a ColumnTransformer did not scale, say), not
        bounds = np.cumsum([0, *self._modality_sizes])
        if not any(unlike[lo:hi].sum() * 2 > hi - lo for lo, hi in zip(bounds, bounds[1:])):
            return
        order = np.concatenate(list(self.modalities_.values()))
        names = ([repr(str(n)) for n in self.feature_names_in_[order]]
                 if hasattr(self, "feature_names_in_") else [f"column {i}" for i in order])
        i = int(np.flatnonzero(unlike)[0])
        warnings.warn(
            f"X's columns are not those step 1 was fitted on: {int(unlike.sum())} of "
            f"{len(unlike)} lie far from the fit's, e.g. {names[i]}, of mean "
            f"{mean[i]:.3g} and standard deviation {std[i]:.3g} here, {center[i]:.3g} and "
            f"{scale[i]:.3g} at fit. Step 2 reads X through "
            "step 1's encoders, trained on the fit's table: pass fit_specific that table, "
            "transformed as fit's was; for the model of a Pipeline, "
            "pipe[-1].fit_specific(pipe[:-1].transform(X)).",
            UserWarning,
        )

    def _step_seeds(self):
        """The torch seeds of step 1, step 2 and the ICA rotation, drawn from
        ``random_state`` in that order, so that :meth:`fit_specific` trains
        step 2 from the seed :meth:`fit` gave it."""
        return _StepSeeds(*self._seeds(3))

    def _warn_of_changed_step1_settings(self, X):
        """Warn that fit_specific keeps a step 1 fitted with other settings."""
        # absent from models fitted by earlier versions of the package, as
        # are parameters added since, which step 1 was fitted without
        fitted = {**{name: value for name, value in EARLIER_VALUES.items()
                     if name in STEP1_ONLY_PARAMETERS},
                  **self.__dict__.get("step1_params_", {})}
        if self.beta_start is None and fitted.get("beta_start") is None:
            fitted.pop("beta_ramp_epochs", None)  # no ramp, then and now: no effect
        changed = [
            f"{name}={getattr(self, name)!r} (fitted with {value!r})"
            for name, value in fitted.items() if not _same_setting(getattr(self, name), value)
        ]
        groups = self._resolvable_column_groups(X)
        same_groups = groups is not None and list(groups) == list(self.modalities_) and all(
            np.array_equal(groups[m], self.modalities_[m]) for m in groups
        )
        if not same_groups:
            changed.append("modalities")
        if changed:
            warnings.warn(
                f"fit_specific retrains step 2 only and keeps the step 1 fitted before, but "
                f"step 1's settings have changed since: {', '.join(changed)}. Call fit to "
                "retrain both steps with them.",
                UserWarning,
            )

    def _resolvable_column_groups(self, X):
        """The column groups ``modalities`` gives for X, or None where it
        gives none (a spec that no longer fits X).

        Column selectors cannot run on an array given to a model fitted on
        named columns: they run on the array with the fitted names, its
        columns counting by position, as scikit-learn takes them after its
        feature-names warning.
        """
        try:
            return self._column_groups(X)
        except (TypeError, ValueError):
            named = getattr(X, "columns", None) is not None
            if named or not hasattr(self, "feature_names_in_"):
                return None
        try:
            import pandas as pd

            X = pd.DataFrame(np.asarray(X), columns=self.feature_names_in_)
            return self._column_groups(X)
        except (ImportError, TypeError, ValueError):
            return None

    def _fit_specific(self, X_model, hidden, seed, device, statistics):
        shared = self.shared_net_.module_
        with seeded_torch(seed, device):
            module = SpecificEncoders(
                shared, hidden, self.n_specific, self._make_augmenter(statistics),
                looks_linear=self.specific_init == "looks_linear",
            )
            criterion = SpecificObjective(
                temperature=self.temperature, ortho_weight=self.ortho_weight
            )
            self.specific_net_ = self._train(
                module, criterion, X_model, self.max_epochs_specific,
                "step-2 (specific)", device, file_prefix="step2_",
            )

    # ------------------------------------------------------------------
    # Inference
    # ------------------------------------------------------------------
    def _block_widths(self):
        # the fitted modules' widths: fit_specific may follow a change of n_shared
        n = len(self.modalities_)
        specific = getattr(self, "specific_net_", None)
        return {
            "shared": [self.shared_net_.module_.n_outputs] * n,
            "specific": [specific.module_.n_outputs if specific else self.n_specific] * n,
        }

    def _fitted_blocks(self):
        return ("shared", "specific") if hasattr(self, "specific_net_") else ("shared",)

    def _encode_raw(self, x, blocks):
        n = len(self.modalities_)
        if "specific" in blocks:
            module = self.specific_net_.module_.eval()

            def shared_then_specific(t):
                specific, shared = module.encode(t)
                return [*shared, *specific]

            arrays = infer(shared_then_specific, x, self.specific_net_.device)
            encoded = {"shared": arrays[:n], "specific": arrays[n:]}
            return {block: encoded[block] for block in blocks}
        module, device = self._shared_encoders()
        return {"shared": infer(module.encode, x, device)}

    def _encode_modality_raw(self, x, index, block):
        if block == "specific":
            module, device = self.specific_net_.module_.eval(), self.specific_net_.device
        else:
            module, device = self._shared_encoders()
        return infer(lambda t: module.encode_modality(t, index), x, device)

    def _shared_encoders(self):
        """The step-1 encoders every shared block comes from, in evaluation
        mode, and their device: with a step 2, the copy of them it was trained
        with (the same weights, unless ``shared_net_`` has been trained on
        since), so that every entry point gives one shared block."""
        specific = getattr(self, "specific_net_", None)
        if specific is not None:
            return specific.module_.shared.eval(), specific.device
        return self.shared_net_.module_.eval(), self.shared_net_.device
