"""Synaptic intelligence (SI): importance measured online along the training path."""

from __future__ import annotations

from numbers import Real

import torch

from .._param_validation import Interval
from ._importance import ImportancePenalty, add_penalty_gradient

__all__ = ["SI"]


class SI(ImportancePenalty):
    r"""Synaptic intelligence: hold weights near their old values, weighted by
    how much they lowered the loss while they were trained.

    During every training call SI sums, for each weight, the loss decrease
    it contributed along the optimisation path, step by step:
    :math:`\omega_i = -\sum_t g_{i,t}\, \Delta\theta_{i,t}` with
    :math:`g_{i,t}` the gradient of the training loss (penalty included) and
    :math:`\Delta\theta_{i,t}` the change the optimizer made at step
    :math:`t`. At the end of the call it consolidates the importance

    .. math:: \Omega_i \leftarrow \gamma\,\Omega_i
        + \left(\frac{\max(\omega_i, 0)}{(\Delta_i)^2 + \xi}\right)^p

    where :math:`\Delta_i` is how far the weight moved over the whole call
    and :math:`p` is ``power``, and anchors at the weights :math:`\theta^*`
    after the call. Every batch of a later update adds

    .. math:: \lambda \sum_i \Omega_i (\theta_i - \theta^*_i)^2

    (Zenke, Poole & Ganguli 2017, "Continual Learning Through Synaptic
    Intelligence", ICML, eqs. 4-5, where :math:`\lambda` is their :math:`c`
    and :math:`\xi` their damping, with :math:`p = 1`). Negative path
    integrals (a weight whose moves raised the loss overall) count as no
    importance here; the paper keeps them, which makes the penalty pull such
    weights *away* from the anchor and can diverge.

    **Squared importance.** SI's importance approximates the square root of
    the Fisher information that :class:`EWC` penalises (Benzing 2022,
    "Unifying importance based regularisation methods for continual
    learning", AISTATS). The default ``power=2`` squares each call's
    importance, which holds the few weights that matter most far more firmly
    than the rest, as EWC does: on permuted digits (5 tasks, seeds 0-4) SI
    reached 0.732 average accuracy at its best strength against 0.711 with
    the paper's ``power=1`` (EWC 0.744, fine-tuning 0.604).

    **It cannot diverge.** As in :class:`EWC`, each weight's stiffness
    :math:`2\lambda\Omega_i` is capped at ``1 / lr`` (``clip_stiffness``),
    so a gradient step ends at the anchor at most.

    **Sample weights** need nothing of SI: its path integral follows the
    gradients of the training loss, which ``sample_weight`` (times
    ``class_weight``) already weighs, so a sample of weight 0 has no part in
    the importance and one of integer weight :math:`k` the part of
    :math:`k` copies (with the whole call in one batch; with mini-batches,
    as in training, up to which batch each copy falls in).

    Use it where :class:`EWC` fits (old data cannot be kept; updates bring
    new inputs for the same outputs) when the extra pass over the data that
    EWC's Fisher needs is too costly: SI's importance comes from the
    gradients training computes anyway.

    Cost: per training step, two fused elementwise passes over the
    parameters for the path integral and two for the penalty's gradient
    (added to the gradients in place; the recorded ``train_loss`` leaves
    the penalty out), all in one hook before the optimizer's step; no pass
    over the data. The path integral
    :math:`-\sum_t g_t (\theta_{t+1} - \theta_t)` is summed by parts, as
    :math:`\sum_t \theta_t (g_t - g_{t-1})` plus the last step's
    :math:`-\theta_T g_{T-1}`: the previous step's gradients are the tensors
    autograd wrote (the net drops them rather than zeroing them), so no
    hook after the step and no copy of the weights are needed. An update
    of 10 epochs on digits took 1.17x a plain one (1.22x with a hook after
    each step; EWC, whose penalty goes through autograd and which makes a
    Fisher pass: 1.56x; ``benchmarks/bench_strategies.py``). Memory: three
    copies of the parameters (importance, anchor, path integral), the
    weights at the start of each call and the previous step's gradients.

    Parameters
    ----------
    lambda_ : float, default=50.0
        Strength :math:`\lambda` (:math:`c` in Zenke et al., who used 0.1
        on permuted MNIST with ``power=1``). On permuted digits (the
        protocol of ``tests/strategies/test_quality_permuted.py``, seeds
        0-4), ``lambda_`` = 3, 10, 30, 50, 70, 100 gave 0.64, 0.69, 0.72,
        0.73, 0.73, 0.71 average accuracy (fine-tuning 0.60, EWC at its best
        0.744); with ``power=1`` the best was ``lambda_=1``: 0.71.
    xi : float, default=0.1
        Damping :math:`\xi` of the importance, in squared weight units; it
        bounds the importance of weights that barely moved (with
        ``power=1``, 0.01 and 1 did worse than 0.1 on permuted digits).
    power : float, default=2.0
        Exponent :math:`p` of each call's importance: 2 squares it (see
        above), 1 is the paper's SI.
    gamma : float, default=1.0
        Decay of the running importance at each consolidation, in (0, 1].
    clip_stiffness : bool, default=True
        Cap each weight's stiffness ``2 * lambda_ * importance`` at ``1 / lr``.

    Attributes
    ----------
    importance_ : dict of str to torch.Tensor or None
        Consolidated importance :math:`\Omega` per parameter name.
    anchor_ : dict of str to torch.Tensor or None
        The weights after the last training call.
    n_consolidations_ : int
        Training calls consolidated so far.
    path_ : list of torch.Tensor or None
        During a call, the path integral :math:`\omega` so far, in the order
        of ``module.parameters()``; None outside calls.
    start_ : list of torch.Tensor or None
        During a call, the weights when it began; None outside calls.

    Examples
    --------
    Permuted digits, three tasks trained in sequence; the accuracy on all
    of them after the last:

    >>> from sklearn_cl import ContinualClassifier
    >>> from sklearn_cl.datasets import permuted_digits
    >>> from sklearn_cl.strategies import SI
    >>> tasks = permuted_digits(3)
    >>> X, y, task_ids = tasks.train_arrays()
    >>> X_test, y_test, _ = tasks.test_arrays()
    >>> for callbacks in ([], [SI()]):
    ...     clf = ContinualClassifier(max_epochs=40, update_epochs=10, batch_size=16,
    ...                               callbacks=callbacks, random_state=0)
    ...     print(round(clf.fit(X, y, tasks=task_ids).score(X_test, y_test), 2))
    0.74
    0.84
    >>> si = dict(clf.net_.callbacks_)["si"]
    >>> si.n_consolidations_, bool((si.importance_["layers.0.weight"] >= 0).all())
    (3, True)
    """

    _transient_state = (
        *ImportancePenalty._transient_state,
        "path_",
        "start_",
        "last_step_",
    )
    _parameter_constraints = {
        **ImportancePenalty._parameter_constraints,
        "xi": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(
        self, lambda_=50.0, *, xi=0.1, power=2.0, gamma=1.0, clip_stiffness=True
    ):
        self.lambda_ = lambda_
        self.xi = xi
        self.power = power
        self.gamma = gamma
        self.clip_stiffness = clip_stiffness

    def initialize(self):
        super().initialize()
        self.path_ = None
        self.start_ = None
        self.last_step_ = None
        return self

    def on_update_begin(self, net, X=None, y=None, *, context, **kwargs):
        super().on_update_begin(net, X=X, y=y, context=context, **kwargs)
        self.start_ = [p.detach().clone() for p in context.module.parameters()]
        self.path_ = [torch.zeros_like(p) for p in self.start_]
        self.last_step_ = None

    def on_grad_computed(self, net, named_parameters=None, *, context, **kwargs):
        # -sum_t g_t (theta_{t+1} - theta_t), summed by parts: at step t add
        # theta_t * (g_t - g_{t-1}); the last step's -theta_T * g_{T-1}
        # follows in on_update_end. The gradients of the previous step are
        # the tensors themselves (the net sets them to None between steps and
        # autograd writes new ones), so no hook after the optimizer's step
        # and no copy.
        if self.active_stiffness_ is None:
            grads, params, path = self.with_grads(self.path_)
        else:
            grads, params, path, anchor, stiffness = self.with_grads(
                self.path_, self.active_anchor_, self.active_stiffness_
            )
            add_penalty_gradient(grads, params, anchor, stiffness)
        self._close_last_step()
        torch._foreach_addcmul_(path, params, grads)
        self.last_step_ = (path, params, grads)

    def _close_last_step(self) -> None:
        """Subtract the last step's gradient times the current weights."""
        if self.last_step_ is not None:
            torch._foreach_addcmul_(*self.last_step_, value=-1)
            self.last_step_ = None

    def on_update_end(self, net, X=None, y=None, *, context, **kwargs):
        self._close_last_step()
        module = context.module
        importance = {
            name: omega.clamp(min=0) / ((p.detach() - start) ** 2 + self.xi)
            for (name, p), omega, start in zip(
                module.named_parameters(), self.path_, self.start_
            )
        }
        self.consolidate(module, importance)
