"""Continual-learning metrics computed from an accuracy matrix.

``R[i, j]`` is the score on task ``j``'s test data after training through
task ``i`` (rows: training steps, columns: tasks). Every function takes any
"greater is better" score (accuracy, R², negative MAE), so the definitions
below hold unchanged for regressors.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "average_accuracy",
    "backward_transfer",
    "forward_transfer",
    "forgetting",
    "continual_metrics",
    "prediction_flips",
]


def _check_matrix(R) -> np.ndarray:
    R = np.asarray(R, dtype=float)
    if R.ndim != 2 or R.shape[0] != R.shape[1] or R.shape[0] == 0:
        raise ValueError(
            "The accuracy matrix must be square, R[i, j] = score on task j after "
            f"training through task i; got an array of shape {R.shape}."
        )
    return R


def average_accuracy(R) -> float:
    """Average score over all tasks after the last one (ACC, Lopez-Paz &
    Ranzato 2017): ``mean_j R[T-1, j]``.

    Examples
    --------
    >>> average_accuracy([[0.9, 0.1], [0.6, 0.8]])
    0.7
    """
    R = _check_matrix(R)
    return float(R[-1].mean())


def backward_transfer(R) -> float:
    """Backward transfer (BWT, Lopez-Paz & Ranzato 2017): how training on later
    tasks changed the score on earlier ones,
    ``1/(T-1) sum_{j<T-1} (R[T-1, j] - R[j, j])``. Negative values mean
    forgetting. NaN for a single task.

    Examples
    --------
    >>> backward_transfer([[0.9, 0.1], [0.6, 0.8]])
    -0.3
    """
    R = _check_matrix(R)
    if len(R) < 2:
        return float("nan")
    return float(np.mean(R[-1, :-1] - np.diag(R)[:-1]))


def forward_transfer(R, baseline) -> float:
    """Forward transfer (FWT, Lopez-Paz & Ranzato 2017): how training on
    earlier tasks helps a task before it is trained on,
    ``1/(T-1) sum_{j>0} (R[j-1, j] - b_j)``.

    Parameters
    ----------
    R : array-like of shape (T, T)
    baseline : array-like of shape (T,)
        ``b_j``, the score on task ``j`` of a model that has learned nothing.
        Lopez-Paz & Ranzato use a randomly initialised network;
        :func:`~sklearn_cl.evaluation.baseline_scores` gives an input-blind
        model's score, which any estimator type has.

    Examples
    --------
    >>> forward_transfer([[0.9, 0.3], [0.6, 0.8]], baseline=[0.5, 0.5])
    -0.2
    """
    R = _check_matrix(R)
    baseline = np.asarray(baseline, dtype=float)
    if baseline.shape != (len(R),):
        raise ValueError(
            f"baseline must hold one score per task, shape ({len(R)},); got shape "
            f"{baseline.shape}."
        )
    if len(R) < 2:
        return float("nan")
    return float(np.mean(np.diag(R, k=1) - baseline[1:]))


def forgetting(R, *, per_task: bool = False):
    """Forgetting (Chaudhry et al. 2018, "Riemannian Walk"): for each task but
    the last, the drop from its best score to its final score,
    ``f_j = max_{j <= l <= T-2} R[l, j] - R[T-1, j]``.

    The maximum runs over the models trained on task ``j`` and before the
    last one; scores before task ``j`` was learned do not count. Chaudhry et
    al. average ``f_j`` over ``j < T-1``.

    Parameters
    ----------
    R : array-like of shape (T, T)
    per_task : bool, default=False
        Return the array ``f_j`` of shape (T-1,) instead of its mean.

    Returns
    -------
    float or ndarray
        Mean forgetting (NaN for a single task), or the per-task values.

    Examples
    --------
    >>> R = [[0.9, 0.1, 0.0], [0.7, 0.8, 0.1], [0.5, 0.6, 0.9]]
    >>> forgetting(R, per_task=True).tolist()
    [0.4, 0.2]
    >>> forgetting(R)
    0.3
    """
    R = _check_matrix(R)
    T = len(R)
    per = np.array([R[j : T - 1, j].max() - R[T - 1, j] for j in range(T - 1)])
    if per_task:
        return per
    return float(per.mean()) if T > 1 else float("nan")


def continual_metrics(R, baseline=None) -> dict[str, float]:
    """All summary metrics of an accuracy matrix in one dictionary.

    Parameters
    ----------
    R : array-like of shape (T, T)
    baseline : array-like of shape (T,), default=None
        Needed for forward transfer (NaN without it).

    Returns
    -------
    dict
        ``average_score`` (:func:`average_accuracy`, named for what it
        holds: an accuracy, an R² ... whatever the matrix scores),
        ``backward_transfer``, ``forward_transfer``, ``forgetting``.

    Examples
    --------
    >>> m = continual_metrics([[0.9, 0.3], [0.6, 0.8]], baseline=[0.5, 0.5])
    >>> {k: round(v, 2) for k, v in m.items()}
    {'average_score': 0.7, 'backward_transfer': -0.3, 'forward_transfer': -0.2,
     'forgetting': 0.3}
    """
    return {
        "average_score": average_accuracy(R),
        "backward_transfer": backward_transfer(R),
        "forward_transfer": (
            float("nan") if baseline is None else forward_transfer(R, baseline)
        ),
        "forgetting": forgetting(R),
    }


def prediction_flips(y_true, y_pred_old, y_pred_new) -> dict[str, float]:
    """How predictions changed between a model and its update.

    The negative flip rate (Yan et al. 2021, "Positive-congruent training")
    is the fraction of samples the old model got right and the new one gets
    wrong; the positive flip rate the reverse; the flip rate the fraction
    whose prediction changed at all.

    Parameters
    ----------
    y_true, y_pred_old, y_pred_new : array-like of shape (n_samples,)

    Returns
    -------
    dict
        ``negative_flip_rate``, ``positive_flip_rate``, ``flip_rate``.

    Examples
    --------
    >>> prediction_flips([0, 1, 1, 0], [0, 1, 0, 0], [0, 0, 1, 1])
    {'negative_flip_rate': 0.5, 'positive_flip_rate': 0.25, 'flip_rate': 0.75}
    """
    y_true, old, new = (np.asarray(a) for a in (y_true, y_pred_old, y_pred_new))
    if not y_true.shape == old.shape == new.shape or y_true.ndim != 1:
        raise ValueError(
            "y_true, y_pred_old and y_pred_new must be 1-D arrays of the same "
            f"length; got shapes {y_true.shape}, {old.shape} and {new.shape}."
        )
    if len(y_true) == 0:
        raise ValueError("prediction_flips needs at least one sample.")
    old_right, new_right = old == y_true, new == y_true
    return {
        "negative_flip_rate": float(np.mean(old_right & ~new_right)),
        "positive_flip_rate": float(np.mean(~old_right & new_right)),
        "flip_rate": float(np.mean(old != new)),
    }
