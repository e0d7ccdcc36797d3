"""Memory-aware synapses (MAS): label-free importance from the output's sensitivity."""

from __future__ import annotations

from numbers import Integral

import torch
from torch.func import functional_call, grad, vmap

from .._param_validation import Interval
from ._importance import ImportancePenalty
from ._weighting import weighted_rows, weighted_sum

__all__ = ["MAS", "output_sensitivity"]

# per-sample gradients held at once, in parameter entries (as _fisher's)
_CHUNK_ELEMENTS = 2**24


def output_sensitivity(
    module: torch.nn.Module,
    X: torch.Tensor,
    *,
    sample_weight: torch.Tensor | None = None,
) -> dict:
    r"""Mean absolute per-sample gradient of the squared L2 norm of the output.

    .. math:: \Omega_i = \frac{1}{N} \sum_n \left| \frac{\partial
        \lVert f(x_n) \rVert_2^2}{\partial \theta_i} \right|

    computed per sample with ``torch.func`` (``vmap`` over ``grad`` of a
    ``functional_call``), in chunks that bound memory, with the module in
    evaluation mode (no dropout; batch normalisation on its running
    statistics) and put back in its previous mode. It needs no labels.
    With sample weights :math:`w_n` it is the weighted mean, each term
    times :math:`w_n` and :math:`N` replaced by :math:`\sum_n w_n`: a
    weight counts as a repetition of the sample, as in the training loss.

    When every parameter belongs to a ``torch.nn.Linear`` layer applied
    once per forward pass to a batch of vectors (the library's MLPs), one
    ordinary backward pass gives the same result: the per-sample gradient of
    such a weight is the outer product :math:`g_n a_n^\top` of the gradient
    at the layer's output and its input, whose absolute value is
    :math:`|g_n|\,|a_n|^\top`, so the sum over samples is one product of
    matrices. On the default MLP and 900 digits this takes about 1 ms
    against 10-30 ms for ``vmap``.

    Parameters
    ----------
    module : torch.nn.Module
        The network; its parameters are not changed.
    X : torch.Tensor of shape (n_samples, ...)
        Inputs, on the module's device.
    sample_weight : torch.Tensor of shape (n_samples,) or None, default=None
        Non-negative weight of each sample; a sample of weight 0 is dropped.
        None: every sample counts once.

    Returns
    -------
    dict of str to torch.Tensor
        One tensor per parameter of ``module``, with the parameter's shape.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(3, 2)
    >>> omega = output_sensitivity(net, torch.randn(10, 3))
    >>> sorted(omega), bool((omega["weight"] >= 0).all())
    (['bias', 'weight'], True)
    """
    X, sample_weight = weighted_rows(sample_weight, X)
    params = {name: p.detach() for name, p in module.named_parameters()}
    if not len(X):  # every weight was 0
        return {name: torch.zeros_like(p) for name, p in params.items()}
    total_weight = len(X) if sample_weight is None else sample_weight.sum()
    was_training = module.training
    module.eval()
    try:
        linear = _linear_sensitivity(module, X, sample_weight)
    finally:
        module.train(was_training)
    if linear is not None:
        return {name: omega / total_weight for name, omega in linear.items()}
    buffers = {name: b.detach() for name, b in module.named_buffers()}

    def squared_norm(params, x):
        return functional_call(module, (params, buffers), (x[None],)).pow(2).sum()

    per_sample = vmap(grad(squared_norm), in_dims=(None, 0))
    total = {name: torch.zeros_like(p) for name, p in params.items()}
    size = sum(p.numel() for p in params.values())
    chunk = max(1, min(256, _CHUNK_ELEMENTS // max(size, 1)))
    was_training = module.training
    module.eval()
    try:
        for start in range(0, len(X), chunk):
            part = slice(start, start + chunk)
            w = None if sample_weight is None else sample_weight[part]
            for name, g in per_sample(params, X[part]).items():
                total[name] += weighted_sum(g.abs(), w)
    finally:
        module.train(was_training)
    return {name: t / total_weight for name, t in total.items()}


def _linear_sensitivity(module: torch.nn.Module, X: torch.Tensor, sample_weight):
    """The sums over samples (weighted by ``sample_weight``, None: 1) of
    :func:`output_sensitivity`, by one backward pass, when every parameter
    is in a ``Linear`` layer used once on a batch of vectors and none is
    frozen for good (as :class:`~sklearn_cl.strategies.Graft` leaves the old
    layers: no gradient flows through them); else None."""
    if not all(p.requires_grad for p in module.parameters()):
        return None
    layers = {
        name: layer
        for name, layer in module.named_modules()
        if isinstance(layer, torch.nn.Linear)
    }
    owned = {
        f"{name}.{p}"
        for name, layer in layers.items()
        for p, _ in layer.named_parameters(recurse=False)
    }
    if not layers or owned != {name for name, _ in module.named_parameters()}:
        return None
    seen = {}

    def record(name):
        def hook(layer, inputs, output):
            seen.setdefault(name, []).append((inputs[0].detach(), output))
            output.retain_grad()

        return hook

    handles = [layer.register_forward_hook(record(n)) for n, layer in layers.items()]
    try:
        with torch.enable_grad():
            out = module(X)
            if seen.keys() != layers.keys() or any(
                len(v) != 1 or v[0][0].dim() != 2 for v in seen.values()
            ):
                return None
            out.pow(2).sum().backward(inputs=[o for v in seen.values() for _, o in v])
    finally:
        for handle in handles:
            handle.remove()
    result = {}
    for name, layer in layers.items():
        a, output = seen[name][0]
        g = output.grad.abs()
        if sample_weight is not None:
            g = g * sample_weight[:, None]
        result[f"{name}.weight"] = g.T @ a.abs()
        if layer.bias is not None:
            result[f"{name}.bias"] = g.sum(0)
    return result


class MAS(ImportancePenalty):
    r"""Memory-aware synapses: hold the weights the outputs are sensitive to.

    After every training call MAS measures how much each weight moves the
    network's outputs on the call's data, with no labels
    (:func:`output_sensitivity`: the mean absolute per-sample gradient of
    :math:`\lVert f(x) \rVert_2^2`, the logits of a classifier or the
    predictions of a regressor), adds it, raised to ``power`` :math:`p`, to
    the running importance :math:`\Omega \leftarrow \gamma\Omega +
    \Omega_{new}^p` and anchors at the current weights :math:`\theta^*`.
    Every batch of a later update adds

    .. math:: \lambda \sum_i \Omega_i (\theta_i - \theta^*_i)^2

    (Aljundi et al. 2018, "Memory Aware Synapses: Learning what (not) to
    forget", ECCV, eqs. 2-4, with :math:`p = 1`, per-sample gradients as in
    the paper; Avalanche takes the gradient of a mini-batch mean instead,
    which is smaller).

    **Squared importance.** MAS's importance approximates the square root
    of the Fisher information that :class:`EWC` penalises (Benzing 2022,
    "Unifying importance based regularisation methods for continual
    learning", AISTATS). The default ``power=2`` squares each call's
    importance, which holds the few weights that matter most far more firmly
    than the rest, as EWC does: on permuted digits (5 tasks, seeds 0-4) MAS
    reached 0.729 average accuracy at its best strength against 0.718 with
    the paper's ``power=1`` (EWC 0.744, fine-tuning 0.604). It still needs
    no labels.

    **It cannot diverge.** As in :class:`EWC`, each weight's stiffness
    :math:`2\lambda\Omega_i` is capped at ``1 / lr`` (``clip_stiffness``).

    **Sample weights.** A call with ``sample_weight`` (times the
    classifier's ``class_weight``) measures the weighted mean importance,
    as :class:`EWC` weighs its Fisher: a sample of integer weight :math:`k`
    counts as :math:`k` copies, one of weight 0 as none, and
    ``n_importance_samples`` draws among the samples of positive weight,
    each keeping its weight.

    Use it where :class:`EWC` fits, and when the data of an update has no
    reliable labels at consolidation time, or to measure importance on
    unlabelled data that the model must keep handling: the importance needs
    inputs only.

    Cost: one pass over the call's data (or ``n_importance_samples`` of
    it) per consolidation, a single backward pass for a network of
    ``Linear`` layers (see :func:`output_sensitivity`); each training step
    adds two fused elementwise passes over the parameters, the penalty's
    gradient added to the gradients in place (the recorded ``train_loss``
    leaves the penalty out). An update of 10 epochs on digits took 1.14x a
    plain one (EWC 1.56x; ``benchmarks/bench_strategies.py``). Memory: two
    copies of the parameters (importance, anchor).

    Parameters
    ----------
    lambda_ : float, default=0.003
        Strength :math:`\lambda` of the penalty. The importance grows with
        the outputs' size (logits of a confident classifier are large), and
        ``power=2`` squares it, so useful values are small: on permuted
        digits (the protocol of ``tests/strategies/test_quality_permuted.py``,
        seeds 0-4) ``lambda_`` = 0.0003, 0.001, 0.002, 0.003, 0.005, 0.01
        gave 0.69, 0.72, 0.73, 0.73, 0.72, 0.69 average accuracy (fine-tuning
        0.60, EWC at its best 0.744); with ``power=1`` the best was
        ``lambda_=0.005``: 0.72. Regressors with standardised targets have
        far smaller outputs and need larger values.
    power : float, default=2.0
        Exponent :math:`p` of each call's importance: 2 squares it (see
        above), 1 is the paper's MAS.
    gamma : float, default=1.0
        Decay of the running importance at each consolidation, in (0, 1].
    n_importance_samples : int or None, default=None
        Measure the importance on a random subset of this many samples of
        each call (None: all of them), drawn among those of positive weight.
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

    Examples
    --------
    The importance after ``fit`` is that of the inputs alone, squared: the
    labels play no part.

    >>> import torch
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_cl import ContinualClassifier
    >>> from sklearn_cl.strategies import MAS
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = ContinualClassifier(max_epochs=5, callbacks=[MAS()], random_state=0)
    >>> clf = clf.fit(X[:500] / 16, y[:500])
    >>> mas = dict(clf.net_.callbacks_)["mas"]
    >>> inputs = torch.tensor(X[:500] / 16, dtype=torch.float32)
    >>> omega = output_sensitivity(clf.net_.module_, inputs)
    >>> name = "layers.0.weight"
    >>> torch.equal(mas.importance_[name], omega[name] ** mas.power)
    True
    >>> clf = clf.partial_fit(X[500:] / 16, y[500:])     # held by the penalty
    >>> mas.n_consolidations_
    2
    """

    _parameter_constraints = {
        **ImportancePenalty._parameter_constraints,
        "n_importance_samples": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        lambda_=0.003,
        *,
        power=2.0,
        gamma=1.0,
        n_importance_samples=None,
        clip_stiffness=True,
    ):
        self.lambda_ = lambda_
        self.power = power
        self.gamma = gamma
        self.n_importance_samples = n_importance_samples
        self.clip_stiffness = clip_stiffness

    def on_update_end(
        self, net, X=None, y=None, *, context, sample_weight=None, **kwargs
    ):
        X, weight = weighted_rows(sample_weight, X, n_rows=self.n_importance_samples)
        module = context.module
        self.consolidate(module, output_sensitivity(module, X, sample_weight=weight))
