"""Evaluate update strategies: accuracy matrices, continual metrics, streams,
prediction flips, one call that compares several strategies, and its report
(a text table, a verdict, files and plots).

``R[i, j]``, the accuracy matrix, is the score on task ``j`` after training
through task ``i``; every metric below is computed from it, with any
scikit-learn scorer, so regressors are measured the same way.
"""

from ._compare import JOINT, METRICS, compare_strategies
from ._metrics import (
    average_accuracy,
    backward_transfer,
    continual_metrics,
    forgetting,
    forward_transfer,
    prediction_flips,
)
from ._plots import plot_accuracy_matrix, plot_task_curves
from ._report import comparison_verdict, format_comparison, save_comparison
from ._sequence import (
    SequenceResult,
    accuracy_matrix,
    baseline_scores,
    evaluate_sequence,
    set_random_state,
    state_size,
)
from ._stream import PrequentialResult, prequential_score

__all__ = [
    "JOINT",
    "METRICS",
    "PrequentialResult",
    "SequenceResult",
    "accuracy_matrix",
    "average_accuracy",
    "backward_transfer",
    "baseline_scores",
    "compare_strategies",
    "comparison_verdict",
    "continual_metrics",
    "evaluate_sequence",
    "forgetting",
    "format_comparison",
    "forward_transfer",
    "plot_accuracy_matrix",
    "plot_task_curves",
    "prediction_flips",
    "prequential_score",
    "save_comparison",
    "set_random_state",
    "state_size",
]
