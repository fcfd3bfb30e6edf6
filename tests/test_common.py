"""scikit-learn's own contract checks over every public estimator."""

import pytest
from sklearn.base import clone
from sklearn.utils import estimator_checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_dssl import DMVAE, FOCAL, JointOptSSL, LinearCCA
from tests.conftest import small_model

ESTIMATORS = [
    small_model(),
    LinearCCA(n_components=1),
    *(
        baseline(
            n_shared=2, n_specific=2, hidden_layer_sizes=(8,), max_epochs=2, batch_size=16,
            random_state=0,
        )
        for baseline in (JointOptSSL, FOCAL, DMVAE)
    ),
]

# check name -> reason, for checks an estimator is expected to fail.
EXPECTED_FAILURES = {}


@parametrize_with_checks(
    ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILURES.get(type(est), {})
)
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
