"""Elastic weight consolidation (EWC) and online EWC."""

from __future__ import annotations

import torch
from sklearn.base import BaseEstimator

from ._fisher import (
    FISHER_KINDS,
    check_choice,
    check_int,
    check_real,
    diagonal_fisher,
    flat,
    pad_rows,
    stiffness_cap,
)
from .base import Strategy

__all__ = ["EWC"]

_MODES = ("separate", "online")


class EWC(Strategy):
    r"""Elastic weight consolidation: hold important weights near their old values.

    After every training call (``fit`` and each ``partial_fit``) EWC
    *consolidates*: it estimates how important each weight is for the data
    just learned, the diagonal Fisher information :math:`F`, and remembers
    the weights :math:`\theta^*` at that point (the anchor). Later training
    calls add to the loss of every batch

    .. math:: \frac{\lambda}{2} \sum_i F_i (\theta_i - \theta^*_i)^2

    (Kirkpatrick et al. 2017, "Overcoming catastrophic forgetting in neural
    networks", PNAS, with the 1/2 of their eq. 3), summed over consolidations
    in ``mode="separate"``. ``mode="online"`` keeps one running Fisher
    :math:`F \leftarrow \gamma F_{old} + F_{new}` and anchors at the latest
    weights (Schwarz et al. 2018, "Progress & Compress", online EWC).

    **The Fisher** is the mean over samples of the squared gradient of *each
    sample's* log-likelihood, computed per sample with ``torch.func``
    (``vmap`` over ``grad``, in chunks that bound memory). It is not the
    square of a mini-batch mean gradient (what Avalanche computes), which is
    about ``batch_size`` times smaller and makes ``lambda_`` depend on the
    batch size; ``lambda_`` here has the meaning of the papers above. The
    likelihood is categorical on the logits for classifiers and a
    unit-variance Gaussian for regressors, whatever the training criterion.
    The network runs in evaluation mode for the Fisher: dropout is off, so
    the Fisher is that of the network that makes predictions (a train-mode
    Fisher would describe random sub-networks and be noisier), and batch
    normalisation uses its running statistics (per-sample batch statistics
    do not exist).

    **Stiffness bound.** The penalty pulls weight :math:`i` with stiffness
    :math:`s_i = \lambda F_i`. A gradient step at learning rate ``lr``
    moves the weight by ``lr * s_i`` times its distance to the anchor; once
    ``lr * s_i > 1`` the step overshoots the anchor, and above 2 the weight
    oscillates with a growing amplitude: training diverges (Avalanche's EWC
    with ``lambda >= 1000`` on permuted digits). With ``clip_stiffness=True``
    each :math:`s_i` is capped at ``1 / lr`` (the update's learning rate), so
    a step lands at the anchor at most. Below the cap the penalty is exactly
    the formula above; the cap only binds on the weights the penalty would
    otherwise throw around.

    **Consolidating in a partial_fit loop.** Every training call is one
    consolidation. In ``mode="separate"`` a stream of many small
    ``partial_fit`` batches adds one term per batch, so the total stiffness
    grows with the number of calls: after 100 calls of 32 samples the
    penalty is about 100 times stiffer than after one call of 3,200 samples,
    and the model gradually stops learning. Use ``mode="online"`` with
    ``gamma < 1`` (the stiffness then stays below ``1 / (1 - gamma)`` times
    one Fisher), and/or ``consolidate_every=k``: the Fisher of the calls in
    between is pooled over all their samples and consolidated once every
    ``k`` calls, anchored at the weights after the ``k``-th call (the calls
    in between are held only by earlier consolidations).

    Use EWC when old data cannot be kept; it works well when tasks share the
    output classes (domain-incremental, e.g. drifting inputs), poorly when
    each update brings new classes (prefer :class:`Replay` there). It
    combines with replay.

    Cost: consolidation is one per-sample gradient pass over the call's data
    (or ``n_fisher_samples`` of it), about the cost of one to two training
    epochs; ``fisher="true"`` costs one such pass per output. Each training
    step adds one elementwise pass over the parameters. Memory: two copies
    of the parameters (Fisher and anchor) in both modes, whatever the number
    of updates (the sum of quadratic terms of ``"separate"`` is itself one
    quadratic, stored as its total Fisher and Fisher-weighted anchor, up to
    a constant that does not depend on the weights); plus one more copy
    between consolidations when ``consolidate_every > 1``, and two during a
    training call.

    Parameters
    ----------
    lambda_ : float, default=100.0
        Strength :math:`\lambda` of the penalty.
    fisher : {"empirical", "true"}, default="empirical"
        ``"empirical"``: gradients of the log-likelihood of the observed
        targets. ``"true"``: expectation over the model's own predictive
        distribution (exact over the classes for classifiers; unit-variance
        Gaussian outputs for regressors).
    mode : {"separate", "online"}, default="separate"
        ``"separate"``: one Fisher and anchor per consolidation, all
        penalised (Kirkpatrick et al.). ``"online"``: one running Fisher,
        decayed by ``gamma``, anchored at the latest weights (Schwarz et al.).
    gamma : float, default=1.0
        Decay of the running Fisher in ``mode="online"``, in (0, 1].
    n_fisher_samples : int or None, default=None
        Estimate the Fisher on a random subset of this many samples of each
        call (None: all of them).
    consolidate_every : int, default=1
        Consolidate after every ``k``-th training call, pooling the Fisher of
        the calls in between.
    clip_stiffness : bool, default=True
        Cap each weight's stiffness ``lambda_ * F_i`` at ``1 / lr``.

    Attributes
    ----------
    fisher_ : dict of str to torch.Tensor or None
        Consolidated Fisher per parameter (summed over consolidations in
        ``"separate"`` mode, the running Fisher in ``"online"`` mode); None
        before the first consolidation.
    anchor_ : dict of str to torch.Tensor or None
        Anchor per parameter: the weights at the last consolidation
        (``"online"``), or the Fisher-weighted mean of the weights at all
        consolidations (``"separate"``).
    n_consolidations_ : int
        Number of consolidations so far.
    pending_fisher_ : dict of str to torch.Tensor or None
        Fisher sums of the calls since the last consolidation, when
        ``consolidate_every > 1``.
    n_pending_calls_, n_pending_samples_ : int
        Calls and samples pooled in ``pending_fisher_``.

    Examples
    --------
    >>> from sklearn_cl import ContinualClassifier
    >>> from sklearn_cl.datasets import permuted_digits
    >>> from sklearn_cl.strategies import EWC
    >>> tasks = permuted_digits(2)
    >>> clf = ContinualClassifier(
    ...     max_epochs=10, update_epochs=10, callbacks=[("ewc", EWC(lambda_=100.0))],
    ...     random_state=0,
    ... )
    >>> clf = clf.fit(tasks[0].X_train, tasks[0].y_train)
    >>> clf = clf.partial_fit(tasks[1].X_train, tasks[1].y_train)
    >>> ewc = dict(clf.net_.callbacks_)["ewc"]
    >>> ewc.n_consolidations_, sorted(ewc.fisher_)[:2]
    (2, ['layers.0.bias', 'layers.0.weight'])
    >>> float(clf.score(tasks[0].X_test, tasks[0].y_test)) > 0.8
    True
    """

    def __init__(
        self,
        lambda_=100.0,
        *,
        fisher="empirical",
        mode="separate",
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

    @classmethod
    def _get_param_names(cls):
        # skorch lists every attribute not ending in "_", which drops lambda_;
        # read the __init__ signature as scikit-learn does
        return BaseEstimator._get_param_names.__func__(cls)

    def initialize(self):
        self._check_params()
        self.fisher_ = None
        self.anchor_ = None
        self.n_consolidations_ = 0
        self.pending_fisher_ = None
        self.n_pending_calls_ = 0
        self.n_pending_samples_ = 0
        self.stiffness_ = None
        self.flat_anchor_ = None
        return super().initialize()

    def _check_params(self) -> None:
        check_real("lambda_", self.lambda_, low=0)
        check_choice("fisher", self.fisher, FISHER_KINDS)
        check_choice("mode", self.mode, _MODES)
        check_real("gamma", self.gamma, low=0, high=1, open_low=True)
        if self.gamma != 1 and self.mode != "online":
            raise ValueError(
                f"`gamma={self.gamma!r}` only applies to mode='online'; "
                f"got mode={self.mode!r}. Set mode='online' or gamma=1.0."
            )
        if self.n_fisher_samples is not None:
            check_int("n_fisher_samples", self.n_fisher_samples, low=1)
        check_int("consolidate_every", self.consolidate_every, low=1)
        if not isinstance(self.clip_stiffness, bool):
            raise TypeError(
                f"`clip_stiffness` must be True or False; got {self.clip_stiffness!r}."
            )

    # ------------------------------------------------------------------
    # training: the penalty
    # ------------------------------------------------------------------
    def on_update_begin(self, net, X=None, y=None, is_update=True, **kwargs):
        if self.fisher_ is None:
            return
        module = net.module_
        stiffness = self.lambda_ * flat(module, self.fisher_)
        if self.clip_stiffness:
            stiffness = stiffness.clamp_(max=stiffness_cap(net))
        self.stiffness_ = stiffness
        self.flat_anchor_ = flat(module, self.anchor_)

    def penalty(self, net, X, y, y_pred):
        if self.stiffness_ is None:
            return None
        theta = flat(net.module_)
        return 0.5 * (self.stiffness_ * (theta - self.flat_anchor_) ** 2).sum()

    # ------------------------------------------------------------------
    # consolidation
    # ------------------------------------------------------------------
    def on_update_end(self, net, X=None, y=None, is_update=True, **kwargs):
        self.stiffness_ = self.flat_anchor_ = None
        if self.n_fisher_samples is not None and self.n_fisher_samples < len(X):
            keep = torch.randperm(len(X), device=X.device)[: self.n_fisher_samples]
            X, y = X[keep], y[keep]
        sums = diagonal_fisher(net.module_, X, y, kind=self.fisher)
        if self.pending_fisher_ is not None:
            sums = {name: s + self.pending_fisher_[name] for name, s in sums.items()}
        self.n_pending_calls_ += 1
        self.n_pending_samples_ += len(X)
        if self.n_pending_calls_ < self.consolidate_every:
            self.pending_fisher_ = sums
            return
        new = {name: s / self.n_pending_samples_ for name, s in sums.items()}
        self._consolidate(net.module_, new)
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
