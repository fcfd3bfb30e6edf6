"""scikit-learn's own contract checks over every public estimator."""

import pytest
from sklearn.base import clone
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_dssl import DMVAE, FOCAL, JointOptSSL, LinearCCA, MultimodalContrastive
from tests.conftest import small_model

ESTIMATORS = [
    small_model(),
    small_model(ica=True),
    LinearCCA(n_components=1),
    LinearCCA(),  # its width resolved from the data
    MultimodalContrastive(
        n_components=2, hidden_layer_sizes=(8,), max_epochs=2, batch_size=16, random_state=0
    ),
    MultimodalContrastive(
        n_components=2,
        similarity="l1",
        hidden_layer_sizes=(8,),
        max_epochs=2,
        batch_size=16,
        random_state=0,
    ),
    MultimodalContrastive(
        n_components=2,
        similarity="euclidean",
        ica=True,
        hidden_layer_sizes=(8,),
        max_epochs=2,
        batch_size=16,
        random_state=0,
    ),
    *(
        baseline(
            n_shared=2, n_specific=2, hidden_layer_sizes=(8,), max_epochs=2, batch_size=16,
            random_state=0,
        )
        for baseline in (JointOptSSL, FOCAL, DMVAE)
    ),
]


def expected_failures(estimator):
    """Check name -> reason, for checks an estimator is expected to fail."""
    if isinstance(estimator, MultimodalContrastive) and estimator.similarity == "cosine":
        # These checks set n_components=1; an embedding on the unit sphere
        # needs at least 2 components, so fit raises a ValueError saying so.
        # The other instances run them.
        reason = "sets n_components=1, which similarity='cosine' rejects"
        return {
            name: reason
            for name in [
                "check_dont_overwrite_parameters",
                "check_methods_sample_order_invariance",
                "check_methods_subset_invariance",
                "check_fit2d_predict1d",
            ]
        }
    if getattr(estimator, "ica", False):
        # Float32 matrix products can round a row differently (by one unit in
        # the last place) depending on its position in the batch, as MKL's
        # AVX2 kernels do (those it runs on AMD processors), and the ICA
        # whitening magnifies this to ~5e-7 relative; the check allows 1e-7.
        # Where the products round alike (MKL's AVX-512 kernels) it passes.
        return {
            "check_methods_sample_order_invariance": (
                "float32 rounding magnified by ICA whitening: ~5e-7 relative"
            )
        }
    return {}


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failures)
def test_sklearn_compatible(estimator, check):
    check(estimator)


# Checks scikit-learn runs on its own estimators but leaves out of
# parametrize_with_checks: parameter validation and the set_output API.
EXTRA_CHECKS = [
    "check_param_validation",
    "check_get_feature_names_out_error",
    "check_transformer_get_feature_names_out",
    "check_transformer_get_feature_names_out_pandas",
    "check_set_output_transform",
    "check_set_output_transform_pandas",
    "check_global_output_transform_pandas",
]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda est: type(est).__name__)
@pytest.mark.parametrize("check_name", EXTRA_CHECKS)
def test_sklearn_extra_checks(estimator, check_name):
    check = getattr(estimator_checks, check_name)
    check(type(estimator).__name__, clone(estimator))
