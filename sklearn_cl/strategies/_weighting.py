"""The weighted mean of per-sample terms that every strategy's loss uses."""

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
