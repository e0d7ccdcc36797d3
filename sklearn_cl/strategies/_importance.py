"""The quadratic penalty shared by the importance-weighted regularisers (SI, MAS).

Both hold each weight near its value after the last training call with a
stiffness proportional to a per-weight importance; they differ only in how
the importance is measured. The penalty, the stiffness cap that keeps it
from diverging, the running sum of importances and the padding of a grown
output layer are the ones of :class:`~sklearn_cl.strategies.EWC`, through
the same helpers of ``_fisher.py``.
"""

from __future__ import annotations

from ._fisher import (
    anchor_penalty,
    check_real,
    in_parameter_order,
    pad_rows,
    stiffness_cap,
)
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

    def _check_penalty_params(self) -> None:
        check_real("lambda_", self.lambda_, low=0)
        check_real("gamma", self.gamma, low=0, high=1, open_low=True)
        if not isinstance(self.clip_stiffness, bool):
            raise TypeError(
                f"`clip_stiffness` must be True or False; got {self.clip_stiffness!r}."
            )

    def initialize(self):
        self._check_penalty_params()
        self.importance_ = None
        self.anchor_ = None
        self.n_consolidations_ = 0
        self.active_stiffness_ = None
        self.active_anchor_ = None
        return super().initialize()

    def on_update_begin(self, net, X=None, y=None, is_update=True, **kwargs):
        if not is_update or self.importance_ is None:
            return
        module = net.module_
        cap = stiffness_cap(net) if self.clip_stiffness else float("inf")
        self.active_stiffness_ = [
            (2 * self.lambda_ * omega).clamp_(max=cap)
            for omega in in_parameter_order(module, self.importance_)
        ]
        self.active_anchor_ = in_parameter_order(module, self.anchor_)

    def penalty(self, net, X, y, y_pred, **kwargs):
        if self.active_stiffness_ is None:
            return None
        return anchor_penalty(net.module_, self.active_anchor_, self.active_stiffness_)

    def on_update_end(self, net, X=None, y=None, is_update=True, **kwargs):
        self.active_stiffness_ = self.active_anchor_ = None

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
