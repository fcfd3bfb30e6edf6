"""The deep baselines of Wang et al. (ICLR 2025): JointOpt, FOCAL and DMVAE.

Each estimator is the part that differs from the others: its torch modules
and its objective (:mod:`sklearn_dssl._baseline_modules`). Validation,
training (one skorch net, :func:`~sklearn_dssl._training.train`), inference,
the block layout and feature names come from
:class:`~sklearn_dssl._neural.NeuralMultimodalTransformer`.
"""

from numbers import Integral, Real

import torch
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base import check_finite_score
from ._baseline_modules import (
    DMVAEObjective,
    FocalObjective,
    JointEncoders,
    JointObjective,
    MultimodalVAE,
)
from ._modules import HEADS
from ._neural import (
    ACCELERATOR_DOC,
    AUGMENTATION_PARAMETER_CONSTRAINTS,
    CALLBACKS_DOC,
    COMPILE_DOC,
    FIT_WARNINGS_DOC,
    SPECIFIC_INIT_DOC,
    SPECIFIC_INIT_PARAMETER_CONSTRAINTS,
    VALIDATION_FRACTION_DOC,
    NeuralMultimodalTransformer,
    check_shared_width,
    check_sphere_width,
)
from ._training import infer, seeded_torch, warn_if_interrupted, with_autograd

# Parameters every baseline shares (besides the training ones of the base).
_BASELINE_PARAMETER_CONSTRAINTS = {
    **NeuralMultimodalTransformer._parameter_constraints,
    **AUGMENTATION_PARAMETER_CONSTRAINTS,
    "n_shared": [Interval(Integral, 1, None, closed="left")],
    "n_specific": [Interval(Integral, 1, None, closed="left")],
    "max_epochs": [Interval(Integral, 1, None, closed="left")],
}

# Docstring pieces the three estimators share.
_MODALITIES_DOC = """modalities : None, sequence or dict, default=None
        How the columns of X split into modalities; see
        :class:`DisentangledSSL`. Exactly two."""

_TRAINING_DOC = """augmentation : {"mixed", "noise", "mask", "none"} or callable, default="mixed"
        Augmentation of each training batch; see :class:`DisentangledSSL`.
    noise_scale : float, default=0.1
        Standard deviation of the additive noise, relative to each feature's.
    mask_fraction : float, default=0.1
        Probability that an entry is masked.
    max_epochs : int, default=50
        Training epochs.
    batch_size : int, default=256
        Rows per training batch (the incomplete last batch of an epoch is
        dropped, unless it is the only one: fewer rows than ``batch_size``).
    lr : float, default=1e-4
        Initial learning rate of Adam, cosine-annealed.
    {validation_fraction}
    output : {"all", "shared", "specific"}, default="all"
        Which blocks :meth:`transform` returns (both are always trained).
    device : str or torch.device, default="auto"
        Torch device: "auto" (CUDA when available, else CPU), "cpu", "cuda"
        or "cuda:k".
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, batch order, augmentation and samples.
        On a CPU, the same value gives the same embeddings.
    verbose : int, default=0
        If > 0, print skorch's per-epoch log, with a progress bar where stderr
        is a terminal or in a notebook.
    {callbacks}
    {compile}
    {accelerator}"""

_ATTRIBUTES_DOC = """modalities_ : dict of str to ndarray of int
        Modality names mapped to the column indices of X they hold, in the
        order the ``modalities`` specification gave them.
    net_ : skorch.NeuralNet
        The fitted net; ``net_.history`` holds the per-epoch training loss
        and, unweighted, each term of the objective (``"train_<term>"``).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names."""

_REFERENCE_DOC = """Wang, Gupta, Zhang, Tonekaboni, Jegelka, Jaakkola and Uhler, "An
    Information Criterion for Controlled Disentanglement of Multimodal Data",
    ICLR 2025 (the comparison in which these baselines are run)."""


def _fill(doc):
    return (
        doc.replace("{modalities}", _MODALITIES_DOC)
        .replace("{training}", _TRAINING_DOC)
        .replace("{attributes}", _ATTRIBUTES_DOC)
        .replace("{reference}", _REFERENCE_DOC)
        .replace("{callbacks}", CALLBACKS_DOC)
        .replace("{compile}", COMPILE_DOC)
        .replace("{validation_fraction}", VALIDATION_FRACTION_DOC)
        .replace("{accelerator}", ACCELERATOR_DOC)
        .replace("{specific_init}", SPECIFIC_INIT_DOC)
    )


class _JointlyTrainedBaseline(NeuralMultimodalTransformer):
    """Fit of a baseline: one module, one objective, one skorch net.

    A subclass implements :meth:`_module_and_objective` and may check its
    parameters in :meth:`_check_params`.
    """

    _parameter_constraints: dict = _BASELINE_PARAMETER_CONSTRAINTS

    def _module_and_objective(self, modality_sizes, hidden, augmenter):
        raise NotImplementedError

    @_fit_context(prefer_skip_nested_validation=True)
    @with_autograd
    def fit(self, X, y=None):
        """Train the shared and specific encoders together.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            All modalities side by side, as described by ``modalities``.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : object
            The fitted estimator.

        Warns
        -----
        ConvergenceWarning
            JointOptSSL and FOCAL: when the cross-modal contrastive loss of the
            shared encoders ends its last epoch at or above its chance level
            (``log`` of the batch's rows; twice that for FOCAL, which sums its
            two views), or within two standard errors of its batches below it.
            With ``validation_fraction``, the loss on the held-out
            rows is judged.
        {fit_warnings}
        """
        with self._unchanged_on_error():
            X_model, hidden, device, statistics = self._start_fit(X)
            self._check_params()
            (seed,) = self._seeds(1)
            with seeded_torch(seed, device):
                module, objective = self._module_and_objective(
                    self._modality_sizes, hidden, self._make_augmenter(statistics)
                )
                self.net_ = self._train(
                    module, objective, X_model, self.max_epochs, type(self).__name__, device
                )
            warn_if_interrupted(self.net_)
        return self

    fit.__doc__ = fit.__doc__.replace("{fit_warnings}", FIT_WARNINGS_DOC)


class JointOptSSL(_JointlyTrainedBaseline):
    """JointOpt: DisentangledSSL's shared and specific objectives optimised jointly.

    The baseline of Wang et al. (2025) that trains, in one optimisation and
    without the bottleneck (beta = 0), shared encoders ``f_i(x_i)`` and
    specific encoders ``g_i([x_i, f_i(x_i)])``; the shared encoders are not
    frozen, so the specific loss also shapes them. The loss is

    ``2 L_shared / (1 + a) + a L_specific / (1 + a) + ortho_weight L_ortho``

    with ``a = specific_weight``: ``L_shared`` the cross-modal InfoNCE on
    posterior samples of the shared embeddings, averaged over two augmented
    views; ``L_specific`` the self-contrastive InfoNCE between the two views
    of each modality's ``[g_i, f_j]`` (the other modality's shared
    embedding); ``L_ortho`` the orthogonality penalty ``||S_i^T C_i||_F``.

    Parameters
    ----------
    {modalities}
    n_shared : int, default=100
        Width of each modality's shared embedding, at least 2 (the
        contrastive loss compares the embeddings by their cosine).
    n_specific : int, default=100
        Width of each modality's specific embedding.
    hidden_layer_sizes : int or tuple of int, default=(512,)
        Hidden ReLU layers of every encoder; ``()`` gives linear encoders.
    {specific_init}
    specific_weight : float, default=1.0
        The weight ``a`` > 0 that trades the specific loss against the
        shared one (the paper sweeps 0.01 to 1000).
    ortho_weight : float, default=0.01
        Weight of the orthogonality penalty (the paper's lambda, swept
        from 0.001 to 100). Unlike DisentangledSSL's step 2, whose shared
        encoders are frozen, the penalty here reaches the shared encoders
        too, and as a Frobenius norm over the batch it grows with the
        batch's rows: at 1 it outweighs the shared contrast. On the
        4,200 rows of the gallery's comparison of the methods the shared
        block read 0.683 of the shared label at 1 against 0.797 at 0.01;
        on the paper's data at full scale (``specific_init="normal"``),
        0.777 against 0.805, the specific block leaking 0.607 of it
        against 0.553.
    temperature : float, default=0.07
        Temperature of every InfoNCE loss.
    head : {"vmf", "power_spherical", "gaussian"}, default="vmf"
        Posterior of the shared encoder; see :class:`DisentangledSSL`.
    kappa : float, default=1000.0
        Concentration of the spherical heads; for the Gaussian head the
        inverse noise variance.
    {training}

    Attributes
    ----------
    {attributes}

    See Also
    --------
    DisentangledSSL : The two-step method this baseline is compared with.
    FOCAL : Another jointly trained shared/specific baseline.

    References
    ----------
    {reference}

    Examples
    --------
    >>> from sklearn_dssl import JointOptSSL
    >>> from sklearn_dssl.datasets import make_paper_synthetic
    >>> data = make_paper_synthetic(n_samples=600, n_latent=4, n_features=8, random_state=0)
    >>> model = JointOptSSL(
    ...     modalities=data.modalities, n_shared=4, n_specific=3,
    ...     hidden_layer_sizes=(32,), max_epochs=20, batch_size=64, lr=1e-3,
    ...     random_state=0)
    >>> model.fit_transform(data.data).shape
    (600, 14)
    >>> model.get_feature_names_out()[[0, 4, 8, 11]].tolist()
    ['shared_m1_0', 'shared_m2_0', 'specific_m1_0', 'specific_m2_0']
    """

    __doc__ = _fill(__doc__)

    _parameter_constraints: dict = {
        **_BASELINE_PARAMETER_CONSTRAINTS,
        **SPECIFIC_INIT_PARAMETER_CONSTRAINTS,
        "specific_weight": [Interval(Real, 0, None, closed="neither")],
        "ortho_weight": [Interval(Real, 0, None, closed="left")],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "head": [StrOptions(set(HEADS))],
        "kappa": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        modalities=None,
        *,
        n_shared=100,
        n_specific=100,
        hidden_layer_sizes=(512,),
        specific_init="looks_linear",
        specific_weight=1.0,
        ortho_weight=0.01,
        temperature=0.07,
        head="vmf",
        kappa=1000.0,
        augmentation="mixed",
        noise_scale=0.1,
        mask_fraction=0.1,
        max_epochs=50,
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
        self.specific_weight = specific_weight
        self.ortho_weight = ortho_weight
        self.temperature = temperature
        self.head = head
        self.kappa = kappa
        self.augmentation = augmentation
        self.noise_scale = noise_scale
        self.mask_fraction = mask_fraction
        self.max_epochs = max_epochs
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

    def _check_params(self):
        check_shared_width(self.head, self.n_shared)

    def _module_and_objective(self, modality_sizes, hidden, augmenter):
        module = JointEncoders(
            modality_sizes, hidden, self.n_shared, self.n_specific, augmenter,
            looks_linear=self.specific_init == "looks_linear",
        )
        objective = JointObjective(
            HEADS[self.head](self.kappa), temperature=self.temperature,
            specific_weight=self.specific_weight, ortho_weight=self.ortho_weight,
        )
        return module, objective


class FOCAL(_JointlyTrainedBaseline):
    """FOCAL: contrastive shared and private spaces with a cosine orthogonality penalty.

    Liu et al.'s factorised contrastive learning, as run by Wang et al.
    (2025) on tabular data: shared encoders ``x_i -> e_i^c`` and specific
    encoders ``[x_i, e_i^c] -> e_i^s``, all trained together on two
    augmented views ``x`` and ``v`` of each batch, with the loss

    ``L_shared + specific_weight L_specific + ortho_weight L_ortho``

    where ``L_shared`` is the cross-modal InfoNCE of the normalised shared
    embeddings (summed over the two views), ``L_specific`` the sum over
    modalities of the InfoNCE between the specific embeddings of ``x`` and
    ``v``, and ``L_ortho`` the sum of mean cosines between each modality's
    specific and shared embeddings and between the modalities' specific
    embeddings, in each view. The cosine is signed, so the penalty pushes
    the pairs towards opposite directions, not only orthogonal ones.

    Parameters
    ----------
    {modalities}
    n_shared : int, default=100
        Width of each modality's shared embedding, at least 2 (the
        embeddings are normalised onto the unit sphere).
    n_specific : int, default=100
        Width of each modality's specific embedding; must equal ``n_shared``
        (the penalty compares the two by cosine).
    hidden_layer_sizes : int or tuple of int, default=(512,)
        Hidden ReLU layers of every encoder; ``()`` gives linear encoders.
    {specific_init}
    specific_weight : float, default=1.0
        Weight ``a`` > 0 of the self-contrastive specific loss (the paper
        sweeps 0.01 to 1000); at 0 nothing but the penalty would train the
        specific encoders.
    ortho_weight : float, default=1.0
        Weight of the cosine penalty (the paper's lambda).
    temperature : float, default=0.07
        Temperature of every InfoNCE loss.
    {training}

    Attributes
    ----------
    {attributes}

    See Also
    --------
    DisentangledSSL : The two-step method this baseline is compared with.
    JointOptSSL : DisentangledSSL's objectives optimised jointly.

    References
    ----------
    Liu, Xu, Kara, Wang, Cui, Wang, Kaplan, Abdelzaher, "FOCAL: Contrastive
    Learning for Multimodal Time-Series Sensing Signals in Factorized
    Orthogonal Latent Space", NeurIPS 2023.

    {reference}

    Examples
    --------
    >>> from sklearn_dssl import FOCAL
    >>> from sklearn_dssl.datasets import make_paper_synthetic
    >>> data = make_paper_synthetic(n_samples=600, n_latent=4, n_features=8, random_state=0)
    >>> model = FOCAL(
    ...     modalities=data.modalities, n_shared=4, n_specific=4,
    ...     hidden_layer_sizes=(32,), max_epochs=20, batch_size=64, lr=1e-3,
    ...     random_state=0)
    >>> model.fit_transform(data.data).shape
    (600, 16)
    >>> model.transform_modality(data.data[:, 8:], "m2", block="specific").shape
    (600, 4)
    """

    __doc__ = _fill(__doc__)

    _parameter_constraints: dict = {
        **_BASELINE_PARAMETER_CONSTRAINTS,
        **SPECIFIC_INIT_PARAMETER_CONSTRAINTS,
        "specific_weight": [Interval(Real, 0, None, closed="neither")],
        "ortho_weight": [Interval(Real, 0, None, closed="left")],
        "temperature": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self,
        modalities=None,
        *,
        n_shared=100,
        n_specific=100,
        hidden_layer_sizes=(512,),
        specific_init="looks_linear",
        specific_weight=1.0,
        ortho_weight=1.0,
        temperature=0.07,
        augmentation="mixed",
        noise_scale=0.1,
        mask_fraction=0.1,
        max_epochs=50,
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
        self.specific_weight = specific_weight
        self.ortho_weight = ortho_weight
        self.temperature = temperature
        self.augmentation = augmentation
        self.noise_scale = noise_scale
        self.mask_fraction = mask_fraction
        self.max_epochs = max_epochs
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

    def _check_params(self):
        if self.n_shared != self.n_specific:
            raise ValueError(
                "FOCAL compares each specific embedding with its shared one by "
                f"cosine, which needs n_shared == n_specific; got n_shared="
                f"{self.n_shared} and n_specific={self.n_specific}. Set both to "
                "the same width."
            )
        check_sphere_width(
            self.n_shared, parameter="n_shared",
            why="FOCAL normalises its embeddings onto the unit sphere",
            fix="raise n_shared and n_specific",
        )

    def _module_and_objective(self, modality_sizes, hidden, augmenter):
        module = JointEncoders(
            modality_sizes, hidden, self.n_shared, self.n_specific, augmenter,
            looks_linear=self.specific_init == "looks_linear",
        )
        objective = FocalObjective(
            temperature=self.temperature, specific_weight=self.specific_weight,
            ortho_weight=self.ortho_weight,
        )
        return module, objective


class DMVAE(_JointlyTrainedBaseline):
    """DMVAE: disentangling multimodal variational autoencoder.

    Each modality's encoder gives a Gaussian expert ``q_i(c | x_i)`` of the
    shared latent and a Gaussian posterior ``q_i(s_i | x_i)`` of its private
    latent. The joint shared posterior is the product of the experts, and
    decoder ``i`` reconstructs ``x_i`` from ``[s_i, c]``. The loss adds, for
    every modality, the joint negative ELBO (reconstruction from the private
    latent and the joint shared latent) and the cross-modal ones
    (reconstruction from the private latent and another modality's shared
    expert):

    ``sum_i [SE_i(s_i, c) + a (KL(s_i) + KL(c))]
    + sum_{i != j} [SE_i(s_i, c_j) + a (KL(s_i) + KL(c_j))]``

    with SE the squared error summed over the modality's columns, KL to
    N(0, I) and ``a = kl_weight``; terms are means over the rows of a
    batch. :meth:`transform` returns the posterior means: each modality's
    shared expert mean (shared block) and private mean (specific block).

    Parameters
    ----------
    {modalities}
    n_shared : int, default=100
        Width of the shared latent.
    n_specific : int, default=100
        Width of each modality's private latent.
    hidden_layer_sizes : int or tuple of int, default=(512,)
        Hidden ReLU layers of every encoder (decoders use them reversed).
    kl_weight : float, default=1.0
        Weight ``a`` of every KL term (a beta-VAE weight). The paper's
        research code sums its KL terms over the rows of a batch and
        averages its squared errors over rows and columns, so its ``a`` is
        this one divided by ``batch_size * n_columns_of_a_modality`` (its
        grid 1e-5 to 1e-3 with batches of 256 rows and 100 columns is
        ``kl_weight`` 0.256 to 25.6).
    {training}

    Attributes
    ----------
    {attributes}

    See Also
    --------
    DisentangledSSL : The contrastive method this baseline is compared with.

    Notes
    -----
    The cross-modal KL terms here are those of the distributions the cross
    reconstructions sample from. The paper's research code instead uses
    ``KL(N(mean_1, var_2))`` and ``KL(N(mean_2, var_1))`` for the private
    latents, which mixes the two modalities' posteriors.

    References
    ----------
    Daunhawer, Sutter, Marcinkevics and Vogt, "Self-supervised
    Disentanglement of Modality-specific and Shared Factors Improves
    Multimodal Generative Models", GCPR 2020.

    {reference}

    Examples
    --------
    >>> from sklearn_dssl import DMVAE
    >>> from sklearn_dssl.datasets import make_paper_synthetic
    >>> data = make_paper_synthetic(n_samples=300, n_latent=4, n_features=8, random_state=0)
    >>> model = DMVAE(
    ...     modalities=data.modalities, n_shared=4, n_specific=3,
    ...     hidden_layer_sizes=(16,), max_epochs=2, batch_size=64, random_state=0)
    >>> model.fit_transform(data.data).shape
    (300, 14)
    >>> bool(model.score(data.data) < 0)
    True
    """

    __doc__ = _fill(__doc__)

    _parameter_constraints: dict = {
        **_BASELINE_PARAMETER_CONSTRAINTS,
        # not contrastive: a batch of one row is a valid (if noisy) step
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "kl_weight": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        modalities=None,
        *,
        n_shared=100,
        n_specific=100,
        hidden_layer_sizes=(512,),
        kl_weight=1.0,
        augmentation="mixed",
        noise_scale=0.1,
        mask_fraction=0.1,
        max_epochs=50,
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
        self.kl_weight = kl_weight
        self.augmentation = augmentation
        self.noise_scale = noise_scale
        self.mask_fraction = mask_fraction
        self.max_epochs = max_epochs
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

    def _module_and_objective(self, modality_sizes, hidden, augmenter):
        module = MultimodalVAE(modality_sizes, hidden, self.n_shared, self.n_specific, augmenter)
        return module, DMVAEObjective(kl_weight=self.kl_weight)

    def score(self, X, y=None):
        """Negative reconstruction error of X: higher is better.

        Every modality is reconstructed from the posterior means (its
        private latent and the joint shared latent, no sampling); the score
        is minus the squared error summed over columns, averaged over rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data with the columns seen in fit.
        y : None
            Ignored.

        Returns
        -------
        score : float
            Minus the mean squared reconstruction error per row, at most 0.
        """
        check_is_fitted(self)
        X = self._validate_input(X, reset=False)
        module = self.net_.module_.eval()

        def summed_squared_error(x):
            pairs = list(zip(module.reconstruct(x), x.split(module.modality_sizes, dim=1)))
            error = sum((r - p).pow(2).sum() for r, p in pairs)
            if not torch.isfinite(error):
                # again in float64, on the CPU (where every device's tensors
                # go, mps having no float64): errors of large values
                # overflow float32
                error = sum((r.cpu().double() - p.cpu().double()).pow(2).sum() for r, p in pairs)
            return error

        def batch_error(x, blocks):  # blocks: none to encode
            return float(infer(summed_squared_error, x, self.net_.device))

        total = sum(error for _, error in self._iter_blocks(X, (), encode=batch_error))
        return check_finite_score(-total / X.shape[0])

