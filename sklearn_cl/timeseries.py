"""Forecasting windows from a series, and a backtest with updates.

A forecaster learns from windows: ``lookback`` past points as input, the next
``horizon`` points as target. :func:`make_windows` cuts a whole series into
such ``(X, y)`` pairs; :class:`StreamWindows` does the same for a series that
arrives piece by piece (each new piece completes some windows, which are the
data of the next update); :func:`backtest` replays a series through a model
that forecasts, observes and updates, period after period.

Windowing happens before a scikit-learn pipeline, not inside it: a pipeline
step cannot create ``y`` or change the number of samples. The windows
themselves go through any pipeline or estimator.

:class:`TimeOrderedSplit` holds out the most recent windows for validation
(``ContinualRegressor(early_stopping=True, train_split=TimeOrderedSplit())``).
It is written here because skorch's ``ValidSplit`` draws a fractional
validation set at random, and none of scikit-learn's splitters holds out
the last fraction of a set whose size changes from call to call; a random
split of overlapping windows puts near-copies of the training windows in
the validation set, so early stopping would stop too late.
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.base import clone
from sklearn.utils.validation import check_array

__all__ = [
    "make_windows",
    "StreamWindows",
    "TimeOrderedSplit",
    "backtest",
    "Backtest",
]


def _check_positive_int(value, name: str) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"`{name}` must be an int; got {type(value).__name__}.")
    if value < 1:
        raise ValueError(f"`{name}` must be at least 1; got {value}.")
    return int(value)


def _check_series(series, name: str = "series") -> np.ndarray:
    _check_time_order(series, name)
    array = check_array(
        series,
        ensure_2d=False,
        allow_nd=True,
        dtype="numeric",
        input_name=name,
        ensure_min_samples=0,
    )
    if array.ndim not in (1, 2):
        raise ValueError(
            f"`{name}` must be 1-D (one variable) or 2-D (n_times, n_variables); "
            f"got shape {array.shape}."
        )
    return array


def _check_time_order(series, name: str) -> None:
    """A pandas series or frame indexed by time must be in time order: the
    windows follow the rows, so unsorted rows (a file exported newest first)
    would silently pair points that are not neighbours."""
    index = getattr(series, "index", None)
    kind = getattr(index, "inferred_type", "")
    if (kind.startswith(("datetime", "timedelta")) or kind == "period") and not (
        index.is_monotonic_increasing
    ):
        raise ValueError(
            f"`{name}` is indexed by time but its rows are not in time order. "
            f"Sort them first ({name}.sort_index())."
        )


def _target_columns(target, n_variables: int | None) -> np.ndarray | None:
    """Column indices of the forecast target; None for a univariate series."""
    if n_variables is None:
        if target not in (None, 0):
            raise ValueError(
                f"A 1-D series has one variable; `target` must be None or 0, "
                f"got {target!r}."
            )
        return None
    columns = np.arange(n_variables) if target is None else np.atleast_1d(target)
    if columns.ndim != 1 or columns.dtype.kind not in "iu" or columns.size == 0:
        raise ValueError(
            "`target` must be None, a column index or a sequence of column "
            f"indices; got {target!r}."
        )
    if columns.min() < -n_variables or columns.max() >= n_variables:
        raise ValueError(
            f"`target` {target!r} is out of range for a series of {n_variables} "
            "variables."
        )
    return columns


def _cut(array: np.ndarray, lookback: int, horizon: int, step: int, columns):
    """Windows starting at 0, step, 2 * step, ... of ``array`` (long enough)."""
    windows = sliding_window_view(array, lookback + horizon, axis=0)[::step]
    if columns is None:  # (n, lookback + horizon)
        X, y = windows[:, :lookback], windows[:, lookback:]
    else:  # (n, n_variables, lookback + horizon); y time-major over targets
        X = windows[:, :, :lookback]
        y = windows[:, columns, lookback:].transpose(0, 2, 1)
        y = y.reshape(len(windows), -1)
    if y.shape[1] == 1:
        y = y[:, 0]
    return np.ascontiguousarray(X), np.ascontiguousarray(y)


def make_windows(
    series,
    lookback: int,
    horizon: int = 1,
    step: int = 1,
    *,
    target: int | Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut a series into forecasting windows ``(X, y)``.

    Window ``i`` starts at ``i * step``: its input is the ``lookback`` points
    from there, its target the ``horizon`` points that follow.

    Parameters
    ----------
    series : array-like of shape (n_times,) or (n_times, n_variables)
        The series in time order; rows are time steps.
    lookback : int
        Points of history in each input window.
    horizon : int, default=1
        Points to forecast after each window.
    step : int, default=1
        Distance between the starts of consecutive windows.
    target : int or sequence of int, default=None
        Columns of a 2-D series to forecast; None forecasts all of them.

    Returns
    -------
    X : ndarray of shape (n_windows, lookback) or (n_windows, n_variables, lookback)
        Input windows. A 2-D series gives channels-first 3-D windows, the
        layout of :class:`~sklearn_cl.modules.CNN1D`.
    y : ndarray of shape (n_windows, horizon * n_targets) or (n_windows,)
        The values that follow each window, time step by time step
        (``y[i].reshape(horizon, n_targets)``); 1-D when there is a single
        value to forecast (``horizon=1`` and one target).

    Examples
    --------
    >>> X, y = make_windows(np.arange(10), lookback=3, horizon=2, step=2)
    >>> X
    array([[0, 1, 2],
           [2, 3, 4],
           [4, 5, 6]])
    >>> y
    array([[3, 4],
           [5, 6],
           [7, 8]])
    >>> series = np.column_stack([np.arange(6), -np.arange(6)])
    >>> X, y = make_windows(series, lookback=4, target=1)
    >>> X.shape, y
    ((2, 2, 4), array([-4, -5]))
    """
    lookback = _check_positive_int(lookback, "lookback")
    horizon = _check_positive_int(horizon, "horizon")
    step = _check_positive_int(step, "step")
    array = _check_series(series)
    columns = _target_columns(target, array.shape[1] if array.ndim == 2 else None)
    if len(array) < lookback + horizon:
        raise ValueError(
            f"The series has {len(array)} points, but one window needs "
            f"lookback + horizon = {lookback + horizon}. Pass a longer series "
            "or a shorter lookback."
        )
    return _cut(array, lookback, horizon, step, columns)


class StreamWindows:
    """Forecasting windows of a series that arrives piece by piece.

    :meth:`update` takes the newly observed points and returns the windows
    they complete (those whose last target point is among them): the data
    for the next ``partial_fit``. Windows start at ``0, step, 2 * step, ...``
    counted from the first point ever seen, so feeding a series in pieces
    gives exactly the windows of :func:`make_windows` on the whole series.
    Only the last ``lookback + horizon - 1`` points are kept.

    Parameters
    ----------
    lookback : int
        Points of history in each input window.
    horizon : int, default=1
        Points to forecast after each window.
    step : int, default=1
        Distance between the starts of consecutive windows.
    target : int or sequence of int, default=None
        Columns of a 2-D series to forecast; None forecasts all of them.

    Attributes
    ----------
    n_seen_ : int
        Points observed so far.

    Examples
    --------
    >>> stream = StreamWindows(lookback=3, horizon=2)
    >>> X, y = stream.update([0, 1, 2, 3, 4])  # one window is complete
    >>> X, y
    (array([[0, 1, 2]]), array([[3, 4]]))
    >>> X, y = stream.update([5, 6])
    >>> y
    array([[4, 5],
           [5, 6]])
    >>> stream.last_window()  # input to forecast the next two points
    array([[4, 5, 6]])
    """

    def __init__(
        self,
        lookback: int,
        horizon: int = 1,
        step: int = 1,
        *,
        target: int | Sequence[int] | None = None,
    ):
        self.lookback = lookback
        self.horizon = horizon
        self.step = step
        self.target = target

    def __repr__(self) -> str:
        return (
            f"StreamWindows(lookback={self.lookback}, horizon={self.horizon}, "
            f"step={self.step}, target={self.target!r})"
        )

    def update(self, points) -> tuple[np.ndarray, np.ndarray]:
        """Observe new points; return the windows they complete.

        Parameters
        ----------
        points : array-like of shape (n_new,) or (n_new, n_variables)
            The next points of the series, in time order, with the layout of
            the first call.

        Returns
        -------
        X, y : ndarray
            As :func:`make_windows`; zero rows when no window is complete.
        """
        first = getattr(self, "n_seen_", 0) == 0  # empty pieces fix no layout
        points = _check_series(points, "points")
        if first:
            lookback = _check_positive_int(self.lookback, "lookback")
            horizon = _check_positive_int(self.horizon, "horizon")
            _check_positive_int(self.step, "step")
            n_variables = points.shape[1] if points.ndim == 2 else None
            self._columns = _target_columns(self.target, n_variables)
            self._span = lookback + horizon
            self.buffer_ = points[:0]
            self.n_seen_ = 0
        elif points.shape[1:] != self.buffer_.shape[1:]:
            raise ValueError(
                f"`points` have shape {points.shape[1:]} per time step, but earlier "
                f"points had {self.buffer_.shape[1:]}. Pass every piece of the "
                "series with the same layout."
            )
        data = np.concatenate([self.buffer_, points])
        offset = self.n_seen_ - len(self.buffer_)  # series index of data[0]
        n_total = self.n_seen_ + len(points)
        # windows whose last point falls in the new points, aligned to step
        first_start = max(self.n_seen_ - self._span + 1, 0)
        first_start += -first_start % self.step
        if first_start + self._span <= n_total:
            X, y = _cut(
                data[first_start - offset :],
                self.lookback,
                self.horizon,
                self.step,
                self._columns,
            )
        else:
            X, y = self._empty(data)
        self.buffer_ = data[-(self._span - 1) :] if self._span > 1 else data[:0]
        self.n_seen_ = n_total
        return X, y

    def _empty(self, data: np.ndarray):
        fake = np.zeros((self._span, *data.shape[1:]), dtype=data.dtype)
        X, y = _cut(fake, self.lookback, self.horizon, 1, self._columns)
        return X[:0], y[:0]

    def last_window(self) -> np.ndarray:
        """The last ``lookback`` points as one input window, to forecast what
        comes next; shape ``(1, lookback)`` or ``(1, n_variables, lookback)``."""
        if getattr(self, "n_seen_", 0) < self.lookback:
            raise ValueError(
                f"A window needs lookback={self.lookback} points; "
                f"{getattr(self, 'n_seen_', 0)} have been seen. Call update with "
                "more points first."
            )
        last = self.buffer_[len(self.buffer_) - self.lookback :]
        return np.ascontiguousarray(last.T[None])


class TimeOrderedSplit:
    """Validation split that holds out the last samples, for time series.

    A ``train_split`` for :class:`~sklearn_cl.ContinualRegressor` (and
    skorch nets): of the ``n`` samples of a training call, in the order
    given, the first ``n - ceil(fraction * n)`` train and the last
    ``ceil(fraction * n)`` validate, so early stopping measures the model on
    windows later than the ones it learns from, as a forecast will be. Each
    update splits its own new windows the same way.

    Parameters
    ----------
    fraction : float in (0, 1), default=0.1
        Share of the samples held out for validation (at least one).

    Examples
    --------
    >>> from sklearn_cl import ContinualRegressor
    >>> t = np.arange(600)
    >>> X, y = make_windows(np.sin(2 * np.pi * t / 24), lookback=48)
    >>> reg = ContinualRegressor(
    ...     hidden_layer_sizes=(16,), early_stopping=True,
    ...     train_split=TimeOrderedSplit(0.2), max_epochs=50, random_state=0,
    ... ).fit(X, y)
    >>> train, valid = TimeOrderedSplit(0.2)(torch.arange(10))
    >>> list(train.indices), list(valid.indices)
    ([0, 1, 2, 3, 4, 5, 6, 7], [8, 9])
    >>> reg.n_iter_ < 50, reg.best_validation_score_ > 0.99
    (True, True)
    """

    def __init__(self, fraction: float = 0.1):
        self.fraction = fraction

    def __repr__(self) -> str:
        return f"TimeOrderedSplit(fraction={self.fraction!r})"

    def __call__(self, dataset, y=None, **fit_params):
        """Split ``dataset`` into its first and last samples (``torch``
        ``Subset`` objects), as skorch's ``train_split`` does."""
        fraction = self.fraction
        if not isinstance(fraction, numbers.Real) or not 0 < fraction < 1:
            raise ValueError(f"`fraction` must be a float in (0, 1); got {fraction!r}.")
        n = len(dataset)
        n_valid = int(np.ceil(fraction * n))
        if n - n_valid < 1:
            raise ValueError(
                f"A training call of {n} samples leaves none to train on after "
                f"holding out {n_valid} for validation. Pass more samples or a "
                "smaller fraction."
            )
        return (
            torch.utils.data.Subset(dataset, range(n - n_valid)),
            torch.utils.data.Subset(dataset, range(n - n_valid, n)),
        )


@dataclass
class Backtest:
    """What :func:`backtest` measured.

    Attributes
    ----------
    origins : ndarray of shape (n_origins,)
        Index in the series of the first forecast point of each forecast.
    predictions, actual : ndarray of shape (n_origins, horizon * n_targets)
        Forecasts and the values that came, laid out as ``y`` of
        :func:`make_windows`.
    fit_time : float
        Seconds of the first training.
    update_times : ndarray of shape (n_origins,)
        Seconds spent updating (or refitting) after each forecast.
    n_updates, n_refits : int
        Number of ``partial_fit`` calls and of refits from scratch.
    estimator : estimator
        The model at the end of the backtest.
    """

    origins: np.ndarray
    predictions: np.ndarray
    actual: np.ndarray
    fit_time: float
    update_times: np.ndarray
    n_updates: int
    n_refits: int
    estimator: object

    @property
    def abs_errors(self) -> np.ndarray:
        """Absolute error of every forecast point, shaped as ``predictions``."""
        return np.abs(self.predictions - self.actual)

    @property
    def mae(self) -> float:
        """Mean absolute error over all forecasts."""
        return float(self.abs_errors.mean())


def _check_every(value, name: str) -> int | None:
    return None if value is None else _check_positive_int(value, name)


def backtest(
    estimator,
    series,
    *,
    lookback: int,
    horizon: int,
    initial: int,
    period: int | None = None,
    step: int = 1,
    target: int | Sequence[int] | None = None,
    update_every: int | None = 1,
    refit_every: int | None = None,
    update_step: int | None = None,
) -> Backtest:
    """Replay a series through a forecaster that predicts, observes and updates.

    A clone of ``estimator`` is fitted on the windows of the first
    ``initial`` points. Then, from origin ``initial`` on, every ``period``
    points: forecast the next ``horizon`` points from the last ``lookback``,
    observe the next ``period`` points, and learn from the windows they
    complete: ``partial_fit`` on the windows gathered since the last update,
    every ``update_every`` periods, or, every ``refit_every`` periods, ``fit``
    from scratch on the windows of everything seen so far (the costly
    reference an update strategy competes with; it wins when both are due).
    The estimator needs ``fit`` and ``predict``, and ``partial_fit`` when
    ``update_every`` is not None.

    Parameters
    ----------
    estimator : estimator
        The forecaster, e.g. ``ContinualRegressor(module=CNN1D)`` or an
        :class:`~sklearn_cl.UpdateEnsemble`; it is cloned, not changed.
    series : array-like of shape (n_times,) or (n_times, n_variables)
        The series in time order.
    lookback, horizon, step, target
        Windows, as in :func:`make_windows`.
    initial : int
        Points of the first training; the first forecast starts there.
    period : int, default=None
        Points between forecasts; None means ``horizon`` (forecasts tile the
        series).
    update_every : int or None, default=1
        Update after every ``update_every``-th period; None never updates.
    refit_every : int or None, default=None
        Refit from scratch after every ``refit_every``-th period.
    update_step : int or None, default=None
        ``step`` of the windows that updates train on; None means ``step``.
        A large ``step`` makes the first training and the refits cheaper on
        a long history, while updates may still use every new window.

    Returns
    -------
    Backtest

    Examples
    --------
    >>> from sklearn.linear_model import SGDRegressor
    >>> t = np.arange(400)
    >>> series = np.sin(2 * np.pi * t / 24)
    >>> result = backtest(
    ...     SGDRegressor(random_state=0), series, lookback=24, horizon=1,
    ...     initial=200, period=24, update_every=1,
    ... )
    >>> result.predictions.shape, result.n_updates, result.mae < 0.1
    ((9, 1), 8, True)
    """
    array = _check_series(series)
    lookback = _check_positive_int(lookback, "lookback")
    horizon = _check_positive_int(horizon, "horizon")
    initial = _check_positive_int(initial, "initial")
    period = horizon if period is None else _check_positive_int(period, "period")
    update_every = _check_every(update_every, "update_every")
    refit_every = _check_every(refit_every, "refit_every")
    if not lookback + horizon <= initial <= len(array) - horizon:
        raise ValueError(
            f"`initial` must leave room for a first window (lookback + horizon = "
            f"{lookback + horizon}) and a first forecast (horizon={horizon} points "
            f"before the end of the {len(array)}-point series); got {initial}."
        )
    windows = dict(lookback=lookback, horizon=horizon, target=target)
    stream = StreamWindows(**windows, step=step if update_step is None else update_step)
    stream.update(array[:initial])  # the history the first forecast looks back on
    X, y = make_windows(array[:initial], **windows, step=step)
    model = clone(estimator)
    tic = time.perf_counter()
    model.fit(X, y)
    fit_time = time.perf_counter() - tic
    origins = np.arange(initial, len(array) - horizon + 1, period)
    predictions, actual, times = [], [], np.zeros(len(origins))
    pending: list[tuple[np.ndarray, np.ndarray]] = []
    n_updates = n_refits = 0
    for i, origin in enumerate(origins):
        forecast = model.predict(stream.last_window())
        _, truth = make_windows(array[origin - lookback : origin + horizon], **windows)
        predictions.append(np.reshape(forecast, (1, -1)))
        actual.append(np.reshape(truth, (1, -1)))
        if i == len(origins) - 1:
            break
        new = stream.update(array[origin : origin + period])
        if update_every is not None:
            pending.append(new)
        tic = time.perf_counter()
        if refit_every is not None and (i + 1) % refit_every == 0:
            X, y = make_windows(array[: stream.n_seen_], **windows, step=step)
            model = clone(estimator).fit(X, y)
            n_refits += 1
            pending.clear()
        elif update_every is not None and (i + 1) % update_every == 0:
            X_new = np.concatenate([X for X, _ in pending])
            if len(X_new):
                model.partial_fit(X_new, np.concatenate([y for _, y in pending]))
                n_updates += 1
            pending.clear()
        times[i] = time.perf_counter() - tic
    return Backtest(
        origins=origins,
        predictions=np.concatenate(predictions),
        actual=np.concatenate(actual),
        fit_time=fit_time,
        update_times=times,
        n_updates=n_updates,
        n_refits=n_refits,
        estimator=model,
    )
