"""``ContinualEstimator``: what ``fit`` and ``partial_fit`` do, in order.

The estimator class reads as the sequence of a training call; each step
lives in a module of its own:

- ``_params``: routed ``module__*`` arguments, named callbacks and their
  nested parameters, and which parameters an update checks again;
- ``_input``: validation of ``X``, ``y`` and ``sample_weight``;
- ``_build``: building the net, keeping its callbacks in step, seeding;
- ``_schedule``: the epochs and learning rate of each call;
- ``_transaction``: all-or-nothing calls (rollback, acceptance, non-finite
  losses);
- ``_netstate`` and ``_locking``: saving the state, and serving predictions
  while another thread updates.

``fit`` and ``partial_fit`` feed one private ``_fit(..., incremental=)``, as
scikit-learn's MLP does: it sets everything up on the first training of a
model, whichever method starts it, and continues the fitted net otherwise.
"""

from __future__ import annotations

import copy
import numbers
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from skorch.dataset import ValidSplit

from ._build import build_net, call_seed, check_device, seeded, sync_callbacks
from ._input import (
    SparseInputError,
    check_outputs,
    check_sample_weight,
    check_tasks,
    nonzero,
    to_tensor,
    validate_X,
    validate_X_y,
)
from ._locking import consistent, locked_deepcopy, serving, unshared, updating
from ._netstate import (
    check_module_size,
    load_net_state,
    net_state,
    params_from_plain,
    params_to_plain,
)
from ._param_validation import HasMethods, Interval, StrOptions
from ._params import NamedParamsMixin
from ._schedule import budget
from ._state import device_available
from ._transaction import NonFiniteUpdateError, UpdateRejectedWarning, all_or_nothing
from ._valid_data import predefined_valid

__all__ = [
    "ContinualEstimator",
    "NonFiniteUpdateError",
    "SparseInputError",
    "UpdateRejectedWarning",
]

# private attributes that loading derives from the parameters again
_REBUILT_ON_LOAD = ("_callback_specs", "_checked_params")


class ContinualEstimator(NamedParamsMixin, BaseEstimator):
    """Base class of :class:`ContinualClassifier` and :class:`ContinualRegressor`.

    Subclasses define how targets are validated and encoded (``_encode_y``),
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
    # the parameters that define the network: changing one after fitting
    # needs a new fit (the module__* and criterion__* arguments too); every
    # other parameter acts from the next call
    _network_param_names = (
        "module",
        "hidden_layer_sizes",
        "activation",
        "dropout",
        "criterion",
        "optimizer",
        "device",
    )

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
    # training: one core for fit and partial_fit
    # ------------------------------------------------------------------
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
        return self._fit(
            X, y, sample_weight=sample_weight, tasks=tasks, incremental=False
        )

    def _fit(self, X, y, *, sample_weight=None, classes=None, tasks=None, incremental):
        """Train from scratch (``incremental=False``: ``fit``) or continue the
        fitted model (``partial_fit``; from scratch when there is none yet),
        as one all-or-nothing call (see ``_transaction``)."""
        # concurrent updates run one after the other; training needs
        # gradients whatever the caller's mode (torch.no_grad, inference_mode)
        with updating(self), torch.inference_mode(False), torch.enable_grad():
            first_training = not (incremental and hasattr(self, "net_"))
            all_or_nothing(
                self,
                self._check_params if first_training else self._check_changed_params,
                lambda: self._fit_checked(
                    X, y, sample_weight, classes, tasks, first_training, incremental
                ),
                incremental=incremental,
            )
        return self

    def _fit_checked(
        self, X, y, sample_weight, classes, tasks, first_training, incremental
    ):
        """The training of ``_fit`` once the parameters are checked; returns
        the last loss."""
        X, y = validate_X_y(self, X, y, reset=first_training)
        weight = check_sample_weight(sample_weight, len(X))
        if incremental:
            self._check_update_weights()
        tasks = check_tasks(tasks, len(X))
        y_encoded, n_outputs = self._encode_y(y, reset=first_training, classes=classes)
        weight = nonzero(self._combined_weight(weight, y_encoded, y))
        if not first_training:
            self._check_update_targets(y_encoded, weight)
        if first_training:
            self._start(X, n_outputs)
        else:
            sync_callbacks(self)
        for rows, is_update, label, fit_budget in self._calls(
            tasks, first_training, incremental
        ):
            loss = self._train(
                X[rows],
                y_encoded[rows],
                None if weight is None else weight[rows],
                is_update=is_update,
                label=label,
                fit_budget=fit_budget,
            )
        return loss

    def _start(self, X, n_outputs) -> None:
        """Set up the first training: seeds, counters and a new network."""
        check_device(self)
        self._base_seed = int(check_random_state(self.random_state).randint(2**31))
        self._checked_params = {k: getattr(self, k) for k in self._update_param_names()}
        self.n_updates_ = 0
        self._n_calls = (
            0  # training calls kept since the first: the context's call_index
        )
        self._decay_origin = 0
        self.rejected_updates_ = []
        with seeded(self._base_seed, self.device):
            self.net_ = build_net(self, X, n_outputs)

    def _calls(self, tasks, first_training: bool, incremental: bool) -> list:
        """``(rows, is_update, label, fit_budget)`` of each training call.

        The first training of a model is never an update, whichever method
        starts it (strategies that protect an old model leave it alone);
        ``fit``'s first task trains with ``fit``'s budget, every other call
        with the update budget (see ``_schedule``).
        """
        if tasks is None:
            label = "fit" if first_training else f"update {self.n_updates_ + 1}"
            return [(slice(None), not first_training, label, not incremental)]
        _, first = np.unique(tasks, return_index=True)
        starts = np.sort(first)
        return [
            (
                tasks == tasks[start],
                rank > 0,
                f"task {rank + 1}/{len(starts)}",
                rank == 0,
            )
            for rank, start in enumerate(starts)
        ]

    def _combined_weight(self, weight, y_encoded, y):
        """Per-sample weights: ``sample_weight`` times the class weights."""
        return weight

    def _check_update_weights(self) -> None:
        """Hook for the classifier's check of ``class_weight`` in updates."""

    def _check_update_targets(self, y_encoded, weight) -> None:
        """Hook for the regressor's check of an update's target scale."""

    def _train(
        self, X, y, weight, *, is_update: bool, label: str, fit_budget: bool
    ) -> float:
        epochs, lr = budget(self, fit_budget=fit_budget)
        net = self.net_
        # parameters that act from the next call after they are set
        # (skorch's __setattr__ costs a few microseconds: only on a change)
        if net.batch_size != (self.batch_size or -1):
            net.batch_size = self.batch_size or -1
        if net.verbose != self.verbose:
            net.verbose = self.verbose
        net.set_optimizer_params(self._routed_params())
        seed = call_seed(self)
        split = self._train_split(seed)
        if split is not None or net.train_split is not None:
            net.train_split = split
        # net_.device, not device: a CUDA model unpickled on a CPU-only machine
        # was moved to the CPU by skorch and keeps working there
        device = net.device
        X_t = to_tensor(X, device)
        y_t = to_tensor(y, device)
        w_t = None if weight is None else to_tensor(weight, device)
        with seeded(seed, device):
            loss = net.train_call(
                X_t,
                y_t,
                w_t,
                epochs=epochs,
                lr=lr,
                is_update=is_update,
                label=label,
                call_index=self._n_calls,
            )
        self._record_curves()
        if not fit_budget:  # every partial_fit and every later task counts
            self.n_updates_ += 1
        self._n_calls += 1
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
        if isinstance(split, ValidSplit) and split.random_state is None:
            # a skorch split the user left unseeded is seeded as the
            # estimator's own: equal random_state, equal models
            split = copy.copy(split)
            split.random_state = seed % 2**32
        return predefined_valid(self, split) or split

    def _record_curves(self) -> None:
        """scikit-learn MLP's attributes, for the last training call
        (``validation_scores_``: accuracy for classifiers, R² for
        regressors)."""
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

    # ------------------------------------------------------------------
    # prediction, tags and state
    # ------------------------------------------------------------------
    def _forward(self, X) -> np.ndarray:
        return self._forward_with_classes(X)[0]

    def _forward_with_classes(self, X):
        """Module outputs for ``X`` and the ``classes_`` that go with them,
        from the committed model (see ``_locking``): safe while another
        thread updates the estimator."""
        X = self._validate_X(X)
        with serving(self) as (forward, classes):
            outputs = forward(to_tensor(X)).numpy()
        return check_outputs(self, outputs, X), classes

    def _validate_X(self, X):
        """``X`` for a prediction, as float32 (see ``_input``)."""
        return validate_X(self, X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags

    # ------------------------------------------------------------------
    # state: pickle and skops store parameters and arrays (see _netstate)
    # ------------------------------------------------------------------
    def __getstate__(self):
        with consistent(self):  # not half of another thread's update
            state = params_to_plain(super().__getstate__())
            # derived from the parameters when the net is rebuilt on loading
            for name in _REBUILT_ON_LOAD:
                state.pop(name, None)
            if "_built_with" in state:  # what the net was built with
                state["_built_with"] = params_to_plain(state["_built_with"])
            if "net_" in state:
                state["net_"] = net = net_state(state["net_"])
                # the live weights' memory, which a later update changes
                # (strategies' state is a copy already)
                net["module"] = unshared(net["module"])
                net["optimizer"] = unshared(net["optimizer"])
        return state

    def __setstate__(self, state):
        state = params_from_plain(dict(state))
        saved_net = state.pop("net_", None)
        super().__setstate__(state)
        if "optimizer__lr" in vars(self):
            # a file written when optimizer__lr was silently ignored
            warnings.warn(
                "The model file sets optimizer__lr, which was never used (the "
                "rates are `lr` and `update_lr`): it is dropped.",
                stacklevel=2,
            )
            del self.optimizer__lr
        if saved_net is not None:
            n_outputs = len(self.classes_) if self._is_classifier else self.n_outputs_
            X_one = np.zeros((1, *self.input_shape_), dtype=np.float32)
            # rebuilt with the parameters it was built with, which set_params
            # may have changed since (a new fit would use the new ones)
            built = params_from_plain(state.get("_built_with", self._network_params()))
            if "optimizer__param_groups" in vars(self):
                # a file written before the groups defined the network
                built.setdefault(
                    "optimizer__param_groups", self.optimizer__param_groups
                )
            current = {
                k: v
                for k, v in vars(self).items()
                if k in built or k.startswith(("module__", "criterion__"))
            }
            for key in current:
                del vars(self)[key]
            vars(self).update(built)
            if not device_available(self.device):
                warnings.warn(
                    f"The model was saved on device={self.device!r}, which is "
                    "not available here: it is loaded on the CPU.",
                    stacklevel=2,
                )
                self.device = "cpu"  # for building the net only
            try:
                check_module_size(self, X_one, n_outputs, saved_net)
                # seeded: loading leaves the caller's random stream alone
                with seeded(self._base_seed, self.device):
                    self.net_ = build_net(self, X_one, n_outputs)
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
        return locked_deepcopy(self, memo)
