"""All-or-nothing training calls: what a call changes, and how to undo it."""

from __future__ import annotations

import math
import weakref

import torch

from ._state import interrupts_deferred, is_stateful
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


class Transaction:
    """A copy of an estimator's state taken before a training call.

    ``rollback`` puts back the estimator's attributes, the content of the
    buffers among them (``UpdateEnsemble``'s memory) and, when it was fitted,
    the net's module weights, optimizer state, strategy state (through
    ``Strategy.state_dict``) and history. Training changes those in place;
    growing the output layer replaces the module and optimizer with new
    objects, so keeping the old objects is enough to undo it. A rollback
    runs with ``KeyboardInterrupt`` held back until it is complete.
    """

    def __init__(self, estimator, net_state: bool = True):
        self.attrs = dict(vars(estimator))
        self.buffers = [
            (value, value.state_dict())
            for value in self.attrs.values()
            if is_stateful(value)
        ]
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
        # strategies' declared state; skorch's own callbacks reset theirs when
        # a training call begins (and some hold objects that cannot be copied,
        # such as ProgressBar's bar)
        self.callbacks = [
            (cb, cb.state_dict())
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
        with interrupts_deferred():
            self._rollback(estimator)

    def _rollback(self, estimator) -> None:
        # attributes are replaced, never missing: threads reading the
        # estimator meanwhile (predict) find every attribute
        attributes = vars(estimator)
        attributes.update(self.attrs)
        for key in [k for k in attributes if k not in self.attrs]:
            del attributes[key]
        for buffer, state in self.buffers:
            buffer.load_state_dict(state)
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
            cb.load_state_dict(state)
        net.history[:] = self.history
        vars(net).update(self.callback_lists)


def is_finite(net, loss: float) -> bool:
    """Whether the last loss, every parameter of the net and every strategy's
    learned state (EWC's Fisher, say) are finite.

    One sum per tensor: a NaN or an infinity anywhere makes it non-finite.
    """
    if not math.isfinite(loss):
        return False
    sums = torch.stack([p.detach().sum() for p in _state_tensors(net.module_)])
    if not bool(sums.isfinite().all()):
        return False
    return all(
        cb._state_is_finite() for _, cb in net.callbacks_ if isinstance(cb, Strategy)
    )
