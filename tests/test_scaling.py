"""Hyperparameter searches dispatched to a Dask cluster through joblib."""

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV

from sklearn_dssl.datasets import make_paper_synthetic
from tests.conftest import small_model

distributed = pytest.importorskip("distributed")


def _one_thread():
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def client():
    """A cluster of two single-threaded workers in this process.

    Worker processes (``processes=True``) work the same but each imports
    torch on start, which takes longer than the searches themselves here.
    """
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None,
        worker_dashboard_address=None,
    ) as cluster, distributed.Client(cluster) as client:
        client.run(_one_thread)
        yield client


def _searches():
    model = small_model(max_epochs_shared=1, max_epochs_specific=1, batch_size=32)
    return {
        # step-1 settings: the unsupervised score compares those (not step 2's,
        # nor temperatures, which change its scale)
        "grid": GridSearchCV(model, {"beta": [0.01, 1.0], "hidden_layer_sizes": [(8,), (16,)]},
                             cv=2, n_jobs=-1),
        "randomized": RandomizedSearchCV(
            model, {"beta": [0.001, 0.01, 0.1, 1.0], "kappa": [100.0, 1000.0, 10000.0]},
            n_iter=3, cv=2, random_state=0, n_jobs=-1),
    }


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_searches_on_a_dask_cluster_match_the_sequential_ones(client):
    X = make_paper_synthetic(n_samples=128, n_latent=2, n_features=3, random_state=0).data
    sequential = {name: search.set_params(n_jobs=None).fit(X)
                  for name, search in _searches().items()}
    with distributed.get_task_stream(client) as tasks:
        with joblib.parallel_config(backend="dask"):
            on_dask = {name: search.fit(X) for name, search in _searches().items()}
    # the fits ran on the cluster, on both workers
    assert len({task["worker"] for task in tasks.data}) == 2

    for name, search in on_dask.items():
        expected = sequential[name]
        assert search.cv_results_["params"] == expected.cv_results_["params"]
        np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                                   expected.cv_results_["mean_test_score"], rtol=1e-6)
        assert search.best_params_ == expected.best_params_
        np.testing.assert_allclose(search.best_estimator_.transform(X),
                                   expected.best_estimator_.transform(X), rtol=1e-5, atol=1e-7)
