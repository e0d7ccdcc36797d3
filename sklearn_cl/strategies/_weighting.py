"""Sample weights in the per-sample terms of the strategies: the weighted mean
of the losses, and the weighted sums of the importance estimates."""

from __future__ import annotations

import torch


def weighted_mean(losses: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``sum(w_i * l_i) / sum(w_i)`` (0 when every weight is 0), each
    sample's loss ``l_i`` the mean over its entries: the estimator's
    convention for a weighted batch (``ContinualNet.weighted_loss``)."""
    losses = losses.flatten(1).mean(1)
    return (losses * weight).sum() / weight.sum().clamp_min(
        torch.finfo(weight.dtype).tiny
    )


def weighted_sum(values: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """``sum_i w_i * values[i]`` over the first axis (the plain sum when
    ``weight`` is None)."""
    if weight is None:
        return values.sum(0)
    return torch.tensordot(weight, values, dims=1)


def weighted_rows(weight: torch.Tensor | None, *tensors, n_rows: int | None = None):
    """``(*tensors, weight)`` without the rows of weight 0, and at most
    ``n_rows`` of the others (None: all), drawn uniformly at random with
    ``torch.randperm``, each with its weight.

    A weight-0 row is a dropped row, as in the loss: it takes no place in
    the draw, so ``n_rows`` rows of positive weight are kept. Unweighted
    (``weight`` None), the draw is the one of ``randperm(len(rows))``.
    """
    if weight is not None:
        if weight.shape != (len(tensors[0]),):
            raise ValueError(
                f"`sample_weight` must hold one weight per sample, shape "
                f"({len(tensors[0])},); got shape {tuple(weight.shape)}."
            )
        positive = weight > 0
        if not positive.all():
            tensors = tuple(t[positive] for t in tensors)
            weight = weight[positive]
    n = len(tensors[0])
    if n_rows is not None and n_rows < n:
        keep = torch.randperm(n, device=tensors[0].device)[:n_rows]
        tensors = tuple(t[keep] for t in tensors)
        weight = None if weight is None else weight[keep]
    return (*tensors, weight)
