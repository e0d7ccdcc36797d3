"""Rehearsal: every update trains on the new data plus stored past data."""

from __future__ import annotations

from numbers import Real

import torch

from .._param_validation import Interval
from .buffers import ReservoirBuffer
from .replay import POSITIVE, RANDOM_STATE, _Memory

__all__ = ["Rehearsal"]


class Rehearsal(_Memory):
    """Retrain on old + new data: each update's training set is the new data
    plus stored past data.

    The simplest recipe practitioners use. The memory keeps the data of
    ``fit`` and of every update (all of it, or a uniform sample of at most
    ``max_samples`` past samples); each update then runs its
    ``update_epochs`` epochs over the new data joined with all stored samples,
    or with a fresh random ``fraction`` of them. Unlike
    :class:`~sklearn_cl.strategies.Replay`, which adds a few stored samples to
    every batch, old data here enters the training set itself: epochs and
    batches run over old + new.

    Use it when past data may be kept and retraining on it is affordable;
    with ``fraction=1`` and no ``max_samples`` each update approaches
    retraining on everything.

    Cost: an update trains on ``n_new + fraction * n_stored`` samples, so its
    time grows with the memory; memory is every past sample (float32), or at
    most ``max_samples``.

    Parameters
    ----------
    fraction : float, default=1.0
        Fraction of the stored samples joined to each update, drawn afresh
        (without replacement) for every update; in (0, 1].
    max_samples : int or None, default=None
        Most past samples kept (a uniform reservoir sample of all past data);
        None keeps everything.
    random_state : int, RandomState, numpy Generator or None, default=None
        Seeds what is kept and drawn. None derives the seed from the
        estimator's ``random_state``.

    Attributes
    ----------
    buffer_ : ReservoirBuffer or None
        The stored past data, built on the first training call.

    Examples
    --------
    >>> from sklearn_cl import ContinualClassifier
    >>> from sklearn_cl.datasets import split_digits
    >>> from sklearn_cl.strategies import Rehearsal
    >>> X, y, tasks = split_digits(5).train_arrays()
    >>> clf = ContinualClassifier(
    ...     max_epochs=10, update_epochs=5, callbacks=[Rehearsal(fraction=0.5)],
    ...     random_state=0,
    ... ).fit(X, y, tasks=tasks)
    >>> len(dict(clf.net_.callbacks_)["rehearsal"].buffer_) == len(X)
    True
    """

    _parameter_constraints = {
        "fraction": [Interval(Real, 0, 1, closed="right")],
        "max_samples": [POSITIVE, None],
        "random_state": RANDOM_STATE,
    }

    def __init__(self, fraction=1.0, max_samples=None, random_state=None):
        self.fraction = fraction
        self.max_samples = max_samples
        self.random_state = random_state

    def _capacity(self):
        return self.max_samples

    def _new_buffer(self):
        return ReservoirBuffer(self.max_samples, random_state=self._rng())

    def extend_data(self, net, X, y, *, sample_weight=None, **kwargs):
        n_stored = self._stored()
        if not n_stored:
            return X, y
        n = max(1, round(self.fraction * n_stored))
        old_X, old_y, old_w = self.buffer_.sample(
            n, rng=self._rng(), return_weight=True
        )
        old_X = torch.from_numpy(old_X).to(X.device, X.dtype)
        old_y = torch.from_numpy(old_y).to(y.device, y.dtype)
        X, y = torch.cat([X, old_X]), torch.cat([y, old_y])
        if sample_weight is None and old_w is None:
            return X, y
        # stored samples keep the weight they were stored with
        new = sample_weight if sample_weight is not None else X.new_ones(len(X) - n)
        old = X.new_ones(n) if old_w is None else torch.from_numpy(old_w).to(X.device)
        return X, y, torch.cat([new, old])
