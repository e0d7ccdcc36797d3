"""All-or-nothing training calls: what a call changes, and how to undo it."""

from __future__ import annotations

import copy
import math
import weakref

import torch

from .strategies.base import Strategy

# parameters and buffers per module object: listing them walks the module
# tree, which costs as much as a small training step; a module is only ever
# replaced (when the output layer grows), not restructured
_TENSORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _state_tensors(module: torch.nn.Module) -> list:
    tensors = _TENSORS.get(module)
    if tensors is None:
        tensors = _TENSORS[module] = [*module.parameters(), *module.buffers()]
    return tensors


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
        # plain tensor lists, not state_dict(): this runs on every partial_fit
        self.module = net.module_
        self.optimizer = net.optimizer_
        self.tensors = _state_tensors(net.module_)
        self.saved = [t.detach().clone() for t in self.tensors]
        self.requires_grad = [t.requires_grad for t in self.tensors]
        self.optimizer_state = {
            p: {k: v.clone() if torch.is_tensor(v) else v for k, v in state.items()}
            for p, state in net.optimizer_.state.items()
        }
        self.groups = [
            {k: v for k, v in group.items() if k != "params"}
            for group in net.optimizer_.param_groups
        ]
        # strategies' learned state; skorch's own callbacks reset theirs when
        # a training call begins (and some hold objects that cannot be copied)
        self.callbacks = [
            (cb, copy.deepcopy(_learned_state(cb)))
            for _, cb in net.callbacks_
            if isinstance(cb, Strategy)
        ]
        # replaced, never changed in place, when callbacks change between calls
        self.callback_lists = {
            k: vars(net)[k]
            for k in (
                "callbacks",
                "callbacks_",
                "hooked_",
                "weighted_hooks_",
                "skorch_callbacks_",
            )
        }
        self.history = list(net.history)

    def rollback(self, estimator) -> None:
        vars(estimator).clear()
        vars(estimator).update(self.attrs)
        net = self.net
        if net is None:
            return
        net.module_ = self.module
        with torch.no_grad():
            for tensor, saved in zip(self.tensors, self.saved):
                tensor.copy_(saved)
        for tensor, flag in zip(self.tensors, self.requires_grad):
            tensor.requires_grad_(flag)
        net.optimizer_ = self.optimizer
        net.optimizer_.state.clear()
        net.optimizer_.state.update(self.optimizer_state)
        for group, saved in zip(net.optimizer_.param_groups, self.groups):
            group.update(saved)
        for cb, state in self.callbacks:
            for key in list(_learned_state(cb)):
                delattr(cb, key)
            vars(cb).update(state)
        net.history[:] = self.history
        vars(net).update(self.callback_lists)


def is_finite(net, loss: float) -> bool:
    """Whether the last loss and every parameter of the net are finite.

    One sum per tensor: a NaN or an infinity anywhere makes it non-finite.
    """
    if not math.isfinite(loss):
        return False
    sums = torch.stack([p.detach().sum() for p in _state_tensors(net.module_)])
    return bool(sums.isfinite().all())
