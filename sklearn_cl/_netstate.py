"""A fitted estimator's state as parameters and arrays.

pickle, ``copy.deepcopy`` and skops store an estimator through its
``__getstate__``: its parameters and fitted attributes, with the skorch net
replaced by plain data (module weights and optimizer state as numpy arrays,
the strategies with their declared state, the last call's history). Loading
rebuilds the net from the estimator's parameters and puts that data back.
Nothing is pickled inside, so a skops file names every class it needs: the
estimator's, the strategies', and the user's module class.

Optimizer and loss classes of torch, as parameters, are stored by name and
resolved on loading from a fixed table of torch's own classes, so they need
no trust.
"""

from __future__ import annotations

import torch
from skorch.history import History

from ._state import plain, restore
from .strategies.base import Strategy

__all__ = ["net_state", "load_net_state", "params_to_plain", "params_from_plain"]


def _torch_classes() -> dict[str, type]:
    classes = {}
    for namespace, base in (
        (vars(torch.optim), torch.optim.Optimizer),
        (vars(torch.nn.modules.loss), torch.nn.modules.loss._Loss),
    ):
        for value in namespace.values():
            if isinstance(value, type) and issubclass(value, base):
                classes[f"{value.__module__}.{value.__qualname__}"] = value
    return classes


_TORCH_CLASSES = _torch_classes()
_TAG = "$torch_class"


def params_to_plain(state: dict) -> dict:
    """Torch's optimizer and loss classes among the values, by name."""
    names = {cls: name for name, cls in _TORCH_CLASSES.items()}
    return {
        k: {_TAG: names[v]} if isinstance(v, type) and v in names else v
        for k, v in state.items()
    }


def params_from_plain(state: dict) -> dict:
    out = {}
    for key, value in state.items():
        if isinstance(value, dict) and set(value) == {_TAG}:
            if value[_TAG] not in _TORCH_CLASSES:
                raise ValueError(
                    f"Unknown torch class {value[_TAG]!r} for {key!r}: only torch's "
                    "own optimizer and loss classes are stored by name."
                )
            value = _TORCH_CLASSES[value[_TAG]]
        out[key] = value
    return out


def net_state(net) -> dict:
    """The net's learned state as plain data (see the module docstring)."""
    return {
        "module": plain(net.module_.state_dict()),
        "optimizer": plain(net.optimizer_.state_dict()),
        # what the strategies learned, by name; the callbacks themselves are
        # rebuilt from the estimator's parameters (skorch's own callbacks
        # reset what they hold when a call begins)
        "strategies": [
            [name, plain(cb.state_dict())]
            for name, cb in net.callbacks_
            if isinstance(cb, Strategy)
        ],
        "history": [dict(row) for row in net.history],
    }


def load_net_state(net, state: dict, X_one) -> None:
    """Put the state of :func:`net_state` into a freshly built ``net``.

    The strategies' state goes back first, so that a strategy that changed
    the module's structure (``Graft``) can redo it before the weights load;
    ``X_one`` is one zero sample of the input layout, for that.
    """
    live = dict(net.callbacks_)
    restored = []
    for name, learned in state["strategies"]:
        if isinstance(live.get(name), Strategy):
            restored.append(live[name].load_state_dict(restore(learned)))
    for strategy in restored:
        strategy.restore_module(net, torch.as_tensor(X_one))
    net.module_.load_state_dict(restore(state["module"]))
    net.optimizer_.load_state_dict(restore(state["optimizer"]))
    net.history = History(state["history"])
