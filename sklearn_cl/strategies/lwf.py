"""Learning without forgetting: distillation from the model before the update."""

from __future__ import annotations

import copy
from numbers import Real

import torch
import torch.nn.functional as F

from .._param_validation import Interval
from ._weighting import weighted_mean
from .base import Strategy

__all__ = ["LwF"]


class LwF(Strategy):
    r"""Learning without forgetting: keep the outputs of the model before the update.

    At the start of every update (``partial_fit``) LwF keeps a frozen copy of
    the network (the teacher). Each training batch, new samples and any
    replayed ones alike, then adds a distillation term that keeps the
    network's outputs close to the teacher's on that batch (Li & Hoiem 2016,
    "Learning without Forgetting", ECCV):

    - classifiers:
      :math:`\alpha T^2 \, \mathrm{KL}(\mathrm{softmax}(z^{old}/T) \,\Vert\,
      \mathrm{softmax}(z/T))`, averaged over the batch, with temperature
      :math:`T` and the :math:`T^2` factor of Hinton et al. 2015
      ("Distilling the Knowledge in a Neural Network") that keeps the
      gradient's scale independent of :math:`T`. It differs from Li & Hoiem's
      cross-entropy on soft targets by the teacher's entropy, a constant.
      When the output layer grew for new classes, only the old classes'
      logits are distilled (the teacher knows nothing of the new ones);
    - regressors: :math:`\alpha\,\mathrm{mean}((f(x) - f^{old}(x))^2)`.

    ``fit`` trains from scratch and has no teacher.

    It needs no stored data and no importance estimate: it protects what the
    old model *does* on the new inputs rather than its weights. Use it when
    the new data covers the inputs the old model must keep handling (the
    same input distribution with new labels or targets, or new classes
    beside old ones); it protects little when the new inputs look nothing
    like the old (e.g. permuted pixels). It combines with :class:`Replay`,
    whose replayed samples are distilled too.

    Cost: one extra forward pass of the teacher per training step, without
    gradients: 1.3-1.4x the time of a plain step
    (``benchmarks/bench_strategy_steps.py``); memory: one copy of the
    network, held only during an update.

    Parameters
    ----------
    alpha : float, default=1.0
        Weight :math:`\alpha` of the distillation term (Li & Hoiem's
        :math:`\lambda_o`).
    temperature : float, default=2.0
        Softmax temperature :math:`T` for classifiers (2 in Li & Hoiem);
        unused for regressors.

    Attributes
    ----------
    teacher_ : torch.nn.Module or None
        Frozen copy of the network during an update; None outside updates.
    n_distilled_ : int or None
        Number of outputs distilled in the current update: the width before
        the output layer last grew; None means all.

    Examples
    --------
    An update on a batch without classes 5-9 makes plain fine-tuning forget
    them; LwF keeps them:

    >>> from sklearn.datasets import load_digits
    >>> from sklearn_cl import ContinualClassifier
    >>> from sklearn_cl.strategies import LwF
    >>> X, y = load_digits(return_X_y=True)
    >>> X_old, y_old, X_new, y_new = X[:900], y[:900], X[900:], y[900:]
    >>> def kept(callbacks):
    ...     clf = ContinualClassifier(
    ...         max_epochs=30, update_epochs=10, callbacks=callbacks, random_state=0
    ...     ).fit(X_old, y_old)
    ...     clf.partial_fit(X_new[y_new < 5], y_new[y_new < 5])
    ...     return clf.score(X_new[y_new >= 5], y_new[y_new >= 5])
    >>> print(f"fine-tuning {kept([]):.2f}, LwF {kept([LwF()]):.2f}")
    fine-tuning 0.19, LwF 0.96
    """

    _transient_state = ("teacher_", "n_distilled_")
    _parameter_constraints = {
        "alpha": [Interval(Real, 0, None, closed="left")],
        "temperature": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, alpha=1.0, temperature=2.0):
        self.alpha = alpha
        self.temperature = temperature

    def initialize(self):
        super().initialize()
        self.teacher_ = None
        self.n_distilled_ = None
        return self

    def on_output_grown(self, net, n_old, n_new, **kwargs):
        # before the call: the width the teacher will have
        if self.n_distilled_ is None or n_old < self.n_distilled_:
            self.n_distilled_ = n_old

    def on_update_begin(self, net, X=None, y=None, *, context, **kwargs):
        if context.is_update:
            teacher = copy.deepcopy(context.module).eval()
            self.teacher_ = teacher.requires_grad_(False)

    def penalty(self, net, X, y, y_pred, *, context, **kwargs):
        if not context.is_update:
            return None
        with torch.no_grad():
            old = self.teacher_(X)
        weight = kwargs.get("sample_weight")  # a weight-0 sample is dropped
        if not context.is_classifier:
            if weight is None:
                return self.alpha * F.mse_loss(y_pred, old)
            distance = F.mse_loss(y_pred, old, reduction="none")
            return self.alpha * weighted_mean(distance, weight)
        n = self.n_distilled_ or old.shape[1]
        T = self.temperature
        divergence = F.kl_div(
            F.log_softmax(y_pred[:, :n] / T, dim=1),
            F.log_softmax(old[:, :n] / T, dim=1),
            reduction="batchmean" if weight is None else "none",
            log_target=True,
        )
        if weight is not None:  # each sample's divergence, summed over classes
            divergence = weighted_mean(divergence.sum(1, keepdim=True), weight)
        return self.alpha * T**2 * divergence
