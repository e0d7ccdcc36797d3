"""The one place that imports scikit-learn's parameter-validation helpers.

``Interval``, ``StrOptions`` and ``HasMethods`` are what every scikit-learn
estimator declares its ``_parameter_constraints`` with (and
``validate_parameter_constraints`` checks a subset of them), but they live
in a private module; importing them here only keeps a future move to one edit.
"""

from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    StrOptions,
    validate_parameter_constraints,
)

__all__ = ["HasMethods", "Interval", "StrOptions", "validate_parameter_constraints"]
