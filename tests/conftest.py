import pytest
import torch

from sklearn_dssl import DisentangledSSL


@pytest.fixture(autouse=True, scope="session")
def _few_threads():
    # Small models on tiny data: extra threads only add overhead.
    torch.set_num_threads(1)


def small_model(**params):
    """A DisentangledSSL that fits in well under a second on tiny data."""
    defaults = dict(
        n_shared=3,
        n_specific=2,
        hidden_layer_sizes=(8,),
        max_epochs_shared=2,
        max_epochs_specific=2,
        batch_size=16,
        lr=1e-3,
        random_state=0,
    )
    defaults.update(params)
    return DisentangledSSL(**defaults)
