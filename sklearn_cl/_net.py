"""The private skorch net that runs training calls and gives strategies hooks.

skorch builds the module, criterion and optimizer, routes ``module__*`` and
``optimizer__*`` parameters, and handles device placement and pickling. The
training loop is our own: the data is already a tensor on the device, so
batches are slices of it, with no Dataset, DataLoader or per-batch history.
This keeps the wrapper's cost small next to the training steps themselves
(see ``benchmarks/bench_overhead.py``).
"""

from __future__ import annotations

import copy
import time

import torch
from skorch import NeuralNet
from skorch.callbacks import Callback

from .strategies.base import Strategy

_BATCH_HOOKS = ("on_batch_begin", "on_grad_computed", "on_batch_end")
_STRATEGY_HOOKS = (
    "extend_data",
    "on_update_begin",
    "extend_batch",
    "penalty",
    "on_update_end",
    "on_output_grown",
)
_PREDICT_CHUNK = 8192


def _overrides(callback, hook: str) -> bool:
    base = Strategy if hook in _STRATEGY_HOOKS else Callback
    method = getattr(type(callback), hook, None)
    return method is not None and method is not getattr(base, hook)


class ContinualNet(NeuralNet):
    """skorch ``NeuralNet`` with update hooks and a lean training loop."""

    # strategies may hold tensors on the device (Fisher, anchors): load them
    # with skorch's device mapping so a CUDA model unpickles on a CPU machine.
    # ``hooked_`` goes in the same pickle as ``callbacks_`` so that, after
    # loading, the hooks still call the very callbacks in ``callbacks_``.
    cuda_dependent_attributes_ = ["callbacks_", "hooked_"]

    def __deepcopy__(self, memo):
        # skorch has no __deepcopy__: deepcopy would pickle the module,
        # optimizer and callbacks to bytes and back (dask-ml copies the model
        # before every partial_fit). The memo keeps the optimizer's parameters
        # the module's, and the hooks' callbacks those of callbacks_.
        new = object.__new__(type(self))
        memo[id(self)] = new
        new.__dict__.update(copy.deepcopy(vars(self), memo))
        return new

    def get_default_callbacks(self):
        return []

    def initialize_callbacks(self):
        super().initialize_callbacks()
        self.hooked_ = {
            hook: [cb for _, cb in self.callbacks_ if _overrides(cb, hook)]
            for hook in _BATCH_HOOKS + _STRATEGY_HOOKS
        }
        return self

    def _call(self, hook: str, **kwargs):
        for cb in self.hooked_[hook]:
            getattr(cb, hook)(self, **kwargs)

    def train_call(self, X, y, *, epochs: int, lr: float, is_update: bool) -> float:
        """Train ``epochs`` passes over ``(X, y)`` at ``lr``; return the last loss.

        ``X`` and ``y`` are tensors on the net's device. The history keeps the
        epochs of this call only, so it stays bounded over long streams.
        """
        for group in self.optimizer_.param_groups:
            group["lr"] = lr
        self.history.clear()
        new_X, new_y = X, y
        for cb in self.hooked_["extend_data"]:
            X, y = cb.extend_data(self, X, y, is_update=is_update)
        self._call("on_update_begin", X=X, y=y, is_update=is_update)
        self.notify("on_train_begin", X=X, y=y)
        if not self.module_.training:  # walking the module tree costs a little
            self.module_.train()
        loss = float("nan")
        for _ in range(epochs):
            self.notify("on_epoch_begin", X=X, y=y)  # the net's own opens a row
            tic = time.perf_counter()
            loss = self._run_epoch(X, y)
            self.history.record("train_loss", loss)
            self.history.record("dur", time.perf_counter() - tic)
            if self.verbose:
                print(f"epoch {len(self.history)}  train_loss {loss:.4f}")
            self.notify("on_epoch_end", X=X, y=y)
        self.notify("on_train_end", X=X, y=y)
        self._call("on_update_end", X=new_X, y=new_y, is_update=is_update)
        return loss

    def _run_epoch(self, X, y) -> float:
        n = len(X)
        batch_size = self.batch_size if self.batch_size > 0 else n
        order = torch.randperm(n, device=X.device)
        extenders = self.hooked_["extend_batch"]
        penalties = self.hooked_["penalty"]
        batch_hooks = any(self.hooked_[hook] for hook in _BATCH_HOOKS)
        total = torch.zeros((), device=X.device)
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size]
            Xb, yb = X[index], y[index]
            for cb in extenders:
                Xb, yb = cb.extend_batch(self, Xb, yb)
            if batch_hooks:
                self._call("on_batch_begin", batch=(Xb, yb), training=True)
            self.optimizer_.zero_grad(set_to_none=True)
            y_pred = self.module_(Xb)
            loss = self.criterion_(y_pred, yb)
            for cb in penalties:
                term = cb.penalty(self, Xb, yb, y_pred)
                if term is not None:
                    loss = loss + term
            loss.backward()
            if batch_hooks:
                self._call(
                    "on_grad_computed",
                    named_parameters=list(self.get_all_learnable_params()),
                    X=Xb,
                    y=yb,
                    training=True,
                )
            self.optimizer_.step()
            if batch_hooks:
                self._call("on_batch_end", batch=(Xb, yb), training=True, loss=loss)
            total += loss.detach() * len(index)
        return total.item() / n

    def grow_output(self, n_new: int) -> None:
        """Widen the module's last ``nn.Linear`` to ``n_new`` outputs.

        Old rows keep their weights and their optimizer state; new rows get
        the layer's default initialisation and empty optimizer state. The
        module and optimizer are replaced by new objects, the old ones are
        left as they were (so a failed update can put them back).
        """
        module = copy.deepcopy(self.module_)
        parent, name, old = _last_linear(module)
        n_old = old.out_features
        new = torch.nn.Linear(
            old.in_features,
            n_new,
            bias=old.bias is not None,
            device=old.weight.device,
            dtype=old.weight.dtype,
        )
        with torch.no_grad():
            new.weight[:n_old] = old.weight
            if old.bias is not None:
                new.bias[:n_old] = old.bias
        setattr(parent, name, new)
        self.optimizer_ = _moved_optimizer(self.optimizer_, self.module_, module)
        self.module_ = module
        self._call("on_output_grown", n_old=n_old, n_new=n_new)

    def forward_raw(self, X: torch.Tensor) -> torch.Tensor:
        """Module outputs for ``X`` in evaluation mode, on the CPU."""
        self.module_.eval()
        return forward_in_chunks(self.module_, X, self.device)


def forward_in_chunks(module: torch.nn.Module, X: torch.Tensor, device) -> torch.Tensor:
    """Outputs of ``module`` (already in evaluation mode) for ``X``, on the CPU."""
    with torch.inference_mode():
        outs = [
            module(X[i : i + _PREDICT_CHUNK].to(device))
            for i in range(0, len(X), _PREDICT_CHUNK)
        ]
    return torch.cat(outs).cpu()


def _last_linear(module: torch.nn.Module):
    """(parent, attribute name, layer) of the last ``nn.Linear`` registered in
    ``module``, by qualified name (``head`` after ``body.0``)."""
    names = [n for n, m in module.named_modules() if isinstance(m, torch.nn.Linear)]
    if not names or not names[-1]:  # none, or the module itself is the Linear
        raise ValueError(
            f"Cannot grow the output layer of {type(module).__name__}: it has no "
            "torch.nn.Linear layer. Growing classes needs a module whose last "
            "layer is an nn.Linear; or pass every label in `classes` up front."
        )
    parent_name, _, attr = names[-1].rpartition(".")
    parent = module.get_submodule(parent_name)
    return parent, attr, getattr(parent, attr)


def _moved_optimizer(optimizer, old_module, new_module):
    """A new optimizer of the same kind over ``new_module``'s parameters,
    matched by name, with the old state (padded where a parameter grew)."""
    names = {id(p): n for n, p in old_module.named_parameters()}
    new_params = dict(new_module.named_parameters())
    groups = [
        {**group, "params": [new_params[names[id(p)]] for p in group["params"]]}
        for group in optimizer.param_groups
    ]
    moved = type(optimizer)(groups, **optimizer.defaults)
    for old_param, state in optimizer.state.items():
        new_param = new_params[names[id(old_param)]]
        moved.state[new_param] = {
            key: _pad_rows(value, old_param.shape, new_param.shape)
            for key, value in state.items()
        }
    return moved


def _pad_rows(value, old_shape, new_shape):
    """Optimizer state of a grown parameter: old rows kept, new rows zero."""
    if not torch.is_tensor(value) or value.shape != old_shape:
        return value
    if old_shape == new_shape:
        return value.clone()
    padded = value.new_zeros(new_shape)
    padded[: old_shape[0]] = value
    return padded
