"""Helpers of the penalty strategies: per-sample diagonal Fisher, flat
parameter vectors, the stiffness cap, growth padding and parameter checks.

The Fisher is computed from per-sample gradients with ``torch.func``
(``vmap`` over ``grad`` of a ``functional_call``), in chunks of samples that
bound memory. This is the definition of the (diagonal) Fisher: the mean over
samples of the squared gradient of each sample's log-likelihood. Squaring the
gradient of a mini-batch *mean*, as some libraries do, gives a quantity about
``batch_size`` times smaller that depends on the batch size.
"""

from __future__ import annotations

import numbers

import torch
from torch.func import functional_call, grad, jacrev, vmap

__all__ = [
    "check_choice",
    "check_int",
    "check_real",
    "diagonal_fisher",
    "flat",
    "pad_rows",
    "stiffness_cap",
]

# at most this many float32 numbers of per-sample gradients per chunk (128 MiB)
_CHUNK_ELEMENTS = 2**25
_MAX_CHUNK = 256
FISHER_KINDS = ("empirical", "true")


def _log_likelihood(output, target, is_classifier: bool):
    """Log-likelihood of one sample under the model's output distribution:
    categorical on logits for classifiers, unit-variance Gaussian (up to a
    constant) for regressors."""
    if is_classifier:
        return torch.log_softmax(output, dim=-1).gather(-1, target[None])[0]
    return -0.5 * ((output - target) ** 2).sum()


def diagonal_fisher(
    module: torch.nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    kind: str = "empirical",
) -> dict[str, torch.Tensor]:
    """Sum over samples of the squared per-sample log-likelihood gradients.

    Divide by ``len(X)`` to get the diagonal Fisher. The sum (not the mean) is
    returned so that Fisher estimates over several batches can be pooled.

    Parameters
    ----------
    module : torch.nn.Module
        The network; it runs in evaluation mode (dropout off, batch norm on
        its running statistics) and is put back in its previous mode.
    X : torch.Tensor of shape (n_samples, ...)
        Inputs, on the module's device.
    y : torch.Tensor
        Class indices (int64, shape (n_samples,)) for a classifier, or
        float targets of shape (n_samples, n_outputs) for a regressor; the
        dtype decides which likelihood is used.
    kind : {"empirical", "true"}, default="empirical"
        ``"empirical"`` uses the observed targets. ``"true"`` takes the
        expectation over the model's own predictive distribution: the sum
        over classes ``c`` of ``p_c * grad(log p_c)**2`` for a classifier,
        and ``sum_k grad(f_k)**2`` (unit-variance Gaussian) for a regressor.
        It costs one gradient per output instead of one.

    Returns
    -------
    dict of str to torch.Tensor
        One tensor per parameter of ``module``, with the parameter's shape.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Linear(3, 2)
    >>> X, y = torch.randn(10, 3), torch.randint(0, 2, (10,))
    >>> fisher = diagonal_fisher(net, X, y)
    >>> sorted(fisher), fisher["weight"].shape
    (['bias', 'weight'], torch.Size([2, 3]))
    """
    check_choice("kind", kind, FISHER_KINDS)
    params = {name: p.detach() for name, p in module.named_parameters()}
    buffers = {name: b.detach() for name, b in module.named_buffers()}
    is_classifier = not y.dtype.is_floating_point

    def forward_one(p, x):
        return functional_call(module, (p, buffers), (x.unsqueeze(0),)).squeeze(0)

    if kind == "empirical":

        def loglik(p, x, target):
            return _log_likelihood(forward_one(p, x), target, is_classifier)

        per_sample = vmap(grad(loglik), in_dims=(None, 0, 0))
    else:

        def outputs(p, x):
            out = forward_one(p, x)
            if is_classifier:
                logp = torch.log_softmax(out, dim=-1)
                return logp, logp.exp()
            return out, torch.ones_like(out)

        per_sample = vmap(jacrev(outputs, has_aux=True), in_dims=(None, 0))

    fisher = {name: torch.zeros_like(p) for name, p in params.items()}
    n_params = sum(p.numel() for p in params.values())
    was_training = module.training
    module.eval()
    try:
        # the true Fisher holds one gradient per output for every sample
        n_directions = 1
        if kind == "true":
            with torch.no_grad():
                n_directions = forward_one(params, X[0]).numel()
        chunk = _CHUNK_ELEMENTS // (n_params * n_directions)
        chunk = max(1, min(_MAX_CHUNK, chunk))
        for start in range(0, len(X), chunk):
            Xc = X[start : start + chunk]
            if kind == "empirical":
                grads = per_sample(params, Xc, y[start : start + chunk])
                for name, g in grads.items():
                    fisher[name] += (g**2).sum(0)
            else:
                jac, weight = per_sample(params, Xc)
                for name, j in jac.items():
                    # j: (chunk, n_directions, *shape); weight: (chunk, n_directions)
                    w = weight.reshape(*weight.shape, *([1] * (j.ndim - 2)))
                    fisher[name] += (w * j**2).sum((0, 1))
    finally:
        module.train(was_training)
    return fisher


def stiffness_cap(net) -> float:
    """Largest per-parameter stiffness a penalty may have at the net's current
    learning rate: ``1 / lr``.

    A quadratic penalty ``(s / 2) * (theta - anchor)**2`` moves ``theta`` by
    ``lr * s * (theta - anchor)`` in a gradient step. With ``s <= 1 / lr``
    that step ends at the anchor at most, never beyond it, so the penalty
    alone cannot make the weights oscillate with a growing amplitude.
    """
    lr = max(group["lr"] for group in net.optimizer_.param_groups)
    return 1.0 / lr


def flat(module: torch.nn.Module, tensors: dict | None = None) -> torch.Tensor:
    """The module's parameters (or ``tensors``, one per parameter name) as one
    vector, in the order of ``module.named_parameters()``.

    One concatenation per step is cheaper than one small operation per
    parameter tensor: it keeps a penalty's cost independent of the number of
    layers.
    """
    if tensors is None:
        return torch.cat([p.reshape(-1) for p in module.parameters()])
    return torch.cat(
        [tensors[name].reshape(-1) for name, _ in module.named_parameters()]
    )


def pad_rows(value: torch.Tensor, like: torch.Tensor, *, new_rows: str):
    """``value`` grown along its first dimension to the shape of ``like``.

    The new rows are ``"zeros"`` or copied from ``like`` (``"like"``).
    """
    if value.shape == like.shape:
        return value
    padded = like.detach().clone() if new_rows == "like" else torch.zeros_like(like)
    padded[: value.shape[0]] = value
    return padded


def check_real(
    name: str, value, *, low: float, high: float | None = None, open_low=False
) -> None:
    """Raise ValueError unless ``value`` is a real number in the given range."""
    is_real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    ok = is_real and (value > low if open_low else value >= low)
    ok = ok and (high is None or value <= high)
    if not ok:
        bound = f"{'>' if open_low else '>='} {low}"
        if high is not None:
            bound += f" and <= {high}"
        raise ValueError(f"`{name}` must be a number {bound}; got {value!r}.")


def check_int(name: str, value, *, low: int) -> None:
    """Raise ValueError unless ``value`` is an int ``>= low``."""
    if (
        not isinstance(value, numbers.Integral)
        or isinstance(value, bool)
        or value < low
    ):
        raise ValueError(f"`{name}` must be an int >= {low}; got {value!r}.")


def check_choice(name: str, value, choices: tuple) -> None:
    """Raise ValueError unless ``value`` is one of ``choices``."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}; got {value!r}.")
