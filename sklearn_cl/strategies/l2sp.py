"""L2-SP and L1-SP: regularisation towards the weights before the update."""

from __future__ import annotations

from numbers import Real

from .._param_validation import Interval, StrOptions
from ._penalty import anchor_penalty
from .base import Strategy

__all__ = ["L2SP"]

_NORMS = ("l2", "l1")


class L2SP(Strategy):
    r"""Pull the weights towards their values at the start of each update.

    During every update (``partial_fit``) the loss of each batch gets

    .. math:: \frac{\alpha}{2} \lVert \theta - \theta^0 \rVert_2^2
        \quad\text{or}\quad \alpha \lVert \theta - \theta^0 \rVert_1

    for ``norm="l2"`` or ``"l1"``, where :math:`\theta^0` are the weights
    when the update began: the model before it saw the new data (L2-SP and
    L1-SP of Li, Grandvalet & Davoine 2018, "Explicit Inductive Bias for
    Transfer Learning with Convolutional Networks", with the old model as the
    starting point). ``fit`` trains from scratch, so it has no anchor and no
    penalty.

    It is EWC with every weight equally important: it needs no Fisher, no
    consolidation and no state between updates, but it also holds back the
    weights that do not matter for the old data. Use it as a cheap brake on
    how far one update can move the model (small, noisy batches; a learning
    rate that is hard to tune); prefer :class:`EWC` when the new data should
    be learned freely where it does not conflict with the old, and
    :class:`LwF` when an update lacks some of the classes (on digits, an
    update without classes 5-9 left them at 0.78-0.82 accuracy with
    ``alpha=1``, 0.88-0.90 with LwF, 0.41-0.53 with plain fine-tuning).
    ``"l1"`` tends to let a few weights move far and keep the others near
    their old values.

    With plain SGD the L2 penalty is stable only for ``alpha * lr < 2``; the
    default Adam bounds each step by ``lr`` whatever ``alpha``.

    Cost: the anchor is one copy of the parameters, held only during an
    update; each training step adds a few elementwise passes over the
    parameters: 1.3-1.6x the time of a plain step
    (``benchmarks/bench_strategy_steps.py``).

    Parameters
    ----------
    alpha : float, default=0.01
        Strength :math:`\alpha` of the penalty.
    norm : {"l2", "l1"}, default="l2"
        Squared Euclidean distance (halved) or L1 distance to the anchor.

    Attributes
    ----------
    anchor_ : list of torch.Tensor or None
        The parameters at the start of the current update, in the order of
        ``module.parameters()``; None outside updates.

    Examples
    --------
    >>> import torch
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_cl import ContinualClassifier
    >>> from sklearn_cl.strategies import L2SP
    >>> X, y = load_digits(return_X_y=True)
    >>> def distance_moved(alpha):
    ...     clf = ContinualClassifier(
    ...         max_epochs=5, update_epochs=5, callbacks=[L2SP(alpha=alpha)],
    ...         random_state=0,
    ...     ).fit(X[:1000], y[:1000])
    ...     weights = lambda: torch.cat(
    ...         [p.detach().flatten() for p in clf.net_.module_.parameters()]
    ...     )
    ...     before = weights()
    ...     clf.partial_fit(X[1000:], y[1000:])
    ...     return float((weights() - before).norm())
    >>> distance_moved(alpha=1.0) < 0.5 * distance_moved(alpha=0.0)
    True
    """

    _transient_state = ("anchor_",)
    _parameter_constraints = {
        "alpha": [Interval(Real, 0, None, closed="left")],
        "norm": [StrOptions(set(_NORMS))],
    }

    def __init__(self, alpha=0.01, norm="l2"):
        self.alpha = alpha
        self.norm = norm

    def initialize(self):
        super().initialize()
        self.anchor_ = None
        return self

    def on_update_begin(self, net, X=None, y=None, *, context, **kwargs):
        if context.is_update:
            self.anchor_ = [p.detach().clone() for p in context.module.parameters()]

    def penalty(self, net, X, y, y_pred, *, context, **kwargs):
        if not context.is_update:
            return None
        return anchor_penalty(context.module, self.anchor_, self.alpha, self.norm)
