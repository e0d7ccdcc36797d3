"""The learned state of strategies and buffers, as plain values.

A strategy declares its learned state (``_learned_state``, attribute names
ending in ``_``); :meth:`~sklearn_cl.strategies.Strategy.state_dict` reads
it through :func:`snapshot` and ``load_state_dict`` puts it back through
:func:`restore`. Rollback, copying, pickling and the skops files all use
these two functions, so a new strategy gets all of them by declaring its
state.

A state value is a torch tensor, a numpy array, a Python number, string,
bool or None, a dict, list or tuple of those, a numpy ``Generator``, or an
object of a class registered with :func:`stateful` (the buffers), which
provides ``state_dict()`` and ``load_state_dict()`` itself. Two forms exist:

- the *snapshot* form (:func:`snapshot`): tensors cloned, arrays and
  generators copied: later training cannot change it (the transaction taken
  before every update);
- the *plain* form (:func:`plain`): tensors as numpy arrays tagged with
  their device; numbers, strings, arrays, numpy generators and containers
  only: what pickle, ``copy.deepcopy`` and skops store (all three store a
  numpy ``Generator`` exactly, and skops trusts it by default).

Written here rather than taken from torch (``nn.Module.state_dict`` covers
tensors of modules only) or skops (which stores objects, not the state a
class declares).
"""

from __future__ import annotations

import copy
import math
import signal
import threading
from contextlib import contextmanager

import numpy as np
import torch

__all__ = [
    "all_finite",
    "device_available",
    "plain",
    "restore",
    "snapshot",
    "stateful",
]

_PLAIN = (type(None), bool, int, float, str, np.generic)
_STATEFUL: dict[str, type] = {}


def stateful(cls: type) -> type:
    """Register ``cls`` (it has ``state_dict``, ``load_state_dict`` and a
    ``_from_state`` classmethod) as a class whose objects may be state."""
    _STATEFUL[cls.__name__] = cls
    return cls


def is_stateful(value) -> bool:
    return _STATEFUL.get(type(value).__name__) is type(value)


def _convert(value, *, as_plain: bool):
    if isinstance(value, _PLAIN):
        return value
    if torch.is_tensor(value):
        if as_plain:
            return {
                "$tensor": value.detach().cpu().numpy(),
                "device": value.device.type,
            }
        return value.detach().clone()
    if isinstance(value, np.ndarray):
        return value if as_plain else value.copy()
    if isinstance(value, dict):
        return {k: _convert(v, as_plain=as_plain) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_convert(v, as_plain=as_plain) for v in value)
    if isinstance(value, np.random.Generator):
        # pickle and skops store generators exactly (seed sequence included)
        return value if as_plain else copy.deepcopy(value)
    if is_stateful(value):
        state = value.state_dict()
        if as_plain:
            state = _convert(state, as_plain=True)
        return {"$object": type(value).__name__, "state": state}
    raise TypeError(
        f"A learned state value of type {type(value).__name__} cannot be copied "
        "or saved: declare only tensors, numpy arrays, numbers, strings, None, "
        "dicts, lists and tuples of them, numpy Generators, or buffers in "
        "`_learned_state`."
    )


def snapshot(value):
    """A copy of a state value that later training cannot change."""
    return _convert(value, as_plain=False)


def plain(value):
    """A state value as numbers, strings, numpy arrays and containers only.

    Arrays may share memory with the live tensors: the caller stores or
    copies them at once (pickle, ``copy.deepcopy``, skops).
    """
    return _convert(value, as_plain=True)


def device_available(name) -> bool:
    """Whether the device ``name`` (a saved model's) can be used here. Only
    the CPU, CUDA and the accelerator torch detects are: a file naming any
    other device type (``"meta"``, ``"hpu"``, ...) loads on the CPU, as a
    GPU model does on a machine without one, so a device in a file never
    makes torch import that device's backend."""
    kind = torch.device(name).type
    if kind == "cpu":
        return True
    if kind == "cuda":
        return torch.cuda.is_available()
    accelerator = getattr(torch, "accelerator", None)  # torch >= 2.6
    current = accelerator.current_accelerator() if accelerator is not None else None
    return current is not None and current.type == kind


def restore(value):
    """The live value of a state value in either form."""
    if isinstance(value, dict):
        if "$tensor" in value:
            # pickle, deepcopy and skops hand over fresh arrays: no copy
            array = np.require(value["$tensor"], requirements=["C", "W"])
            device = value["device"] if device_available(value["device"]) else "cpu"
            return torch.from_numpy(array).to(device)
        if "$object" in value:
            cls = _STATEFUL.get(value["$object"])
            if cls is None:
                raise ValueError(f"Unknown state object {value['$object']!r}.")
            return cls._from_state(restore(value["state"]))
        return {k: restore(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(restore(v) for v in value)
    return value


def all_finite(value) -> bool:
    """Whether every tensor, float array and float of a live state value is
    finite. Registered objects (buffers) are not read: they store validated
    inputs, and scanning them would cost O(stored data) on every update."""
    if torch.is_tensor(value):
        if not value.is_floating_point() or value.numel() == 0:
            return True
        # float64: a float32 sum of large finite values can overflow to inf
        return bool(value.detach().sum(dtype=torch.float64).isfinite())
    if isinstance(value, np.ndarray):
        return value.dtype.kind != "f" or bool(np.isfinite(value).all())
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(all_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(all_finite(v) for v in value)
    return True


@contextmanager
def interrupts_deferred():
    """Hold back ``KeyboardInterrupt`` (SIGINT) while the block runs, then
    raise it: a rollback interrupted half-way would leave half-restored
    weights. Only the main thread receives signals; elsewhere this does
    nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda *args: received.append(args))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        if callable(previous):
            previous(*received[0])
        else:
            raise KeyboardInterrupt
