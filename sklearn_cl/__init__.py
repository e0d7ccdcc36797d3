"""sklearn_cl: scikit-learn estimators for neural networks that keep learning."""

from .classifier import ContinualClassifier
from .ensemble import UpdateEnsemble
from .regressor import ContinualRegressor

__all__ = ["ContinualClassifier", "ContinualRegressor", "UpdateEnsemble"]
__version__ = "0.1.0"
