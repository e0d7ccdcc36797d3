"""The estimators' parameters: routed arguments, named callbacks, and which
parameters a call reads.

- skorch-style keyword arguments ``module__*``, ``optimizer__*`` and
  ``criterion__*`` are parameters too (``get_params``, ``set_params``,
  ``clone``), routed to the module, optimizer or loss;
- callbacks are named as ``make_pipeline`` names steps and tuned through
  ``callbacks__NAME__PARAM``, as a ``Pipeline``'s steps are;
- a parameter either defines the network (``_network_param_names``: a change
  needs a new ``fit``) or acts from the next call; the latter are validated
  again by every update, as scikit-learn validates parameters on every call.
  They are derived from ``_parameter_constraints``, so a new parameter cannot
  be left unchecked.

scikit-learn's ``BaseEstimator`` reads only the ``__init__`` signature, and
skorch's own routing lives in ``NeuralNet``, whose public surface the
estimators do not inherit: hence this small mixin.
"""

from __future__ import annotations

import numbers
from itertools import repeat
from operator import is_

import torch
from skorch.callbacks import InputShapeSetter, LRScheduler

from ._param_validation import validate_parameter_constraints

__all__ = [
    "EARLY_STOPPING_NAMES",
    "NamedParamsMixin",
    "callback_spec",
    "named_callbacks",
    "same_spec",
]

# keyword arguments routed to the module, optimizer or criterion, as in skorch
_ROUTED_PREFIXES = ("module__", "optimizer__", "criterion__")

# the __init__ parameter names, and those an update checks again, of each
# estimator class
_PARAM_NAMES: dict = {}
_UPDATE_PARAM_NAMES: dict = {}

# the value of a parameter never checked: no parameter is this object
_UNCHECKED = object()

# names of skorch's default callbacks, which the net adds
_SKORCH_DEFAULTS = ("epoch_timer", "train_loss", "valid_loss", "print_log")

# names of the callbacks that early_stopping=True adds
EARLY_STOPPING_NAMES = ("valid_score", "early_stopping")

# skorch callbacks that cannot work here, and why
_UNSUPPORTED_CALLBACKS = {
    InputShapeSetter: (
        "the estimators already pass the input size to the module "
        "(n_features, input_shape) and rebuilding the module in the middle "
        "of training would discard it"
    ),
}


# scikit-learn's MLP and skorch names a user may try, and what to use here
_NAME_HINTS = {
    "warm_start": "fit always starts again; partial_fit continues the fitted model",
    "max_iter": "use max_epochs (fit) and update_epochs (each partial_fit)",
    "learning_rate_init": "use lr (fit) and update_lr (updates)",
    "alpha": "use optimizer__weight_decay, or the L2SP strategy",
    "solver": "use optimizer, a torch.optim class such as torch.optim.SGD",
    "shuffle": "training batches are always shuffled, seeded by random_state",
    "dataset": "batches are slices of tensors already on the device; a "
    "torch module of your own (module=...) can reshape its input",
}
_PREFIX_HINTS = {
    "iterator_train__": "batches are slices of tensors already on the device, "
    "shuffled (seeded by random_state); set batch_size",
    "iterator_valid__": "validation batches have batch_size samples",
}


def _hint(name: str) -> str | None:
    """What to use instead of an unknown parameter ``name``, if known."""
    if name in _NAME_HINTS:
        return _NAME_HINTS[name]
    return next((h for p, h in _PREFIX_HINTS.items() if name.startswith(p)), None)


def _same(a, b) -> bool:
    """Whether a parameter kept its value: equal plain values, or the same
    object (modules, classes, callables)."""
    if a is b:
        return True
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, z) for x, z in zip(a, b))
    plain = (numbers.Number, str, bytes, type(None))
    return isinstance(a, plain) and isinstance(b, plain) and a == b


def same_spec(a, b) -> bool:
    """Whether two (class, parameters) callback descriptions match."""
    return (
        b is not None
        and a[0] is b[0]
        and a[1].keys() == b[1].keys()
        and all(_same(v, b[1][k]) for k, v in a[1].items())
    )


def callback_spec(cb) -> tuple:
    """A callback's class and constructor parameters (skorch's definition
    for skorch callbacks, the ``__init__`` signature for strategies)."""
    return type(cb), cb.get_params(deep=False) if hasattr(cb, "get_params") else {}


def named_callbacks(callbacks) -> list[tuple[str, object]]:
    """``callbacks`` as ``(name, callback)`` pairs; bare ones are named like
    ``make_pipeline`` names steps (lower-case class name, ``-1``, ``-2`` on
    clashes)."""
    if callbacks is None:
        return []
    pairs = []
    for item in callbacks:
        if isinstance(item, tuple):
            if len(item) != 2 or not isinstance(item[0], str):
                raise ValueError(
                    "Each entry of `callbacks` must be a callback or a "
                    f"(name, callback) pair; got {item!r}."
                )
            pairs.append(item)
        else:
            pairs.append((None, item))
    auto = [type(cb).__name__.lower() for name, cb in pairs if name is None]
    counts = {name: auto.count(name) for name in auto}
    seen: dict[str, int] = {}
    named = []
    for name, cb in pairs:
        if name is None:
            base = type(cb).__name__.lower()
            if counts[base] > 1:
                seen[base] = seen.get(base, 0) + 1
                name = f"{base}-{seen[base]}"
            else:
                name = base
        named.append((name, cb))
    names = [name for name, _ in named]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(
            f"Callback names must be unique; {duplicates} appear more than once. "
            "Give each callback its own name with (name, callback) pairs."
        )
    return named


def _well_formed(callbacks) -> bool:
    """Whether ``callbacks`` has the form ``named_callbacks`` accepts; lets
    ``get_params`` stay silent on values that ``fit`` will reject."""
    return isinstance(callbacks, list) and all(
        not isinstance(c, tuple) or (len(c) == 2 and isinstance(c[0], str))
        for c in callbacks
    )


class NamedParamsMixin:
    """``get_params`` / ``set_params`` with routed arguments and named
    callbacks, and the checks of the parameters a call reads.

    For a ``BaseEstimator`` subclass that declares ``_parameter_constraints``
    (every parameter) and ``_network_param_names`` (those that define the
    network).
    """

    _network_param_names: tuple = ()

    @classmethod
    def _get_param_names(cls):
        # scikit-learn reads the __init__ signature on every call (about
        # 0.3 ms); updates read the parameters on every partial_fit
        names = _PARAM_NAMES.get(cls)
        if names is None:
            names = _PARAM_NAMES[cls] = super()._get_param_names()
        return names

    @classmethod
    def _update_param_names(cls) -> tuple:
        """The parameters that act from the next call: every declared one
        that does not define the network."""
        names = _UPDATE_PARAM_NAMES.get(cls)
        if names is None:
            names = _UPDATE_PARAM_NAMES[cls] = tuple(
                k
                for k in cls._parameter_constraints
                if k not in cls._network_param_names
            )
        return names

    def _extra_params(self) -> dict:
        """Keyword arguments given beyond the signature (``module__*`` ...)."""
        named = self._get_param_names()
        return {
            k: v
            for k, v in vars(self).items()
            if k not in named and not k.startswith("_") and not k.endswith("_")
        }

    def _routed_params(self) -> dict:
        # the names routed to the module, optimizer or criterion hold "__"
        # (read on every partial_fit: no signature lookup)
        return {
            k: v
            for k, v in vars(self).items()
            if "__" in k and not k.startswith("_") and not k.endswith("_")
        }

    def _network_params(self) -> dict:
        """The parameters that define the network, as set now (the
        optimizer's parameter groups too)."""
        params = {name: getattr(self, name) for name in self._network_param_names}
        params.update(
            (k, v)
            for k, v in self._routed_params().items()
            if k.startswith(("module__", "criterion__"))
            or k == "optimizer__param_groups"
        )
        return params

    def get_params(self, deep=True):
        params = super().get_params(deep=False)
        params.update(self._extra_params())
        if deep and _well_formed(self.callbacks):
            for name, cb in named_callbacks(self.callbacks):
                params[f"callbacks__{name}"] = cb
                if hasattr(cb, "get_params"):
                    for key, value in cb.get_params().items():
                        params[f"callbacks__{name}__{key}"] = value
        return params

    def set_params(self, **params):
        plain = {}
        for key, value in params.items():
            if key.startswith(_ROUTED_PREFIXES):
                setattr(self, key, value)
            elif key.startswith("callbacks__"):
                self._set_callback_param(key[len("callbacks__") :], value)
            else:
                plain[key] = value
        return super().set_params(**plain)

    def _set_callback_param(self, key: str, value) -> None:
        name, _, param = key.partition("__")
        named = named_callbacks(self.callbacks)
        names = [n for n, _ in named]
        if name not in names:
            default = (
                f" skorch's default callbacks ({list(_SKORCH_DEFAULTS)}) are not "
                "parameters; pass your own (e.g. a PrintLog) in `callbacks`, "
                "where it replaces the default one."
                if name in _SKORCH_DEFAULTS
                else ""
            )
            raise ValueError(
                f"Invalid parameter 'callbacks__{key}': there is no callback named "
                f"{name!r}. Callbacks are named {names}.{default}"
            )
        position = names.index(name)
        if param:
            callback = named[position][1]
            try:
                callback.set_params(**{param: value})
            except ValueError as error:
                if not isinstance(callback, LRScheduler):
                    raise
                raise ValueError(
                    f"{error} An LRScheduler's scheduler arguments can be tuned "
                    "once they are given to it: build it with the argument, "
                    f"e.g. LRScheduler(..., {param}=...)."
                ) from error
            return
        # replace the whole callback, keeping the form the user gave
        callbacks = list(self.callbacks)
        entry = callbacks[position]
        callbacks[position] = (name, value) if isinstance(entry, tuple) else value
        self.callbacks = callbacks

    # ------------------------------------------------------------------
    # checks
    # ------------------------------------------------------------------
    def _check_params(self) -> None:
        """Every parameter, before a first training."""
        self._validate_params()
        unknown = [
            k for k in self._extra_params() if not k.startswith(_ROUTED_PREFIXES)
        ]
        if unknown:
            hints = "".join(
                f" {name}: {_hint(name)}." for name in unknown if _hint(name)
            )
            raise ValueError(
                f"Unknown parameters {unknown} for {type(self).__name__}. Extra "
                f"keyword arguments must start with one of {list(_ROUTED_PREFIXES)}."
                + hints
            )
        optimizer = self.optimizer
        if not (
            isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer)
        ):
            raise ValueError(
                "`optimizer` must be a torch.optim.Optimizer class such as "
                f"torch.optim.Adam; got {self.optimizer!r}."
            )
        sizes = list(self.hidden_layer_sizes)
        if any(not isinstance(s, numbers.Integral) or s < 1 for s in sizes):
            raise ValueError(
                "`hidden_layer_sizes` must hold positive integers; got "
                f"{self.hidden_layer_sizes!r}."
            )
        self._check_callbacks()

    def _check_changed_params(self) -> None:
        """Before an update: the parameters that act from the next call,
        validated when they changed since the last check (checking all of
        them costs more than a training step on a small batch); the
        network's parameters must not have changed."""
        checked = self._checked_params
        names = self._update_param_names()
        now = {k: getattr(self, k) for k in names}
        # the common case, nothing set since the last call: every value is
        # the very object last checked
        if not all(map(is_, now.values(), map(checked.get, names, repeat(_UNCHECKED)))):
            changed = {
                k: v
                for k, v in now.items()
                if k not in checked or not _same(v, checked[k])
            }
            if changed:
                validate_parameter_constraints(
                    {k: self._parameter_constraints[k] for k in changed},
                    changed,
                    caller_name=type(self).__name__,
                )
            # equal values too, so that the next call takes the common case
            self._checked_params = now
        built = self._built_with
        now = self._network_params()
        network = []
        if now.keys() != built.keys() or not all(
            map(is_, now.values(), map(built.get, now))
        ):
            network = sorted(
                k
                for k in built.keys() | now.keys()
                if not _same(built.get(k), now.get(k))
            )
        if network:
            raise ValueError(
                f"The parameters {network} define the network and changed since "
                f"it was built; partial_fit only updates the network it has. Call "
                "fit to build and train a new one, or set them back."
            )
        self._check_callbacks()

    def _check_callbacks(self) -> None:
        if "optimizer__lr" in vars(self):
            raise ValueError(
                "optimizer__lr is not used: the learning rate is `lr` for fit "
                "and `update_lr` for updates. Set those instead; to give some "
                "layers their own rate, use optimizer__param_groups=[(pattern, "
                "{'lr': rate})] (a rate relative to lr, kept in updates)."
            )
        named = named_callbacks(self.callbacks)
        for name, cb in named:
            for kind, reason in _UNSUPPORTED_CALLBACKS.items():
                if isinstance(cb, kind):
                    raise ValueError(
                        f"The callback {name!r} ({kind.__name__}) cannot be used "
                        f"with {type(self).__name__}: {reason}. Remove it."
                    )
        validates = self.train_split is not None or self.early_stopping
        for name, cb in named:
            monitor = getattr(cb, "monitor", None)
            if (
                not validates
                and isinstance(monitor, str)
                and monitor.startswith("valid")
            ):
                raise ValueError(
                    f"The callback {name!r} ({type(cb).__name__}) monitors "
                    f"{monitor!r}, but there is no validation data. Set train_split "
                    "(e.g. 0.2) or early_stopping=True, or monitor a training "
                    "score such as 'train_loss'."
                )
        clash = sorted({n for n, _ in named} & set(EARLY_STOPPING_NAMES))
        if self.early_stopping and clash:
            raise ValueError(
                "early_stopping=True adds callbacks named "
                f"{list(EARLY_STOPPING_NAMES)}; rename your callbacks {clash}."
            )
