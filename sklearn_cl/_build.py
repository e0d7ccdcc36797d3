"""Building an estimator's net, keeping its callbacks in step, and seeding.

The net (``net_``) is built from the estimator's parameters on the first
training and again when a saved model loads: the module (the default MLP
sized from the data, a class called with the sizes its ``__init__`` takes,
or a copy of an instance), the loss, the optimizer and the callbacks, cloned
so that the user's objects are never mutated. Later calls bring callback
changes made with ``set_params`` into the live net without losing what the
strategies learned.

Every training call runs with torch's global RNG seeded from the
estimator's base seed and the number of calls so far, so a reloaded model
updates exactly as the original would.
"""

from __future__ import annotations

import copy
import inspect
from contextlib import contextmanager

import numpy as np
import torch
from sklearn.base import clone
from skorch.callbacks import EarlyStopping, EpochScoring
from torch.nn.parameter import is_lazy

from ._input import to_tensor
from ._net import ContinualNet
from ._params import EARLY_STOPPING_NAMES, callback_spec, named_callbacks, same_spec
from ._state import device_available
from .modules import MLP

__all__ = ["build_net", "call_seed", "check_device", "seeded", "sync_callbacks"]

# losses' weights that users compute with numpy (compute_class_weight)
_CRITERION_TENSORS = ("criterion__weight", "criterion__pos_weight")


@contextmanager
def seeded(seed: int, device):
    """Run a block with torch's global RNG (shuffling, dropout, init) seeded,
    then restore the caller's RNG state."""
    if torch.device(device).type != "cuda":
        # torch.random.fork_rng does this, with checks that cost as much again
        generator = torch.default_generator
        state = generator.get_state()
        generator.manual_seed(seed)
        try:
            yield
        finally:
            generator.set_state(state)
        return
    index = torch.device(device).index
    devices = [index if index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        # not torch.manual_seed: it also queues seeds for every lazy backend
        # (CUDA, XPU, ...), formatting a stack trace each time (about 0.5 ms)
        torch.default_generator.manual_seed(seed)
        torch.cuda.manual_seed(seed)
        yield


def call_seed(estimator) -> int:
    """The seed of the next training call: a fixed function of the base seed
    and the number of training calls so far."""
    return (estimator._base_seed * 1_000_003 + estimator.n_updates_ + 1) % (2**63)


def build_net(estimator, X: np.ndarray, n_outputs: int) -> ContinualNet:
    """A new, initialised net for samples shaped as ``X``'s; records what it
    was built with (``_built_with``, ``_callback_specs``)."""
    n_features = int(np.prod(X.shape[1:]))
    module, kwargs = _module_and_kwargs(estimator, n_features, n_outputs)
    entries = _callback_entries(estimator)
    net = ContinualNet(
        module=module,
        criterion=estimator.criterion or estimator._default_criterion,
        optimizer=estimator.optimizer,
        lr=estimator.lr,
        max_epochs=estimator.max_epochs,
        batch_size=estimator.batch_size or -1,
        train_split=None,
        callbacks=[(name, clone(cb)) for name, cb in entries],
        device=estimator.device,
        verbose=estimator.verbose,
        classifier=estimator._is_classifier,
        **kwargs,
    )
    net.initialize()
    _materialize_lazy_layers(net, X[:1])
    _check_output_shape(estimator, net, X[:1], n_outputs)
    _check_log_probabilities(net, X[:1])
    _check_step_needs_no_closure(net)
    estimator._built_with = estimator._network_params()
    estimator._callback_specs = {name: callback_spec(cb) for name, cb in entries}
    return net


def check_device(estimator) -> None:
    """A ``ValueError`` for a ``device`` this machine lacks or torch does not
    know, before torch fails mid-build with an ``AssertionError`` ("Torch not
    compiled with CUDA enabled") or a ``RuntimeError`` ("invalid device
    ordinal" for ``"cuda:3"`` on a machine with one GPU)."""
    device = estimator.device
    try:
        usable = device_available(device)
    except RuntimeError as error:  # not a device name: "gpu", "cuda:x", ""
        raise ValueError(
            f"device={device!r} is not a torch device ({error}). Use e.g. "
            '"cpu", "cuda" or "cuda:0".'
        ) from None
    parsed = torch.device(device)
    if parsed.type == "cuda" and usable:
        found = torch.cuda.device_count()
        usable = parsed.index is None or parsed.index < found
        reason = f" (torch finds {found} CUDA GPU{'s' * (found != 1)})"
    else:
        reason = " (torch finds no CUDA GPU)" if parsed.type == "cuda" else ""
    if not usable:
        raise ValueError(
            f"device={device!r} is not available on this machine{reason}. Pass "
            f'device="cpu" to {type(estimator).__name__}, or run where that '
            "device is."
        )


def sync_callbacks(estimator) -> None:
    """Apply callback changes made since the last call: a callback whose
    parameters changed takes them (a strategy keeps its learned state), a
    new one starts fresh, a removed one stops acting."""
    built = estimator._callback_specs
    if not (built or estimator.callbacks or estimator.early_stopping):
        return  # no callbacks before, none now
    entries = _callback_entries(estimator)
    specs = {name: callback_spec(cb) for name, cb in entries}
    unchanged = {n for n, spec in specs.items() if same_spec(spec, built.get(n))}
    if len(unchanged) == len(specs) == len(built):
        return
    net = estimator.net_
    live = dict(net.callbacks_)
    defaults = [(n, cb) for n, cb in net.callbacks_ if n not in built]
    chosen = []
    for name, cb in entries:
        old = live.get(name) if name in built else None
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
    estimator._callback_specs = specs


def _module_and_kwargs(estimator, n_features: int, n_outputs: int):
    kwargs = estimator._routed_params()
    for key in _CRITERION_TENSORS:
        if kwargs.get(key) is not None:
            kwargs[key] = _float32_tensor(key, kwargs[key])
    if estimator.module is None:
        kwargs.update(
            module__n_features=n_features,
            module__n_outputs=n_outputs,
            module__hidden_layer_sizes=tuple(estimator.hidden_layer_sizes),
            module__activation=estimator.activation,
            module__dropout=estimator.dropout,
        )
        return MLP, kwargs
    if isinstance(estimator.module, torch.nn.Module):
        # every fit starts again from the weights of the module passed
        return copy.deepcopy(estimator.module), kwargs
    accepted = inspect.signature(estimator.module).parameters
    sizes = {
        "n_features": n_features,
        "n_outputs": n_outputs,
        "input_shape": estimator.input_shape_,
    }
    for name, value in sizes.items():
        if name in accepted and f"module__{name}" not in kwargs:
            kwargs[f"module__{name}"] = value
    return estimator.module, kwargs


def _float32_tensor(key: str, value) -> torch.Tensor:
    """A loss's weight tensor, as the network computes: float32 (torch
    refuses arrays, and float64 tensors fail at the first batch)."""
    try:
        array = np.asarray(value.cpu() if torch.is_tensor(value) else value)
        return torch.from_numpy(array.astype(np.float32))
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{key} must be an array of numbers, one per class (or output); "
            f"got {value!r}."
        ) from error


def _callback_entries(estimator) -> list[tuple[str, object]]:
    """The (name, callback) pairs the net runs: the user's (None ones
    disabled with ``set_params(callbacks__NAME=None)``), then those of
    ``early_stopping=True``: scikit-learn's MLP stops when the validation
    score (accuracy for classifiers, R² for regressors) has not improved by
    ``tol`` for ``n_iter_no_change`` epochs and keeps the best weights."""
    entries = [
        (n, cb) for n, cb in named_callbacks(estimator.callbacks) if cb is not None
    ]
    if estimator.early_stopping:
        score = EpochScoring(
            "accuracy" if estimator._is_classifier else "r2",
            lower_is_better=False,
            name="valid_score",
        )
        stop = EarlyStopping(
            monitor="valid_score",
            lower_is_better=False,
            patience=estimator.n_iter_no_change,
            threshold=estimator.tol,
            threshold_mode="abs",
            load_best=True,
        )
        entries += list(zip(EARLY_STOPPING_NAMES, (score, stop)))
    return entries


def _materialize_lazy_layers(net, X_one) -> None:
    """Lazy layers (``nn.LazyLinear``, ...) create their parameters in their
    first forward pass: one outside inference mode, so that they are
    ordinary tensors. Made in the output check's inference mode, they were
    inference tensors, which no optimizer step changed."""
    if any(is_lazy(p) for p in net.module_.parameters()):
        with torch.no_grad():
            net.module_.eval()(to_tensor(X_one, net.device))


def _check_step_needs_no_closure(net) -> None:
    """The training loop takes one plain ``optimizer.step()`` per batch;
    an optimizer that must re-evaluate the loss (``LBFGS``) fails there
    with a ``TypeError`` about a missing ``closure``."""
    closure = inspect.signature(net.optimizer_.step).parameters.get("closure")
    if closure is not None and closure.default is inspect.Parameter.empty:
        raise ValueError(
            f"optimizer={type(net.optimizer_).__name__} needs a closure at "
            "every step (it evaluates the loss several times per step), which "
            "the estimators' minibatch updates do not give. Use a first-order "
            "optimizer such as torch.optim.Adam (the default) or SGD."
        )


def _check_log_probabilities(net, X_one) -> None:
    """``NLLLoss`` (skorch's classifier default) takes log-probabilities;
    on logits, as the built-in modules return, it trains towards ever larger
    logits of the true class and nothing else. A subclass with a
    ``forward`` of its own may take anything (log_softmax inside)."""
    if type(net.criterion_).forward is not torch.nn.NLLLoss.forward:
        return
    out = net.forward_raw(to_tensor(X_one))
    log_total = float(torch.logsumexp(out.double(), dim=1)[0])
    if not abs(log_total) < 1e-3:
        raise ValueError(
            "criterion=NLLLoss needs log-probabilities, but the module's "
            "outputs are not (their exponentials sum to "
            f"{np.exp(log_total):.3g}, not 1). Use the default criterion "
            "(CrossEntropyLoss, which takes logits), or end the module with "
            "nn.LogSoftmax(dim=1)."
        )


def _check_output_shape(estimator, net, X_one, n_outputs: int) -> None:
    out = net.forward_raw(to_tensor(X_one))
    if tuple(out.shape) != (1, n_outputs):
        raise ValueError(
            f"The module returns outputs of shape {tuple(out.shape)[1:]} per "
            f"sample, but the targets need ({n_outputs},). "
            f"{estimator._output_hint(n_outputs)}"
        )
