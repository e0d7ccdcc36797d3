"""Freezing: updates train only chosen layers."""

from __future__ import annotations

from collections.abc import Callable
from fnmatch import fnmatch
from numbers import Integral

from torch import nn

from .._param_validation import Interval
from ._layers import last_linear
from .base import Strategy

__all__ = ["Freeze"]


def _owners(module: nn.Module) -> list[str]:
    """Names of the submodules that own parameters directly (the layers), in
    registration order."""
    return [
        name
        for name, sub in module.named_modules()
        if next(sub.parameters(recurse=False), None) is not None
    ]


def _param_name(owner: str, name: str) -> str:
    return f"{owner}.{name}" if owner else name


def _head(module: nn.Module) -> nn.Linear:
    """The last ``nn.Linear`` registered in ``module``."""
    found = last_linear(module)
    if found is None:
        raise ValueError(
            f"Freeze(new_head=True) needs a module with an nn.Linear output layer; "
            f"{type(module).__name__} has none. Use new_head=False."
        )
    return found[2]


class Freeze(Strategy):
    """Train only some layers during updates; the others stay fixed.

    During every ``partial_fit`` (not during ``fit``, which trains all
    layers) the chosen parameters get ``requires_grad=False``: they receive
    no gradient, so the optimizer skips them entirely (no step, no weight
    decay, no momentum) and they stay bit-identical. After the epochs,
    before the strategies' ``on_update_end``, they get ``requires_grad=True``
    (so that a Fisher sees them), and when the call ends every parameter has
    the flag it had before the call (one the module froze itself stays
    frozen). Frozen parameters are:

    - those whose name (as in ``module.named_parameters()``, e.g.
      ``"layers.0.weight"``) matches one of ``patterns``: shell-style
      patterns as in skorch's ``Freezer`` (``"layers.0.*"``), or callables
      ``name -> bool``;
    - with ``train_last=N``, all but the last ``N`` layers (modules that own
      parameters, in registration order);
    - with neither, all but the last layer (``train_last=1``): fine-tune the
      head only.

    With ``new_head=True``, the first update after ``fit`` re-initialises
    the last ``nn.Linear`` (and clears its optimizer state) before training,
    to re-purpose the trained body for a changed target; the head is always
    trained.

    Use it when the early layers hold features that must not drift (a
    pre-trained body, a task whose inputs stay alike) or when updates must be
    cheap and stable. Forgetting is limited to what the trained layers hold.

    Cost: none beyond the training itself; backward stops early when the
    first layers are frozen, so updates get cheaper. Buffers such as
    BatchNorm running statistics are not parameters and still update in
    training mode.

    Parameters
    ----------
    patterns : str, callable or list of them, default=None
        Parameters to freeze, by name.
    train_last : int, default=None
        Train only the last ``train_last`` layers.
    new_head : bool, default=False
        Re-initialise the output layer at the first update after ``fit``.

    Examples
    --------
    >>> import torch
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_cl import ContinualClassifier
    >>> from sklearn_cl.strategies import Freeze
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = ContinualClassifier(
    ...     max_epochs=2, callbacks=[Freeze(patterns="layers.0.*")], random_state=0
    ... ).fit(X[:500], y[:500])
    >>> first = clf.net_.module_.layers[0].weight.clone()
    >>> clf = clf.partial_fit(X[500:], y[500:])
    >>> torch.equal(first, clf.net_.module_.layers[0].weight)
    True
    """

    _learned_state = ("head_replaced_",)
    _transient_state = ("frozen_",)
    _parameter_constraints = {
        "patterns": [str, callable, list, tuple, None],
        "train_last": [Interval(Integral, 1, None, closed="left"), None],
        "new_head": ["boolean"],
    }

    def __init__(self, patterns=None, train_last=None, new_head=False):
        self.patterns = patterns
        self.train_last = train_last
        self.new_head = new_head

    def initialize(self):
        super().initialize()
        for pattern in self._patterns():
            if not (isinstance(pattern, str) or callable(pattern)):
                raise ValueError(
                    "`patterns` must be a str, a callable or a list of them; got "
                    f"{pattern!r} in {self.patterns!r}."
                )
        self.frozen_ = None
        self.head_replaced_ = False
        return self

    def _patterns(self) -> list[str | Callable[[str], bool]]:
        if self.patterns is None:
            return []
        if isinstance(self.patterns, list | tuple):
            return list(self.patterns)
        return [self.patterns]

    def frozen_names(self, module: nn.Module) -> list[str]:
        """Names of the parameters of ``module`` that updates leave fixed."""
        patterns = self._patterns()
        train_last = self.train_last
        if not patterns and train_last is None:
            train_last = 1
        owners = _owners(module)
        trained_owners = set(owners[-train_last:]) if train_last else set(owners)
        head = _head(module) if self.new_head else None
        frozen = []
        for owner in owners:
            if module.get_submodule(owner) is head:
                continue
            for name, _ in module.get_submodule(owner).named_parameters(recurse=False):
                full = _param_name(owner, name)
                if owner not in trained_owners or any(
                    p(full) if callable(p) else fnmatch(full, p) for p in patterns
                ):
                    frozen.append(full)
        return frozen

    def on_update_begin(self, net, X=None, y=None, *, context, **kwargs):
        if not context.is_update:
            return
        module = context.module
        params = dict(module.named_parameters())
        names = self.frozen_names(module)
        if len(names) == len(params):
            raise ValueError(
                f"Freeze(patterns={self.patterns!r}, train_last={self.train_last!r})"
                " freezes every parameter of the module, so an update could not "
                "train anything. Match fewer parameters."
            )
        if self.new_head and not self.head_replaced_:
            head = _head(module)
            head.reset_parameters()
            for param in head.parameters():
                context.optimizer.state.pop(param, None)
            self.head_replaced_ = True
        # all of them, even those already frozen: an update that failed
        # midway is rolled back without its flags, and this heals them
        self.frozen_ = [params[n] for n in names]
        for param in self.frozen_:
            param.requires_grad_(False)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        # before any strategy's on_update_end, which may need gradients of
        # every parameter (a Fisher, for instance)
        for param in self.frozen_ or ():
            param.requires_grad_(True)
