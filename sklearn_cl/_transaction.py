"""All-or-nothing training calls: what a call changes, and how to undo it.

``all_or_nothing`` runs an estimator's training call inside a
``Transaction``: on an exception, a non-finite loss or non-finite weights,
or a rejection by the estimator's ``acceptance_check``, the estimator is put
back exactly as it was before the call. ``attributes_restored_on_error`` is
the same guarantee for meta-estimators, whose attributes (members, memory)
are replaced, never changed in place.
"""

from __future__ import annotations

import math
import warnings
import weakref
from contextlib import contextmanager

import torch

from ._state import interrupts_deferred
from .strategies.base import Strategy

# parameters and buffers per module object: listing them walks the module
# tree, which costs as much as a small training step; a module is only ever
# replaced (when the output layer grows), not restructured
_TENSORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


_CPU = torch.device("cpu")

# the floating-point ones, those a step can make non-finite
_FLOATS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _state_tensors(module: torch.nn.Module) -> list:
    tensors = _TENSORS.get(module)
    if tensors is None:
        tensors = _TENSORS[module] = [*module.parameters(), *module.buffers()]
    return tensors


# snapshot storage per module, reused by every transaction: a partial_fit
# copies the weights and the optimizer's state into it, in one
# ``_foreach_copy_``, rather than allocating new tensors. One transaction at
# a time uses it: the updates of an estimator run one after the other (see
# ``_locking``), and copies of an estimator have their own module.
_SNAPSHOTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _layout(tensor: torch.Tensor) -> tuple:
    return tensor.shape, tensor.dtype, tensor.device


def _copied(module: torch.nn.Module, tensors: list) -> list:
    """Copies of ``tensors``, written into ``module``'s snapshot storage
    (new storage when their number, shapes, dtypes or devices changed)."""
    layout = list(map(_layout, tensors))
    stored = _SNAPSHOTS.get(module)
    if stored is None or stored[0] != layout:
        stored = _SNAPSHOTS[module] = (layout, [torch.empty_like(t) for t in tensors])
    copies = stored[1]
    if copies:
        with torch.no_grad():
            torch._foreach_copy_(copies, tensors)
    return copies


class Transaction:
    """A copy of an estimator's state taken before a training call.

    ``rollback`` puts back the estimator's attributes and, when it was
    fitted, the net's module weights, optimizer state, strategy state (through
    ``Strategy.state_dict``) and history. Training changes those in place;
    growing the output layer replaces the module and optimizer with new
    objects, so keeping the old objects is enough to undo it. A rollback
    runs with ``KeyboardInterrupt`` held back until it is complete.
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
        self.requires_grad = [t.requires_grad for t in self.tensors]
        # (parameter, key, value) of the optimizer's state
        self.optimizer_entries = [
            (p, k, v)
            for p, state in net.optimizer_.state.items()
            for k, v in state.items()
        ]
        # the weights and the optimizer's tensors, copied in one call
        self.saved = _copied(
            net.module_,
            self.tensors
            + [v for _, _, v in self.optimizer_entries if torch.is_tensor(v)],
        )
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
        net = self.net
        if net is None:
            return
        net.module_ = self.module
        n_weights = len(self.tensors)
        with torch.no_grad():
            torch._foreach_copy_(self.tensors, self.saved[:n_weights])
        for tensor, flag in zip(self.tensors, self.requires_grad):
            tensor.requires_grad_(flag)
        net.optimizer_ = self.optimizer
        net.optimizer_.state.clear()
        saved = iter(self.saved[n_weights:])
        for p, k, v in self.optimizer_entries:
            # new tensors: the snapshot storage is reused by the next call
            value = next(saved).clone() if torch.is_tensor(v) else v
            net.optimizer_.state.setdefault(p, {})[k] = value
        for group, saved in zip(net.optimizer_.param_groups, self.groups):
            group.update(saved)
        for cb, state in self.callbacks:
            cb.load_state_dict(state)
        net.history[:] = self.history
        vars(net).update(self.callback_lists)


def is_finite(net, loss: float) -> bool:
    """Whether the last loss, every parameter of the net and every strategy's
    learned state (EWC's Fisher, say) are finite.

    The parameters are summed: a NaN or an infinity anywhere makes a sum
    non-finite, so finite sums prove them finite. On the CPU each tensor's
    sum is read (measured faster inside a call than one sum of their
    concatenation); on an accelerator the sums are stacked, one read per
    device. Only a non-finite sum (which finite float32 values can also
    give, by overflowing) is checked value by value.
    """
    if not math.isfinite(loss):
        return False
    if not _all_finite(_float_tensors(net.module_)):
        return False
    return all(
        cb._state_is_finite() for _, cb in net.callbacks_ if isinstance(cb, Strategy)
    )


def _float_tensors(module: torch.nn.Module) -> list:
    tensors = _FLOATS.get(module)
    if tensors is None:
        tensors = _FLOATS[module] = [
            t for t in _state_tensors(module) if t.is_floating_point()
        ]
    return tensors


def _all_finite(tensors: list) -> bool:
    devices = {t.device for t in tensors}
    with torch.no_grad():
        if devices == {_CPU}:  # no device to wait for: each sum read at once
            sums = [t.sum().item() for t in tensors]
        else:  # one read per device
            sums = [
                torch.stack([t.sum() for t in tensors if t.device == device])
                .sum()
                .item()
                for device in devices
            ]
        if all(map(math.isfinite, sums)):
            return True
        return all(bool(torch.isfinite(t).all()) for t in tensors)


class NonFiniteUpdateError(ValueError):
    """A training call produced a non-finite loss or weights and was undone."""


class UpdateRejectedWarning(UserWarning):
    """An update was undone (``on_nonfinite="warn"``) and the model kept."""


def all_or_nothing(estimator, check_params, train, *, incremental: bool) -> None:
    """Run ``check_params()`` then ``train()``, a training call of
    ``estimator`` that returns its last loss, so that the call takes effect
    entirely or not at all.

    ``incremental``: the call continues the fitted net (``partial_fit``),
    whose state is copied first; otherwise it builds a new net (``fit``) and
    the old one is simply kept. The ``acceptance_check`` judges updates of
    an existing model only, scoring it once the parameters are checked. An
    undone call raises (the exception, or ``NonFiniteUpdateError``), or with
    ``on_nonfinite="warn"`` or a rejection is recorded in
    ``rejected_updates_``.
    """
    transaction = Transaction(estimator, net_state=incremental)
    check = estimator.acceptance_check if transaction.net is not None else None
    try:
        check_params()
        before = check.score(estimator) if check is not None else None
        loss = train()
        lr = estimator.net_.optimizer_.param_groups[0]["lr"]
        finite = is_finite(estimator.net_, loss)
        after = check.score(estimator) if check is not None and finite else None
    except BaseException:
        transaction.rollback(estimator)
        raise
    if not finite:
        transaction.rollback(estimator)
        _nonfinite(estimator, loss, "update" if incremental else "fit", lr)
    elif after is not None and check.rejection(before, after) is not None:
        transaction.rollback(estimator)
        reason = check.rejection(before, after)
        _record_rejection(estimator, reason, before=before, after=after)


@contextmanager
def attributes_restored_on_error(estimator):
    """Put back the estimator's attributes if the block raises (for
    meta-estimators whose members are replaced, never changed in place)."""
    transaction = Transaction(estimator, net_state=False)
    try:
        yield
    except BaseException:
        transaction.rollback(estimator)
        raise


def _record_rejection(estimator, reason: str, **details) -> None:
    record = {"update": estimator.n_updates_, "reason": reason, **details}
    # bounded: a stream whose every update is rejected must not grow memory
    estimator.rejected_updates_ = [*estimator.rejected_updates_[-99:], record]


def _nonfinite(estimator, loss: float, call: str, lr: float) -> None:
    message = (
        f"The {call} produced a non-finite loss or non-finite weights (last "
        f"loss {loss}) at learning rate {lr:g}; the model was rolled back to "
        "its state before the call. Use a smaller learning rate "
        "(update_lr for updates, lr for fit) or a weaker penalty (e.g. a "
        "smaller EWC lambda_), or scale the inputs and targets."
    )
    if estimator.on_nonfinite == "raise" or not hasattr(estimator, "net_"):
        raise NonFiniteUpdateError(
            message + " Set on_nonfinite='warn' to keep serving the last "
            "good model with a warning instead."
        )
    # stacklevel: the caller of fit or partial_fit
    warnings.warn(message, UpdateRejectedWarning, stacklevel=5)
    _record_rejection(estimator, "non-finite loss or weights", loss=loss)
