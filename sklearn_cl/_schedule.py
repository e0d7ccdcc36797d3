"""The budget of a training call: how many epochs, at which learning rate.

The first training of ``fit`` runs ``max_epochs`` epochs at ``lr``. Every
other call (each ``partial_fit``, the first one included, and each later
task of ``fit(..., tasks=)``) runs ``update_epochs`` epochs at the update
learning rate ``update_lr * update_lr_decay ** k``, where ``k`` counts the
updates since the last ``fit`` or the last ``reset_update_lr_decay()``
(``update_lr=None`` means ``lr``).
"""

from __future__ import annotations

__all__ = ["budget", "update_lr"]


def update_lr(estimator) -> float:
    """The learning rate of the estimator's next update."""
    base = estimator.lr if estimator.update_lr is None else estimator.update_lr
    decays = estimator.n_updates_ - estimator._decay_origin
    return base * estimator.update_lr_decay**decays


def budget(estimator, *, fit_budget: bool) -> tuple[int, float]:
    """``(epochs, lr)`` of a call: ``fit``'s budget (``max_epochs`` at ``lr``)
    or the update budget."""
    if fit_budget:
        return estimator.max_epochs, estimator.lr
    return estimator.update_epochs, update_lr(estimator)
