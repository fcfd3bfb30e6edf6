"""Torch building blocks: encoders, probabilistic heads and augmentation.

Everything here is a plain ``torch.nn.Module`` that knows nothing of
scikit-learn or skorch. Inputs are float tensors whose columns are ordered
modality by modality; ``modality_sizes`` says where each modality starts.
"""

import copy
import math

import torch
from scipy.special import ndtri
from torch import nn
from torch.nn import functional as F

from ._losses import (
    cosine_bottleneck,
    cosine_similarity_matrix,
    dot_similarity_matrix,
    squared_bottleneck,
)


def make_mlp(n_in, hidden_layer_sizes, n_out, init_std=0.01):
    """A ReLU multi-layer perceptron with N(0, init_std^2) weights, zero biases.

    ``init_std=None`` keeps torch's default (Kaiming-uniform) initialisation,
    better suited to deep encoders.
    """
    sizes = [n_in, *hidden_layer_sizes, n_out]
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        linear = nn.Linear(a, b)
        if init_std is not None:
            nn.init.normal_(linear.weight, std=init_std)
            nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------
# Probabilistic heads of the shared encoder
# --------------------------------------------------------------------------


def _sample_on_sphere_around(mean, w):
    """Unit vectors with cosine ``w`` to ``mean``'s direction, uniform otherwise.

    The orthogonal part is an isotropic Gaussian vector projected off the
    mean direction and normalised: uniform on the directions orthogonal to it.
    """
    direction = F.normalize(mean, dim=1)
    noise = torch.randn_like(direction)
    tangent = F.normalize(noise - (noise * direction).sum(dim=1, keepdim=True) * direction, dim=1)
    w = w.to(direction.dtype).unsqueeze(1)
    return w * direction + torch.sqrt((1.0 - w * w).clamp_min(0.0)) * tangent


class VonMisesFisherHead(nn.Module):
    """Von Mises-Fisher posterior with fixed concentration ``kappa``.

    The cosine to the mean direction is drawn with Wood's (1994) rejection
    sampler, vectorised over the batch: one dense round proposes several
    cosines for every row and takes each row's first accepted one; the rare
    rows with none accepted get rounds of their own. Because
    kappa is fixed, that cosine does not depend on the mean, and the sample
    is differentiable in the mean through its direction.
    """

    def __init__(self, kappa):
        super().__init__()
        self.kappa = float(kappa)

    # The samples are unit vectors: their cosine similarity is their dot product.
    sample_similarity = staticmethod(dot_similarity_matrix)

    # Proposals per row. Wood's acceptance is about 0.7 or more for any kappa
    # and dimension, so a row finds none of its 8 accepted with probability
    # below 0.3 ** 8 (7e-5): nearly every batch is served by one dense round,
    # and the few rows left get further rounds of their own.
    proposals_per_row = 8

    def _sample_cosine(self, n, dim, device):
        kappa, m1 = self.kappa, dim - 1.0
        b = m1 / (2.0 * kappa + math.sqrt(4.0 * kappa**2 + m1**2))
        x0 = (1.0 - b) / (1.0 + b)
        c = kappa * x0 + m1 * math.log(1.0 - x0**2)
        gamma = torch.distributions.Gamma(
            torch.tensor(m1 / 2.0, dtype=torch.float64, device=device), 1.0, validate_args=False
        )

        def first_accepted(rows):
            """A proposed cosine per row, and whether it was accepted."""
            shape = (rows, self.proposals_per_row)
            # z ~ Beta(m1 / 2, m1 / 2) as (1 + N / sqrt(N^2 + 2 G)) / 2, N ~ N(0, 1),
            # G ~ Gamma(m1 / 2): N / sqrt(N^2 + 2 G) = T / sqrt(m1 + T^2) for T
            # Student-t with m1 degrees of freedom; one gamma draw instead of two
            normal = torch.randn(shape, dtype=torch.float64, device=device)
            z = 0.5 + 0.5 * normal * torch.rsqrt(normal * normal + 2.0 * gamma.sample(shape))
            proposal = (1.0 - (1.0 + b) * z) / (1.0 - (1.0 - b) * z)
            log_u = torch.rand(shape, dtype=torch.float64, device=device).log_()
            accept = kappa * proposal + m1 * torch.log1p(-x0 * proposal) - c >= log_u
            first = accept.to(torch.uint8).argmax(dim=1, keepdim=True)
            return proposal.gather(1, first).squeeze(1), accept.any(dim=1)

        w, found = first_accepted(n)
        if not found.all():
            waiting = (~found).nonzero().squeeze(1)
            while waiting.numel():
                more, found = first_accepted(waiting.numel())
                w[waiting[found]] = more[found]
                waiting = waiting[~found]
        return w

    def sample(self, mean):
        w = self._sample_cosine(mean.shape[0], mean.shape[1], mean.device)
        return _sample_on_sphere_around(mean, w)

    def bottleneck(self, mean_a, mean_b):
        return cosine_bottleneck(mean_a, mean_b)


class PowerSphericalHead(VonMisesFisherHead):
    """Power Spherical posterior (De Cao & Aziz, 2020): a rejection-free vMF.

    The cosine to the mean direction is ``2 t - 1`` with
    ``t ~ Beta((d - 1) / 2 + kappa, (d - 1) / 2)``.
    """

    def _sample_cosine(self, n, dim, device):
        half = (dim - 1.0) / 2.0
        beta = torch.distributions.Beta(
            torch.tensor(half + self.kappa, device=device),
            torch.tensor(half, device=device),
            validate_args=False,
        )
        return 2.0 * beta.sample((n,)) - 1.0


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


class TabularAugmenter(nn.Module):
    """Vectorised augmentation of a batch of tabular rows.

    Parameters
    ----------
    center, scale : Tensor of shape (n_features,)
        Per-feature mean and standard deviation of the training data.
    kind : {"mixed", "noise", "mask", "none"} or callable
        "noise" adds Gaussian noise of ``noise_scale * scale`` to every entry;
        "mask" replaces each entry with probability ``mask_fraction`` by its
        feature's mean (zeroing, for standardised data); "mixed" picks one of
        noise, mask or identity per row with equal chance, as the DisentangledSSL
        authors do; "none" returns the batch. A callable receives the batch
        tensor and returns a tensor of the same shape.
    """

    def __init__(self, center, scale, kind="mixed", noise_scale=0.1, mask_fraction=0.1):
        super().__init__()
        self.register_buffer("center", torch.as_tensor(center, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))
        self.kind = kind
        self.noise_scale = float(noise_scale)
        self.mask_fraction = float(mask_fraction)

    def forward(self, x):
        if callable(self.kind):
            return self.kind(x)
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
        masked = (choice == 1) & (z < self._mask_threshold)
        return torch.where(choice == 0, noisy, torch.where(masked, self.center, x))

    @property
    def _mask_threshold(self):
        """The standard normal quantile of ``mask_fraction`` (-inf at 0, inf at 1)."""
        return float(ndtri(self.mask_fraction))


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
        parts = x.split(self.modality_sizes, dim=1)
        return [encoder(part) for encoder, part in zip(self.encoders, parts)]

    def encode_blocks(self, x):
        return {"shared": self.encode(x)}

    def encode_modality(self, x, index, block="shared"):
        """Shared embedding of modality ``index`` from its columns ``x`` alone."""
        return self.encoders[index](x)

    def forward(self, x):
        if self.training:
            x = self.augmenter(x)
        return self.encode(x)


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

    ``forward`` returns a list of views, each a pair ``(specific, shared)`` of
    per-modality lists. When training there are two views, ``x`` (the batch
    augmented once) and ``v`` (``x`` augmented again); in evaluation there is
    one, the batch itself.
    """

    def __init__(self, shared_encoders, hidden_layer_sizes, n_specific, augmenter):
        super().__init__()
        self.shared = copy.deepcopy(shared_encoders).requires_grad_(False).eval()
        self.n_outputs = int(n_specific)
        self.encoders = nn.ModuleList(
            make_mlp(size + self.shared.n_outputs, hidden_layer_sizes, n_specific)
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
        parts = x.split(self.shared.modality_sizes, dim=1)
        specific = [
            encoder(torch.cat([part, s], dim=1))
            for encoder, part, s in zip(self.encoders, parts, shared)
        ]
        return specific, shared

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
    return F.normalize(h, dim=1)


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
