"""Drift detectors: watch a stream of errors and say when its mean went up.

A detector is any object with ``update(x)`` and a boolean ``drift_detected``
that is true right after the value that revealed a drift; this is the
interface of river's detectors (``river.drift.ADWIN``, ``PageHinkley``,
``KSWIN``, ...), so they plug into :class:`~sklearn_cl.MonitoredUpdater`
as they are. :class:`PageHinkley` is a small built-in one.
"""

from __future__ import annotations

import math
import numbers

from sklearn.base import BaseEstimator

from ._locking import lock_of
from ._param_validation import Interval

__all__ = ["PageHinkley"]


class PageHinkley(BaseEstimator):
    """Page-Hinkley test for an increase in the mean of a stream (Page 1954).

    For the values ``x_1 .. x_t`` seen since the last reset, with running
    mean ``mean_t`` (of ``x_1 .. x_t``), the test keeps the cumulative
    deviation and its running minimum::

        m_t = alpha * m_{t-1} + (x_t - mean_t - delta)
        M_t = min(M_1, ..., M_{t-1}, m_t)

    and signals a drift when ``t >= min_instances`` and ``m_t - M_t >
    threshold``. ``delta`` is the size of change tolerated, ``threshold``
    (lambda in the literature) trades false alarms against detection delay,
    and ``alpha`` below 1 lets old deviations fade (Gama et al. 2013,
    "On evaluating stream learning algorithms"). After a drift, the next
    :meth:`update` starts the test afresh. This is the one-sided test for
    an increase, the case of an error stream; it detects the same changes as
    ``river.drift.PageHinkley(mode="up")`` with the same parameters.

    Threads: concurrent calls of :meth:`update` run one after the other
    (the detector's lock is held for each value), and a pickle, copy or
    skops file made while another thread updates the detector holds its
    state before or after a value, never a mix. The values of a stream come
    in an order, so give them from one thread (as
    :class:`~sklearn_cl.MonitoredUpdater` does, under its lock, on a copy
    of its detector).

    E. S. Page (1954), "Continuous inspection schemes", Biometrika 41,
    100-115.

    Parameters
    ----------
    delta : float, default=0.005
        Magnitude of change allowed before deviations count.
    threshold : float, default=50.0
        Detection threshold on ``m_t - M_t``, in units of the values.
    min_instances : int, default=30
        Values to see (since the last reset) before a drift may be signalled.
    alpha : float in (0, 1], default=0.9999
        Fading factor of the cumulative deviation; 1 is the classic test.

    Attributes
    ----------
    n_ : int
        Values seen since the last reset.
    mean_ : float
        Their mean.
    sum_ : float
        The cumulative deviation ``m_t``.
    min_sum_ : float
        Its minimum ``M_t``.
    n_detections_ : int
        Drifts signalled since the detector was created or cloned.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> errors = np.r_[rng.random(500) < 0.1, rng.random(500) < 0.5]
    >>> detector = PageHinkley(threshold=20)
    >>> for i, error in enumerate(errors):
    ...     detector = detector.update(error)
    ...     if detector.drift_detected:
    ...         print(f"drift after value {i}")
    drift after value 555
    """

    _parameter_constraints: dict = {
        "delta": [Interval(numbers.Real, 0, None, closed="left")],
        "threshold": [Interval(numbers.Real, 0, None, closed="neither")],
        "min_instances": [Interval(numbers.Integral, 1, None, closed="left")],
        "alpha": [Interval(numbers.Real, 0, 1, closed="right")],
    }

    def __init__(
        self,
        delta: float = 0.005,
        threshold: float = 50.0,
        min_instances: int = 30,
        alpha: float = 1 - 1e-4,
    ):
        self.delta = delta
        self.threshold = threshold
        self.min_instances = min_instances
        self.alpha = alpha

    def _reset(self) -> None:
        self.n_ = 0
        self.mean_ = 0.0
        self.sum_ = 0.0
        self.min_sum_ = float("inf")
        self.drift_detected_ = False

    @property
    def drift_detected(self) -> bool:
        """Whether the last :meth:`update` signalled a drift."""
        return getattr(self, "drift_detected_", False)

    def update(self, x: float) -> PageHinkley:
        """Add one value of the stream; return self.

        Parameters
        ----------
        x : float
            The next value, typically the error of one prediction. NaN and
            infinities raise a ``ValueError``, leaving the detector as it
            was (one would make its mean NaN, silencing it for good).
        """
        x = _finite(x)
        with lock_of(self):  # one value at a time, and not during a copy
            self._add(x)
        return self

    def _signals(self, values) -> bool:
        """Add ``values`` in order, holding the lock once (not per value,
        which would double the cost of each); whether any of them signalled
        a drift. A non-finite value raises before any is added."""
        values = [_finite(x) for x in values]
        with lock_of(self):
            before = getattr(self, "n_detections_", 0)
            for x in values:
                self._add(x)
            return getattr(self, "n_detections_", 0) > before

    def _add(self, x: float) -> None:
        if not hasattr(self, "n_"):
            self._validate_params()
            self._reset()
            self.n_detections_ = 0
        elif self.drift_detected_:
            self._reset()
        self.n_ += 1
        self.mean_ += (x - self.mean_) / self.n_
        self.sum_ = self.alpha * self.sum_ + x - self.mean_ - self.delta
        self.min_sum_ = min(self.min_sum_, self.sum_)
        self.drift_detected_ = (
            self.n_ >= self.min_instances and self.sum_ - self.min_sum_ > self.threshold
        )
        self.n_detections_ += self.drift_detected_

    def __getstate__(self):
        # a copy of the attributes, taken between two values: pickle,
        # copy.deepcopy and skops read it after this returns
        with lock_of(self):
            return dict(super().__getstate__())


def _finite(x) -> float:
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(
            f"PageHinkley.update got {x}; the values must be finite. Skip or "
            "replace the values of failed predictions before the detector."
        )
    return x
