"""Torch building blocks: encoders, probabilistic heads and augmentation.

Everything here is a plain ``torch.nn.Module`` that knows nothing of
scikit-learn or skorch. Inputs are float tensors whose columns are ordered
modality by modality; ``modality_sizes`` says where each modality starts.
"""

import copy
import math

import numpy as np
import torch
from scipy.special import ndtri
from torch import nn
from torch.nn import functional as F

from ._kernels import Linear
from ._losses import (
    cosine_bottleneck,
    cosine_similarity_matrix,
    dot_similarity_matrix,
    squared_bottleneck,
)


def make_mlp(n_in, hidden_layer_sizes, n_out, init_std=0.01, looks_linear=False):
    """A ReLU multi-layer perceptron with N(0, init_std^2) weights, zero biases.

    ``init_std=None`` keeps torch's default (Kaiming-uniform) initialisation,
    better suited to deep encoders. ``looks_linear=True`` then mirrors the
    weights (:func:`mirror_weights_`), so that the network starts as a
    linear map of its input.
    """
    sizes = [n_in, *hidden_layer_sizes, n_out]
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = Linear(a, b)
        if init_std is not None:
            nn.init.normal_(linear.weight, std=init_std)
            nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    mlp = nn.Sequential(*layers)
    if looks_linear:
        mirror_weights_(mlp)
    return mlp


@torch.no_grad()
def mirror_weights_(mlp):
    """Make a ReLU MLP compute a linear map of its input, in place.

    The "looks-linear" initialisation of Balduzzi et al. (2017): each hidden
    layer of width h holds h // 2 pairs of units whose incoming weights are
    opposite, ``relu(a)`` and ``relu(-a)``, and the next layer reads each
    pair with opposite weights, so that it sees ``relu(a) - relu(-a) = a``.
    The kept weights are the layer's own (top-left) ones, so their law is
    the initialisation's. Biases are zeroed. With an odd width the last unit
    keeps its incoming weights and starts with no outgoing ones. A hidden
    layer of one unit holds no pair, so an MLP with one is left as it is.
    Training then makes the network as nonlinear as its loss asks.
    """
    linears = [m for m in mlp if isinstance(m, nn.Linear)]
    if any(linear.out_features < 2 for linear in linears[:-1]):
        return
    for i, linear in enumerate(linears):
        weight = linear.weight
        n_out, n_in = weight.shape
        pairs_in = n_in // 2 if i > 0 else None  # a hidden layer's pairs feed this one
        pairs_out = n_out // 2 if i < len(linears) - 1 else None
        block = weight[: pairs_out or n_out, : pairs_in or n_in].clone()
        if pairs_in is not None:
            block = torch.cat([block, -block], dim=1)
        if pairs_out is not None:
            block = torch.cat([block, -block], dim=0)
        extra_row = weight[-1].clone()
        weight.zero_()
        weight[: block.shape[0], : block.shape[1]] = block
        if pairs_out is not None and n_out % 2:
            weight[-1] = extra_row
        linear.bias.zero_()


# --------------------------------------------------------------------------
# Probabilistic heads of the shared encoder
# --------------------------------------------------------------------------


def _sample_on_sphere_around(mean, w, sine=None):
    """Unit vectors with cosine ``w`` to ``mean``'s direction, uniform otherwise.

    The orthogonal part is an isotropic Gaussian vector projected off the
    mean direction and normalised: uniform on the directions orthogonal to it.
    Its length ``sine``, by default ``sqrt(1 - w^2)``, is taken in ``w``'s
    precision (float64 for the vMF head) before the cast to the mean's: in
    float32, cosines within 1e-7 of 1 would all round to 1, and their
    samples onto the mean.
    """
    direction = F.normalize(mean, dim=1)
    noise = torch.randn_like(direction)
    tangent = F.normalize(noise - (noise * direction).sum(dim=1, keepdim=True) * direction, dim=1)
    if sine is None:
        sine = torch.sqrt((1.0 - w * w).clamp_min(0.0))
    sine = sine.to(direction.device, direction.dtype).unsqueeze(1)
    w = w.to(direction.device, direction.dtype).unsqueeze(1)
    return w * direction + sine * tangent


# Devices without float64 (Apple's MPS): the vMF head reads its quantile
# table, and draws its cosines, on the CPU for them.
_NO_FLOAT64 = frozenset({"mps"})


def _table_device(device):
    """Where the vMF head's float64 quantile table is read for batches on ``device``."""
    device = torch.device(device)
    return torch.device("cpu") if device.type in _NO_FLOAT64 else device


def vmf_cosine_quantiles(kappa, dim, n_knots=8193):
    """Knots of the quantile function of a vMF sample's cosine to its mean.

    The angle theta between a sample of vMF(mu, kappa) on the unit sphere of
    R^dim and mu has density proportional to
    ``exp(kappa (cos theta - 1)) sin(theta) ** (dim - 2)`` on [0, pi], bounded
    for every ``dim >= 2`` (the cosine's is not for ``dim = 2``). Its CDF,
    integrated by the trapezoid rule over 2^16 intervals of [0, pi], locates
    the range of angles that holds all but about 1e-16 of the mass; the knots
    are ``n_knots`` evenly spaced angles over that range and the CDF there,
    integrated again. Returns ``(cdf, theta)``, float64 arrays, ``cdf``
    increasing from 0 to 1.
    """

    def cdf(theta):
        log_sin = np.log(np.sin(theta), where=theta > 0, out=np.full_like(theta, -np.inf))
        log_density = kappa * (np.cos(theta) - 1.0) + (
            (dim - 2) * log_sin if dim > 2 else 0.0
        )
        density = np.exp(log_density - log_density.max())
        area = np.cumsum((density[1:] + density[:-1]) / 2.0 * np.diff(theta))
        return np.concatenate([[0.0], area / area[-1]])

    coarse = np.linspace(0.0, np.pi, 2**16 + 1)
    coarse_cdf = cdf(coarse)
    low = coarse[max(np.searchsorted(coarse_cdf, 1e-17, side="right") - 1, 0)]
    high = coarse[min(np.searchsorted(coarse_cdf, 1.0), len(coarse) - 1)]
    theta = np.linspace(low, high, n_knots)
    return cdf(theta), theta


_KNOT_ATTRIBUTES = ("_knots_cdf", "_knots_theta", "_knots_for")


class VonMisesFisherHead(nn.Module):
    """Von Mises-Fisher posterior with fixed concentration ``kappa``.

    The cosine to the mean direction is drawn by inverting its CDF: the
    quantile function is tabulated once per dimension
    (:func:`vmf_cosine_quantiles`, 8193 knots, kept by the head on the
    device that reads them)
    and each row takes one uniform draw, interpolated linearly between the
    knots. Unlike a rejection sampler (Wood, 1994), a batch costs the same
    few operations every time, which torch.compile traces into its graph.
    Because kappa is fixed, the cosine does not depend on the mean, and the
    sample is differentiable in the mean through its direction.
    """

    def __init__(self, kappa):
        super().__init__()
        self.kappa = float(kappa)

    # The samples are unit vectors: their cosine similarity is their dot product.
    sample_similarity = staticmethod(dot_similarity_matrix)

    def _quantile_knots(self, dim, device):
        """The knots of :func:`vmf_cosine_quantiles` for ``dim`` on ``device``,
        tabulated on first use (and again if ``kappa``, ``dim`` or ``device``
        changes).

        Plain float64 attributes, not buffers: moving the module does not
        move them, nor cast them (``.float()``), nor fail on a device without
        float64 (Apple's MPS, whose tables stay on the CPU).
        """
        key = (self.kappa, dim, torch.device(device))
        if getattr(self, "_knots_for", None) != key:
            cdf, theta = vmf_cosine_quantiles(self.kappa, dim)
            self._knots_cdf, self._knots_theta = (
                torch.as_tensor(a, device=device) for a in (cdf, theta))
            self._knots_for = key
        return self._knots_cdf, self._knots_theta

    def __getstate__(self):
        """The head's state without its tables, which the first sample after
        unpickling tabulates again (131 KB that would otherwise ride along in
        every pickle and copy of a fitted model, on the device they were on)."""
        state = super().__getstate__().copy()
        for name in _KNOT_ATTRIBUTES:
            state.pop(name, None)
        return state

    def _sample_cosine(self, n, dim, device):
        cdf, theta = self._quantile_knots(dim, device)
        u = torch.rand(n, dtype=torch.float64, device=device)
        # cdf[upper - 1] < u <= cdf[upper]
        upper = torch.searchsorted(cdf, u).clamp_(1, len(cdf) - 1)
        lower = upper - 1
        step = (cdf[upper] - cdf[lower]).clamp_min(torch.finfo(torch.float64).tiny)
        return torch.cos(torch.lerp(theta[lower], theta[upper], (u - cdf[lower]) / step))

    def sample(self, mean):
        w = self._sample_cosine(mean.shape[0], mean.shape[1], _table_device(mean.device))
        return _sample_on_sphere_around(mean, w)

    def bottleneck(self, mean_a, mean_b):
        return cosine_bottleneck(mean_a, mean_b)


class PowerSphericalHead(VonMisesFisherHead):
    """Power Spherical posterior (De Cao & Aziz, 2020): a rejection-free vMF.

    The cosine to the mean direction is ``2 t - 1`` with
    ``t ~ Beta((d - 1) / 2 + kappa, (d - 1) / 2)``, of mean
    ``kappa / (d - 1 + kappa)``: about twice the vMF's spread at the same
    ``kappa`` when ``kappa`` is much larger than ``d``.
    """

    def _sample_half_distance(self, n, dim, device, dtype=torch.float32):
        """``s = (1 - w) / 2 = 1 - t ~ Beta((d - 1) / 2, (d - 1) / 2 + kappa)``.

        Drawn as ``s`` rather than ``t``: near ``t = 1``, where a concentrated
        head draws much of its mass, float32 rounds ``t`` to 1 but keeps
        ``s`` to full relative precision (without float64, which some
        devices lack).
        """
        half = (dim - 1.0) / 2.0
        # a concentration past the dtype's largest number: as concentrated
        # as the dtype can hold (the draws are then 0, the mean itself)
        concentration = min(half + self.kappa, torch.finfo(dtype).max)
        # full() fills on the device; torch.tensor() would copy from the host
        beta = torch.distributions.Beta(
            torch.full((), half, dtype=dtype, device=device),
            torch.full((), concentration, dtype=dtype, device=device),
            validate_args=False,
        )
        return beta.sample((n,))

    def _sample_cosine(self, n, dim, device):
        return 1.0 - 2.0 * self._sample_half_distance(n, dim, device, torch.float64)

    def sample(self, mean):
        # drawn where the vMF head reads its table: MPS has no Beta sampler
        s = self._sample_half_distance(
            mean.shape[0], mean.shape[1], _table_device(mean.device), mean.dtype
        ).to(mean.device)
        return _sample_on_sphere_around(mean, 1.0 - 2.0 * s, 2.0 * torch.sqrt(s * (1.0 - s)))


class GaussianHead(nn.Module):
    """Gaussian posterior ``N(mean, I / kappa)``; kappa=1 is a unit-variance head."""

    def __init__(self, kappa):
        super().__init__()
        self.kappa = float(kappa)

    sample_similarity = staticmethod(cosine_similarity_matrix)

    def sample(self, mean):
        return mean + torch.randn_like(mean) / math.sqrt(self.kappa)

    def bottleneck(self, mean_a, mean_b):
        return squared_bottleneck(mean_a, mean_b)


HEADS = {
    "vmf": VonMisesFisherHead,
    "power_spherical": PowerSphericalHead,
    "gaussian": GaussianHead,
}


# --------------------------------------------------------------------------
# Augmentation
# --------------------------------------------------------------------------


def _checked_augmentation(augmented, x):
    """The output of a callable augmentation of ``x``, checked to stand in for it.

    A floating tensor of another precision is cast to ``x``'s; anything else
    that is not a tensor of ``x``'s shape on ``x``'s device is refused, before
    it can reach the encoders as a shape or dtype error of torch's.
    """
    expected = f"a torch tensor shaped like its input batch {tuple(x.shape)}"
    if not isinstance(augmented, torch.Tensor):
        raise TypeError(
            f"the augmentation callable returned {type(augmented).__name__}; it must "
            f"return {expected}, e.g. x + 0.1 * torch.randn_like(x)."
        )
    if augmented.shape != x.shape:
        raise ValueError(
            f"the augmentation callable returned a tensor of shape "
            f"{tuple(augmented.shape)}; it must return {expected}: augment every "
            "row and column of the batch, modality by modality."
        )
    if not augmented.is_floating_point():
        raise TypeError(
            f"the augmentation callable returned a {augmented.dtype} tensor; it must "
            f"return floating-point values ({x.dtype}, as its input)."
        )
    if augmented.device != x.device:
        raise ValueError(
            f"the augmentation callable returned a tensor on {augmented.device}, but "
            f"the batch is on {x.device}; create new tensors on the input's device, "
            "e.g. with torch.randn_like(x)."
        )
    return augmented.to(x.dtype)


class TabularAugmenter(nn.Module):
    """Vectorised augmentation of a batch of tabular rows.

    Parameters
    ----------
    center, scale : Tensor of shape (n_features,)
        Per-feature mean and standard deviation of the training data.
    kind : {"mixed", "noise", "mask", "none"} or callable
        "noise" adds Gaussian noise of ``noise_scale * scale`` to every entry;
        "mask" replaces each entry with probability ``mask_fraction`` by its
        feature's mean (zeroing, for standardised data), so that the count
        masked varies from row to row around ``mask_fraction`` of its entries
        (the authors' code zeroes exactly that many); "mixed" picks one of
        noise, mask or identity per row with equal chance, as the DisentangledSSL
        authors do, one choice for the whole row, all its modalities (the
        authors' code draws one for each modality); "none" returns the batch.
        A callable receives the batch tensor and returns a tensor of the same
        shape (checked by :func:`_checked_augmentation`).
    """

    def __init__(self, center, scale, kind="mixed", noise_scale=0.1, mask_fraction=0.1):
        super().__init__()
        self.register_buffer("center", torch.as_tensor(center, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))
        self.kind = kind
        self.noise_scale = float(noise_scale)
        self.mask_fraction = float(mask_fraction)
        # the standard normal quantile of mask_fraction (-inf at 0, inf at 1),
        # computed once: a plain number where torch.compile traces forward
        self.mask_threshold = float(ndtri(self.mask_fraction))

    def forward(self, x):
        if callable(self.kind):
            return _checked_augmentation(self.kind(x), x)
        if self.kind == "none":
            return x
        if self.kind == "noise":
            return torch.addcmul(x, torch.randn_like(x), self.noise_scale * self.scale)
        if self.kind == "mask":
            return torch.where(torch.rand_like(x) < self.mask_fraction, self.center, x)
        # "mixed": the noise rows and the mask rows are disjoint, so one draw
        # z ~ N(0, 1) serves both: noise z * noise_scale * scale on the first,
        # a mask z < Phi^-1(mask_fraction) (probability mask_fraction) on the second
        z = torch.randn_like(x)
        choice = torch.randint(3, (x.shape[0], 1), device=x.device)
        noisy = torch.addcmul(x, z, self.noise_scale * self.scale)
        masked = (choice == 1) & (z < self.mask_threshold)
        return torch.where(choice == 0, noisy, torch.where(masked, self.center, x))


# --------------------------------------------------------------------------
# The two DisentangledSSL steps
# --------------------------------------------------------------------------


class SharedEncoders(nn.Module):
    """Step 1: one encoder per modality, ``x_i -> f_i(x_i)``.

    ``forward`` augments the batch when training and returns the list of
    encoder outputs (the means of the shared posteriors), one per modality.
    """

    def __init__(self, modality_sizes, hidden_layer_sizes, n_shared, augmenter, init_std=0.01):
        super().__init__()
        self.modality_sizes = tuple(int(s) for s in modality_sizes)
        self.n_outputs = int(n_shared)
        self.encoders = nn.ModuleList(
            make_mlp(size, hidden_layer_sizes, n_shared, init_std)
            for size in self.modality_sizes
        )
        self.augmenter = augmenter

    @property
    def block_widths(self):
        return {"shared": [self.n_outputs] * len(self.modality_sizes)}

    def encode(self, x):
        # each modality's columns copied out of the batch's rows: a BLAS may
        # multiply a strided view to other last bits than the same rows
        # given alone (encode_modality), on some processors
        parts = x.split(self.modality_sizes, dim=1)
        return [encoder(part.contiguous()) for encoder, part in zip(self.encoders, parts)]

    def encode_blocks(self, x):
        return {"shared": self.encode(x)}

    def encode_modality(self, x, index, block="shared"):
        """Shared embedding of modality ``index`` from its columns ``x`` alone."""
        return self.encoders[index](x)

    def forward(self, x):
        if self.training:
            x = self.augmenter(x)
        return self.encode(x)


def specific_embeddings(encoders, x, modality_sizes, shared):
    """Each modality's specific encoder on its columns of the batch ``x`` beside
    its ``shared`` embedding (the encoders of DisentangledSSL's step 2 and of
    the jointly trained baselines)."""
    parts = x.split(modality_sizes, dim=1)
    return [encoder(torch.cat([part, s], dim=1)) for encoder, part, s in zip(encoders, parts, shared)]


class TwoAugmentedViews(nn.Module):
    """``forward`` of the modules trained on two augmented views of a batch.

    A subclass has ``augmenter`` and ``encode(x) -> (specific, shared)``,
    per-modality lists of embeddings. When training, ``forward`` returns
    two views, ``x`` (the batch augmented once) and ``v`` (``x`` augmented
    again), each a pair ``(specific, shared)``; in evaluation, one view of
    the batch itself.
    """

    def forward(self, x):
        if not self.training:
            return [self.encode(x)]
        x = self.augmenter(x)
        v = self.augmenter(x)
        # one pass over both views: twice the rows per matrix product, half the calls
        specific, shared = self.encode(torch.cat([x, v]))
        n = x.shape[0]
        return [
            ([s[:n] for s in specific], [c[:n] for c in shared]),
            ([s[n:] for s in specific], [c[n:] for c in shared]),
        ]


class SpecificEncoders(TwoAugmentedViews):
    """Step 2: ``[x_i, f_i(x_i)] -> g_i([x_i, f_i(x_i)])`` over frozen step-1 encoders.

    ``looks_linear=True`` starts each ``g_i`` as a linear map of its input
    (:func:`mirror_weights_`).

    ``forward`` returns a list of views, each a pair ``(specific, shared)`` of
    per-modality lists. When training there are two views, ``x`` (the batch
    augmented once) and ``v`` (``x`` augmented again); in evaluation there is
    one, the batch itself.
    """

    def __init__(self, shared_encoders, hidden_layer_sizes, n_specific, augmenter,
                 looks_linear=False):
        super().__init__()
        self.shared = copy.deepcopy(shared_encoders).requires_grad_(False).eval()
        self.n_outputs = int(n_specific)
        self.encoders = nn.ModuleList(
            make_mlp(size + self.shared.n_outputs, hidden_layer_sizes, n_specific,
                     looks_linear=looks_linear)
            for size in self.shared.modality_sizes
        )
        self.augmenter = augmenter

    def train(self, mode=True):
        super().train(mode)
        self.shared.eval()
        return self

    def encode(self, x):
        with torch.no_grad():
            shared = self.shared.encode(x)
        return specific_embeddings(self.encoders, x, self.shared.modality_sizes, shared), shared

    def encode_modality(self, x, index):
        """Specific embedding of modality ``index`` from its columns ``x`` alone."""
        with torch.no_grad():
            shared = self.shared.encode_modality(x, index)
        return self.encoders[index](torch.cat([x, shared], dim=1))



# --------------------------------------------------------------------------
# Multimodal contrastive learning (Liu et al. 2024)
# --------------------------------------------------------------------------


def _into_box(h):
    """Map to the open box (0, 1)^d."""
    return torch.sigmoid(h)


def _onto_sphere(h):
    # divided by its largest entry first: the squared norm of a row near 1e20
    # overflows float32, and the row would come out as zeros. Normalising
    # ignores the scale, so it takes no part in the gradient.
    scale = h.detach().abs().amax(dim=1, keepdim=True).clamp_min(torch.finfo(h.dtype).tiny)
    return F.normalize(h / scale, dim=1)


def _unbounded(h):
    return h


# Output geometry of each similarity: where the representation lives.
GEOMETRIES = {"cosine": _onto_sphere, "l1": _into_box, "euclidean": _unbounded}

# Scale of the last layer's initial weights, per geometry. Box outputs start
# near the centre of the box, so that every dimension grows from the same
# small spread: started spread out (torch's default), training with the L1
# similarity loses a latent dimension for some seeds.
INITIAL_OUTPUT_SCALE = {"l1": 0.2}


class ContrastiveEncoders(SharedEncoders):
    """One encoder per modality whose outputs live where ``similarity`` wants them.

    Cosine similarity: on the unit sphere; L1: in the box (0, 1)^d (a
    sigmoid); Euclidean: unbounded. No augmentation: the modalities are the
    views. Follows the single-net protocol of ``_neural.py`` with one block,
    "shared".
    """

    def __init__(self, modality_sizes, hidden_layer_sizes, n_components, similarity):
        super().__init__(
            modality_sizes, hidden_layer_sizes, n_components, nn.Identity(), init_std=None
        )
        self.similarity = similarity
        scale = INITIAL_OUTPUT_SCALE.get(similarity, 1.0)
        with torch.no_grad():
            for encoder in self.encoders:
                encoder[-1].weight.mul_(scale)
                encoder[-1].bias.mul_(scale)

    def encode(self, x):
        return [GEOMETRIES[self.similarity](h) for h in super().encode(x)]

    def encode_modality(self, x, index, block="shared"):
        return GEOMETRIES[self.similarity](self.encoders[index](x))
