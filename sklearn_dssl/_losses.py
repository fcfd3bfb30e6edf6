"""Contrastive, bottleneck and orthogonality losses (pure torch functions).

Every function takes batches with samples along the second-to-last axis; the
losses return scalar tensors (:func:`orthogonality` one per stacked problem),
the ``*_similarity_matrix`` functions the matrices they name. Leading axes, where a function allows them, stack independent
problems of the same shape (e.g. one per modality), which are then computed
in one pass of batched operations: far fewer, larger kernels than a loop.
"""

import torch
import torch.nn.functional as F


def cosine_similarity_matrix(a, b):
    """Cosine similarities of every row of ``a`` with every row of ``b``."""
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).mT


def l1_similarity_matrix(a, b):
    """Negative L1 distances of every row of ``a`` to every row of ``b``."""
    return -torch.cdist(a, b, p=1)


def euclidean_similarity_matrix(a, b):
    """Negative squared Euclidean distances of every row of ``a`` to every row of ``b``.

    Both are first centred on their common mean, which leaves the distances
    as they are: expanded as ``|a|^2 - 2 a.b + |b|^2``, they would otherwise
    lose to cancellation what an offset shared by all rows adds to the norms.
    """
    center = torch.cat([a, b], dim=-2).mean(dim=-2, keepdim=True)
    a, b = a - center, b - center
    return -(
        a.pow(2).sum(dim=-1, keepdim=True) - 2.0 * a @ b.mT + b.pow(2).sum(dim=-1).unsqueeze(-2)
    )


def dot_similarity_matrix(a, b):
    """Dot products of every row of ``a`` with every row of ``b``.

    The cosine similarity of unit vectors (e.g. samples of a spherical
    posterior), without normalising them again.
    """
    return a @ b.mT


SIMILARITIES = {
    "cosine": cosine_similarity_matrix,
    "l1": l1_similarity_matrix,
    "euclidean": euclidean_similarity_matrix,
}


def info_nce(a, b, temperature, similarity=cosine_similarity_matrix):
    """Symmetric cross-view InfoNCE (the CLIP loss) between two batches.

    Row ``i`` of ``a`` and row ``i`` of ``b`` form the positive pair; every
    other row of the *other* batch is a negative. The loss is the mean of the
    ``a -> b`` and ``b -> a`` cross-entropies over the similarities scaled
    by ``1 / temperature``.

    Parameters
    ----------
    a, b : Tensor of shape (n_samples, n_dims) or (n_problems, n_samples, n_dims)
        The two views; with a leading axis, independent pairs of views,
        whose losses are averaged.
    temperature : float
        Softmax temperature.
    similarity : callable, default=cosine_similarity_matrix
        ``similarity(a, b)`` gives the (..., n_samples, n_samples) matrix of
        similarities; one of :data:`SIMILARITIES`.

    Returns
    -------
    loss : Tensor of shape ()
    """
    logits = similarity(a, b) / temperature
    n = logits.shape[-1]
    targets = torch.arange(n, device=logits.device).repeat(logits[..., 0].numel() // n)
    return 0.5 * (
        F.cross_entropy(logits.reshape(-1, n), targets)
        + F.cross_entropy(logits.mT.reshape(-1, n), targets)
    )


def cosine_bottleneck(mean_a, mean_b):
    """Bottleneck term of two spherical posteriors with equal concentration.

    For von Mises-Fisher (or Power Spherical) posteriors with the same
    concentration, the symmetric divergence between them is, up to constants,
    minus the mean cosine between their mean directions.
    """
    return -F.cosine_similarity(mean_a, mean_b, dim=1).mean()


def squared_bottleneck(mean_a, mean_b):
    """Bottleneck term of two Gaussian posteriors with equal isotropic variance.

    Up to constants, the symmetric KL divergence is the mean squared distance
    between the means.
    """
    return (mean_a - mean_b).pow(2).sum(dim=1).mean()


def orthogonality(a, b):
    """Frobenius norm of ``A.T @ B`` for the row-normalised batches A and B.

    Parameters
    ----------
    a : Tensor of shape (..., n_samples, n_dims_a)
    b : Tensor of shape (..., n_samples, n_dims_b)

    Returns
    -------
    loss : Tensor of shape (...)
        One norm per pair of batches.
    """
    return torch.linalg.matrix_norm(F.normalize(a, dim=-1).mT @ F.normalize(b, dim=-1))


def mean_over_pairs(fn, items):
    """Mean of ``fn(items[i], items[j])`` over all pairs ``i < j``."""
    values = [fn(items[i], items[j]) for i in range(len(items)) for j in range(i + 1, len(items))]
    return torch.stack(values).mean()


def cross_modal_info_nce(embeddings, temperature, similarity=cosine_similarity_matrix):
    """:func:`info_nce` between every pair of modalities' embeddings, averaged over the pairs."""
    return mean_over_pairs(lambda a, b: info_nce(a, b, temperature, similarity), embeddings)


class WeightedTerms(torch.nn.Module):
    """An objective that is a weighted sum of named terms.

    A subclass lists its ``term_names``, computes them in ``terms(output)``
    (a dict of scalar tensors, unweighted) and gives their weights in
    ``term_weights()``; calling the objective returns the weighted sum.
    The training net records every term of every batch in its history
    (``"train_<name>"``, per batch and averaged per epoch), beside
    ``"train_loss"``. Terms of weight zero are computed, and recorded, but
    left out of the sum, unless given as a tensor (a weight that changes
    during training, see :class:`~sklearn_dssl._training.WeightRamp`).
    """

    term_names = ()
    # (term, count): the term that sums ``count`` cross-modal InfoNCE losses,
    # checked against chance after training (see warn_if_no_better_than_chance)
    cross_modal_infonce = None

    def terms(self, output):
        raise NotImplementedError

    def term_weights(self):
        raise NotImplementedError

    def combine(self, terms):
        """The weighted sum of ``terms``, a dict returned by :meth:`terms`."""
        weights = self.term_weights()
        total = None
        for name, value in terms.items():
            weight = weights[name]
            # a tensor weight changes during training (a ramp): always summed,
            # without reading its value back from the device
            if isinstance(weight, torch.Tensor) or weight:
                total = weight * value if total is None else total + weight * value
        if total is None:  # every weight zero
            return 0.0 * next(iter(terms.values()))
        return total

    def forward(self, output):
        return self.combine(self.terms(output))


class SharedObjective(WeightedTerms):
    """DisentangledSSL step 1: cross-modal InfoNCE on posterior samples + beta * bottleneck.

    Called on the list of encoder outputs (posterior means), one per
    modality; with more than two modalities both terms average over pairs.
    Terms: ``"contrast"`` and ``"bottleneck"``.
    """

    term_names = ("contrast", "bottleneck")
    cross_modal_infonce = ("contrast", 1)

    def __init__(self, head, temperature=0.07, beta=0.1):
        super().__init__()
        self.head = head
        self.temperature = temperature
        self.beta = beta

    def term_weights(self):
        return {"contrast": 1.0, "bottleneck": self.beta}

    def contrast(self, means):
        """The cross-modal InfoNCE of posterior samples drawn around ``means``."""
        # one draw for every modality's rows: fewer, larger operations
        samples = self.head.sample(torch.cat(means)).split(means[0].shape[0])
        return cross_modal_info_nce(samples, self.temperature, self.head.sample_similarity)

    def terms(self, means):
        return {
            "contrast": self.contrast(means),
            "bottleneck": mean_over_pairs(self.head.bottleneck, means),
        }


class SpecificObjective(WeightedTerms):
    """DisentangledSSL step 2: self-contrastive InfoNCE + ortho_weight * orthogonality.

    Called on the two views returned by the step-2 module. Modality ``i``'s
    joint representation pairs its specific embedding with the *other*
    modality's shared embedding (with more than two, modality ``i + 1``'s,
    the last modality's with the first's); its two views form the positive
    pairs.
    Terms: ``"contrast"``, the sum over modalities of the cross-view InfoNCE
    of the joint representations, and ``"orthogonality"``, the sum over
    modalities of :func:`orthogonality` (specific, shared), averaged over
    the two views.
    """

    term_names = ("contrast", "orthogonality")

    def __init__(self, temperature=0.07, ortho_weight=1.0):
        super().__init__()
        self.temperature = temperature
        self.ortho_weight = ortho_weight

    def term_weights(self):
        return {"contrast": 1.0, "orthogonality": self.ortho_weight}

    def terms(self, views):
        (specific_x, shared_x), (specific_v, shared_v) = views
        n = len(specific_x)
        contrast = n * info_nce(
            _joint_representations(specific_x, shared_x),
            _joint_representations(specific_v, shared_v),
            self.temperature,
        )
        ortho = orthogonality(torch.stack(specific_x + specific_v), torch.stack(shared_x + shared_v))
        return {"contrast": contrast, "orthogonality": 0.5 * ortho.sum()}


def _joint_representations(specific, shared):
    """Each modality's specific embedding beside its partner's shared one, stacked
    modality by modality along a leading axis (one batched pass per term).

    Modality ``i``'s partner is modality ``i + 1``, the last modality's the
    first: a list rotation, with no index tensor to copy to the device.
    """
    return torch.cat([torch.stack(specific), torch.stack(shared[1:] + shared[:1])], dim=-1)


class ContrastiveObjective(WeightedTerms):
    """Cross-modal InfoNCE with the similarity of multimodal contrastive learning.

    Called on the list of per-modality embeddings; averages over pairs of
    modalities. ``similarity`` is a key of :data:`SIMILARITIES`. One term,
    ``"contrast"``.
    """

    term_names = ("contrast",)
    cross_modal_infonce = ("contrast", 1)

    def __init__(self, similarity="cosine", temperature=0.1):
        super().__init__()
        self.similarity = similarity
        self.temperature = temperature

    def term_weights(self):
        return {"contrast": 1.0}

    def terms(self, embeddings):
        return {"contrast": cross_modal_info_nce(
            embeddings, self.temperature, SIMILARITIES[self.similarity]
        )}
