import os
import shutil
import tracemalloc

import pytest
import torch

from sklearn_dssl import DMVAE, FOCAL, DisentangledSSL, JointOptSSL, MultimodalContrastive


@pytest.fixture(autouse=True, scope="session")
def _few_threads():
    # Small models on tiny data: extra threads only add overhead.
    torch.set_num_threads(1)


def cxx_found():
    """Whether torch.compile finds a C++ compiler, which it builds CPU kernels with."""
    return any(shutil.which(name) for name in (os.environ.get("CXX"), "g++", "clang++") if name)


needs_cxx = pytest.mark.skipif(
    not cxx_found(), reason="compile=True on a CPU needs a C++ compiler (g++ or clang++)"
)


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


def fitted_nets(model):
    """The fitted skorch nets of a neural estimator (``shared_net_``, ``specific_net_``, ``net_``)."""
    return [getattr(model, name) for name in ("shared_net_", "specific_net_", "net_")
            if hasattr(model, name)]


# Every neural estimator at a tiny size, two epochs: ``TINY_NEURAL[name](**params)``
# (params override the tiny defaults).
_TINY = dict(hidden_layer_sizes=(8,), batch_size=32, lr=1e-3, random_state=0)
TINY_NEURAL = {
    "DisentangledSSL": lambda **kw: DisentangledSSL(
        n_shared=2, n_specific=2, max_epochs_shared=2, max_epochs_specific=2, **{**_TINY, **kw}),
    "MultimodalContrastive": lambda **kw: MultimodalContrastive(
        n_components=2, max_epochs=2, **{**_TINY, **kw}),
    **{
        cls.__name__: (lambda cls: lambda **kw: cls(
            n_shared=2, n_specific=2, max_epochs=2, **{**_TINY, **kw}))(cls)
        for cls in (JointOptSSL, FOCAL, DMVAE)
    },
}


def peak_traced_bytes(fn):
    """``(peak bytes that Python and numpy allocated while fn ran, fn())``."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = fn()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()
