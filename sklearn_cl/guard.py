"""AcceptanceCheck: reject an update that makes a validation score drop."""

from __future__ import annotations

import math
import numbers

from sklearn.base import BaseEstimator
from sklearn.metrics import check_scoring

__all__ = ["AcceptanceCheck"]


class AcceptanceCheck(BaseEstimator):
    """Keep an update only if the validation score does not drop too much.

    Pass it as ``acceptance_check=`` to :class:`ContinualClassifier` or
    :class:`ContinualRegressor`. Every ``partial_fit`` on a fitted model then
    scores the model on ``(X, y)`` before and after the update; if the score
    falls by more than ``tolerance``, the update is undone (weights, optimizer
    and strategy state, counters) and recorded in ``rejected_updates_``. A
    NaN score (before or after) or a NaN tolerance rejects the update too,
    recorded with its own reason: an update is kept only when the check
    shows that it is good enough.

    Parameters
    ----------
    X : array-like
        Validation samples, in the layout the estimator was fitted on.
    y : array-like
        Validation targets.
    tolerance : float, default=0.0
        Largest accepted drop of the score.
    scoring : str or callable, default=None
        A scikit-learn scorer; None uses the estimator's ``score``
        (accuracy, R²).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_cl import AcceptanceCheck, ContinualClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> check = AcceptanceCheck(X[1500:], y[1500:], tolerance=0.0)
    >>> clf = ContinualClassifier(max_epochs=10, update_lr=1.0, random_state=0,
    ...                           acceptance_check=check).fit(X[:1000], y[:1000])
    >>> before = clf.predict(X[:5])
    >>> clf = clf.partial_fit(X[1000:1100], y[1000:1100])  # lr 1.0 wrecks it
    >>> clf.n_updates_, [r["reason"] for r in clf.rejected_updates_]
    (0, ['validation score dropped'])
    """

    def __init__(self, X, y, *, tolerance=0.0, scoring=None):
        self.X = X
        self.y = y
        self.tolerance = tolerance
        self.scoring = scoring

    def rejection(self, before: float, after: float) -> str | None:
        """Why an update that moved the score from ``before`` to ``after`` is
        rejected, or None if it is kept."""
        if after >= before - self.tolerance:  # False whenever a NaN is involved
            return None
        if math.isnan(before) or math.isnan(after):
            return "validation score is NaN"
        if math.isnan(self.tolerance):
            return "tolerance is NaN"
        return "validation score dropped"

    def score(self, estimator) -> float:
        """The score of ``estimator`` on the validation data."""
        if not isinstance(self.tolerance, numbers.Real) or self.tolerance < 0:
            raise ValueError(
                f"AcceptanceCheck tolerance must be a number >= 0; got "
                f"{self.tolerance!r}."
            )
        return check_scoring(estimator, scoring=self.scoring)(estimator, self.X, self.y)
