"""Elastic weight consolidation (EWC) and online EWC."""

from __future__ import annotations

from numbers import Integral, Real

import torch

from .._param_validation import Interval, StrOptions
from ._fisher import FISHER_KINDS, diagonal_fisher
from ._penalty import (
    anchor_penalty,
    in_parameter_order,
    matched_to,
    pad_rows,
    stiffness_cap,
)
from ._weighting import weighted_rows
from .base import Strategy

__all__ = ["EWC"]

_MODES = ("online", "separate")


class EWC(Strategy):
    r"""Elastic weight consolidation: hold important weights near their old values.

    After every training call (``fit`` and each ``partial_fit``) EWC
    *consolidates*: it estimates how important each weight is for the data
    just learned, the diagonal Fisher information :math:`F`, and remembers
    the weights :math:`\theta^*` at that point (the anchor). Every training
    batch after that adds to the loss

    .. math:: \frac{\lambda}{2} \sum_i F_i (\theta_i - \theta^*_i)^2

    (Kirkpatrick et al. 2017, "Overcoming catastrophic forgetting in neural
    networks", PNAS, eq. 3, with its 1/2). ``mode="separate"`` adds one such
    term per consolidation, as in that paper. ``mode="online"`` (the default)
    keeps one running Fisher :math:`F \leftarrow \gamma F + F_{new}` anchored
    at the latest weights (online EWC of Schwarz et al. 2018, "Progress &
    Compress"). Online did better in our runs (permuted digits, 5 tasks,
    seeds 0-2: 0.76 against 0.72 average accuracy, each at its best
    ``lambda_``) and its anchor is the current model, which suits long
    ``partial_fit`` streams.

    **The Fisher** is the mean over samples of the squared gradient of *each
    sample's* log-likelihood, computed per sample with ``torch.func``
    (``vmap`` over ``grad`` of a ``functional_call``, in chunks of at most
    512 samples that bound memory; a closed form for ``nn.Linear`` and most
    ``nn.Conv1d`` layers, see ``_fisher.py``). It is not the square of a mini-batch
    mean gradient (what Avalanche computes), which is far smaller and makes
    ``lambda_`` depend on the batch size; ``lambda_`` here has the meaning
    of the papers above. The likelihood is categorical on the logits for
    classifiers and a unit-variance Gaussian for regressors, whatever the
    training criterion. The network runs in evaluation mode for the Fisher:
    dropout is off, so the Fisher is that of the network that makes the
    predictions (a train-mode Fisher would describe random sub-networks and
    be noisier), and batch normalisation uses its running statistics (batch
    statistics of one sample do not exist).

    **Sample weights.** A call with ``sample_weight`` (times the
    classifier's ``class_weight``) has the weighted Fisher
    :math:`\sum_n w_n F_n / \sum_n w_n`: a weight counts as a repetition of
    the sample, as in the training loss, so a sample of integer weight
    :math:`k` counts as :math:`k` copies and a sample of weight 0 as none.
    ``n_fisher_samples`` draws among the samples of positive weight, each
    keeping its weight, and ``consolidate_every`` pools the calls' weighted
    sums over their total weight. The weights are those of the call: they
    are not stored.

    **Stiffness bound.** The penalty pulls weight :math:`i` towards its
    anchor with stiffness :math:`s_i = \lambda F_i`. A gradient step at
    learning rate ``lr`` moves it by ``lr * s_i`` times its distance to the
    anchor: above 1 the step overshoots the anchor, above 2 the weight
    oscillates with a growing amplitude and training diverges (what
    Avalanche's EWC does for ``lambda >= 1000`` on permuted digits with
    SGD). With ``clip_stiffness=True`` each :math:`s_i` is capped at
    ``1 / lr``, the learning rate of the current call, so that a step ends at
    the anchor at most, with or without momentum. Below the cap the penalty
    is exactly the formula above, so ``lambda_`` keeps its meaning; the cap
    binds only where a plain gradient step would overshoot. With SGD at
    ``lr=0.05`` on permuted digits, ``lambda_=100`` and ``1000`` give
    non-finite weights without the cap; with it they reach 0.70 and 0.57
    average accuracy. Adam, the default optimizer, already bounds each step
    by about ``lr``; there the cap rarely binds.

    **Consolidating in a partial_fit loop.** Every training call is one
    consolidation, and each adds its Fisher to the total stiffness (in both
    modes with ``gamma=1``). A stream of many small ``partial_fit`` batches
    therefore grows stiffer with every call: after 100 calls of 32 samples
    the penalty is about 100 times stiffer than after one call of 3,200
    samples, and the model gradually stops learning. Use ``gamma < 1`` in
    online mode (the stiffness then stays below ``1 / (1 - gamma)`` times
    one Fisher) and/or ``consolidate_every=k``: the Fisher of ``k`` calls is
    pooled over all their samples (as if it were one call) and consolidated
    once, anchored at the weights after the ``k``-th call; the calls in
    between are held by the earlier consolidations only.

    Use EWC when old data cannot be kept and the updates keep the same
    outputs (domain-incremental: drifting or re-wired inputs). It does
    little when each update brings new classes (prefer :class:`Replay`
    there) or when an update lacks some classes (prefer :class:`LwF`). It
    combines with :class:`Replay`: with a small memory (50 samples on
    permuted digits) the pair beats both; with a large memory replay alone
    is as good, and a strong penalty only slows learning.

    Cost: a consolidation is one per-sample gradient pass over the call's
    data (or ``n_fisher_samples`` of it): 0.2-0.6 of a training epoch for
    MLPs, about 0.7 of one for a small 1-D CNN, 9-45 times faster than the
    per-sample loop of tutorials (``benchmarks/bench_fisher.py``);
    ``fisher="true"`` costs up to one such pass per output. Each training
    step adds a few elementwise passes over the parameters: 1.4-1.5x the
    time of a plain step for the default MLP and for a 64-512-512-10 MLP
    (``benchmarks/bench_strategy_steps.py``).

    Memory: two copies of the parameters (Fisher and anchor) in both modes,
    whatever the number of updates: the sum of the quadratic terms of
    ``"separate"`` is itself a quadratic, stored as its total Fisher and
    Fisher-weighted anchor (same gradients; the penalty value drops a
    constant that does not depend on the weights). One more copy is held
    between consolidations when ``consolidate_every > 1``, and one more
    during a training call (the clipped stiffness).

    Parameters
    ----------
    lambda_ : float, default=100.0
        Strength :math:`\lambda` of the penalty. On permuted digits the best
        value was 30 (grid 1, 10, 30, 100, 1000, 10000); tune it on your data,
        e.g. with ``GridSearchCV`` and ``callbacks__NAME__lambda_``.
    fisher : {"empirical", "true"}, default="empirical"
        ``"empirical"``: gradients of the log-likelihood of the observed
        targets. ``"true"``: expectation over the model's own predictive
        distribution, exact over the classes for classifiers and over
        unit-variance Gaussian outputs for regressors.
    mode : {"online", "separate"}, default="online"
        ``"online"``: one running Fisher, decayed by ``gamma``, anchored at
        the latest weights. ``"separate"``: one term per consolidation, each
        with its own Fisher and anchor.
    gamma : float, default=1.0
        Decay of the running Fisher in ``mode="online"``, in (0, 1].
    n_fisher_samples : int or None, default=None
        Estimate the Fisher on a random subset of this many samples of each
        call (None: all of them), drawn among those of positive weight.
    consolidate_every : int, default=1
        Consolidate after every ``k``-th training call, pooling the Fisher of
        the calls in between.
    clip_stiffness : bool, default=True
        Cap each weight's stiffness ``lambda_ * F_i`` at ``1 / lr``.

    Attributes
    ----------
    fisher_ : dict of str to torch.Tensor or None
        Consolidated Fisher per parameter name: the running Fisher
        (``"online"``) or the sum over consolidations (``"separate"``); None
        before the first consolidation.
    anchor_ : dict of str to torch.Tensor or None
        Anchor per parameter name: the weights at the last consolidation
        (``"online"``), or the Fisher-weighted mean of the weights at all
        consolidations (``"separate"``).
    n_consolidations_ : int
        Number of consolidations so far.
    pending_fisher_ : dict of str to torch.Tensor or None
        Sums of squared per-sample gradients of the calls since the last
        consolidation (``consolidate_every > 1``).
    n_pending_calls_ : int
        Calls pooled in ``pending_fisher_``.
    n_pending_samples_ : int or float
        Samples pooled in ``pending_fisher_``: their number, or their total
        weight once a weighted call is pooled.
    active_stiffness_ : list of torch.Tensor or None
        During a training call, the clipped ``lambda_ * fisher_``, in the
        order of ``module.parameters()``; None otherwise.
    active_anchor_ : list of torch.Tensor or None
        During a training call, ``anchor_`` in that order; None otherwise.

    Examples
    --------
    Three tasks of permuted digits; the accuracy on the first one after the
    last update:

    >>> from sklearn_cl import ContinualClassifier
    >>> from sklearn_cl.datasets import permuted_digits
    >>> from sklearn_cl.strategies import EWC
    >>> tasks = permuted_digits(3)
    >>> def first_task_after(callbacks):
    ...     clf = ContinualClassifier(
    ...         max_epochs=20, update_epochs=10, callbacks=callbacks, random_state=0
    ...     ).fit(tasks[0].X_train, tasks[0].y_train)
    ...     for task in tasks[1:]:
    ...         clf.partial_fit(task.X_train, task.y_train)
    ...     return clf.score(tasks[0].X_test, tasks[0].y_test)
    >>> print(f"fine-tuning {first_task_after([]):.2f}, "
    ...       f"EWC {first_task_after([EWC(lambda_=100.0)]):.2f}")
    fine-tuning 0.67, EWC 0.83

    The learned state, after ``fit``:

    >>> clf = ContinualClassifier(max_epochs=2, callbacks=[("ewc", EWC())])
    >>> clf = clf.fit(tasks[0].X_train, tasks[0].y_train)
    >>> ewc = dict(clf.net_.callbacks_)["ewc"]
    >>> ewc.n_consolidations_, ewc.fisher_["layers.0.weight"].shape
    (1, torch.Size([100, 64]))
    """

    _learned_state = (
        "fisher_",
        "anchor_",
        "n_consolidations_",
        "pending_fisher_",
        "n_pending_calls_",
        "n_pending_samples_",
    )
    _per_parameter_state = ("fisher_", "anchor_", "pending_fisher_")
    _transient_state = ("active_stiffness_", "active_anchor_")
    _parameter_constraints = {
        "lambda_": [Interval(Real, 0, None, closed="left")],
        "fisher": [StrOptions(set(FISHER_KINDS))],
        "mode": [StrOptions(set(_MODES))],
        "gamma": [Interval(Real, 0, 1, closed="right")],
        "n_fisher_samples": [Interval(Integral, 1, None, closed="left"), None],
        "consolidate_every": [Interval(Integral, 1, None, closed="left")],
        "clip_stiffness": ["boolean"],
    }

    def __init__(
        self,
        lambda_=100.0,
        *,
        fisher="empirical",
        mode="online",
        gamma=1.0,
        n_fisher_samples=None,
        consolidate_every=1,
        clip_stiffness=True,
    ):
        self.lambda_ = lambda_
        self.fisher = fisher
        self.mode = mode
        self.gamma = gamma
        self.n_fisher_samples = n_fisher_samples
        self.consolidate_every = consolidate_every
        self.clip_stiffness = clip_stiffness

    def initialize(self):
        super().initialize()
        if self.gamma != 1 and self.mode != "online":
            raise ValueError(
                f"`gamma={self.gamma!r}` only applies to mode='online'; "
                f"got mode={self.mode!r}. Set mode='online' or gamma=1.0."
            )
        self.fisher_ = None
        self.anchor_ = None
        self.n_consolidations_ = 0
        self.pending_fisher_ = None
        self.n_pending_calls_ = 0
        self.n_pending_samples_ = 0
        self.active_stiffness_ = None
        self.active_anchor_ = None
        return self

    # ------------------------------------------------------------------
    # training: the penalty, once a consolidation exists
    # ------------------------------------------------------------------
    def on_update_begin(self, net, X=None, y=None, *, context, **kwargs):
        module = context.module
        self.pending_fisher_ = matched_to(self.pending_fisher_, module, new="zeros")
        if self.fisher_ is None:
            return
        self.fisher_ = matched_to(self.fisher_, module, new="zeros")
        self.anchor_ = matched_to(self.anchor_, module, new="like")
        cap = stiffness_cap(context.lr) if self.clip_stiffness else float("inf")
        self.active_stiffness_ = [
            (self.lambda_ * f).clamp_(max=cap)
            for f in in_parameter_order(module, self.fisher_)
        ]
        self.active_anchor_ = in_parameter_order(module, self.anchor_)

    def penalty(self, net, X, y, y_pred, *, context, **kwargs):
        # fisher_ changes only after the epochs: it tells every batch of the
        # call whether on_update_begin set the stiffness
        if self.fisher_ is None:
            return None
        return anchor_penalty(
            context.module, self.active_anchor_, self.active_stiffness_
        )

    # ------------------------------------------------------------------
    # consolidation
    # ------------------------------------------------------------------
    def on_update_end(
        self, net, X=None, y=None, *, context, sample_weight=None, **kwargs
    ):
        X, y, weight = weighted_rows(sample_weight, X, y, n_rows=self.n_fisher_samples)
        sums = diagonal_fisher(
            context.module,
            X,
            y,
            kind=self.fisher,
            is_classifier=context.is_classifier,
            sample_weight=weight,
        )
        if self.pending_fisher_ is not None:
            sums = {name: s + self.pending_fisher_[name] for name, s in sums.items()}
        self.n_pending_calls_ += 1
        self.n_pending_samples_ += len(X) if weight is None else float(weight.sum())
        if self.n_pending_calls_ < self.consolidate_every:
            self.pending_fisher_ = sums
            return
        # no sample of positive weight in the pooled calls: the sums are 0
        total = self.n_pending_samples_ or 1
        new = {name: s / total for name, s in sums.items()}
        self._consolidate(context.module, new)
        self.pending_fisher_ = None
        self.n_pending_calls_ = self.n_pending_samples_ = 0

    def _consolidate(self, module, new_fisher: dict) -> None:
        weights = {name: p.detach().clone() for name, p in module.named_parameters()}
        if self.fisher_ is None:
            self.fisher_, self.anchor_ = new_fisher, weights
        elif self.mode == "online":
            self.fisher_ = {
                name: self.gamma * f + new_fisher[name]
                for name, f in self.fisher_.items()
            }
            self.anchor_ = weights
        else:
            # sum_t F_t (w - a_t)^2 = F (w - a)^2 + const, with F = sum_t F_t and
            # a the F-weighted mean of the a_t (any value where F is zero)
            total = {name: f + new_fisher[name] for name, f in self.fisher_.items()}
            self.anchor_ = {
                name: torch.where(
                    total[name] > 0,
                    (f * self.anchor_[name] + new_fisher[name] * weights[name])
                    / total[name].clamp(min=torch.finfo(f.dtype).tiny),
                    weights[name],
                )
                for name, f in self.fisher_.items()
            }
            self.fisher_ = total
        self.n_consolidations_ += 1

    def on_output_grown(self, net, n_old, n_new, **kwargs):
        # new output rows: no importance yet, anchored at their new values
        params = dict(net.module_.named_parameters())
        if self.fisher_ is not None:
            self.fisher_ = {
                n: pad_rows(f, params[n], new_rows="zeros")
                for n, f in self.fisher_.items()
            }
            self.anchor_ = {
                n: pad_rows(a, params[n], new_rows="like")
                for n, a in self.anchor_.items()
            }
        if self.pending_fisher_ is not None:
            self.pending_fisher_ = {
                n: pad_rows(f, params[n], new_rows="zeros")
                for n, f in self.pending_fisher_.items()
            }
