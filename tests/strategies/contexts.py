"""Contexts for calling a strategy's hooks directly in a test."""

from __future__ import annotations

from sklearn_cl.strategies import UpdateContext


def context_of(net, X=None, *, is_update=True, lr=None):
    """The context ``net`` gives the hooks of a training call on ``X``."""
    return UpdateContext(
        net=net,
        lr=net.optimizer_.param_groups[0]["lr"] if lr is None else lr,
        is_classifier=net.classifier,
        is_update=is_update,
        call_index=int(is_update),
        n_epochs=1,
        _probe=None if X is None else X[:1],
    )
