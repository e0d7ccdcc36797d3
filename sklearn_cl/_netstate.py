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

Loading checks what a committed model always satisfies and an edited file
may not, so that such a file fails to load instead of predicting NaN or
failing at the next update:

- the module the parameters describe is no larger than the weights stored
  (checked on torch's ``meta`` device, before anything is allocated:
  otherwise a file of a few kilobytes could ask for a hidden layer of a
  billion units);
- the module's weights are real and finite, and so is the strategies'
  state (every training call that makes them non-finite is undone);
- the tensors a strategy keeps per parameter (in a dict keyed by the
  module's parameter names) have the parameter's shape;
- the optimizer's state holds, per parameter, scalars where torch keeps
  scalars (``step``), tensors of exactly the parameter's shape where torch
  keeps one value per element (Adam's moments, momentum buffers, ...), and
  Adafactor's factored moments with the one axis its factoring shrinks to
  1: torch's ``Optimizer.load_state_dict`` checks only the number of
  parameters, and a moment of shape ``(1, 1)`` for a ``(100, 64)`` weight
  broadcasts, making every later step wrong without an error. An entry
  torch's optimizers do not have (a third-party optimizer's) may have the
  parameter's shape with some axes shrunk to 1, as a factored state would.
  The optimizer state is checked before any of it is loaded.
"""

from __future__ import annotations

import numpy as np
import torch
from skorch.history import History

from ._build import _module_and_kwargs
from ._state import all_finite, plain, restore
from .strategies.base import Strategy

__all__ = [
    "check_module_size",
    "load_net_state",
    "net_state",
    "params_from_plain",
    "params_to_plain",
]


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


def check_module_size(estimator, X_one, n_outputs: int, state: dict) -> None:
    """Refuse to build a module larger than the weights ``state`` stores
    (see the module docstring); call it before building the net."""
    module, kwargs = _module_and_kwargs(estimator, X_one[0].size, n_outputs)
    if isinstance(module, torch.nn.Module):
        return  # an instance is stored with its weights: its size is known
    params = {
        k[len("module__") :]: v for k, v in kwargs.items() if k.startswith("module__")
    }
    try:
        with torch.device("meta"):
            described = module(**params).state_dict().values()
            n_described = sum(t.numel() for t in described)
    except Exception:  # a module that needs real tensors to be built, or
        return  # lazy layers: its size is told by building it, as saved
    n_stored = sum(np.size(value.get("$tensor")) for value in state["module"].values())
    if n_described > n_stored:
        raise ValueError(
            f"The file's parameters describe a module of {n_described} values, "
            f"but it stores weights for {n_stored}: the file was edited (and "
            "building that module could exhaust the memory)."
        )


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
            learned = restore(learned)
            if not all_finite(learned):
                raise ValueError(
                    f"The saved state of strategy {name!r} holds non-finite "
                    "values, which a fitted model never keeps: the file was "
                    "edited or corrupted."
                )
            restored.append((name, live[name].load_state_dict(learned), learned))
    for _, strategy, _ in restored:
        strategy.restore_module(net, torch.as_tensor(X_one))
    shapes = {name: p.shape for name, p in net.module_.named_parameters()}
    for name, strategy, learned in restored:
        for key in strategy._per_parameter_state:
            _check_per_parameter_state(name, learned.get(key), shapes)
    weights = restore(state["module"])
    # complex values would be cast to real silently (a warning at most); a
    # module's extra state (get_extra_state) may be anything
    bad = [
        k
        for k, v in weights.items()
        if torch.is_tensor(v) and (v.is_complex() or not all_finite(v))
    ]
    if bad:
        raise ValueError(
            f"The saved module weights {bad} hold non-finite or complex values, "
            "which a fitted model never keeps: the file was edited or corrupted."
        )
    net.module_.load_state_dict(weights)
    optimizer_state = restore(state["optimizer"])
    _check_optimizer_state(net, optimizer_state)
    net.optimizer_.load_state_dict(optimizer_state)
    net.history = History(state["history"])


def _check_per_parameter_state(strategy: str, value, shapes: dict) -> None:
    """The tensors a strategy keeps per parameter of the current module (an
    attribute its class lists in ``_per_parameter_state``: EWC's Fisher and
    anchors, SI's and MAS's importances) have the parameter's shape:
    broadcast, one value would silently stand for all."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in shapes:
                raise ValueError(
                    f"The saved state of strategy {strategy!r} names a parameter "
                    f"{key!r} the module does not have: the file was edited or "
                    "corrupted."
                )
            if torch.is_tensor(item) and item.shape != shapes[key]:
                raise ValueError(
                    f"The saved state of strategy {strategy!r} has shape "
                    f"{tuple(item.shape)} for parameter {key!r} of shape "
                    f"{tuple(shapes[key])}: the file was edited or corrupted."
                )


# the state torch's optimizers keep per parameter (torch 2.13), by role:
# one value (a step count, ASGD's and NAdam's running factors), one value per
# element of the parameter, or Adafactor's row and column moments, which
# shrink the axis named here to 1 (torch.optim.Adafactor: the last for the
# row moments, the second last for the column moments)
_SCALAR_STATE = frozenset({"step", "eta", "mu", "mu_product"})
_ELEMENTWISE_STATE = frozenset(
    {
        "exp_avg",  # Adam, AdamW, Adamax, NAdam, RAdam, SparseAdam
        "exp_avg_sq",
        "max_exp_avg_sq",  # amsgrad
        "exp_inf",  # Adamax
        "momentum_buffer",  # SGD, RMSprop, Muon
        "square_avg",  # RMSprop, Adadelta
        "grad_avg",  # RMSprop(centered=True)
        "acc_delta",  # Adadelta
        "sum",  # Adagrad
        "ax",  # ASGD
        "prev",  # Rprop
        "step_size",
        "variance",  # Adafactor, parameters of one axis
    }
)
_FACTORED_STATE = {"row_var": -1, "col_var": -2}


def _check_optimizer_state(net, saved: dict) -> None:
    """Every tensor the saved optimizer state keeps for a parameter has the
    shape its role gives it (see the module docstring); anything else would
    fail at the next update, or silently broadcast."""
    if not isinstance(saved, dict) or not isinstance(saved.get("state"), dict):
        return  # not an optimizer's state dict: torch's load refuses it
    names = {p: name for name, p in net.module_.named_parameters()}
    # torch matches the saved state to the parameters by position, group by
    # group, as here; different counts are its own error, when it loads
    ids = {
        saved_id: param
        for saved_group, group in zip(
            saved.get("param_groups", []), net.optimizer_.param_groups
        )
        for saved_id, param in zip(saved_group.get("params", []), group["params"])
    }
    for saved_id, entries in saved["state"].items():
        param = ids.get(saved_id)
        if param is None or not isinstance(entries, dict):
            continue
        for key, value in entries.items():
            expected = _shape_wanted(key, value, param)
            if expected is not None:
                name = names.get(param, f"#{saved_id}")
                raise ValueError(
                    f"The saved optimizer state {key!r} has shape "
                    f"{tuple(value.shape)} for parameter {name!r} of shape "
                    f"{tuple(param.shape)}; it must be {expected}: the file was "
                    "edited or corrupted (a moment that broadcasts would make "
                    "every later step wrong). Load an unedited copy of the "
                    "file, or fit the model again."
                )


def _shape_wanted(key, value, param: torch.Tensor) -> str | None:
    """The shape ``value`` should have, in words, when it has another; None
    when it fits (or is no tensor)."""
    if not torch.is_tensor(value):
        return None
    shape, want = tuple(value.shape), tuple(param.shape)
    if key in _SCALAR_STATE:
        return None if shape == () else "a scalar, of shape ()"
    if key in _ELEMENTWISE_STATE:
        return None if shape == want else f"the parameter's shape, {want}"
    if key in _FACTORED_STATE and len(want) >= 2:
        axis = _FACTORED_STATE[key] % len(want)
        want = want[:axis] + (1,) + want[axis + 1 :]
        return None if shape == want else f"{want} (the parameter's, factored)"
    # an entry of another optimizer: a scalar, or the parameter's shape with
    # some axes possibly shrunk to 1 (a factored state)
    if shape == () or (
        len(shape) == len(want) and all(v in (1, p) for v, p in zip(shape, want))
    ):
        return None
    return f"a scalar or the parameter's shape, {want}, some axes possibly 1"
