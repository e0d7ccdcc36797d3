"""The per-sample diagonal Fisher information of EWC.

The diagonal Fisher is the mean over samples of the squared gradient of each
sample's log-likelihood; squaring the gradient of a mini-batch *mean*, as
some libraries do, gives a far smaller quantity that depends on the batch
size. Per-sample gradients are computed two ways, with the same result:

- ``nn.Linear`` layers that see one ``(n_samples, in_features)`` input per
  forward pass: the per-sample gradient of the weight is the outer product
  ``g_n a_n^T`` of the gradient at the layer's output and its input, so the
  sum of its squares is ``(G**2)^T (A**2)``, one matrix product per layer
  and chunk (as BackPACK computes it). No per-sample gradient is stored, so
  it costs less than one training epoch.
- ``nn.Conv1d`` layers (no groups, zero padding) that see one ``(n_samples,
  channels, length)`` input: the per-sample gradient of the weight is
  ``g_n U_n``, the output gradient times the input windows (unfolded), a
  batched matrix product (BackPACK's and Opacus's recipe); it is squared and
  summed a few samples at a time, in buffers reused from step to step. This
  is several times faster than ``vmap``, which runs a convolution per
  sample.

  Whether a layer qualifies for either closed form is checked on the first
  chunk: its sum of per-sample gradients must equal the batch gradient
  autograd computes (this catches weights used twice or outside the layer).
- every other parameter: ``torch.func`` (``vmap`` over ``grad`` of a
  ``functional_call`` with the parameters as a dict, buffers included), in
  chunks that bound the memory of the per-sample gradients.

With sample weights, each sample's squared gradients count ``w_n`` times
(a weight is a repetition count, as in the weighted loss): the closed forms
multiply the per-direction weights by ``w_n`` (no extra pass), the
``vmap`` path sums its per-sample squares with ``w_n`` as coefficients (one
matrix-vector product instead of a sum). Rows of weight 0 are dropped
before anything is computed, so what they hold cannot reach the result.
"""

from __future__ import annotations

import torch
from torch.func import functional_call, grad, jacrev, vmap

from ._weighting import weighted_rows, weighted_sum

__all__ = ["FISHER_KINDS", "diagonal_fisher"]

# at most this many float32 numbers of per-sample gradients per chunk (128 MiB)
_CHUNK_ELEMENTS = 2**25
# the Conv1d per-sample gradients formed at once (1 MiB: they stay in the cache)
_CONV_BUFFER_ELEMENTS = 2**18
_MAX_CHUNK = 512
FISHER_KINDS = ("empirical", "true")


def _directions(out, y, kind: str, is_classifier: bool):
    """Per-sample scalars whose squared gradients, weighted, make the Fisher.

    Returns ``(s, w)`` of shape (n, K): empirical, the log-likelihood of the
    target (K=1; categorical on logits for classifiers, unit-variance
    Gaussian up to a constant for regressors); true, the log-probability of
    each class weighted by its probability (classifiers) or each output with
    weight one (regressors: the Gaussian's Fisher is ``J^T J``).
    """
    if kind == "empirical":
        if is_classifier:
            s = torch.log_softmax(out, dim=1).gather(1, y[:, None])
        else:
            s = -0.5 * ((out - y) ** 2).sum(1, keepdim=True)
        return s, torch.ones_like(s).detach()
    if is_classifier:
        s = torch.log_softmax(out, dim=1)
        return s, s.detach().exp()
    return out, torch.ones_like(out).detach()


def diagonal_fisher(
    module: torch.nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    kind: str = "empirical",
    is_classifier: bool | None = None,
    sample_weight: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Sum over samples of the squared per-sample log-likelihood gradients.

    Divide by ``len(X)`` (``sample_weight.sum()`` with weights) to get the
    diagonal Fisher. The sum (not the mean) is returned so that Fisher
    estimates over several batches can be pooled.

    Parameters
    ----------
    module : torch.nn.Module
        The network; it runs in evaluation mode (dropout off, batch norm on
        its running statistics) and is put back in its previous mode. Its
        parameters are not changed, whether or not they require a gradient.
    X : torch.Tensor of shape (n_samples, ...)
        Inputs, on the module's device.
    y : torch.Tensor
        Class indices (int64, shape (n_samples,)) for a classifier, or
        float targets of shape (n_samples, n_outputs) for a regressor.
    kind : {"empirical", "true"}, default="empirical"
        ``"empirical"`` uses the observed targets. ``"true"`` takes the
        expectation over the model's own predictive distribution: the sum
        over classes ``c`` of ``p_c * grad(log p_c)**2`` for a classifier,
        and ``sum_k grad(f_k)**2`` (unit-variance Gaussian) for a regressor.
        It costs one gradient per output instead of one.
    is_classifier : bool or None, default=None
        Whether ``module`` is a classifier (categorical likelihood on its
        logits) or a regressor (unit-variance Gaussian). The strategies pass
        ``context.is_classifier``; None, for calls outside an estimator,
        takes integer targets for class indices.
    sample_weight : torch.Tensor of shape (n_samples,) or None, default=None
        Non-negative weight of each sample: its squared gradients count
        ``w_n`` times, ``sum_n w_n F_n``, as a sample of integer weight
        ``k`` repeated ``k`` times would. A sample of weight 0 is dropped.
        None: every sample counts once.

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

    A sample of weight 2 counts as the sample twice:

    >>> w = torch.ones(10)
    >>> w[0] = 2.0
    >>> weighted = diagonal_fisher(net, X, y, sample_weight=w)
    >>> twice = diagonal_fisher(net, torch.cat([X, X[:1]]), torch.cat([y, y[:1]]))
    >>> torch.allclose(weighted["weight"], twice["weight"])
    True
    """
    if kind not in FISHER_KINDS:
        raise ValueError(f"`kind` must be one of {FISHER_KINDS}; got {kind!r}.")
    if is_classifier is None:
        is_classifier = not y.dtype.is_floating_point
    X, y, sample_weight = weighted_rows(sample_weight, X, y)
    params = {name: p.detach() for name, p in module.named_parameters()}
    buffers = {name: b.detach() for name, b in module.named_buffers()}
    fisher = {name: torch.zeros_like(p) for name, p in params.items()}
    if not len(X):  # every weight was 0
        return fisher
    was_training = module.training
    module.eval()
    try:
        handled = None
        for start in range(0, len(X), _MAX_CHUNK):
            part = slice(start, start + _MAX_CHUNK)
            handled = _add_layer_fisher(
                fisher,
                module,
                params,
                buffers,
                X[part],
                y[part],
                None if sample_weight is None else sample_weight[part],
                kind,
                is_classifier,
                handled,
            )
        rest = [name for name in params if name not in (handled or ())]
        if rest:
            _add_per_sample_fisher(
                fisher,
                module,
                params,
                buffers,
                X,
                y,
                sample_weight,
                kind,
                is_classifier,
                rest,
            )
    finally:
        module.train(was_training)
    return fisher


def _factorable(layer) -> bool:
    """Whether the per-sample gradients of ``layer`` have a closed form here:
    ``nn.Linear``, and ``nn.Conv1d`` without groups and with zero padding."""
    if isinstance(layer, torch.nn.Linear):
        return True
    return (
        isinstance(layer, torch.nn.Conv1d)
        and layer.groups == 1
        and layer.padding_mode == "zeros"
    )


def _conv_windows(layer: torch.nn.Conv1d, a: torch.Tensor) -> torch.Tensor:
    """The input window each output position of ``layer`` sees, zero padding
    included, as a view ``(n, length_out, in_channels, kernel_size)``."""
    (k,), (dilation,), (stride,) = layer.kernel_size, layer.dilation, layer.stride
    if layer.padding == "same":  # torch puts the odd one on the right
        total = dilation * (k - 1)
        pad = (total // 2, total - total // 2)
    elif layer.padding == "valid":
        pad = (0, 0)
    else:
        pad = (layer.padding[0], layer.padding[0])
    padded = torch.nn.functional.pad(a, pad)
    windows = padded.unfold(2, dilation * (k - 1) + 1, stride)[..., ::dilation]
    return windows.permute(0, 2, 1, 3)


def _conv_squared_gradients(g, windows, w, with_sum: bool):
    """``sum_n w_n * G_n**2``, flattened, of the per-sample weight gradients
    ``G_n = g_n U_n`` of a ``Conv1d`` (``g``: output gradients ``(n, out,
    length)``; ``U_n``: the sample's ``windows``), and with ``with_sum`` also
    ``sum_n G_n``, the layer's batch gradient (else None).

    The ``G_n`` are formed a few samples at a time, by one batched product,
    in two buffers reused from step to step: they stay in the cache, and
    the memory is not asked of the system again at every step (a fresh
    tensor of a few MiB costs a page fault per 4 KiB, which made the
    products of a 512-sample chunk several times slower).
    """
    n, out, length = g.shape
    width = windows.shape[2] * windows.shape[3]
    step = max(1, min(n, _CONV_BUFFER_ELEMENTS // (out * width)))
    U = g.new_empty(step, length, width)
    G = g.new_empty(step, out, width)
    squares = g.new_zeros(out * width)
    total = g.new_zeros(out, width) if with_sum else None
    for i in range(0, n, step):
        m = min(step, n - i)
        # contiguous windows: bmm would copy the overlapping ones one by one
        U[:m].view(m, length, *windows.shape[2:]).copy_(windows[i : i + m])
        torch.bmm(g[i : i + m], U[:m], out=G[:m])
        if total is not None:
            total += G[:m].sum(0)
        squares.addmv_(G[:m].square_().view(m, -1).T, w[i : i + m])
    return squares, total


def _add_layer_fisher(
    fisher, module, params, buffers, X, y, sample_weight, kind, is_classifier, handled
):
    """Add the Fisher of the qualifying ``nn.Linear`` and ``nn.Conv1d`` layers
    for one chunk (each sample's directions weighted by ``sample_weight``,
    None: 1); return the names of the parameters done (decided on the first
    chunk)."""
    records = []

    def record(layer, inputs, out):
        records.append((layer, inputs[0], out))
        # later in-place operations must not change the recorded output
        return out.clone()

    names = {
        layer: prefix for prefix, layer in module.named_modules() if _factorable(layer)
    }
    hooks = [layer.register_forward_hook(record) for layer in names]
    leaves = {name: p.detach().requires_grad_(True) for name, p in params.items()}
    try:
        with torch.enable_grad():
            out = functional_call(module, (leaves, buffers), (X,))
            s, w = _directions(out, y, kind, is_classifier)
            if sample_weight is not None:
                w = w * sample_weight[:, None]
    finally:
        for hook in hooks:
            hook.remove()
    calls = [layer for layer, _, _ in records]
    layers = [
        (names[layer], layer, a.detach(), z)
        for layer, a, z in records
        if calls.count(layer) == 1
        and a.ndim == (2 if isinstance(layer, torch.nn.Linear) else 3)
        and len(a) == len(X)
        and (handled is None or f"{names[layer]}.weight" in handled)
        and f"{names[layer]}.weight" in params
    ]
    if not layers:
        return set() if handled is None else handled
    zs = [z for _, _, _, z in layers]
    weights = [leaves[f"{prefix}.weight"] for prefix, _, _, _ in layers]
    linear = [isinstance(layer, torch.nn.Linear) for _, layer, _, _ in layers]
    # Linear: the per-sample gradient is g a^T, so its square is (g**2)(a**2)^T
    # and the squared output gradients can be summed over the directions
    # first. Conv1d: the per-sample gradient sums over positions, so it is
    # formed (batched products) and squared for each direction.
    inputs = [
        a if is_linear else _conv_windows(layer, a)
        for is_linear, (_, layer, a, _) in zip(linear, layers)
    ]
    # Linear: weighted squared output gradients; Conv1d: (weight, bias) sums
    H = [
        torch.zeros_like(z) if is_linear else [0, 0] for is_linear, z in zip(linear, zs)
    ]
    for k in range(s.shape[1]):
        check = handled is None and k == 0
        grads = torch.autograd.grad(
            s[:, k].sum(), zs + (weights if check else []), retain_graph=True
        )
        ours = []  # the batch gradients of the closed forms, for the check
        for i, (is_linear, g, u) in enumerate(zip(linear, grads, inputs)):
            if is_linear:
                H[i] += w[:, k : k + 1] * g**2
                ours.append(g.T @ u if check else None)
            else:
                squares, total = _conv_squared_gradients(g, u, w[:, k], check)
                H[i][0] = H[i][0] + squares
                H[i][1] = H[i][1] + (w[:, k, None] * g.sum(2) ** 2).sum(0)
                ours.append(total)
        if check:
            same = [
                _same_gradient(mine.reshape(bg.shape), bg)
                for mine, bg in zip(ours, grads[len(zs) :])
            ]
    if handled is None:
        handled = set()
        for ok, (prefix, _, _, _) in zip(same, layers):
            if ok:
                handled |= {f"{prefix}.weight", f"{prefix}.bias"} & params.keys()
    for i, (prefix, _, a, _) in enumerate(layers):
        if f"{prefix}.weight" not in handled:
            continue
        if linear[i]:
            weight_sum, bias_sum = H[i].T @ a**2, H[i].sum(0)
        else:
            weight_sum, bias_sum = H[i]
            weight_sum = weight_sum.reshape(fisher[f"{prefix}.weight"].shape)
        fisher[f"{prefix}.weight"] += weight_sum.detach()
        if f"{prefix}.bias" in handled:
            fisher[f"{prefix}.bias"] += bias_sum.detach()
    return handled


def _same_gradient(ours: torch.Tensor, autograds: torch.Tensor) -> bool:
    """Whether two gradients agree up to float rounding (False if either is
    not finite)."""
    scale = autograds.abs().max()
    if not torch.isfinite(scale):
        return False
    return torch.allclose(ours, autograds, rtol=1e-3, atol=1e-5 * float(scale))


def _add_per_sample_fisher(
    fisher, module, params, buffers, X, y, sample_weight, kind, is_classifier, names
):
    """Add the Fisher of the parameters ``names`` from per-sample gradients
    (``vmap`` over ``grad``, or ``jacrev`` for the true Fisher's several
    directions), chunk by chunk, each sample's weighted by ``sample_weight``
    (None: 1)."""
    fixed = {name: p for name, p in params.items() if name not in names}
    free = {name: params[name] for name in names}

    def directions(free, x, target):
        out = functional_call(module, ({**fixed, **free}, buffers), (x[None],))
        s, w = _directions(out, target[None], kind, is_classifier)
        return s[0], w[0]

    def log_likelihood(free, x, target):
        return directions(free, x, target)[0][0]

    n_directions = 1
    if kind == "empirical":
        per_sample = vmap(grad(log_likelihood), in_dims=(None, 0, 0))
    else:
        per_sample = vmap(jacrev(directions, has_aux=True), in_dims=(None, 0, 0))
        with torch.no_grad():
            n_directions = functional_call(module, (params, buffers), (X[:1],)).numel()
    size = sum(p.numel() for p in free.values()) * n_directions
    chunk = max(1, min(_MAX_CHUNK, _CHUNK_ELEMENTS // size))
    for start in range(0, len(X), chunk):
        part = slice(start, start + chunk)
        w = None if sample_weight is None else sample_weight[part]
        if kind == "empirical":
            for name, g in per_sample(free, X[part], y[part]).items():
                fisher[name] += weighted_sum(g**2, w)
            continue
        jac, weight = per_sample(free, X[part], y[part])
        if w is not None:
            weight = weight * w[:, None]
        for name, j in jac.items():
            # j: (chunk, n_directions, *shape); weight: (chunk, n_directions)
            w = weight.reshape(*weight.shape, *([1] * (j.ndim - 2)))
            fisher[name] += (w * j**2).sum((0, 1))
