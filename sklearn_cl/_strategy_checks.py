"""The contract tests of :func:`sklearn_cl.utils.check_strategy`.

Each check trains small models on 240 samples of scikit-learn's digits (a
classifier on the digit, a regressor on the digit scaled to [0, 1]) and
raises ``AssertionError`` naming the check and what went wrong, in the
spirit of scikit-learn's ``check_estimator``.
"""

from __future__ import annotations

import copy
import functools
import inspect
import pickle
import tempfile
from pathlib import Path

import numpy as np
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from skorch.callbacks import Callback

from ._net import _SKORCH_EVENTS, _STRATEGY_HOOKS
from .classifier import ContinualClassifier
from .persistence import load, save
from .regressor import ContinualRegressor
from .strategies.base import Strategy

# every hook a strategy may override
HOOKS = (*_STRATEGY_HOOKS, "restore_module", *_SKORCH_EVENTS)
_ESTIMATORS = {"classifier": ContinualClassifier, "regressor": ContinualRegressor}


class _Failure(Exception):
    """Raised by :class:`_FailAtUpdateEnd` to force a rollback."""


class _FailAtUpdateEnd(Strategy):
    """Fails the training call, after the strategies listed before it
    consolidated, once ``armed``."""

    def __init__(self, armed=False):
        self.armed = armed

    def on_update_end(self, net, X=None, y=None, **kwargs):
        if self.armed:
            raise _Failure("a training call failed on purpose")


class _CountBatches(Callback):
    """A plain skorch callback: with it, the net runs skorch's full protocol."""

    def initialize(self):
        self.batches_ = 0
        return self

    def on_batch_end(self, net, **kwargs):
        self.batches_ += 1


def _fail(check: str, strategy, message: str):
    return AssertionError(
        f"check_strategy({type(strategy).__name__}) failed {check}: {message}"
    )


def _require(condition, check: str, strategy, message: str) -> None:
    if not condition:
        raise _fail(check, strategy, message)


def same(a, b) -> bool:
    """Whether two state values (or parameter values) are equal, tensors and
    arrays elementwise, generators by their state."""
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(same(a[k], b[k]) for k in a)
        )
    if isinstance(a, list | tuple):
        return (
            type(a) is type(b)
            and len(a) == len(b)
            and all(same(x, y) for x, y in zip(a, b))
        )
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b)
    if isinstance(a, np.random.Generator):
        return (
            isinstance(b, np.random.Generator)
            and a.bit_generator.state == b.bit_generator.state
        )
    if isinstance(a, torch.nn.Module):
        return type(a) is type(b) and same(a.state_dict(), b.state_dict())
    return type(a) is type(b) and a == b


@functools.cache
def _digits():
    X, y = load_digits(return_X_y=True)
    return (X[:240] / 16.0).astype(np.float32), y[:240]


def _data(estimator_type: str):
    X, y = _digits()
    return X, (y if estimator_type == "classifier" else y / 9.0)


def _model(estimator_type: str, callbacks, **params):
    return _ESTIMATORS[estimator_type](
        hidden_layer_sizes=(16,),
        max_epochs=2,
        update_epochs=1,
        batch_size=40,
        callbacks=callbacks,
        random_state=0,
        **params,
    )


def _trained(estimator_type: str, callbacks, **params):
    """A model fitted on 120 samples, then updated on 40, then on 40."""
    X, y = _data(estimator_type)
    model = _model(estimator_type, callbacks, **params)
    model.fit(X[:120], y[:120])
    model.partial_fit(X[120:160], y[120:160])
    model.partial_fit(X[160:200], y[160:200])
    return model


def _used(model, name: str = "strategy"):
    return dict(model.net_.callbacks_)[name]


def _outputs(model) -> np.ndarray:
    X, _ = _data("classifier")
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)
    return model.predict(X)


def _init_params(strategy) -> set:
    signature = inspect.signature(type(strategy).__init__)
    return {
        name
        for name, p in signature.parameters.items()
        if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


def check_hook_signatures(strategy) -> None:
    """Every hook the strategy overrides ends in ``**kwargs``."""
    for hook in HOOKS:
        method = getattr(type(strategy), hook)
        parameters = inspect.signature(method).parameters.values()
        _require(
            any(p.kind is p.VAR_KEYWORD for p in parameters),
            "check_hook_signatures",
            strategy,
            f"{hook} takes no **kwargs; every hook receives context=... and "
            "must accept keyword arguments it does not use.",
        )


def check_parameters(strategy) -> None:
    """``__init__`` stores its parameters and nothing else; ``clone`` and
    ``set_params`` round-trip them; the tags are known."""
    params = strategy.get_params()
    _require(
        set(params) == _init_params(strategy),
        "check_parameters",
        strategy,
        f"get_params() gives {sorted(params)}, but __init__ takes "
        f"{sorted(_init_params(strategy))}.",
    )
    extra = {k for k in vars(strategy) if k.endswith("_")} - set(params)
    _require(
        not extra,
        "check_parameters",
        strategy,
        f"__init__ sets {sorted(extra)}; it must store its parameters only "
        "(set learned state in initialize()).",
    )
    cloned = clone(strategy)
    _require(
        cloned is not strategy and same(cloned.get_params(), params),
        "check_parameters",
        strategy,
        "clone() does not give an equal, separate strategy.",
    )
    other = clone(strategy)
    other.set_params(**params)
    _require(
        same(other.get_params(), params),
        "check_parameters",
        strategy,
        "set_params(**get_params()) changes the parameters.",
    )
    unknown = set(strategy._estimator_types) - set(_ESTIMATORS)
    _require(
        strategy._estimator_types and not unknown,
        "check_parameters",
        strategy,
        f"_estimator_types must name some of {sorted(_ESTIMATORS)}; got "
        f"{strategy._estimator_types!r}.",
    )


def check_set_params_by_name(strategy, estimator_type: str) -> None:
    """Each parameter is reachable as ``callbacks__strategy__NAME``."""
    model = _model(estimator_type, [("strategy", strategy)])
    for name, value in strategy.get_params().items():
        key = f"callbacks__strategy__{name}"
        _require(
            key in model.get_params(),
            "check_set_params_by_name",
            strategy,
            f"{key} is not among the estimator's parameters.",
        )
        model.set_params(**{key: value})
        _require(
            same(model.get_params()[key], value),
            "check_set_params_by_name",
            strategy,
            f"set_params({key}=...) did not set the parameter.",
        )


def check_fit_and_update(strategy, estimator_type: str) -> ContinualClassifier:
    """``fit`` and two ``partial_fit`` calls run, leave the user's instance
    alone, predict finite values, and keep state only where declared."""
    before = copy.deepcopy(vars(strategy))
    model = _trained(estimator_type, [("strategy", strategy)])
    used = _used(model)
    _require(
        used is not strategy and same(vars(strategy), before),
        "check_fit_and_update",
        strategy,
        "training changed the instance the user passed; the estimator must "
        "train a clone.",
    )
    _require(
        np.isfinite(_outputs(model)).all(),
        "check_fit_and_update",
        strategy,
        "the model predicts non-finite values after the updates.",
    )
    params = set(strategy.get_params())
    declared = {*used._learned_state, *used._transient_state}
    undeclared = {k for k in vars(used) if k.endswith("_")} - params - declared
    _require(
        not undeclared,
        "check_fit_and_update",
        strategy,
        f"the attributes {sorted(undeclared)} are set in training but "
        "declared in neither _learned_state nor _transient_state.",
    )
    _require(
        set(used.state_dict()) == set(used._learned_state),
        "check_fit_and_update",
        strategy,
        f"state_dict() has {sorted(used.state_dict())}, but _learned_state "
        f"declares {sorted(used._learned_state)}.",
    )
    left = [n for n in used._transient_state if getattr(used, n, None) is not None]
    _require(
        not left,
        "check_fit_and_update",
        strategy,
        f"the transient state {left} is still set after a training call.",
    )
    return model


def check_state_dict(strategy, model) -> None:
    """``load_state_dict(state_dict())`` into a fresh clone gives the same
    state; ``initialize`` resets it."""
    used = _used(model)
    state = used.state_dict()
    fresh = clone(strategy).initialize()
    _require(
        same(fresh.load_state_dict(state).state_dict(), state),
        "check_state_dict",
        strategy,
        "load_state_dict(state_dict()) does not give the same state.",
    )
    _require(
        same(
            copy.deepcopy(used).initialize().state_dict(),
            clone(strategy).initialize().state_dict(),
        ),
        "check_state_dict",
        strategy,
        "initialize() does not reset the learned state.",
    )


def check_copies(strategy, model, estimator_type: str) -> None:
    """``copy.deepcopy``, pickle and a skops file give a model that
    predicts, holds and goes on learning as the original does."""
    X, y = _data(estimator_type)
    copies = {
        "copy.deepcopy": copy.deepcopy(model),
        "pickle": pickle.loads(pickle.dumps(model)),
    }
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.skops"
        save(model, path)
        copies["skops"] = load(path, trusted=[type(strategy)])
    expected = _outputs(model)
    state = copy.deepcopy(_used(model).state_dict())
    for how, copied in copies.items():
        _require(
            np.array_equal(_outputs(copied), expected)
            and same(_used(copied).state_dict(), state),
            "check_copies",
            strategy,
            f"a {how} copy predicts or holds something else than the model.",
        )
    model = copy.deepcopy(model)  # the caller's model goes on unchanged
    for copied in (model, *copies.values()):
        copied.partial_fit(X[200:], y[200:])
    for how, copied in copies.items():
        _require(
            np.array_equal(_outputs(copied), _outputs(model)),
            "check_copies",
            strategy,
            f"a {how} copy learns differently from the model in the next update.",
        )


def check_rollback(strategy, estimator_type: str) -> None:
    """An update that fails after the strategy's hooks ran leaves its state
    and the weights as they were; this runs skorch's full protocol."""
    X, y = _data(estimator_type)
    callbacks = [
        ("strategy", strategy),
        ("fail", _FailAtUpdateEnd()),
        ("count", _CountBatches()),
    ]
    model = _trained(estimator_type, callbacks)
    _require(
        _used(model, "count").batches_ > 0,
        "check_rollback",
        strategy,
        "a plain skorch callback beside the strategy saw no batch.",
    )
    state = copy.deepcopy(_used(model).state_dict())
    outputs = _outputs(model)
    model.set_params(callbacks__fail__armed=True)
    try:
        model.partial_fit(X[200:], y[200:])
    except _Failure:
        pass
    else:
        raise _fail("check_rollback", strategy, "the forced failure did not happen.")
    _require(
        same(_used(model).state_dict(), state),
        "check_rollback",
        strategy,
        "a failed update changed the strategy's state_dict().",
    )
    _require(
        np.array_equal(_outputs(model), outputs),
        "check_rollback",
        strategy,
        "a failed update changed the model's predictions.",
    )
    left = [
        n
        for n in _used(model)._transient_state
        if getattr(_used(model), n, None) is not None
    ]
    _require(
        not left,
        "check_rollback",
        strategy,
        f"the transient state {left} is still set after a failed call.",
    )


def run_checks(strategy) -> None:
    """Run every check on ``strategy`` (see ``check_strategy``)."""
    if not isinstance(strategy, Strategy):
        raise TypeError(
            "check_strategy needs an instance of sklearn_cl.strategies.Strategy; "
            f"got {strategy!r}."
        )
    check_hook_signatures(strategy)
    check_parameters(strategy)
    for estimator_type in strategy._estimator_types:
        check_set_params_by_name(strategy, estimator_type)
        model = check_fit_and_update(strategy, estimator_type)
        check_state_dict(strategy, model)
        check_copies(strategy, model, estimator_type)
        check_rollback(strategy, estimator_type)
