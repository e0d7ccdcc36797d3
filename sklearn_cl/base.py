"""Shared estimator logic: parameters, building ``net_``, fit and partial_fit."""

from __future__ import annotations

import copy
import inspect
import numbers
import warnings
from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data
from skorch.callbacks import EarlyStopping, EpochScoring, InputShapeSetter
from skorch.dataset import ValidSplit

from ._locking import serving, updating
from ._net import ContinualNet
from ._netstate import load_net_state, net_state, params_from_plain, params_to_plain
from ._param_validation import (
    HasMethods,
    Interval,
    StrOptions,
    validate_parameter_constraints,
)
from ._transaction import Transaction, is_finite
from .modules import MLP

__all__ = ["ContinualEstimator"]

# the parameters every update reads: checked again on each partial_fit, as
# scikit-learn checks parameters on every call (set_params may change them)
_UPDATE_PARAMS = (
    "update_epochs",
    "update_lr",
    "update_lr_decay",
    "batch_size",
    "train_split",
    "early_stopping",
    "validation_fraction",
    "n_iter_no_change",
    "tol",
    "on_nonfinite",
    "acceptance_check",
    "verbose",
)

# the parameters that define the network: changing one after fitting needs a
# new fit (the module__* and criterion__* arguments too)
_NETWORK_PARAMS = (
    "module",
    "hidden_layer_sizes",
    "activation",
    "dropout",
    "criterion",
    "optimizer",
    "device",
)

# private attributes that loading derives from the parameters again
_REBUILT_ON_LOAD = ("_callback_specs", "_checked_params")

# the __init__ parameter names of each estimator class
_PARAM_NAMES: dict = {}

# keyword arguments routed to the module, optimizer or criterion, as in skorch
_ROUTED_PREFIXES = ("module__", "optimizer__", "criterion__")
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _fits_float32(array: np.ndarray) -> bool:
    """Whether a numeric array is finite once cast to float32 (float64
    values beyond 3.4e38 become infinite); False for NaN."""
    if array.dtype.kind != "f":
        return True
    if array.dtype.itemsize <= 4:
        return bool(np.isfinite(array).all())
    return bool(np.abs(array).max(initial=0.0) <= _FLOAT32_MAX)


# skorch callbacks that cannot work here, and why
_UNSUPPORTED_CALLBACKS = {
    InputShapeSetter: (
        "the estimators already pass the input size to the module "
        "(n_features, input_shape) and rebuilding the module in the middle "
        "of training would discard it"
    ),
}

# names of the callbacks that early_stopping=True adds
_EARLY_STOPPING_NAMES = ("valid_score", "early_stopping")


def _same(a, b) -> bool:
    """Whether a parameter kept its value: equal plain values, or the same
    object (modules, classes, callables)."""
    if a is b:
        return True
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, z) for x, z in zip(a, b))
    plain = (numbers.Number, str, bytes, type(None))
    return isinstance(a, plain) and isinstance(b, plain) and a == b


def _nonzero(weight):
    """``weight`` (sample weights times class weights), unless all are zero."""
    if weight is not None and not weight.any():
        raise ValueError(
            "The weights of this call (sample_weight times class_weight) sum to "
            "zero: there is nothing to train on. Give some samples a positive "
            "weight."
        )
    return weight


def _same_spec(a, b) -> bool:
    """Whether two (class, parameters) callback descriptions match."""
    return (
        b is not None
        and a[0] is b[0]
        and a[1].keys() == b[1].keys()
        and all(_same(v, b[1][k]) for k, v in a[1].items())
    )


def _callback_params(cb) -> dict:
    """A callback's constructor parameters (skorch's definition for skorch
    callbacks, the ``__init__`` signature for strategies)."""
    return cb.get_params(deep=False) if hasattr(cb, "get_params") else {}


def _check_sample_weight(sample_weight, n_samples: int) -> np.ndarray | None:
    """``sample_weight`` as a float32 array of ``n_samples`` non-negative,
    finite values; None stays None (all zero: see ``_nonzero``)."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Real) and not isinstance(sample_weight, bool):
        sample_weight = np.full(n_samples, sample_weight)
    weights = np.asarray(sample_weight)
    if weights.dtype.kind not in "biuf" or weights.shape != (n_samples,):
        raise ValueError(
            f"sample_weight must be a 1-D array of {n_samples} numbers, one per "
            f"sample; got {weights.dtype} values of shape {weights.shape}."
        )
    weights = weights.astype(np.float64)
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError(
            "sample_weight must hold finite, non-negative values; got "
            f"{weights[~np.isfinite(weights) | (weights < 0)][:5]}. Replace them, "
            "or drop those samples."
        )
    if weights.max() > np.finfo(np.float32).max:
        raise ValueError(
            "sample_weight has values beyond float32's range; rescale them "
            "(only their ratios matter)."
        )
    return weights.astype(np.float32)


def _is_optimizer_class(value) -> bool:
    return isinstance(value, type) and issubclass(value, torch.optim.Optimizer)


def _named_callbacks(callbacks) -> list[tuple[str, object]]:
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
    """Whether ``callbacks`` has the form ``_named_callbacks`` accepts; lets
    ``get_params`` stay silent on values that ``fit`` will reject."""
    return isinstance(callbacks, list) and all(
        not isinstance(c, tuple) or (len(c) == 2 and isinstance(c[0], str))
        for c in callbacks
    )


@contextmanager
def _attributes_restored_on_error(estimator):
    """Put back the estimator's attributes if the block raises (for
    meta-estimators whose members are replaced, never changed in place)."""
    transaction = Transaction(estimator, net_state=False)
    try:
        yield
    except BaseException:
        transaction.rollback(estimator)
        raise


@contextmanager
def _seeded(seed: int, device):
    """Run a block with torch's global RNG (shuffling, dropout, init) seeded,
    then restore the caller's RNG state."""
    devices = []
    if torch.device(device).type == "cuda":
        index = torch.device(device).index
        devices = [index if index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        # not torch.manual_seed: it also queues seeds for every lazy backend
        # (CUDA, XPU, ...), formatting a stack trace each time (about 0.5 ms)
        torch.default_generator.manual_seed(seed)
        if devices:
            torch.cuda.manual_seed(seed)
        yield


class ContinualEstimator(BaseEstimator):
    """Base class of :class:`ContinualClassifier` and :class:`ContinualRegressor`.

    Subclasses define how targets are validated and encoded (``_validate_y``),
    the default criterion and the output width.
    """

    _parameter_constraints: dict = {
        "module": [type, torch.nn.Module, None],
        "hidden_layer_sizes": ["array-like"],
        "activation": [StrOptions({"relu", "tanh", "logistic", "gelu", "identity"})],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "criterion": [type, torch.nn.Module, None],
        "optimizer": [callable],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "max_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "update_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "update_lr": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "update_lr_decay": [Interval(numbers.Real, 0, 1, closed="right")],
        "train_split": [Interval(numbers.Real, 0, 1, closed="neither"), callable, None],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "callbacks": [list, None],
        "device": [str, torch.device],
        "on_nonfinite": [StrOptions({"raise", "warn"})],
        "acceptance_check": [HasMethods(["score"]), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }
    _update_params = _UPDATE_PARAMS
    _network_param_names = _NETWORK_PARAMS

    def __init__(
        self,
        module=None,
        *,
        hidden_layer_sizes=(100,),
        activation="relu",
        dropout=0.0,
        criterion=None,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        max_epochs=20,
        batch_size=32,
        update_epochs=1,
        update_lr=None,
        update_lr_decay=1.0,
        train_split=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        callbacks=None,
        on_nonfinite="raise",
        acceptance_check=None,
        device="cpu",
        random_state=None,
        verbose=0,
        **kwargs,
    ):
        self.module = module
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.criterion = criterion
        self.optimizer = optimizer
        self.lr = lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.update_epochs = update_epochs
        self.update_lr = update_lr
        self.update_lr_decay = update_lr_decay
        self.train_split = train_split
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.callbacks = callbacks
        self.on_nonfinite = on_nonfinite
        self.acceptance_check = acceptance_check
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        # skorch-style routed arguments; checked in fit, not here
        vars(self).update(kwargs)

    # ------------------------------------------------------------------
    # parameters: routed keyword arguments and callbacks__NAME__PARAM
    # ------------------------------------------------------------------
    @classmethod
    def _get_param_names(cls):
        # scikit-learn reads the __init__ signature on every call (about
        # 0.3 ms); updates read the parameters on every partial_fit
        names = _PARAM_NAMES.get(cls)
        if names is None:
            names = _PARAM_NAMES[cls] = super()._get_param_names()
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

    def get_params(self, deep=True):
        params = super().get_params(deep=False)
        params.update(self._extra_params())
        if deep and _well_formed(self.callbacks):
            for name, cb in _named_callbacks(self.callbacks):
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
        named = _named_callbacks(self.callbacks)
        names = [n for n, _ in named]
        if name not in names:
            raise ValueError(
                f"Invalid parameter 'callbacks__{key}': there is no callback named "
                f"{name!r}. Callbacks are named {names}."
            )
        position = names.index(name)
        if param:
            named[position][1].set_params(**{param: value})
            return
        # replace the whole callback, keeping the form the user gave
        callbacks = list(self.callbacks)
        entry = callbacks[position]
        callbacks[position] = (name, value) if isinstance(entry, tuple) else value
        self.callbacks = callbacks

    # ------------------------------------------------------------------
    # validation
    # ------------------------------------------------------------------
    def _check_params(self) -> None:
        self._validate_params()
        unknown = [
            k for k in self._extra_params() if not k.startswith(_ROUTED_PREFIXES)
        ]
        if unknown:
            raise ValueError(
                f"Unknown parameters {unknown} for {type(self).__name__}. Extra "
                f"keyword arguments must start with one of {list(_ROUTED_PREFIXES)}."
            )
        if not _is_optimizer_class(self.optimizer):
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

    def _check_callbacks(self) -> None:
        named = _named_callbacks(self.callbacks)
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
        clash = sorted({n for n, _ in named} & set(_EARLY_STOPPING_NAMES))
        if self.early_stopping and clash:
            raise ValueError(
                "early_stopping=True adds callbacks named "
                f"{list(_EARLY_STOPPING_NAMES)}; rename your callbacks {clash}."
            )

    def _validate_X_y(self, X, y, *, reset: bool):
        if not reset and self._is_clean(X) and self._is_clean_y(y, len(X)):
            return X.astype(np.float32, copy=False), y
        self._reject_sparse(X)
        self._check_float32_range(X)
        if not reset:
            self._check_ndim(X)
        if not self._is_classifier:
            self._check_numeric_targets(y)
        X, y = validate_data(
            self,
            X,
            y,
            reset=reset,
            dtype=np.float32,
            allow_nd=True,
            multi_output=self._multi_output,
            y_numeric=not self._is_classifier,
        )
        self._check_input_shape(X, reset=reset)
        return X, y

    def _validate_X(self, X):
        check_is_fitted(self)
        if self._is_clean(X):
            return X.astype(np.float32, copy=False)
        self._reject_sparse(X)
        self._check_float32_range(X)
        self._check_ndim(X)
        X = validate_data(self, X, reset=False, dtype=np.float32, allow_nd=True)
        self._check_input_shape(X, reset=False)
        return X

    def _reject_sparse(self, X) -> None:
        if sp.issparse(X):
            raise SparseInputError(
                f"{type(self).__name__} does not accept sparse X: a neural network "
                "takes dense input. Convert it with X.toarray() (or reduce it with "
                "TruncatedSVD first)."
            )

    def _check_float32_range(self, X) -> None:
        if (
            isinstance(X, np.ndarray)
            and X.dtype.kind == "f"
            and np.isfinite(X).all()
            and not _fits_float32(X)
        ):
            raise ValueError(
                f"X holds values beyond float32's range (|x| > {_FLOAT32_MAX:.3g}); "
                f"{type(self).__name__} computes in float32, where they would "
                "become infinite. Scale the inputs (e.g. with StandardScaler)."
            )

    def _is_clean(self, X) -> bool:
        """Whether X is a plain finite numeric array of the fitted layout.

        Such input (the common case of a ``partial_fit`` loop) skips
        scikit-learn's ``validate_data``, which costs more than a training
        step on a small batch; anything else takes the full validation, which
        also writes the error messages.
        """
        return (
            type(X) is np.ndarray
            and not hasattr(self, "feature_names_in_")
            and X.dtype.kind in "fiu"
            and X.shape[1:] == self.input_shape_
            and len(X) > 0
            and _fits_float32(X)
        )

    def _is_clean_y(self, y, n_samples: int) -> bool:
        if type(y) is not np.ndarray or len(y) != n_samples:
            return False
        if self._is_classifier:
            return y.ndim == 1 and (y.dtype.kind != "f" or bool(np.isfinite(y).all()))
        return y.ndim in (1, 2) and y.dtype.kind in "fiu" and _fits_float32(y)

    def _check_numeric_targets(self, y) -> None:
        values = np.asarray(y)
        if values.dtype.kind == "f" and np.isfinite(values).all():
            if not _fits_float32(values):
                raise ValueError(
                    f"y holds values beyond float32's range (|y| > {_FLOAT32_MAX:.3g}"
                    f"); {type(self).__name__} computes in float32. Scale the "
                    "targets (e.g. with TransformedTargetRegressor)."
                )
            return
        if values.dtype.kind not in "OSU":
            return
        try:
            values.astype(np.float64)
        except (TypeError, ValueError):
            example = values.ravel()[0]
            raise ValueError(
                f"{type(self).__name__} needs numeric targets; y holds values such "
                f"as {str(example)!r}. Use ContinualClassifier for class labels, or "
                "convert y to numbers."
            ) from None

    def _check_ndim(self, X) -> None:
        """A sample layout of another rank: say so before scikit-learn's
        feature count, which would only compare ``X.shape[1]``."""
        ndim = getattr(X, "ndim", None)
        if ndim is not None and ndim >= 2 and ndim != len(self.input_shape_) + 1:
            self._check_input_shape(X, reset=False)

    def _check_input_shape(self, X, *, reset: bool) -> None:
        shape = tuple(X.shape[1:])
        if reset:
            if X.ndim > 2 and self.module is None:
                raise ValueError(
                    f"X has shape {X.shape} but the default MLP takes 2-D input "
                    "(n_samples, n_features). Flatten X with X.reshape(len(X), -1) "
                    "or pass a module that takes this shape, e.g. "
                    "module=sklearn_cl.modules.CNN1D."
                )
            self.input_shape_ = shape
        elif shape != self.input_shape_:
            raise ValueError(
                f"X has samples of shape {shape}, but {type(self).__name__} was "
                f"fitted on samples of shape {self.input_shape_}. Pass data with "
                "the same layout as in fit, or refit."
            )

    @staticmethod
    def _to_tensor(array) -> torch.Tensor:
        array = np.ascontiguousarray(array)
        if not array.flags.writeable:  # pandas 3 copy-on-write views
            array = array.copy()
        return torch.as_tensor(array)

    # ------------------------------------------------------------------
    # building the net
    # ------------------------------------------------------------------
    def _module_and_kwargs(self, n_features: int, n_outputs: int):
        kwargs = {k: v for k, v in self._routed_params().items()}
        if self.module is None:
            kwargs.update(
                module__n_features=n_features,
                module__n_outputs=n_outputs,
                module__hidden_layer_sizes=tuple(self.hidden_layer_sizes),
                module__activation=self.activation,
                module__dropout=self.dropout,
            )
            return MLP, kwargs
        if isinstance(self.module, torch.nn.Module):
            # every fit starts again from the weights of the module passed
            return copy.deepcopy(self.module), kwargs
        accepted = inspect.signature(self.module).parameters
        sizes = {
            "n_features": n_features,
            "n_outputs": n_outputs,
            "input_shape": self.input_shape_,
        }
        for name, value in sizes.items():
            if name in accepted and f"module__{name}" not in kwargs:
                kwargs[f"module__{name}"] = value
        return self.module, kwargs

    def _callback_entries(self) -> list[tuple[str, object]]:
        """The (name, callback) pairs the net runs: the user's (None ones
        disabled with ``set_params(callbacks__NAME=None)``), then those of
        ``early_stopping=True``: scikit-learn's MLP stops when the
        validation score has not improved by ``tol`` for
        ``n_iter_no_change`` epochs and keeps the best weights."""
        entries = [
            (n, cb) for n, cb in _named_callbacks(self.callbacks) if cb is not None
        ]
        if self.early_stopping:
            score = EpochScoring(
                "accuracy" if self._is_classifier else "r2",
                lower_is_better=False,
                name="valid_score",
            )
            stop = EarlyStopping(
                monitor="valid_score",
                lower_is_better=False,
                patience=self.n_iter_no_change,
                threshold=self.tol,
                threshold_mode="abs",
                load_best=True,
            )
            entries += list(zip(_EARLY_STOPPING_NAMES, (score, stop)))
        return entries

    def _network_params(self) -> dict:
        """The parameters that define the network, as set now."""
        params = {name: getattr(self, name) for name in self._network_param_names}
        params.update(
            (k, v)
            for k, v in self._routed_params().items()
            if k.startswith(("module__", "criterion__"))
        )
        return params

    def _build_net(self, X: np.ndarray, n_outputs: int) -> ContinualNet:
        n_features = int(np.prod(X.shape[1:]))
        module, kwargs = self._module_and_kwargs(n_features, n_outputs)
        entries = self._callback_entries()
        net = ContinualNet(
            module=module,
            criterion=self.criterion or self._default_criterion,
            optimizer=self.optimizer,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size or -1,
            train_split=None,
            callbacks=[(name, clone(cb)) for name, cb in entries],
            device=self.device,
            verbose=self.verbose,
            classifier=self._is_classifier,
            **kwargs,
        )
        net.initialize()
        self._check_output_shape(net, X[:1], n_outputs)
        self._built_with = self._network_params()
        self._callback_specs = {
            name: (type(cb), _callback_params(cb)) for name, cb in entries
        }
        return net

    def _check_network_unchanged(self) -> None:
        built = self._built_with
        now = self._network_params()
        changed = sorted(
            k for k in built.keys() | now.keys() if not _same(built.get(k), now.get(k))
        )
        if changed:
            raise ValueError(
                f"The parameters {changed} define the network and changed since "
                f"it was built; partial_fit only updates the network it has. Call "
                "fit to build and train a new one, or set them back."
            )

    def _sync_callbacks(self) -> None:
        """Apply callback changes made since the last call: a callback whose
        parameters changed takes them (a strategy keeps its learned state), a
        new one starts fresh, a removed one stops acting."""
        entries = self._callback_entries()
        specs = {name: (type(cb), _callback_params(cb)) for name, cb in entries}
        unchanged = {
            n
            for n, spec in specs.items()
            if _same_spec(spec, self._callback_specs.get(n))
        }
        if len(unchanged) == len(specs) == len(self._callback_specs):
            return
        net = self.net_
        live = dict(net.callbacks_)
        defaults = [
            (n, cb) for n, cb in net.callbacks_ if n not in self._callback_specs
        ]
        chosen = []
        for name, cb in entries:
            old = live.get(name) if name in self._callback_specs else None
            if old is not None and name in unchanged:
                chosen.append((name, old))
                continue
            new = clone(cb).initialize()
            if old is not None and type(old) is type(cb) and hasattr(old, "state_dict"):
                new.load_state_dict(old.state_dict())
            chosen.append((name, new))
        logs = [(n, cb) for n, cb in defaults if n == "print_log"]
        rest = [(n, cb) for n, cb in defaults if n != "print_log"]
        net.callbacks = [(name, clone(cb)) for name, cb in entries]
        net.callbacks_ = rest + chosen + logs
        net._index_callbacks()
        self._callback_specs = specs

    def _check_output_shape(self, net, X_one, n_outputs: int) -> None:
        out = net.forward_raw(self._to_tensor(X_one))
        if tuple(out.shape) != (1, n_outputs):
            raise ValueError(
                f"The module returns outputs of shape {tuple(out.shape)[1:]} per "
                f"sample, but the targets need ({n_outputs},). "
                f"{self._output_hint(n_outputs)}"
            )

    # ------------------------------------------------------------------
    # training
    # ------------------------------------------------------------------
    def _call_seed(self) -> int:
        # a fixed function of the base seed and the number of training calls,
        # so a reloaded model updates exactly as the original would
        return (self._base_seed * 1_000_003 + self.n_updates_ + 1) % (2**63)

    def _current_update_lr(self) -> float:
        base = self.lr if self.update_lr is None else self.update_lr
        return base * self.update_lr_decay ** (self.n_updates_ - self._decay_origin)

    def reset_update_lr_decay(self):
        """Restart the update learning-rate decay: the next update runs at
        ``update_lr`` again (a reaction to drift, for instance).

        Returns
        -------
        self
        """
        check_is_fitted(self)
        self._decay_origin = self.n_updates_
        return self

    def fit(self, X, y, tasks=None, sample_weight=None):
        """Train from scratch; with ``tasks``, train on the tasks in sequence.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (DataFrames keep ``feature_names_in_``).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        tasks : array-like of shape (n_samples,), default=None
            Task or period id of each sample. When given, the estimator trains
            from scratch on the samples of the first task (``max_epochs`` at
            ``lr``), then calls the update (:meth:`partial_fit`) on each
            later task, in order of first appearance.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample: the loss is the weighted mean of the
            per-sample losses. Stored with the samples a strategy keeps
            (replay, rehearsal).

        Returns
        -------
        self
        """
        with updating(self):  # concurrent updates run one after the other
            transaction = Transaction(self, net_state=False)
            try:
                loss = self._fit(X, y, tasks, sample_weight)
            except BaseException:
                transaction.rollback(self)
                raise
            if not is_finite(self.net_, loss):
                transaction.rollback(self)
                self._nonfinite(loss, "fit", self.lr)
        return self

    def _start(self, X, n_outputs) -> None:
        """Set up the first training: seeds, counters and a new network."""
        self._base_seed = int(check_random_state(self.random_state).randint(2**31))
        self._checked_params = {k: getattr(self, k) for k in self._update_params}
        self.n_updates_ = 0
        self._decay_origin = 0
        self.rejected_updates_ = []
        with _seeded(self._base_seed, self.device):
            self.net_ = self._build_net(X, n_outputs)

    def _fit(self, X, y, tasks, sample_weight):
        self._check_params()
        X, y = self._validate_X_y(X, y, reset=True)
        weight = _check_sample_weight(sample_weight, len(X))
        if tasks is not None:
            tasks = np.asarray(tasks)
            if tasks.shape != (len(X),):
                raise ValueError(
                    f"`tasks` must hold one task id per sample: expected shape "
                    f"({len(X)},), got {tasks.shape}."
                )
        y_encoded, n_outputs = self._encode_y(y, reset=True)
        weight = _nonzero(self._combined_weight(weight, y_encoded, y))
        self._start(X, n_outputs)
        if tasks is None:
            return self._train(X, y_encoded, weight, is_update=False, label="fit")
        _, first = np.unique(tasks, return_index=True)
        starts = np.sort(first)
        for rank, start in enumerate(starts):
            mask = tasks == tasks[start]
            loss = self._train(
                X[mask],
                y_encoded[mask],
                None if weight is None else weight[mask],
                is_update=rank > 0,
                label=f"task {rank + 1}/{len(starts)}",
            )
        return loss

    def _combined_weight(self, weight, y_encoded, y):
        """Per-sample weights: ``sample_weight`` times the class weights."""
        return weight

    def _partial_fit(self, X, y, classes=None, sample_weight=None):
        """One all-or-nothing update: on an exception, a non-finite loss or
        weights, or a rejection by ``acceptance_check``, the estimator is put
        back exactly as it was before the call."""
        with updating(self):  # concurrent updates run one after the other
            return self._partial_fit_locked(X, y, classes, sample_weight)

    def _partial_fit_locked(self, X, y, classes, sample_weight):
        transaction = Transaction(self)
        check = self.acceptance_check if transaction.net is not None else None
        try:
            before = check.score(self) if check is not None else None
            loss = self._update(X, y, classes, sample_weight)
            lr = self.net_.optimizer_.param_groups[0]["lr"]
            finite = is_finite(self.net_, loss)
            after = check.score(self) if check is not None and finite else None
        except BaseException:
            transaction.rollback(self)
            raise
        if not finite:
            transaction.rollback(self)
            self._nonfinite(loss, "update", lr)
        elif after is not None and check.rejection(before, after) is not None:
            transaction.rollback(self)
            self._reject(check.rejection(before, after), before=before, after=after)
        return self

    def _reject(self, reason: str, **details) -> None:
        record = {"update": self.n_updates_, "reason": reason, **details}
        # bounded: a stream whose every update is rejected must not grow memory
        self.rejected_updates_ = [*self.rejected_updates_[-99:], record]

    def _nonfinite(self, loss: float, call: str, lr: float) -> None:
        message = (
            f"The {call} produced a non-finite loss or non-finite weights (last "
            f"loss {loss}) at learning rate {lr:g}; the model was rolled back to "
            "its state before the call. Use a smaller learning rate "
            "(update_lr for updates, lr for fit) or a weaker penalty (e.g. a "
            "smaller EWC lambda_), or scale the inputs and targets."
        )
        if self.on_nonfinite == "raise" or not hasattr(self, "net_"):
            raise NonFiniteUpdateError(
                message + " Set on_nonfinite='warn' to keep serving the last "
                "good model with a warning instead."
            )
        warnings.warn(message, UpdateRejectedWarning, stacklevel=3)
        self._reject("non-finite loss or weights", loss=loss)

    def _update(self, X, y, classes, sample_weight):
        first_call = not hasattr(self, "net_")
        if first_call:
            self._check_params()
        else:
            self._check_update_params()
            self._check_network_unchanged()
            self._check_callbacks()
        X, y = self._validate_X_y(X, y, reset=first_call)
        weight = _check_sample_weight(sample_weight, len(X))
        self._check_update_weights()
        y_encoded, n_outputs = self._encode_y(y, reset=first_call, classes=classes)
        weight = _nonzero(self._combined_weight(weight, y_encoded, y))
        if first_call:
            # the first training of the model, not an update: strategies that
            # protect an old model leave it alone
            self._start(X, n_outputs)
        else:
            self._sync_callbacks()
        label = "fit" if first_call else f"update {self.n_updates_ + 1}"
        loss = self._train(
            X, y_encoded, weight, is_update=not first_call, label=label, from_fit=False
        )
        if first_call:  # every partial_fit call counts, the first one included
            self.n_updates_ += 1
        return loss

    def _check_update_params(self) -> None:
        """Check the update parameters set since the last check, as
        scikit-learn checks parameters on every call (checking all of them
        costs more than a training step on a small batch)."""
        checked = self._checked_params
        changed = {
            k: getattr(self, k)
            for k in self._update_params
            if k not in checked or not _same(getattr(self, k), checked[k])
        }
        if changed:
            validate_parameter_constraints(
                {k: self._parameter_constraints[k] for k in changed},
                changed,
                caller_name=type(self).__name__,
            )
            self._checked_params = {**checked, **changed}

    def _check_update_weights(self) -> None:
        """Hook for the classifier's check of ``class_weight`` in updates."""

    def _train(
        self, X, y, weight, *, is_update: bool, label: str, from_fit: bool = True
    ) -> float:
        if is_update or not from_fit:  # every partial_fit: the update budget
            epochs, lr = self.update_epochs, self._current_update_lr()
        else:
            epochs, lr = self.max_epochs, self.lr
        net = self.net_
        # parameters that act from the next call after they are set
        # (skorch's __setattr__ costs a few microseconds: only on a change)
        if net.batch_size != (self.batch_size or -1):
            net.batch_size = self.batch_size or -1
        if net.verbose != self.verbose:
            net.verbose = self.verbose
        for key, value in self._routed_params().items():
            if key.startswith("optimizer__"):
                for group in net.optimizer_.param_groups:
                    if key[len("optimizer__") :] in group:
                        group[key[len("optimizer__") :]] = value
        seed = self._call_seed()
        split = self._train_split(seed)
        if split is not None or net.train_split is not None:
            net.train_split = split
        # net_.device, not device: a CUDA model unpickled on a CPU-only machine
        # was moved to the CPU by skorch and keeps working there
        device = net.device
        X_t = self._to_tensor(X).to(device)
        y_t = self._to_tensor(y).to(device)
        w_t = None if weight is None else self._to_tensor(weight).to(device)
        with _seeded(seed, device):
            loss = net.train_call(
                X_t,
                y_t,
                w_t,
                epochs=epochs,
                lr=lr,
                is_update=is_update,
                label=label,
                call_index=self.n_updates_ + is_update,
            )
        self._record_curves()
        if is_update:
            self.n_updates_ += 1
        return loss

    def _train_split(self, seed: int):
        """The net's ``train_split`` for this call (seeded, stratified for
        classifiers, as scikit-learn's MLP splits its validation data)."""
        split = self.train_split
        if split is None and self.early_stopping:
            split = self.validation_fraction
        if isinstance(split, numbers.Real) and not isinstance(split, bool):
            return ValidSplit(
                float(split), stratified=self._is_classifier, random_state=seed % 2**32
            )
        return split

    def _record_curves(self) -> None:
        """scikit-learn MLP's attributes, for the last training call."""
        history = self.net_.history
        self.loss_curve_ = [row.get("train_loss") for row in history]
        self.n_iter_ = len(history)
        if self.early_stopping:
            self.validation_scores_ = [row["valid_score"] for row in history]
            self.best_validation_score_ = max(self.validation_scores_)
            self.best_loss_ = None
        else:
            self.validation_scores_ = self.best_validation_score_ = None
            self.best_loss_ = min(
                (loss for loss in self.loss_curve_ if loss is not None), default=None
            )

    def _forward(self, X) -> np.ndarray:
        return self._forward_with_classes(X)[0]

    def _forward_with_classes(self, X):
        """Module outputs for ``X`` and the ``classes_`` that go with them,
        from the committed model (see ``_locking``): safe while another
        thread updates the estimator."""
        X = self._validate_X(X)
        with serving(self) as (forward, classes):
            return forward(self._to_tensor(X)).numpy(), classes

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------------------------
    # state: pickle and skops store parameters and arrays (see _netstate)
    # ------------------------------------------------------------------
    def __getstate__(self):
        state = params_to_plain(super().__getstate__())
        # derived from the parameters when the net is rebuilt on loading
        for name in _REBUILT_ON_LOAD:
            state.pop(name, None)
        if "_built_with" in state:  # what the net was built with
            state["_built_with"] = params_to_plain(state["_built_with"])
        if "net_" in state:
            state["net_"] = net_state(state["net_"])
        return state

    def __setstate__(self, state):
        state = params_from_plain(dict(state))
        saved_net = state.pop("net_", None)
        super().__setstate__(state)
        if saved_net is not None:
            n_outputs = len(self.classes_) if self._is_classifier else self.n_outputs_
            X_one = np.zeros((1, *self.input_shape_), dtype=np.float32)
            # rebuilt with the parameters it was built with, which set_params
            # may have changed since (a new fit would use the new ones)
            built = params_from_plain(state.get("_built_with", self._network_params()))
            current = {
                k: v
                for k, v in vars(self).items()
                if k in built or k.startswith(("module__", "criterion__"))
            }
            for key in current:
                del vars(self)[key]
            vars(self).update(built)
            if (
                torch.device(self.device).type == "cuda"
                and not torch.cuda.is_available()
            ):
                warnings.warn(
                    f"The model was saved on device={self.device!r}, but CUDA is "
                    "not available here: it is loaded on the CPU.",
                    stacklevel=2,
                )
                self.device = "cpu"  # for building the net only
            try:
                # seeded: loading leaves the caller's random stream alone
                with _seeded(self._base_seed, self.device):
                    self.net_ = self._build_net(X_one, n_outputs)
            finally:
                for key in built:
                    vars(self).pop(key, None)
                vars(self).update(current)
            self._built_with = built
            self._checked_params = {}  # every update parameter checked again
            load_net_state(self.net_, saved_net, X_one)

    def __deepcopy__(self, memo):
        # attribute by attribute: the net copies itself directly
        # (ContinualNet.__deepcopy__), its strategies through their state
        new = object.__new__(type(self))
        memo[id(self)] = new
        new.__dict__.update(copy.deepcopy(vars(self), memo))
        return new


class NonFiniteUpdateError(ValueError):
    """A training call produced a non-finite loss or weights and was undone."""


class UpdateRejectedWarning(UserWarning):
    """An update was undone (``on_nonfinite="warn"``) and the model kept."""


class SparseInputError(ValueError, TypeError):
    """Sparse input was given to an estimator that needs dense arrays.

    A ``ValueError`` as the estimators' other input errors, and a
    ``TypeError`` as scikit-learn raises for sparse input to dense-only
    estimators, so either ``except`` clause catches it.
    """
