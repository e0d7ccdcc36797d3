"""The quadratic penalty shared by the importance-weighted regularisers (SI, MAS).

Both hold each weight near its value after the last training call with a
stiffness proportional to a per-weight importance; they differ only in how
the importance is measured. The penalty, the stiffness cap that keeps it
from diverging, the running sum of importances and the padding of a grown
output layer are the ones of :class:`~sklearn_cl.strategies.EWC`, through
the same helpers of ``_penalty.py``.
"""

from __future__ import annotations

from numbers import Real

from .._param_validation import Interval
from ._penalty import anchor_penalty, in_parameter_order, pad_rows, stiffness_cap
from .base import Strategy


class ImportancePenalty(Strategy):
    r"""Base class: add :math:`\lambda \sum_i \Omega_i (\theta_i - \theta^*_i)^2`
    to every training batch of an update.

    Subclasses set ``lambda_``, ``gamma`` and ``clip_stiffness`` in their
    ``__init__`` and call :meth:`consolidate` with the importance of the
    call just trained. The stiffness of weight ``i`` is
    :math:`2 \lambda \Omega_i` (the papers write the penalty without a
    1/2), capped at ``1 / lr`` with ``clip_stiffness=True`` so that a
    gradient step ends at the anchor at most (see :class:`EWC`).
    """

    _learned_state = ("importance_", "anchor_", "n_consolidations_")
    _transient_state = ("active_stiffness_", "active_anchor_")
    _parameter_constraints = {
        "lambda_": [Interval(Real, 0, None, closed="left")],
        "gamma": [Interval(Real, 0, 1, closed="right")],
        "clip_stiffness": ["boolean"],
    }

    def initialize(self):
        super().initialize()
        self.importance_ = None
        self.anchor_ = None
        self.n_consolidations_ = 0
        self.active_stiffness_ = None
        self.active_anchor_ = None
        return self

    def _penalised(self, context) -> bool:
        # importance_ changes only after the epochs, so this holds for the
        # whole call
        return context.is_update and self.importance_ is not None

    def on_update_begin(self, net, X=None, y=None, *, context, **kwargs):
        if not self._penalised(context):
            return
        module = context.module
        cap = stiffness_cap(context.lr) if self.clip_stiffness else float("inf")
        self.active_stiffness_ = [
            (2 * self.lambda_ * omega).clamp_(max=cap)
            for omega in in_parameter_order(module, self.importance_)
        ]
        self.active_anchor_ = in_parameter_order(module, self.anchor_)

    def penalty(self, net, X, y, y_pred, *, context, **kwargs):
        if not self._penalised(context):
            return None
        return anchor_penalty(
            context.module, self.active_anchor_, self.active_stiffness_
        )

    def consolidate(self, module, importance: dict) -> None:
        """Add ``importance`` (one tensor per parameter name) to the running
        importance, decayed by ``gamma``, and anchor at the current weights."""
        if self.importance_ is None:
            self.importance_ = importance
        else:
            self.importance_ = {
                name: self.gamma * omega + importance[name]
                for name, omega in self.importance_.items()
            }
        self.anchor_ = {n: p.detach().clone() for n, p in module.named_parameters()}
        self.n_consolidations_ += 1

    def on_output_grown(self, net, n_old, n_new, **kwargs):
        # new output rows: no importance yet, anchored at their new values
        if self.importance_ is None:
            return
        params = dict(net.module_.named_parameters())
        self.importance_ = {
            n: pad_rows(o, params[n], new_rows="zeros")
            for n, o in self.importance_.items()
        }
        self.anchor_ = {
            n: pad_rows(a, params[n], new_rows="like") for n, a in self.anchor_.items()
        }
