"""The context of one training call, which every strategy hook receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import torch

__all__ = ["UpdateContext"]


@dataclass(eq=False)
class UpdateContext:
    """What a strategy hook knows about the training call it runs in.

    The estimators' net builds one context when a training call begins (a
    ``fit``, a task of ``fit(X, y, tasks=t)``, a ``partial_fit``) and passes
    it as the keyword argument ``context`` to every hook of that call,
    skorch's events included. The net updates :attr:`epoch` in place as the
    epochs go; every other field is fixed for the call. :attr:`module` and
    :attr:`optimizer` read the net's current objects, so a strategy that
    replaces them (``Graft``) is seen by the hooks that run after it.

    Parameters
    ----------
    net : ContinualNet
        The skorch net that runs the call (also the first argument of every
        hook).
    lr : float
        The learning rate of this call: ``lr`` for the first training,
        the (decayed) update learning rate for updates.
    is_classifier : bool
        Whether the estimator is a classifier (targets are class indices)
        or a regressor (targets are float arrays of shape
        ``(n_samples, n_outputs)``).
    is_update : bool
        Whether a previous model exists: False for the first training of a
        model, whichever method starts it (``fit``, the first
        ``partial_fit``, the first task of ``fit(X, y, tasks=t)``); True for
        every later call.
    call_index : int
        The index of this call among the model's training calls since it
        was last trained from scratch: 0 for the first training, then one
        more for every later task or update that was kept (calls rolled
        back do not count), whichever method started the model.
    n_epochs : int
        The number of epochs this call trains (its budget).
    epoch : int, default=0
        The epoch being trained, counted from 0 within the call. Hooks that
        run before the first epoch see 0; hooks that run after the last one
        (``on_train_end``, ``on_update_end``) see the number of epochs
        trained, which is less than :attr:`n_epochs` when a callback
        stopped training early.

    Examples
    --------
    A strategy that reads the context:

    >>> from sklearn.datasets import load_digits
    >>> from sklearn_cl import ContinualClassifier
    >>> from sklearn_cl.strategies import Strategy
    >>> class Log(Strategy):
    ...     def on_update_end(self, net, X=None, y=None, *, context, **kwargs):
    ...         print(context.call_index, context.is_update, context.lr,
    ...               context.epoch, context.n_outputs)
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = ContinualClassifier(max_epochs=2, update_epochs=1, update_lr=1e-4,
    ...                           callbacks=[Log()]).fit(X[:100], y[:100])
    0 False 0.001 2 10
    >>> clf = clf.partial_fit(X[100:200], y[100:200])
    1 True 0.0001 1 10
    """

    net: object = field(repr=False)
    lr: float
    is_classifier: bool
    is_update: bool
    call_index: int
    n_epochs: int
    epoch: int = 0
    # samples of the call, the first of which measures n_outputs when asked
    _probe: torch.Tensor | None = field(default=None, repr=False)

    @property
    def module(self) -> torch.nn.Module:
        """The network being trained (``net.module_``)."""
        return self.net.module_

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        """The optimizer of the call (``net.optimizer_``)."""
        return self.net.optimizer_

    @cached_property
    def n_outputs(self) -> int:
        """The number of outputs of the network: classes for a classifier,
        targets for a regressor. Measured on first use, with one sample in
        evaluation mode."""
        module = self.net.module_
        was_training = module.training
        module.eval()
        try:
            with torch.no_grad():
                return int(module(self._probe[:1]).shape[1])
        finally:
            module.train(was_training)
