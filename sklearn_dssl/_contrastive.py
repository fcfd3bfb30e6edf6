"""Multimodal contrastive learning, optionally followed by linear ICA.

Liu et al., "Revealing Multimodal Contrastive Representation Learning through
Latent Partial Causal Models", 2024.
"""

from numbers import Integral, Real

from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions

from ._losses import SIMILARITIES, ContrastiveObjective
from ._modules import ContrastiveEncoders
from ._neural import (
    ACCELERATOR_DOC,
    CALLBACKS_DOC,
    COMPILE_DOC,
    FIT_WARNINGS_DOC,
    ICA_PARAMETER_CONSTRAINTS,
    VALIDATION_FRACTION_DOC,
    NeuralMultimodalTransformer,
    check_sphere_width,
    ica_on,
)
from ._training import seeded_torch, warn_if_interrupted, with_autograd


class MultimodalContrastive(NeuralMultimodalTransformer):
    """Multimodal contrastive learning (CLIP-style), optionally followed by FastICA.

    One encoder per modality is trained with the symmetric cross-modal
    InfoNCE loss, the partner row of the other modality being the positive.
    Under the latent partial causal model, the learned embedding recovers
    the latents the modalities share (the coupled latents) up to a linear
    map: an orthogonal map for ``similarity="cosine"`` (outputs on the unit
    sphere) or ``"euclidean"`` (unbounded outputs, negative squared
    distance), a permutation and scaling for ``"l1"`` (outputs in the box
    ``(0, 1)^d``, negative L1 distance). With ``ica``, FastICA fitted on the
    training embeddings turns the linear map into individually
    disentangled components when the latents are independent and
    non-Gaussian.

    :meth:`transform` returns each modality's embedding (the "shared" block;
    this method has no specific block). Standardise the inputs first (a
    :class:`~sklearn.preprocessing.StandardScaler` in a Pipeline): on raw
    inputs of small scale, training with the L1 similarity stalls far from
    the latents.

    Parameters
    ----------
    modalities : None, sequence or dict, default=None
        How the columns of X split into modalities; see
        :class:`DisentangledSSL`. Two or more; with more than two, the loss
        averages over the pairs of modalities.
    n_components : int, default=16
        Width of each modality's embedding; at least 2 with
        ``similarity="cosine"``, whose embeddings lie on the unit sphere.
    similarity : {"cosine", "l1", "euclidean"}, default="cosine"
        Similarity of the contrastive loss, which also fixes where the
        embeddings live (see above).
    temperature : float, default=0.1
        Temperature of the InfoNCE loss. It sets the scale of the
        similarity the model can express: for latents coupled by a
        von Mises-Fisher of concentration kappa the matching choice is
        ``1 / kappa``; for a Laplace coupling of scale b in a unit box,
        about ``b``.
    ica : bool or FastICA, default=False
        After training, fit FastICA on the training embeddings of every
        modality (stacked, so one unmixing serves them all and component k
        means the same in each) and return its independent components. True
        uses ``FastICA(whiten="unit-variance", max_iter=1000)``; pass a
        FastICA instance to choose its settings (it is cloned).
    hidden_layer_sizes : int or tuple of int, default=(256, 256)
        Hidden ReLU layers of each encoder.
    max_epochs : int, default=100
        Training epochs.
    batch_size : int, default=256
        Rows per batch (the incomplete last batch is dropped, unless it is
        the only one: fewer rows than ``batch_size``); the negatives of a
        row are the other rows of its batch.
    lr : float, default=1e-3
        Initial learning rate of Adam, cosine-annealed.
    {validation_fraction}
    output : {"all", "shared"}, default="all"
        Which blocks :meth:`transform` returns; both mean the one block.
    device : str or torch.device, default="auto"
        Torch device: "auto" (CUDA when available, else CPU), "cpu", "cuda"
        or "cuda:k".
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, batch order and ICA. On a CPU, the same
        value gives the same embeddings.
    verbose : int, default=0
        If > 0, print skorch's per-epoch log, with a progress bar where stderr
        is a terminal or in a notebook.
    {callbacks}
    {compile}
    {accelerator}

    Attributes
    ----------
    modalities_ : dict of str to ndarray of int
        Modality names mapped to the column indices of X they hold, in the
        order the ``modalities`` specification gave them.
    net_ : skorch.NeuralNet
        The fitted net; ``net_.history`` holds the per-epoch training loss
        and its one term, ``"train_contrast"``.
    ica_ : FastICA
        The fitted ICA (only with ``ica``).
    unmixing_ : ndarray of shape (n_components, n_components)
        ``ica_.components_``, applied to the centred embeddings (only with
        ``ica``).
    mixing_ : ndarray of shape (n_components, n_components)
        ``ica_.mixing_``, the pseudo-inverse of ``unmixing_`` (only with
        ``ica``).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    DisentangledSSL : Shared and modality-specific representations.
    sklearn.decomposition.FastICA : The ICA applied with ``ica=True``.

    References
    ----------
    Liu, Zhang, Gong, Zhang, Huang, Hengel and Shi, "Revealing Multimodal
    Contrastive Representation Learning through Latent Partial Causal
    Models", 2024.

    Examples
    --------
    >>> from sklearn_dssl import MultimodalContrastive
    >>> from sklearn_dssl.datasets import make_latent_partial_causal
    >>> data = make_latent_partial_causal(500, setting="ica", random_state=0)
    >>> model = MultimodalContrastive(
    ...     modalities=data.modalities, n_components=5, similarity="euclidean",
    ...     ica=True, hidden_layer_sizes=(32,), max_epochs=10, batch_size=64,
    ...     lr=1e-2, random_state=0)
    >>> model.fit_transform(data.data).shape
    (500, 10)
    >>> model.unmixing_.shape
    (5, 5)
    >>> model.transform_modality(data.data[:, :7], "m1").shape
    (500, 5)
    """

    __doc__ = (
        __doc__.replace("{callbacks}", CALLBACKS_DOC)
        .replace("{compile}", COMPILE_DOC)
        .replace("{validation_fraction}", VALIDATION_FRACTION_DOC)
        .replace("{accelerator}", ACCELERATOR_DOC)
    )

    _parameter_constraints: dict = {
        **NeuralMultimodalTransformer._parameter_constraints,
        **ICA_PARAMETER_CONSTRAINTS,
        "output": [StrOptions({"all", "shared"})],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "similarity": [StrOptions(set(SIMILARITIES))],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
    }

    _n_modalities = None  # two or more

    def __init__(
        self,
        modalities=None,
        *,
        n_components=16,
        similarity="cosine",
        temperature=0.1,
        ica=False,
        hidden_layer_sizes=(256, 256),
        max_epochs=100,
        batch_size=256,
        lr=1e-3,
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
        self.n_components = n_components
        self.similarity = similarity
        self.temperature = temperature
        self.ica = ica
        self.hidden_layer_sizes = hidden_layer_sizes
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

    _blocks = ("shared",)

    def _check_params(self):
        if self.similarity == "cosine":
            check_sphere_width(
                self.n_components, parameter="n_components",
                why="similarity='cosine' puts the embedding on the unit sphere",
                fix="raise n_components or use similarity='l1' or 'euclidean'",
            )
        self._check_ica(self.n_components)

    @_fit_context(prefer_skip_nested_validation=True)
    @with_autograd
    def fit(self, X, y=None):
        """Train the encoders, then fit the ICA if ``ica`` asks for it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            All modalities side by side, as described by ``modalities``.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : MultimodalContrastive
            The fitted estimator.

        Warns
        -----
        ConvergenceWarning
            When the contrastive loss ends its last epoch at or above its
            chance level, ``log`` of the batch's rows (or within two standard
            errors of its batches below it): the encoders have not
            learned what the modalities share. With ``validation_fraction``,
            the loss on the held-out rows is judged.
        {fit_warnings}
        """
        with self._unchanged_on_error():
            X_model, hidden, device, _ = self._start_fit(X)
            self._check_params()
            seed_net, seed_ica = self._seeds(2)
            with seeded_torch(seed_net, device):
                module = ContrastiveEncoders(
                    self._modality_sizes, hidden, self.n_components, self.similarity
                )
                criterion = ContrastiveObjective(self.similarity, self.temperature)
                self.net_ = self._train(
                    module, criterion, X_model, self.max_epochs, "contrastive", device
                )
            warn_if_interrupted(
                self.net_, outcome="the model keeps those weights"
                + (" and fits the ICA on them." if ica_on(self.ica) else ".")
            )
            self._fit_shared_ica(X_model, seed_ica)
        return self

    fit.__doc__ = fit.__doc__.replace("{fit_warnings}", FIT_WARNINGS_DOC)

    @property
    def _score_similarity(self):
        # the fitted encoders' geometry, whatever similarity was set since
        return self.net_.module_.similarity
