"""Contrastive, bottleneck and orthogonality losses (pure torch functions).

Every function takes batches with samples along the second-to-last axis and
returns a scalar tensor, so that it can be differentiated and combined
freely. Leading axes, where a function allows them, stack independent
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
    """Negative squared Euclidean distances of every row of ``a`` to every row of ``b``."""
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


class SharedObjective(torch.nn.Module):
    """DisentangledSSL step 1: cross-modal InfoNCE on posterior samples + beta * bottleneck.

    Called on the list of encoder outputs (posterior means), one per
    modality; with more than two modalities both terms average over pairs.
    """

    def __init__(self, head, temperature=0.07, beta=0.1):
        super().__init__()
        self.head = head
        self.temperature = temperature
        self.beta = beta

    def forward(self, means):
        # one draw for every modality's rows: fewer, larger operations
        samples = self.head.sample(torch.cat(means)).split(means[0].shape[0])
        similarity = self.head.sample_similarity
        contrast = mean_over_pairs(
            lambda a, b: info_nce(a, b, self.temperature, similarity), samples
        )
        if not self.beta:
            return contrast
        return contrast + self.beta * mean_over_pairs(self.head.bottleneck, means)


class SpecificObjective(torch.nn.Module):
    """DisentangledSSL step 2: self-contrastive InfoNCE + ortho_weight * orthogonality.

    Called on the two views returned by the step-2 module. Modality ``i``'s
    joint representation pairs its specific embedding with the *other*
    modality's shared embedding; its two views form the positive pairs.
    """

    def __init__(self, temperature=0.07, ortho_weight=1.0):
        super().__init__()
        self.temperature = temperature
        self.ortho_weight = ortho_weight

    def forward(self, views):
        (specific_x, shared_x), (specific_v, shared_v) = views
        n = len(specific_x)
        partner = [(i + 1) % n for i in range(n)]
        # modality by modality along a leading axis, each term in one batched pass
        joint_x = torch.cat([torch.stack(specific_x), torch.stack(shared_x)[partner]], dim=-1)
        joint_v = torch.cat([torch.stack(specific_v), torch.stack(shared_v)[partner]], dim=-1)
        contrast = n * info_nce(joint_x, joint_v, self.temperature)
        ortho = 0.5 * orthogonality(
            torch.stack(specific_x + specific_v), torch.stack(shared_x + shared_v)
        ).sum()
        return contrast + self.ortho_weight * ortho


class ContrastiveObjective(torch.nn.Module):
    """Cross-modal InfoNCE with the similarity of multimodal contrastive learning.

    Called on the list of per-modality embeddings; averages over pairs of
    modalities. ``similarity`` is a key of :data:`SIMILARITIES`.
    """

    def __init__(self, similarity="cosine", temperature=0.1):
        super().__init__()
        self.similarity = similarity
        self.temperature = temperature

    def forward(self, embeddings):
        similarity = SIMILARITIES[self.similarity]
        return mean_over_pairs(
            lambda a, b: info_nce(a, b, self.temperature, similarity), embeddings
        )
