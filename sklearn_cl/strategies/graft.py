"""Grafting: freeze the old network and train new layers added to it."""

from __future__ import annotations

import copy
from numbers import Integral

import torch
from torch import nn

from .._param_validation import Interval, StrOptions
from ._layers import last_linear
from .base import Strategy

__all__ = ["Graft", "GraftedHead", "GraftedColumn"]

_KINDS = ("head", "column")


def _output_layer(module: nn.Module) -> tuple[nn.Module, str, nn.Linear]:
    """(parent, attribute name, layer) of the last ``nn.Linear`` of ``module``."""
    found = last_linear(module)
    if found is None:
        raise ValueError(
            f"Graft needs a module whose output layer is an nn.Linear inside it; "
            f"{type(module).__name__} has none. Add a last nn.Linear layer."
        )
    return found


def _branch(n_in: int, width: int, n_out: int, like: torch.Tensor) -> nn.Sequential:
    """``n_in -> width -> ReLU -> n_out``, its last layer zero so that the
    grafted network starts with exactly the old network's outputs."""
    factory = dict(device=like.device, dtype=like.dtype)
    branch = nn.Sequential(
        nn.Linear(n_in, width, **factory), nn.ReLU(), nn.Linear(width, n_out, **factory)
    )
    nn.init.zeros_(branch[-1].weight)
    nn.init.zeros_(branch[-1].bias)
    return branch


def _added(new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    """``new`` plus ``old`` on the old outputs; the outputs added after the
    graft (new classes) come from ``new`` alone."""
    n = old.shape[-1]
    if new.shape[-1] == n:
        return new + old
    return torch.cat([new[..., :n] + old, new[..., n:]], dim=-1)


class GraftedHead(nn.Module):
    """A frozen output layer plus a trainable branch on its input, added.

    ``branch`` is registered after ``old``, so it holds the module's last
    ``nn.Linear``: a classifier that gains classes widens the branch.
    """

    def __init__(self, old: nn.Linear, width: int, n_outputs: int | None = None):
        super().__init__()
        self.old = old.requires_grad_(False)
        n_outputs = old.out_features if n_outputs is None else n_outputs
        self.branch = _branch(old.in_features, width, n_outputs, old.weight)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return _added(self.branch(h), self.old(h))


class GraftedColumn(nn.Module):
    """A frozen network plus a trainable column from the input, added."""

    def __init__(self, base: nn.Module, n_features: int, n_outputs: int, width: int):
        super().__init__()
        self.base = base.requires_grad_(False)
        like = next(base.parameters())
        self.column = nn.Sequential(
            nn.Flatten(), *_branch(n_features, width, n_outputs, like)
        )

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return _added(self.column(X), self.base(X))


class Graft(Strategy):
    """Freeze the old network and train new layers grafted onto it.

    At the first update after the first training, Graft freezes every
    parameter of the network (``requires_grad=False``, for good) and adds
    new trainable layers whose output is added to the old network's:

    - ``kind="head"``: a branch ``Linear(d, width) -> ReLU -> Linear(width,
      n_outputs)`` on the input of the last ``nn.Linear`` (the frozen
      features), added to the frozen output layer's output;
    - ``kind="column"``: the same branch on the flattened raw input, added
      to the frozen network's output (a lateral column, after Rusu et al.
      2016, "Progressive Neural Networks", without the lateral
      connections).

    The branch's last layer starts at zero, so the grafted network first
    computes exactly what the old one did; the optimizer is rebuilt over
    the new layers (at the update's learning rate). Every later update
    trains the same new layers; ``fit`` trains a fresh network from scratch.
    When a classifier gains classes after the graft, the branch's output
    grows and the new classes' outputs come from the branch alone.

    It works with any module whose last ``nn.Linear`` (by registration
    order) produces the output: :class:`~sklearn_cl.modules.MLP`,
    :class:`~sklearn_cl.modules.CNN1D`, or your own.

    Use it when the old model must keep its behaviour where the new layers
    learn nothing (the old network cannot change at all, so its features are
    never damaged) and the new data is a correction of the old model rather
    than a new task: a drifted target, a new site. Compared with
    :class:`Freeze`, which trains the old head, the capacity of the update
    is set by ``width``, and it can be added to a model that was trained
    without it. The graft happens in the update's first hook
    (``extend_data``), so :class:`EWC`, :class:`SI` or :class:`MAS` listed
    beside it, before or after, see the grafted network and hold the new
    layers from one update to the next.

    Cost: updates train only the new layers (backward stops at the frozen
    network for ``kind="head"``); each forward pass adds the branch.
    Memory: the branch's parameters.

    Parameters
    ----------
    kind : {"head", "column"}, default="head"
        Where the new layers read from: the frozen features, or the input.
    width : int, default=32
        Hidden width of the new layers.

    Attributes
    ----------
    grafted_ : bool
        Whether the new layers have been added.
    n_grafted_outputs_ : int or None
        Outputs of the frozen network when it was grafted (later classes
        widen the new layers only).

    Examples
    --------
    >>> import torch
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_cl import ContinualClassifier
    >>> from sklearn_cl.strategies import Graft
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = ContinualClassifier(max_epochs=5, callbacks=[Graft(width=16)],
    ...                           random_state=0).fit(X[:900], y[:900])
    >>> first = clf.net_.module_.layers[0].weight.clone()
    >>> clf = clf.partial_fit(X[900:], y[900:])
    >>> torch.equal(first, clf.net_.module_.layers[0].weight)
    True
    >>> clf.net_.module_.layers[-1]
    GraftedHead(
      (old): Linear(in_features=100, out_features=10, bias=True)
      (branch): Sequential(
        (0): Linear(in_features=100, out_features=16, bias=True)
        (1): ReLU()
        (2): Linear(in_features=16, out_features=10, bias=True)
      )
    )
    """

    _learned_state = ("grafted_", "n_grafted_outputs_")
    _parameter_constraints = {
        "kind": [StrOptions(set(_KINDS))],
        "width": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, kind="head", width=32):
        self.kind = kind
        self.width = width

    def initialize(self):
        super().initialize()
        self.grafted_ = False
        self.n_grafted_outputs_ = None
        return self

    def restore_module(self, net, X, **kwargs):
        if self.grafted_:  # the loaded weights are those of the grafted module
            self._graft(net, X, lr=None)

    def extend_data(self, net, X, y, *, context=None, **kwargs):
        # the first hook of a call: every strategy's on_update_begin then
        # sees the grafted network, whatever the order of the callbacks
        if context.is_update and not self.grafted_:
            self._graft(net, X, lr=context.lr)
        return X, y

    def _graft(self, net, X, lr) -> None:
        """Freeze ``net``'s module and add the new layers; ``X`` shows the
        input layout, ``lr`` is the call's rate (None: the next call sets it)."""
        # a new module: the old one stays as it was, so a failed update can
        # put it back (as when the output layer grows)
        module = copy.deepcopy(net.module_).requires_grad_(False)
        parent, name, head = _output_layer(module)
        n_outputs = head.out_features
        if self.grafted_ and (self.n_grafted_outputs_ or n_outputs) < n_outputs:
            # a loaded model whose classes grew after the graft: the frozen
            # layer has the outputs it had then (its weights come from the file)
            factory = dict(device=head.weight.device, dtype=head.weight.dtype)
            head = nn.Linear(
                head.in_features, self.n_grafted_outputs_, **factory
            ).requires_grad_(False)
            setattr(parent, name, head)
        if self.kind == "head":
            setattr(parent, name, GraftedHead(head, self.width, n_outputs))
        else:
            module = GraftedColumn(module, X[0].numel(), n_outputs, self.width)
        optimizer = net.optimizer_
        # the settings of the group of the parameters no pattern of
        # optimizer__param_groups names (skorch puts it last); the new layers
        # train at the call's rate whatever rate a group of the old ones had
        group = {
            k: v
            for k, v in optimizer.param_groups[-1].items()
            if k not in ("params", "initial_lr")
        }
        group["lr_scale"] = 1.0
        if lr is not None:
            group["lr"] = lr
        trained = [p for p in module.parameters() if p.requires_grad]
        net.optimizer_ = type(optimizer)(
            [{**group, "params": trained}], **optimizer.defaults
        )
        net.module_ = module.train(net.module_.training)
        if not self.grafted_:
            self.n_grafted_outputs_ = head.out_features
        self.grafted_ = True
