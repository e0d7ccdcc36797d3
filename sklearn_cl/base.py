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
    "on_nonfinite",
    "acceptance_check",
)

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
        "callbacks": [list, None],
        "device": [str, torch.device],
        "on_nonfinite": [StrOptions({"raise", "warn"})],
        "acceptance_check": [HasMethods(["score"]), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

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
    def _extra_params(self) -> dict:
        """Keyword arguments given beyond the signature (``module__*`` ...)."""
        named = self._get_param_names()
        return {
            k: v
            for k, v in vars(self).items()
            if k not in named and not k.startswith("_") and not k.endswith("_")
        }

    def _routed_params(self) -> dict:
        return {k: v for k, v in self._extra_params().items() if "__" in k}

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
        _named_callbacks(self.callbacks)

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

    def _build_net(self, X: np.ndarray, n_outputs: int) -> ContinualNet:
        n_features = int(np.prod(X.shape[1:]))
        module, kwargs = self._module_and_kwargs(n_features, n_outputs)
        callbacks = [
            (name, clone(cb))
            for name, cb in _named_callbacks(self.callbacks)
            if cb is not None  # set_params(callbacks__NAME=None) disables one
        ]
        net = ContinualNet(
            module=module,
            criterion=self.criterion or self._default_criterion,
            optimizer=self.optimizer,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size or -1,
            train_split=None,
            callbacks=callbacks,
            device=self.device,
            verbose=self.verbose,
            **kwargs,
        )
        net.initialize()
        self._check_output_shape(net, X[:1], n_outputs)
        return net

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

    def fit(self, X, y, tasks=None):
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

        Returns
        -------
        self
        """
        with updating(self):  # concurrent updates run one after the other
            transaction = Transaction(self, net_state=False)
            try:
                loss = self._fit(X, y, tasks)
            except BaseException:
                transaction.rollback(self)
                raise
            if not is_finite(self.net_, loss):
                transaction.rollback(self)
                self._nonfinite(loss, "fit", self.lr)
        return self

    def _fit(self, X, y, tasks):
        self._check_params()
        X, y = self._validate_X_y(X, y, reset=True)
        y_encoded, n_outputs = self._encode_y(y, reset=True)
        if tasks is not None:
            tasks = np.asarray(tasks)
            if tasks.shape != (len(X),):
                raise ValueError(
                    f"`tasks` must hold one task id per sample: expected shape "
                    f"({len(X)},), got {tasks.shape}."
                )
        self._base_seed = int(check_random_state(self.random_state).randint(2**31))
        self.n_updates_ = 0
        self._decay_origin = 0
        with _seeded(self._base_seed, self.device):
            self.net_ = self._build_net(X, n_outputs)
        self.rejected_updates_ = []
        if tasks is None:
            return self._train(X, y_encoded, is_update=False)
        _, first = np.unique(tasks, return_index=True)
        for rank, start in enumerate(np.sort(first)):
            mask = tasks == tasks[start]
            loss = self._train(X[mask], y_encoded[mask], is_update=rank > 0)
        return loss

    def _partial_fit(self, X, y, classes=None):
        """One all-or-nothing update: on an exception, a non-finite loss or
        weights, or a rejection by ``acceptance_check``, the estimator is put
        back exactly as it was before the call."""
        with updating(self):  # concurrent updates run one after the other
            return self._partial_fit_locked(X, y, classes)

    def _partial_fit_locked(self, X, y, classes):
        transaction = Transaction(self)
        check = self.acceptance_check if transaction.net is not None else None
        try:
            before = check.score(self) if check is not None else None
            loss = self._update(X, y, classes)
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

    def _update(self, X, y, classes):
        first_call = not hasattr(self, "net_")
        if first_call:
            self._check_params()
        else:
            validate_parameter_constraints(
                {k: self._parameter_constraints[k] for k in _UPDATE_PARAMS},
                {k: getattr(self, k) for k in _UPDATE_PARAMS},
                caller_name=type(self).__name__,
            )
        X, y = self._validate_X_y(X, y, reset=first_call)
        y_encoded, n_outputs = self._encode_y(y, reset=first_call, classes=classes)
        if first_call:
            self._base_seed = int(check_random_state(self.random_state).randint(2**31))
            self.n_updates_ = 0
            self._decay_origin = 0
            self.rejected_updates_ = []
            with _seeded(self._base_seed, self.device):
                self.net_ = self._build_net(X, n_outputs)
        return self._train(X, y_encoded, is_update=True)

    def _train(self, X: np.ndarray, y: np.ndarray, *, is_update: bool) -> float:
        if is_update:
            epochs, lr = self.update_epochs, self._current_update_lr()
        else:
            epochs, lr = self.max_epochs, self.lr
        # net_.device, not device: a CUDA model unpickled on a CPU-only machine
        # was moved to the CPU by skorch and keeps working there
        device = self.net_.device
        X_t = self._to_tensor(X).to(device)
        y_t = self._to_tensor(y).to(device)
        with _seeded(self._call_seed(), device):
            loss = self.net_.train_call(
                X_t, y_t, epochs=epochs, lr=lr, is_update=is_update
            )
        if is_update:
            self.n_updates_ += 1
        return loss

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
            device = self.device
            if torch.device(device).type == "cuda" and not torch.cuda.is_available():
                warnings.warn(
                    f"The model was saved on device={device!r}, but CUDA is not "
                    "available here: it is loaded on the CPU.",
                    stacklevel=2,
                )
                self.device = "cpu"  # for building the net only
            try:
                # seeded: loading leaves the caller's random stream alone
                with _seeded(self._base_seed, self.device):
                    self.net_ = self._build_net(X_one, n_outputs)
            finally:
                self.device = device
            load_net_state(self.net_, saved_net)

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
