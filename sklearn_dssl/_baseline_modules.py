"""Torch modules and objectives of the baselines the paper compares against.

- JointOpt and FOCAL share one architecture, :class:`JointEncoders`: shared
  encoders ``f_i(x_i)`` and specific encoders ``g_i([x_i, f_i(x_i)])`` trained
  together (nothing frozen); they differ by their objective
  (:class:`JointObjective`, :class:`FocalObjective`).
- DMVAE is a multimodal variational autoencoder, :class:`MultimodalVAE`, with
  its objective :class:`DMVAEObjective`.

The modules follow the single-net protocol of ``_neural.py``
(``block_widths``, ``encode_blocks``, ``encode_modality``). Like the rest of
the torch layer they know nothing of scikit-learn or skorch.
"""

from itertools import combinations

import torch
from torch import nn
from torch.nn import functional as F

from ._losses import (
    SharedObjective,
    SpecificObjective,
    WeightedTerms,
    cross_modal_info_nce,
    info_nce,
)
from ._modules import SharedEncoders, TwoAugmentedViews, make_mlp, specific_embeddings

# --------------------------------------------------------------------------
# JointOpt and FOCAL: shared and specific encoders trained together
# --------------------------------------------------------------------------


class JointEncoders(TwoAugmentedViews):
    """Shared encoders ``f_i(x_i)`` and specific encoders ``g_i([x_i, f_i(x_i)])``.

    Unlike DisentangledSSL's two steps, both are trained at once: gradients
    of the specific loss reach the shared encoders through ``f_i(x_i)``.

    ``forward`` (:class:`~sklearn_dssl._modules.TwoAugmentedViews`) returns
    the views in the format of :class:`~sklearn_dssl._modules.SpecificEncoders`.
    ``looks_linear=True`` starts each ``g_i`` as a linear map of its input
    (:func:`~sklearn_dssl._modules.mirror_weights_`).
    """

    def __init__(self, modality_sizes, hidden_layer_sizes, n_shared, n_specific, augmenter,
                 looks_linear=False):
        super().__init__()
        self.shared = SharedEncoders(modality_sizes, hidden_layer_sizes, n_shared, nn.Identity())
        self.specific = nn.ModuleList(
            make_mlp(size + int(n_shared), hidden_layer_sizes, n_specific,
                     looks_linear=looks_linear)
            for size in self.shared.modality_sizes
        )
        self.n_specific = int(n_specific)
        self.augmenter = augmenter

    @property
    def block_widths(self):
        n = len(self.shared.modality_sizes)
        return {"shared": [self.shared.n_outputs] * n, "specific": [self.n_specific] * n}

    def encode(self, x):
        """``(specific, shared)``: per-modality lists of embeddings of the batch ``x``."""
        shared = self.shared.encode(x)
        return specific_embeddings(self.specific, x, self.shared.modality_sizes, shared), shared

    def encode_blocks(self, x):
        specific, shared = self.encode(x)
        return {"shared": shared, "specific": specific}

    def encode_modality(self, x, index, block="shared"):
        """One block of modality ``index`` from its columns ``x`` alone."""
        shared = self.shared.encode_modality(x, index)
        if block == "shared":
            return shared
        return self.specific[index](torch.cat([x, shared], dim=1))



class JointObjective(WeightedTerms):
    """JointOpt: both DisentangledSSL objectives optimised at once, without beta.

    ``2 L_shared / (1 + a) + a L_specific / (1 + a) + ortho_weight * L_ortho``
    with ``a = specific_weight``, where ``L_shared`` is the cross-modal
    InfoNCE on posterior samples of the shared embeddings (DisentangledSSL's
    step 1 with beta = 0) averaged over the two views, and ``L_specific`` and
    ``L_ortho`` are the self-contrastive and orthogonality terms of
    DisentangledSSL's step 2. Called on the two views of
    :class:`JointEncoders`. Terms: ``"shared_contrast"``,
    ``"specific_contrast"`` and ``"orthogonality"``.
    """

    term_names = ("shared_contrast", "specific_contrast", "orthogonality")
    cross_modal_infonce = ("shared_contrast", 1)  # the mean over the two views

    def __init__(self, head, temperature=0.07, specific_weight=1.0, ortho_weight=1.0):
        super().__init__()
        self.specific_weight = float(specific_weight)
        self.ortho_weight = float(ortho_weight)
        self.shared = SharedObjective(head, temperature=temperature, beta=0.0)
        self.specific = SpecificObjective(temperature=temperature)

    def term_weights(self):
        a = self.specific_weight
        return {
            "shared_contrast": 2.0 / (1.0 + a),
            "specific_contrast": a / (1.0 + a),
            "orthogonality": self.ortho_weight,
        }

    def terms(self, views):
        shared = 0.5 * sum(self.shared.contrast(shared) for _, shared in views)
        specific = self.specific.terms(views)
        return {
            "shared_contrast": shared,
            "specific_contrast": specific["contrast"],
            "orthogonality": specific["orthogonality"],
        }


def mean_cosine(a, b):
    """Mean over rows of the cosine between row ``i`` of ``a`` and row ``i`` of ``b``.

    Signed: it is -1 for opposite rows, so minimising it pushes pairs apart
    past orthogonality (FOCAL's orthogonality term).
    """
    return F.cosine_similarity(a, b, dim=1).mean()


class FocalObjective(WeightedTerms):
    """FOCAL: cross-modal and self-contrastive InfoNCE plus a signed cosine penalty.

    ``L_shared + specific_weight * L_specific + ortho_weight * L_ortho`` where,
    summed over the two views ``x`` and ``v``, ``L_shared`` is the
    cross-modal InfoNCE of the (normalised) shared embeddings;
    ``L_specific`` is the sum over modalities of the InfoNCE between the
    specific embeddings of ``x`` and of ``v``; ``L_ortho`` is the sum of
    :func:`mean_cosine` over the pairs (specific_i, shared_i) and
    (specific_i, specific_j), in each view. Called on the two views of
    :class:`JointEncoders`; the shared and specific widths must be equal.
    Terms: ``"shared_contrast"``, ``"specific_contrast"`` and
    ``"orthogonality"``.
    """

    term_names = ("shared_contrast", "specific_contrast", "orthogonality")
    cross_modal_infonce = ("shared_contrast", 2)  # the sum over the two views

    def __init__(self, temperature=0.07, specific_weight=1.0, ortho_weight=1.0):
        super().__init__()
        self.temperature = temperature
        self.specific_weight = specific_weight
        self.ortho_weight = ortho_weight

    def term_weights(self):
        return {
            "shared_contrast": 1.0,
            "specific_contrast": self.specific_weight,
            "orthogonality": self.ortho_weight,
        }

    def terms(self, views):
        t = self.temperature
        shared = sum(cross_modal_info_nce(c, t) for _, c in views)
        (specific_x, _), (specific_v, _) = views
        specific = sum(info_nce(s, s_v, t) for s, s_v in zip(specific_x, specific_v))
        ortho = sum(
            mean_cosine(a, b)
            for specific_view, shared_view in views
            for a, b in [*zip(specific_view, shared_view), *combinations(specific_view, 2)]
        )
        return {"shared_contrast": shared, "specific_contrast": specific, "orthogonality": ortho}


# --------------------------------------------------------------------------
# DMVAE: a multimodal VAE with shared and private latents
# --------------------------------------------------------------------------


def gaussian_kl(mean, log_var):
    """KL(N(mean, diag exp(log_var)) || N(0, I)), summed over dimensions, mean over rows."""
    return (-0.5 * (1.0 + log_var - mean.pow(2) - log_var.exp()).sum(dim=1)).mean()


def product_of_experts(means, log_vars):
    """Mean and log-variance of the product of independent Gaussian experts.

    Precisions add: ``1/var = sum_k 1/var_k``, and the mean is the
    precision-weighted mean of the experts' means (computed through a
    softmax of ``-log_var``, which stays finite for any log-variances).
    """
    log_vars = torch.stack(log_vars)
    weights = torch.softmax(-log_vars, dim=0)
    return (weights * torch.stack(means)).sum(dim=0), -torch.logsumexp(-log_vars, dim=0)


def _sample(mean, log_var):
    return mean + torch.randn_like(mean) * torch.exp(0.5 * log_var)


class MultimodalVAE(nn.Module):
    """DMVAE: per-modality Gaussian encoders of a shared and a private latent.

    Encoder ``i`` maps ``x_i`` to the means and log-variances of its shared
    expert ``q_i(c | x_i)`` and of its private posterior ``q_i(s_i | x_i)``.
    The joint shared posterior is the product of the experts; decoder ``i``
    maps ``[s_i, c]`` back to ``x_i``.

    ``forward`` augments the batch when training, samples every latent and
    returns a dict: ``inputs`` (per modality), ``joint`` (reconstructions
    from the private latent and the joint shared latent), ``cross``
    (``cross[i][j]``: reconstruction of modality ``i`` from its private
    latent and modality ``j``'s shared expert, for ``j != i``; ``None`` on
    the diagonal) and ``posteriors`` (``shared``, ``private``, ``joint``:
    pairs ``(mean, log_var)``). The embeddings are the posterior means:
    shared block ``E[c | x_i]`` of each expert, specific block
    ``E[s_i | x_i]``.
    """

    def __init__(self, modality_sizes, hidden_layer_sizes, n_shared, n_specific, augmenter):
        super().__init__()
        self.modality_sizes = tuple(int(s) for s in modality_sizes)
        self.n_shared, self.n_specific = int(n_shared), int(n_specific)
        self.encoders = nn.ModuleList(
            make_mlp(size, hidden_layer_sizes, 2 * (self.n_shared + self.n_specific))
            for size in self.modality_sizes
        )
        self.decoders = nn.ModuleList(
            make_mlp(self.n_specific + self.n_shared, tuple(reversed(hidden_layer_sizes)), size)
            for size in self.modality_sizes
        )
        self.augmenter = augmenter

    @property
    def block_widths(self):
        n = len(self.modality_sizes)
        return {"shared": [self.n_shared] * n, "specific": [self.n_specific] * n}

    def _posterior(self, x, index):
        """``(shared mean, shared log_var, private mean, private log_var)`` of modality ``index``."""
        c, s = self.n_shared, self.n_specific
        return self.encoders[index](x).split([c, c, s, s], dim=1)

    def _posteriors(self, x):
        # copied out of the batch's rows, as SharedEncoders.encode does
        parts = [part.contiguous() for part in x.split(self.modality_sizes, dim=1)]
        return parts, [self._posterior(part, i) for i, part in enumerate(parts)]

    def encode_blocks(self, x):
        _, posteriors = self._posteriors(x)
        return {
            "shared": [p[0] for p in posteriors],
            "specific": [p[2] for p in posteriors],
        }

    def encode_modality(self, x, index, block="shared"):
        """One block of modality ``index`` from its columns ``x`` alone."""
        posterior = self._posterior(x, index)
        return posterior[0] if block == "shared" else posterior[2]

    def decode(self, index, private, shared):
        return self.decoders[index](torch.cat([private, shared], dim=1))

    def reconstruct(self, x):
        """Reconstructions of every modality from the posterior means (no sampling)."""
        _, posteriors = self._posteriors(x)
        joint = product_of_experts([p[0] for p in posteriors], [p[1] for p in posteriors])[0]
        return [self.decode(i, p[2], joint) for i, p in enumerate(posteriors)]

    def forward(self, x):
        if self.training:
            x = self.augmenter(x)
        parts, posteriors = self._posteriors(x)
        shared = [(p[0], p[1]) for p in posteriors]
        private = [(p[2], p[3]) for p in posteriors]
        joint = product_of_experts([m for m, _ in shared], [v for _, v in shared])
        z_joint = _sample(*joint)
        z_shared = [_sample(*p) for p in shared]
        z_private = [_sample(*p) for p in private]
        n = len(parts)
        return {
            "inputs": list(parts),
            "joint": [self.decode(i, z_private[i], z_joint) for i in range(n)],
            "cross": [
                [None if j == i else self.decode(i, z_private[i], z_shared[j]) for j in range(n)]
                for i in range(n)
            ],
            "posteriors": {"shared": shared, "private": private, "joint": joint},
        }


def squared_error(reconstruction, x):
    """Squared error summed over columns, mean over rows."""
    return (reconstruction - x).pow(2).sum(dim=1).mean()


class DMVAEObjective(WeightedTerms):
    """DMVAE's loss: joint and cross-modal negative ELBOs.

    ``sum_i [SE(x_i, dec_i(s_i, c)) + a (KL(q(s_i)) + KL(q(c)))]`` with the
    joint shared posterior ``q(c)``, plus the cross-modal terms
    ``sum_{i != j} [SE(x_i, dec_i(s_i, c_j)) + a (KL(q(s_i)) + KL(q_j(c)))]``
    with modality ``j``'s shared expert; SE is the squared error summed over
    columns (a unit-variance Gaussian likelihood), every KL is to N(0, I),
    ``a = kl_weight``, and all terms are means over rows. Called on the dict
    returned by :class:`MultimodalVAE`. Terms: ``"reconstruction"`` (the
    squared errors) and ``"kl"`` (the KL divergences, unweighted).
    """

    term_names = ("reconstruction", "kl")

    def __init__(self, kl_weight=1.0):
        super().__init__()
        self.kl_weight = kl_weight

    def term_weights(self):
        return {"reconstruction": 1.0, "kl": self.kl_weight}

    def terms(self, out):
        inputs, posteriors = out["inputs"], out["posteriors"]
        kl_private = [gaussian_kl(*p) for p in posteriors["private"]]
        kl_shared = [gaussian_kl(*p) for p in posteriors["shared"]]
        kl_joint = gaussian_kl(*posteriors["joint"])
        reconstruction = kl = 0.0
        for i, x in enumerate(inputs):
            reconstruction = reconstruction + squared_error(out["joint"][i], x)
            kl = kl + kl_private[i] + kl_joint
            for j, cross in enumerate(out["cross"][i]):
                if cross is not None:
                    reconstruction = reconstruction + squared_error(cross, x)
                    kl = kl + kl_private[i] + kl_shared[j]
        return {"reconstruction": reconstruction, "kl": kl}
