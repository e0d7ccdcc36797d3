"""Augmentation: random transforms of the training batches of updates."""

from __future__ import annotations

from numbers import Real

import numpy as np
import torch

from .._param_validation import Interval
from ._random import strategy_rng, torch_generator
from .base import Strategy

__all__ = ["Augment"]


class Augment(Strategy):
    """Transform every training batch of an update: scaling, noise, a function.

    During ``partial_fit`` (not ``fit``), each batch ``X`` becomes, in this
    order: ``X * s`` with one factor ``s ~ U(scale_range)`` per sample;
    ``X + noise_std * N(0, 1)`` elementwise; ``func(X)``. Targets are left
    as they are. The batch keeps its size: samples are replaced by their
    transformed copies, so each epoch sees new variants of the same data.

    Callbacks run in list order, so put ``Augment`` after
    :class:`~sklearn_cl.strategies.Replay` to transform the replayed samples
    too (``callbacks=[Replay(), Augment(...)]``); placed before it, only the
    new samples are transformed.

    Use it when updates bring few samples, to reduce over-fitting to them,
    and with replay, so the small memory is not memorised. Cost: a few
    elementwise operations per batch, plus whatever ``func`` costs.

    Parameters
    ----------
    noise_std : float, default=0.0
        Standard deviation of the Gaussian noise added to every input value
        (in the units of the inputs the estimator receives).
    scale_range : (float, float) or None, default=None
        Range of the per-sample scaling factor, e.g. ``(0.9, 1.1)``.
    func : callable or None, default=None
        ``func(X) -> X``: a tensor batch (on the net's device) in, a batch of
        the same shape out; it may draw from torch's global random generator,
        which the estimator seeds.
    random_state : int, RandomState, numpy Generator or None, default=None
        Seeds the noise and the scaling. None derives the seed from the
        estimator's ``random_state``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_cl import ContinualClassifier
    >>> from sklearn_cl.strategies import Augment, Replay
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = ContinualClassifier(
    ...     max_epochs=5,
    ...     callbacks=[Replay(), Augment(noise_std=0.5, scale_range=(0.9, 1.1))],
    ...     random_state=0,
    ... ).fit(X[:1000], y[:1000])
    >>> float(clf.partial_fit(X[1000:], y[1000:]).score(X[1000:], y[1000:])) > 0.9
    True
    """

    _learned_state = ("rng_",)
    _transient_state = ("generator_",)
    _parameter_constraints = {
        "noise_std": [Interval(Real, 0, None, closed="left")],
        "scale_range": [tuple, list, None],
        "func": [callable, None],
        "random_state": ["random_state", np.random.Generator],
    }

    def __init__(self, noise_std=0.0, scale_range=None, func=None, random_state=None):
        self.noise_std = noise_std
        self.scale_range = scale_range
        self.func = func
        self.random_state = random_state

    def initialize(self):
        super().initialize()
        if self.scale_range is not None:
            low, high = self._scale_bounds()
            if not 0 <= low <= high:
                raise ValueError(
                    "`scale_range` must be (low, high) with 0 <= low <= high; got "
                    f"{self.scale_range!r}."
                )
        self.rng_ = None
        self.generator_ = None
        return self

    def _scale_bounds(self) -> tuple[float, float]:
        try:
            low, high = self.scale_range
            return float(low), float(high)
        except (TypeError, ValueError):
            raise ValueError(
                "`scale_range` must be a pair (low, high) of numbers, e.g. "
                f"(0.9, 1.1); got {self.scale_range!r}."
            ) from None

    def on_update_begin(self, net, X=None, y=None, *, context, **kwargs):
        if context.is_update:
            if self.rng_ is None:
                self.rng_ = strategy_rng(self.random_state)
            self.generator_ = torch_generator(self.rng_, X.device)

    def extend_batch(self, net, X, y, *, context, **kwargs):
        if not context.is_update:
            return X, y
        if self.scale_range is not None:
            low, high = self._scale_bounds()
            shape = (len(X),) + (1,) * (X.ndim - 1)
            factor = torch.rand(
                shape, generator=self.generator_, device=X.device, dtype=X.dtype
            )
            X = X * (low + (high - low) * factor)
        if self.noise_std:
            noise = torch.randn(
                X.shape, generator=self.generator_, device=X.device, dtype=X.dtype
            )
            X = X + self.noise_std * noise
        if self.func is not None:
            X = self.func(X)
        return X, y
