"""Prequential (test-then-train) evaluation of a ``partial_fit`` stream."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import clone, is_classifier

__all__ = ["PrequentialResult", "prequential_score"]

_METRICS = {
    "accuracy": lambda y, p: (y == p).astype(float),
    "absolute_error": lambda y, p: np.abs(y - p).reshape(len(y), -1).mean(axis=1),
    "squared_error": lambda y, p: ((y - p) ** 2).reshape(len(y), -1).mean(axis=1),
}


@dataclass
class PrequentialResult:
    """What :func:`prequential_score` measured.

    Attributes
    ----------
    n_seen : ndarray of shape (n_scored,)
        Number of stream samples seen (trained on or scored) when each
        scored sample was predicted, counting it.
    per_sample : ndarray of shape (n_scored,)
        The per-sample metric of every scored sample, in stream order.
    curve : ndarray of shape (n_scored,)
        The prequential estimate after each scored sample: the sliding-window
        mean, the fading-factor mean, or the running mean.
    score : float
        The last value of ``curve``.
    """

    n_seen: np.ndarray
    per_sample: np.ndarray
    curve: np.ndarray
    score: float


def _prequential_curve(values: np.ndarray, window, fading) -> np.ndarray:
    if window is not None:
        csum = np.concatenate([[0.0], np.cumsum(values)])
        ends = np.arange(1, len(values) + 1)
        starts = np.maximum(ends - window, 0)
        return (csum[ends] - csum[starts]) / (ends - starts)
    alpha = 1.0 if fading is None else fading
    total, weight, curve = 0.0, 0.0, np.empty(len(values))
    for i, value in enumerate(values):
        total = value + alpha * total
        weight = 1.0 + alpha * weight
        curve[i] = total / weight
    return curve


def prequential_score(
    estimator,
    X,
    y,
    *,
    batch_size: int = 1,
    window: int | None = None,
    fading: float | None = None,
    metric=None,
    classes=None,
    initial_size: int = 0,
) -> PrequentialResult:
    """Prequential (test-then-train) evaluation of a stream (Gama et al. 2013).

    The stream ``(X, y)`` is read in order, ``batch_size`` samples at a time:
    each batch is first predicted by the current model and scored, then
    learned with ``partial_fit``. The estimate is the running mean of the
    per-sample metric, or, as Gama, Sebastião & Rodrigues ("On evaluating
    stream learning algorithms", Machine Learning 90, 2013) recommend for
    drifting streams, its mean over a sliding ``window`` of the last samples
    or its fading-factor mean ``S_i / N_i`` with ``S_i = L_i + fading *
    S_{i-1}`` and ``N_i = 1 + fading * N_{i-1}``.

    The first samples cannot be predicted by an untrained model: either the
    first ``initial_size`` samples are learned with ``fit``, or (the default)
    the first batch is learned with ``partial_fit``; neither is scored.

    Parameters
    ----------
    estimator : estimator with ``partial_fit``
        Cloned, never changed.
    X, y : array-like
        The stream, in time order. A DataFrame ``X`` is passed on as
        DataFrames (its column names kept).
    batch_size : int, default=1
        Samples per test-then-train step. Networks learn and run much faster
        on batches (32 or more) than one sample at a time.
    window : int, default=None
        Size of the sliding window.
    fading : float in (0, 1], default=None
        Fading factor (0.999 is a usual choice). Give ``window`` or
        ``fading``, not both; neither gives the running mean.
    metric : {"accuracy", "absolute_error", "squared_error"} or callable, \
default=None
        The per-sample metric; a callable takes ``(y_true, y_pred)`` and
        returns one value per sample. ``None``: accuracy for classifiers
        (higher is better), absolute error for regressors (lower is better).
    classes : array-like, default=None
        Labels passed to the first ``partial_fit`` of a classifier; ``None``
        uses ``np.unique(y)``. Ignored with ``initial_size``.
    initial_size : int, default=0
        Number of first samples learned with ``fit`` before the stream starts.

    Returns
    -------
    PrequentialResult

    Examples
    --------
    >>> from sklearn.linear_model import SGDClassifier
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> result = prequential_score(
    ...     SGDClassifier(random_state=0), X / 16, y, batch_size=50, window=500
    ... )
    >>> len(result.curve), bool(result.score > 0.8)
    (1747, True)
    """
    # a DataFrame stays one, so that column names reach the estimator (a
    # pipeline may select its columns by name)
    X, y = (X if hasattr(X, "iloc") else np.asarray(X)), np.asarray(y)
    rows = X.iloc if hasattr(X, "iloc") else X
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} samples but y has {len(y)}.")
    if window is not None and fading is not None:
        raise ValueError("Give window or fading, not both.")
    if window is not None and window < 1:
        raise ValueError(f"window must be a positive integer; got {window!r}.")
    if fading is not None and not 0 < fading <= 1:
        raise ValueError(f"fading must be in (0, 1]; got {fading!r}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}.")
    start = initial_size or batch_size
    if start >= len(X):
        raise ValueError(
            f"The stream has {len(X)} samples, all used to start the model "
            f"(initial_size={initial_size}, batch_size={batch_size}); nothing is "
            "left to score. Pass a longer stream or a smaller start."
        )
    classifier = is_classifier(estimator)
    if metric is None:
        metric = "accuracy" if classifier else "absolute_error"
    if isinstance(metric, str):
        if metric not in _METRICS:
            raise ValueError(
                f"Unknown metric {metric!r}; use one of {sorted(_METRICS)} or a "
                "callable(y_true, y_pred) returning one value per sample."
            )
        metric = _METRICS[metric]
    estimator = clone(estimator)
    if initial_size:
        estimator.fit(rows[:start], y[:start])
    elif classifier:
        labels = np.unique(y) if classes is None else classes
        estimator.partial_fit(rows[:start], y[:start], classes=labels)
    else:
        estimator.partial_fit(rows[:start], y[:start])
    values = []
    for low in range(start, len(X), batch_size):
        Xb, yb = rows[low : low + batch_size], y[low : low + batch_size]
        values.append(np.asarray(metric(yb, estimator.predict(Xb)), dtype=float))
        estimator.partial_fit(Xb, yb)
    per_sample = np.concatenate(values)
    curve = _prequential_curve(per_sample, window, fading)
    return PrequentialResult(
        n_seen=np.arange(start + 1, len(X) + 1),
        per_sample=per_sample,
        curve=curve,
        score=float(curve[-1]),
    )
