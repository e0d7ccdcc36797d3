"""sklearn_cl: scikit-learn estimators for neural networks that keep learning."""

from .base import NonFiniteUpdateError, SparseInputError, UpdateRejectedWarning
from .classifier import ContinualClassifier
from .ensemble import UpdateEnsemble
from .guard import AcceptanceCheck
from .monitoring import MonitoredUpdater
from .pipeline import IncrementalPipeline, make_incremental_pipeline
from .regressor import ContinualRegressor
from .scoring import Snapshots, make_task_scorer

__all__ = [
    "ContinualClassifier",
    "ContinualRegressor",
    "AcceptanceCheck",
    "NonFiniteUpdateError",
    "SparseInputError",
    "UpdateRejectedWarning",
    "UpdateEnsemble",
    "IncrementalPipeline",
    "make_incremental_pipeline",
    "Snapshots",
    "make_task_scorer",
    "MonitoredUpdater",
]
__version__ = "0.1.0"
