"""The private skorch net that runs training calls and gives strategies hooks.

skorch builds the module, criterion and optimizer, routes ``module__*`` and
``optimizer__*`` parameters, handles device placement and pickling, and
provides the callbacks (scoring, early stopping, printing, progress bars,
checkpoints). The training loop is our own: the data is already a tensor on
the device, so batches are slices of it, with no Dataset or DataLoader per
batch. It emits skorch's events with the arguments skorch's own
``NeuralNet.fit_loop`` passes, in two modes:

- **lean** (only :class:`~sklearn_cl.strategies.Strategy` callbacks, no
  validation, ``verbose=0``): the history gets one row per epoch
  (``train_loss``, ``dur``) and callbacks only the hooks they override;
  nothing is computed that nobody reads (see ``benchmarks/bench_overhead.py``);
- **full** (any other skorch callback, a validation split or ``verbose``):
  skorch's default callbacks run too (``EpochTimer``, ``PassthroughScoring``
  of the train and valid loss, ``PrintLog``), every callback gets every
  event, and the history has the batch rows (``train_loss``,
  ``train_batch_size``, ``valid_loss``, ...) and epoch counts skorch's
  callbacks read.

Every hook of a training call gets the call's
:class:`~sklearn_cl.strategies.UpdateContext` as the keyword argument
``context``; the order of the events is written, and tested, in
:mod:`sklearn_cl.strategies.base`. A callback that raises
``KeyboardInterrupt`` in ``on_epoch_end`` (skorch's ``EarlyStopping``) ends
the epochs of the call, as in skorch; ``on_train_end`` and ``on_update_end``
still run and the trained model is kept. An epoch whose loss is not finite
ends the call at once: it will be undone, and only the callbacks that are
neither strategies nor checkpoints get ``on_train_end`` (to close what they
opened).
"""

from __future__ import annotations

import copy
import inspect
import math
import time
import weakref

import torch
from skorch import NeuralNet
from skorch.callbacks import (
    BatchScoring,
    Callback,
    Checkpoint,
    EpochScoring,
    Initializer,
    LoadInitState,
    PassthroughScoring,
    PrintLog,
    TrainEndCheckpoint,
)
from skorch.dataset import Dataset

from ._transaction import _state_tensors
from ._valid_data import ValidData
from .strategies._layers import last_linear
from .strategies.base import Strategy
from .strategies.context import UpdateContext

_SKORCH_EVENTS = (
    "on_train_begin",
    "on_epoch_begin",
    "on_batch_begin",
    "on_grad_computed",
    "on_batch_end",
    "on_epoch_end",
    "on_train_end",
)
_BATCH_EVENTS = ("on_batch_begin", "on_grad_computed", "on_batch_end")
_STRATEGY_HOOKS = (
    "extend_data",
    "on_update_begin",
    "extend_batch",
    "penalty",
    "on_update_end",
    "on_output_grown",
)
_PREDICT_CHUNK = 8192
# skorch callbacks that record whether an epoch's score is the best so far
_SCORINGS = (BatchScoring, EpochScoring, PassthroughScoring)
# skorch callbacks that set up a new network: they act in a model's first
# training call only (in skorch every fit starts again from a new module);
# in an update (of a reloaded model too, whose callbacks start afresh) they
# would throw away what the model learned
_FIRST_TRAINING_ONLY = (Initializer, LoadInitState)
# skorch callbacks that write the model to disk at the end of a call
_CHECKPOINTS = (Checkpoint, TrainEndCheckpoint)
# keys of a parameter group that are not the optimizer's parameters
_OWN_GROUP_KEYS = ("params", "lr_scale", "initial_lr")
# losses whose `weight` is one weight per class, as torch's mean divides by
_CLASS_LOSSES = (torch.nn.CrossEntropyLoss, torch.nn.NLLLoss)
_NOTHING_TO_TRAIN = (
    "The loss does not depend on any trainable parameter: every parameter of "
    "the module is frozen (requires_grad=False, by a callback such as "
    "skorch's Freezer or by the module itself). Leave some parameters "
    "trainable, e.g. the output layer."
)


def _trainable_flags(module) -> list:
    # the transaction's cached tensor list: module.parameters() walks the
    # module tree, a few microseconds of every small update
    return [(t, t.requires_grad) for t in _state_tensors(module)]


def _restore_flags(flags: list) -> None:
    """Undo what a callback froze or unfroze during a call (skorch's
    ``Freezer``, ``Unfreezer``, ``ParamMapper``): it acts in the calls it is
    among the callbacks of, as the ``Freeze`` strategy does, and a saved
    model, which keeps no such flags, agrees with the live one."""
    for tensor, flag in flags:
        if tensor.requires_grad is not flag:
            tensor.requires_grad_(flag)


def _overrides(callback, hook: str) -> bool:
    base = Strategy if hook in _STRATEGY_HOOKS else Callback
    method = getattr(type(callback), hook, None)
    return method is not None and method is not getattr(base, hook)


class ContinualNet(NeuralNet):
    """skorch ``NeuralNet`` with update hooks and a lean training loop.

    Parameters
    ----------
    classifier : bool, default=False
        Whether the module returns logits of classes (``predict`` then gives
        class indices, as skorch's ``NeuralNetClassifier`` does).
    """

    # strategies may hold tensors on the device (Fisher, anchors): load them
    # with skorch's device mapping so a CUDA model unpickles on a CPU machine.
    # ``hooked_`` goes in the same pickle as ``callbacks_`` so that, after
    # loading, the hooks still call the very callbacks in ``callbacks_``.
    cuda_dependent_attributes_ = ["callbacks_", "hooked_"]
    # which training call of the model runs (train_call sets it)
    call_index_ = 0

    def __init__(self, *args, classifier=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.classifier = classifier

    def __deepcopy__(self, memo):
        # skorch has no __deepcopy__: deepcopy would pickle the module,
        # optimizer and callbacks to bytes and back (dask-ml copies the model
        # before every partial_fit). The memo keeps the optimizer's parameters
        # the module's, and the hooks' callbacks those of callbacks_.
        new = object.__new__(type(self))
        memo[id(self)] = new
        new.__dict__.update(copy.deepcopy(vars(self), memo))
        return new

    def initialize_callbacks(self):
        super().initialize_callbacks()
        self._index_callbacks()
        return self

    def initialize_optimizer(self, *args, **kwargs):
        super().initialize_optimizer(*args, **kwargs)
        # the keys each parameter group was given in optimizer__param_groups
        # (set_params of optimizer__* after fitting leaves them alone), and
        # its rate as a ratio of lr, which every call's rate is multiplied by
        (given,), _ = self.get_params_for_optimizer(
            "optimizer", self.get_all_learnable_params()
        )
        self.group_keys_ = [frozenset(group) - {"params"} for group in given]
        for group in self.optimizer_.param_groups:
            group["lr_scale"] = group["lr"] / self.lr
        return self

    def set_optimizer_params(self, routed: dict) -> None:
        """Set the ``optimizer__*`` values of ``routed`` (a change made with
        ``set_params`` after fitting acts from the next call) in every
        parameter group but those given the key in ``optimizer__param_groups``."""
        groups = self.optimizer_.param_groups
        given = self.group_keys_
        for key, value in routed.items():
            if not key.startswith("optimizer__") or key == "optimizer__param_groups":
                continue
            name = key[len("optimizer__") :]
            if not any(name in group for group in groups):
                if name in inspect.signature(type(self.optimizer_)).parameters:
                    # a constructor argument the optimizer keeps elsewhere
                    # (a custom optimizer's own): it acted when it was built
                    continue
                known = sorted(k for k in groups[0] if k not in _OWN_GROUP_KEYS)
                raise ValueError(
                    f"Invalid parameter {key!r}: {type(self.optimizer_).__name__} "
                    f"has no parameter {name!r}; its parameters are {known}. "
                    f"Remove it (delattr(estimator, {key!r})), or call fit with "
                    "an optimizer that takes it."
                )
            for index, group in enumerate(groups):
                if index >= len(given) or name not in given[index]:
                    group[name] = value

    def _index_callbacks(self) -> None:
        """Which callbacks each hook calls, and whether the full protocol runs.

        Strategies get the hooks they override; any other skorch callback
        (beyond skorch's defaults) switches on the full protocol, in which
        every callback gets every skorch event.
        """
        defaults = {name for name, _ in self.get_default_callbacks()}
        strategies = [cb for _, cb in self.callbacks_ if isinstance(cb, Strategy)]
        self.hooked_ = {
            hook: [cb for cb in strategies if _overrides(cb, hook)]
            for hook in _SKORCH_EVENTS + _STRATEGY_HOOKS
        }
        self.skorch_callbacks_ = any(
            not isinstance(cb, Strategy) and name not in defaults
            for name, cb in self.callbacks_
        )

    def get_default_callbacks(self):
        # skorch's defaults (epoch timer, loss scoring, printing); a user's
        # PrintLog replaces the default one rather than printing twice
        own_log = any(isinstance(cb, PrintLog) for _, cb in (self.callbacks or []))
        return [
            (n, cb)
            for n, cb in super().get_default_callbacks()
            if not (own_log and isinstance(cb, PrintLog))
        ]

    def full_protocol(self) -> bool:
        """Whether the next call runs skorch's full event protocol."""
        return bool(self.skorch_callbacks_ or self.train_split or self.verbose)

    def notify(self, method_name, **cb_kwargs):
        """skorch's ``notify``: the net's own handler, then every callback;
        a callback's hook that takes no ``**kwargs`` gets only the
        arguments it names (it may not know ``context``)."""
        getattr(self, method_name)(self, **cb_kwargs)
        later = self.call_index_ > 0
        for _, cb in self.callbacks_:
            if later and isinstance(cb, _FIRST_TRAINING_ONLY):
                continue
            _invoke(getattr(cb, method_name), self, **cb_kwargs)

    def _notify(self, full: bool, event: str, **kwargs) -> None:
        """skorch's ``notify`` in the full protocol; otherwise only the
        strategies that override ``event`` (the net's own handlers only
        write history rows, which the lean loop writes itself)."""
        if full:
            self.notify(event, **kwargs)
            return
        self._call(event, **kwargs)

    def _end_undone_call(self, **kwargs) -> None:
        """``on_train_end`` of a call that will be undone, for the callbacks
        that close what ``on_train_begin`` opened (a progress bar, a logger's
        run); not for the strategies, whose state the undo puts back, nor
        for skorch's checkpoints, which would write the broken model."""
        for _, cb in self.callbacks_:
            if not isinstance(cb, (Strategy, *_CHECKPOINTS)):
                _invoke(cb.on_train_end, self, **kwargs)

    def _call(self, hook: str, **kwargs):
        for cb in self.hooked_[hook]:
            _invoke(getattr(cb, hook), self, **kwargs)

    def train_call(
        self,
        X,
        y,
        weight=None,
        *,
        epochs: int,
        lr: float,
        is_update: bool,
        call_index: int = 0,
        label: str = "fit",
    ) -> float:
        """Train ``epochs`` passes over ``(X, y)`` at ``lr``; return the last loss.

        ``X``, ``y`` and the per-sample ``weight`` (None: unweighted) are
        tensors on the net's device. ``is_update`` tells strategies whether
        a previous model exists and ``call_index`` which training call of
        the model this is (see :class:`~sklearn_cl.strategies.UpdateContext`);
        ``label`` names the call in the history's ``call`` column (``fit``,
        ``update 3``, ``task 2/5``). The history keeps the epochs of this
        call only, so it stays bounded over long streams. The strategies'
        transient state is cleared when the call ends, whether it succeeded
        or failed.
        """
        self.call_index_ = call_index
        for group in self.optimizer_.param_groups:
            # a group given its own rate in optimizer__param_groups keeps its
            # ratio to the call's rate (0: frozen in every call)
            group["lr"] = lr * group.get("lr_scale", 1.0)
            # torch's schedulers start from the first rate they saw
            # (setdefault): a scheduler of this call starts from this call's
            group.pop("initial_lr", None)
        self.history.clear()
        context = UpdateContext(
            net=self,
            lr=lr,
            is_classifier=self.classifier,
            is_update=is_update,
            call_index=call_index,
            n_epochs=epochs,
            _probe=X,
        )
        new = (X, y, weight)
        whole = self.batch_size <= 0
        module = trainable = None
        try:
            # validation data comes from the call's new data only: what a
            # strategy adds (rehearsal's stored samples) is trained on
            (X, y, weight), valid = self._split(X, y, weight)
            for cb in self.hooked_["extend_data"]:
                extended = _invoke(
                    cb.extend_data,
                    self,
                    X,
                    y,
                    context=context,
                    is_update=is_update,
                    sample_weight=weight,
                )
                X, y, weight = _with_weight(extended, weight)
            # after extend_data, where Graft replaces the module: the flags
            # of the module this call trains
            module, trainable = self.module_, _trainable_flags(self.module_)
            if whole:  # one batch of everything, as skorch's callbacks read it
                self.batch_size = len(X)
            return self._train_epochs(X, y, weight, valid, new, context, label)
        finally:
            if whole:
                self.batch_size = -1
            if self.module_ is module:  # (None: it failed before training)
                _restore_flags(trainable)
            for _, cb in self.callbacks_:
                if isinstance(cb, Strategy):
                    cb._clear_transient_state()

    def _train_epochs(self, X, y, weight, valid, new, context, label):
        """The epochs of :meth:`train_call` on its prepared data."""
        full = self.full_protocol()
        is_update = context.is_update
        self._call(
            "on_update_begin",
            X=X,
            y=y,
            context=context,
            is_update=is_update,
            sample_weight=weight,
        )
        epoch_hooks = self.hooked_["on_epoch_begin"] or self.hooked_["on_epoch_end"]
        datasets = {"dataset_train": None, "dataset_valid": None}
        if full or epoch_hooks:
            datasets["dataset_train"] = Dataset(X, y)
            if valid is not None:
                datasets["dataset_valid"] = Dataset(*valid[:2])
        if full:
            # "best" means best of this call, as EarlyStopping's patience
            # counts this call's epochs: a score of a call on other data
            # cannot make Checkpoint(load_best=True) put back an older model
            for _, cb in self.callbacks_:
                if isinstance(cb, _SCORINGS):
                    cb.best_score_ = math.inf if cb.lower_is_better else -math.inf
        self._notify(full, "on_train_begin", X=X, y=y, context=context)
        if not self.module_.training:  # walking the module tree costs a little
            self.module_.train()
        loss = float("nan")
        for epoch in range(context.n_epochs):
            context.epoch = epoch
            if full:
                # the net opens a row
                self.notify("on_epoch_begin", context=context, **datasets)
                row = self.history[-1]
                # the rate this epoch trains at, for PrintLog's table
                row["lr"] = self.optimizer_.param_groups[0]["lr"]
            else:  # the row skorch's own on_epoch_begin opens
                row = {"batches": [], "epoch": len(self.history) + 1}
                self.history.append(row)
                self._notify(full, "on_epoch_begin", context=context, **datasets)
            row["call"] = label
            tic = time.perf_counter()
            loss = self._run_epoch(X, y, weight, full, context)
            if not math.isfinite(loss):
                # the call will be undone (see _transaction)
                row["train_loss"] = loss
                if full:
                    self._end_undone_call(X=X, y=y, context=context)
                return loss
            if valid is not None:
                self._run_validation(*valid, context)
            if not full:
                # what skorch's PassthroughScoring and EpochTimer record
                row["train_loss"] = loss
                row["dur"] = time.perf_counter() - tic
            context.epoch = epoch + 1
            try:
                self._notify(full, "on_epoch_end", context=context, **datasets)
            except KeyboardInterrupt:
                # skorch's way to stop training (EarlyStopping); an interrupt
                # anywhere else is the user's, and undoes the call
                break
        if full:
            loss = self.history[-1].get("train_loss", loss)
        self._notify(full, "on_train_end", X=X, y=y, context=context)
        self._call(
            "on_update_end",
            X=new[0],
            y=new[1],
            context=context,
            is_update=is_update,
            sample_weight=new[2],
        )
        return loss

    def _split(self, X, y, weight):
        """``(train, valid)`` parts of the call's data by ``train_split``;
        ``valid`` is None without a split."""
        if not self.train_split:
            return (X, y, weight), None
        if isinstance(self.train_split, ValidData):  # predefined_split's data
            return (X, y, weight), (self.train_split.X, self.train_split.y, None)
        dataset = Dataset(X, y)
        try:
            parts = self.train_split(dataset, y)
        except ValueError as error:
            raise ValueError(
                "The validation split (train_split, or validation_fraction with "
                f"early_stopping) failed on this call's "
                f"{len(X)} samples: {error} Use a smaller validation fraction, "
                "train on more samples per call, or set train_split=None (and "
                "early_stopping=False) for calls this small."
            ) from error
        train, valid = (_subset_indices(part, dataset) for part in parts)
        if len(train) == 0:
            raise ValueError(
                "The validation split (train_split, or validation_fraction) left "
                "no training "
                f"samples out of {len(X)}. Use a smaller validation fraction."
            )

        def take(index):
            index = index.to(X.device)
            return X[index], y[index], None if weight is None else weight[index]

        return take(train), (take(valid) if len(valid) else None)

    def _run_epoch(self, X, y, weight, full: bool, context) -> float:
        n = len(X)
        batch_size = self.batch_size if self.batch_size > 0 else n
        order = torch.randperm(n, device=X.device)
        extenders = self.hooked_["extend_batch"]
        penalties = self.hooked_["penalty"]
        events = full or any(self.hooked_[event] for event in _BATCH_EVENTS)
        # listed once per epoch, not per batch (5% of a small MLP's step)
        learnable = list(self.get_all_learnable_params()) if events else None
        # each batch's loss, weighted by its number of new samples: summed
        # once the epoch ends, not batch by batch (two operations per batch)
        losses, sizes = [], []
        for start in range(0, n, batch_size):
            index = order[start : start + batch_size]
            Xb, yb = X[index], y[index]
            wb = None if weight is None else weight[index]
            for cb in extenders:
                extended = _invoke(
                    cb.extend_batch, self, Xb, yb, context=context, sample_weight=wb
                )
                Xb, yb, wb = _with_weight(extended, wb)
            if events:
                self._notify(
                    full,
                    "on_batch_begin",
                    batch=(Xb, yb),
                    training=True,
                    context=context,
                )
            self.optimizer_.zero_grad(set_to_none=True)
            y_pred = self.module_(Xb)
            loss = self.weighted_loss(y_pred, yb, wb)
            for cb in penalties:
                term = _invoke(
                    cb.penalty, self, Xb, yb, y_pred, context=context, sample_weight=wb
                )
                if term is not None:
                    loss = loss + term
            if not loss.requires_grad:
                raise ValueError(_NOTHING_TO_TRAIN)
            loss.backward()
            if events:
                self._notify(
                    full,
                    "on_grad_computed",
                    named_parameters=learnable,
                    batch=(Xb, yb),
                    training=True,
                    context=context,
                )
            self.optimizer_.step()
            if full:
                self.history.record_batch("train_loss", loss.item())
                self.history.record_batch("train_batch_size", len(Xb))
            if events:
                self._notify(
                    full,
                    "on_batch_end",
                    batch=(Xb, yb),
                    training=True,
                    loss=loss,
                    y_pred=y_pred,
                    context=context,
                )
            losses.append(loss.detach())
            sizes.append(len(index))
        if full:
            self.history.record("train_batch_count", len(losses))
        if len(losses) == 1:
            return losses[0].item()
        stacked = torch.stack(losses)
        weights = torch.tensor(sizes, dtype=stacked.dtype, device=stacked.device)
        return torch.dot(stacked, weights).item() / n

    def _run_validation(self, X, y, weight, context) -> None:
        """The validation pass of an epoch, as skorch's ``validation_step``:
        evaluation mode, no gradients, batch rows ``valid_loss`` and
        ``valid_batch_size``."""
        n = len(X)
        batch_size = self.batch_size if self.batch_size > 0 else n
        self.module_.eval()
        n_batches = 0
        with torch.no_grad():
            for start in range(0, n, batch_size):
                Xb, yb = X[start : start + batch_size], y[start : start + batch_size]
                wb = None if weight is None else weight[start : start + batch_size]
                self.notify(
                    "on_batch_begin", batch=(Xb, yb), training=False, context=context
                )
                y_pred = self.module_(Xb)
                loss = self.weighted_loss(y_pred, yb, wb)
                self.history.record_batch("valid_loss", loss.item())
                self.history.record_batch("valid_batch_size", len(Xb))
                self.notify(
                    "on_batch_end",
                    batch=(Xb, yb),
                    training=False,
                    loss=loss,
                    y_pred=y_pred,
                    context=context,
                )
                n_batches += 1
        self.history.record("valid_batch_count", n_batches)
        self.module_.train()

    def weighted_loss(self, y_pred, y, weight=None):
        """The criterion's loss; with ``weight``, the weighted mean of the
        per-sample losses, ``sum(w_i * l_i) / sum(w_i)`` (0 when every
        weight is 0)."""
        if weight is None:
            return self.criterion_(y_pred, y)
        cached = getattr(self, "_unreduced", None)
        if cached is None or cached[0] is not self.criterion_:
            if not hasattr(self.criterion_, "reduction"):
                raise ValueError(
                    f"sample_weight and class_weight need a criterion that can "
                    f"return per-sample losses (a `reduction` attribute, as "
                    f"torch's losses have); {type(self.criterion_).__name__} has "
                    "none. Use a torch loss, or add reduction='none' support."
                )
            unreduced = copy.copy(self.criterion_)
            unreduced.reduction = "none"
            cached = self._unreduced = (self.criterion_, unreduced)
        losses = cached[1](y_pred, y)
        if losses.dim() > 1:  # one loss per output: average them per sample
            losses = losses.flatten(1).mean(1)
        total = weight
        class_weight = getattr(self.criterion_, "weight", None)
        if class_weight is not None and isinstance(self.criterion_, _CLASS_LOSSES):
            # criterion__weight: the unreduced losses hold each sample's class
            # weight, and torch's mean divides by their sum, as class_weight
            # (a factor of the sample weights) does
            total = weight * class_weight[y.clamp_min(0)]
            ignored = getattr(self.criterion_, "ignore_index", -100)
            if 0 <= ignored < len(class_weight):  # torch leaves them out
                total = total * (y != ignored)
        return (losses * weight).sum() / total.sum().clamp_min(
            torch.finfo(weight.dtype).tiny
        )

    def predict(self, X):
        """Class indices for a classifier (as skorch's
        ``NeuralNetClassifier``), raw outputs otherwise; what skorch's
        scoring callbacks call."""
        out = self.predict_proba(X)
        return out.argmax(axis=1) if self.classifier else out

    def grow_output(self, n_new: int) -> None:
        """Widen the module's last ``nn.Linear`` to ``n_new`` outputs.

        Old rows keep their weights and their optimizer state; new rows get
        the layer's default initialisation and empty optimizer state. The
        module and optimizer are replaced by new objects, the old ones are
        left as they were (so a failed update can put them back).
        """
        class_weight = getattr(self.criterion_, "weight", None)
        if isinstance(self.criterion_, _CLASS_LOSSES) and class_weight is not None:
            raise ValueError(
                f"The criterion's class weights (criterion__weight) have "
                f"{len(class_weight)} entries, one per class, but this update "
                f"brings new labels ({n_new} classes). Use "
                "class_weight={label: weight} instead (it may name labels that "
                "come later), or pass every label in `classes` up front."
            )
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


# the keyword arguments each hook function takes; None: any (**kwargs)
_KEYWORDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_UNSEEN = object()


def _keywords(function) -> frozenset | None:
    keywords = _KEYWORDS.get(function, _UNSEEN)
    if keywords is _UNSEEN:
        parameters = inspect.signature(function).parameters.values()
        keywords = _KEYWORDS[function] = (
            None
            if any(p.kind is p.VAR_KEYWORD for p in parameters)
            else frozenset(p.name for p in parameters if p.kind is not p.VAR_POSITIONAL)
        )
    return keywords


def _invoke(hook, *args, **kwargs):
    """Call ``hook`` with ``kwargs``, or, when it takes no ``**kwargs`` (a
    hook written for the first strategy contract, before ``context`` and
    ``sample_weight`` existed), with those it names."""
    keywords = _keywords(getattr(hook, "__func__", hook))
    if keywords is not None:
        kwargs = {k: v for k, v in kwargs.items() if k in keywords}
    return hook(*args, **kwargs)


def _with_weight(batch, weight):
    """``(X, y, weight)`` from what ``extend_batch`` returns: rows a strategy
    appended without weights weigh 1."""
    if len(batch) == 3:
        return batch
    X, y = batch
    if weight is None or len(weight) == len(X):
        return X, y, weight
    extra = weight.new_ones(len(X) - len(weight))
    return X, y, torch.cat([weight, extra])


def _subset_indices(part, dataset) -> torch.Tensor:
    """Indices of ``part`` in ``dataset``: what ``train_split`` returns must
    be ``dataset`` itself or ``torch.utils.data.Subset``s of it (as
    skorch's ``ValidSplit`` gives)."""
    if part is None:
        return torch.zeros(0, dtype=torch.long)
    if part is dataset:
        return torch.arange(len(dataset))
    if isinstance(part, torch.utils.data.Subset) and part.dataset is dataset:
        return torch.as_tensor(part.indices, dtype=torch.long)
    raise ValueError(
        "train_split must return the dataset it is given or Subsets of it (as "
        f"skorch.dataset.ValidSplit does); got {type(part).__name__}. To "
        "validate on separate data, pass train_split=skorch.helper."
        "predefined_split(skorch.dataset.Dataset(X_valid, y_valid))."
    )


def _last_linear(module: torch.nn.Module):
    """(parent, attribute name, layer) of the last ``nn.Linear`` of
    ``module``, or a ValueError that says growing classes needs one."""
    found = last_linear(module)
    if found is None:
        raise ValueError(
            f"Cannot grow the output layer of {type(module).__name__}: it has no "
            "torch.nn.Linear layer. Growing classes needs a module whose last "
            "layer is an nn.Linear; or pass every label in `classes` up front."
        )
    return found


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
