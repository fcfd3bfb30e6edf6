"""Parameter validation shared by the estimators and the public functions.

scikit-learn's constraints take a bool for an ``Integral`` (or ``Real``), so
``n_samples=True`` or ``k=False`` would pass them and fail later, or run as
1 and 0. Here a bool is refused wherever the constraints ask for a number
and do not also take booleans. :func:`is_allocation_failure` tells torch's
error for memory it could not allocate from its other errors.
"""

import functools
import inspect
from collections import Counter

import numpy as np
from sklearn.utils._param_validation import Interval, validate_params


def refuse_bool_numbers(constraints, params):
    """Raise a TypeError for a bool given where ``constraints`` ask for a number.

    Parameters
    ----------
    constraints : dict of str to list
        scikit-learn parameter constraints.
    params : dict of str to object
        The values given, by parameter name.
    """
    for name, allowed in constraints.items():
        value = params.get(name)
        if not isinstance(value, (bool, np.bool_)):
            continue
        # a seed is a number too (scikit-learn's own estimators take True as 1)
        numeric = any(isinstance(c, Interval) or c == "random_state" for c in allowed)
        takes_bools = any(
            isinstance(c, str) and c in ("boolean", "verbose") or c is bool for c in allowed
        )
        if numeric and not takes_bools:
            raise TypeError(f"{name}={value!r}: {name} takes a number, not a bool.")


def validate_estimator_settings(estimator):
    """Check a given estimator's own settings, and those of the estimators
    inside it (a Pipeline's steps), against their parameter constraints.

    A caller's own parameter check sees such an estimator as one value and
    does not look inside it. Estimators that declare no constraints (not
    scikit-learn's) are taken as they are. Raises scikit-learn's
    ``InvalidParameterError`` (a ValueError and a TypeError).
    """
    inner = estimator.get_params(deep=True).values() if hasattr(estimator, "get_params") else ()
    for part in (estimator, *inner):
        if isinstance(part, type) or getattr(type(part), "_parameter_constraints", None) is None:
            continue
        part._validate_params()


def validate_params_refusing_bools(constraints, *, prefer_skip_nested_validation):
    """scikit-learn's ``validate_params`` decorator, refusing bools as numbers."""

    def decorate(func):
        signature = inspect.signature(func)

        @functools.wraps(func)
        def refusing_bools(*args, **kwargs):
            bound = signature.bind_partial(*args, **kwargs)
            refuse_bool_numbers(constraints, bound.arguments)
            return func(*args, **kwargs)

        return validate_params(
            constraints, prefer_skip_nested_validation=prefer_skip_nested_validation
        )(refusing_bools)

    return decorate


def repeated_names(names):
    """The names that occur more than once in ``names``, in order of first occurrence."""
    counts = Counter(names)
    return [name for name in counts if counts[name] > 1]


# what torch's allocators say when they fail, on the CPU and on a GPU
ALLOCATION_FAILURES = ("can't allocate memory", "out of memory", "Out of memory")


def is_allocation_failure(exc):
    """Whether ``exc`` is torch's error for memory it could not allocate."""
    return isinstance(exc, RuntimeError) and any(
        words in str(exc) for words in ALLOCATION_FAILURES)
