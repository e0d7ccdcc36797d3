"""Snapshots: a copy of the network after every training call, for scoring."""

from __future__ import annotations

import copy

from .base import Strategy

__all__ = ["Snapshots"]


class Snapshots(Strategy):
    """Keep a copy of the network after every training call.

    It changes nothing in training. With it, ``fit(X, y, tasks=t)`` leaves
    the network as it was after each task in ``modules_``, so a scorer can
    fill the accuracy matrix of the held-out fold and measure forgetting
    (``make_task_scorer("neg_forgetting")``). Memory: one copy of the
    network per training call (``fit`` task or ``partial_fit``), so use it
    for searches over short task sequences, not for long streams.

    Attributes
    ----------
    modules_ : list of torch.nn.Module
        CPU copies of the network in evaluation mode, one per training call,
        oldest first; the last one equals the final network.

    Examples
    --------
    >>> from sklearn_cl import ContinualClassifier
    >>> from sklearn_cl.datasets import split_digits
    >>> from sklearn_cl.scoring import Snapshots
    >>> X, y, tasks = split_digits(3).train_arrays()
    >>> clf = ContinualClassifier(
    ...     hidden_layer_sizes=(16,), max_epochs=1,
    ...     callbacks=[("snapshots", Snapshots())], random_state=0,
    ... ).fit(X, y, tasks=tasks)
    >>> len(dict(clf.net_.callbacks_)["snapshots"].modules_)
    3
    """

    # the copies are never changed once taken: a rollback keeps the list as
    # it was; they are torch modules, so a model holding them cannot be
    # saved in the safe format
    _learned_state = ("modules_",)

    def state_dict(self) -> dict:
        return {"modules_": list(self.modules_)} if hasattr(self, "modules_") else {}

    def load_state_dict(self, state: dict):
        self.modules_ = list(state.get("modules_", []))
        return self

    def __getstate__(self):
        return dict(vars(self))

    def __setstate__(self, state):
        vars(self).update(state)

    def initialize(self):
        super().initialize()
        self.modules_ = []
        return self

    def on_update_end(self, net, X=None, y=None, *, context, **kwargs):
        self.modules_.append(copy.deepcopy(context.module).cpu().eval())
