"""All-or-nothing training calls: what a call changes, and how to undo it."""

from __future__ import annotations

import copy

import torch


def _clone_tensors(tree):
    if torch.is_tensor(tree):
        return tree.clone()
    if isinstance(tree, dict):
        return {k: _clone_tensors(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_clone_tensors(v) for v in tree]
    return tree


def _learned_state(callback) -> dict:
    return {k: v for k, v in vars(callback).items() if k.endswith("_")}


class Transaction:
    """A copy of an estimator's state taken before a training call.

    ``rollback`` puts back the estimator's attributes and, when it was
    fitted, the net's module weights, optimizer state, strategy state and
    history. Training changes those in place; growing the output layer
    replaces the module and optimizer with new objects, so keeping the old
    objects is enough to undo it.
    """

    def __init__(self, estimator, net_state: bool = True):
        self.attrs = dict(vars(estimator))
        # fit builds a new net and leaves the old one alone: no copy needed
        net = getattr(estimator, "net_", None) if net_state else None
        self.net = net
        if net is None:
            return
        self.module = net.module_
        self.optimizer = net.optimizer_
        self.module_state = _clone_tensors(net.module_.state_dict())
        self.optimizer_state = _clone_tensors(net.optimizer_.state_dict())
        self.callbacks = [
            (cb, copy.deepcopy(_learned_state(cb))) for _, cb in net.callbacks_
        ]
        self.history = list(net.history)

    def rollback(self, estimator) -> None:
        vars(estimator).clear()
        vars(estimator).update(self.attrs)
        net = self.net
        if net is None:
            return
        net.module_ = self.module
        net.module_.load_state_dict(self.module_state)
        net.optimizer_ = self.optimizer
        net.optimizer_.load_state_dict(self.optimizer_state)
        for cb, state in self.callbacks:
            for key in list(_learned_state(cb)):
                delattr(cb, key)
            vars(cb).update(state)
        net.history[:] = self.history


def is_finite(net, loss: float) -> bool:
    """Whether the last loss and every parameter of the net are finite."""
    if not torch.isfinite(torch.tensor(loss)):
        return False
    return all(bool(torch.isfinite(p).all()) for p in net.module_.parameters())
