"""Torch modules for the estimators: the default MLP and a 1-D CNN."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MLP", "CNN1D"]

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "logistic": nn.Sigmoid,
    "gelu": nn.GELU,
    "identity": nn.Identity,
}


class MLP(nn.Module):
    """Multi-layer perceptron that returns raw outputs (logits for classifiers).

    Parameters
    ----------
    n_features : int
        Width of the input.
    n_outputs : int
        Width of the output: number of classes or of regression targets.
    hidden_layer_sizes : sequence of int, default=(100,)
        Width of each hidden layer, as in scikit-learn's ``MLPClassifier``.
    activation : {"relu", "tanh", "logistic", "gelu", "identity"}, default="relu"
        Non-linearity after each hidden layer.
    dropout : float, default=0.0
        Dropout probability after each hidden activation.

    Examples
    --------
    >>> import torch
    >>> MLP(4, 3, hidden_layer_sizes=(8,))(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        n_features: int,
        n_outputs: int,
        hidden_layer_sizes: Sequence[int] = (100,),
        activation: str = "relu",
        dropout: float = 0.0,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_features
        for size in hidden_layer_sizes:
            layers += [nn.Linear(width, size), _ACTIVATIONS[activation]()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, n_outputs))
        self.layers = nn.Sequential(*layers)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.layers(X)


class _MaxPool1d(nn.MaxPool1d):
    """``nn.MaxPool1d(k)`` (stride ``k``, no padding) as a maximum over the
    reshaped windows: with a gradient to record, torch's CPU ``max_pool1d``
    keeps the argmax indices in a kernel 7-15 times slower than without
    (forward and backward on a (512, 16, 48) batch: 1.9 ms, against 1.2 ms
    here), which made a third of EWC's per-sample Fisher on CNN1D. Values
    and gradients are the same (the first of tied inputs gets the gradient,
    as in torch's kernel)."""

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        k = self.kernel_size
        n = X.shape[-1] // k
        return X[..., : n * k].unflatten(-1, (n, k)).max(-1).values


_POOLS = {"max": _MaxPool1d, "avg": nn.AvgPool1d}


class CNN1D(nn.Module):
    """1-D convolutional network for sequence windows, with a linear head.

    Each block is ``Conv1d`` (``"same"`` padding) -> activation -> pooling
    (when ``pool_size > 1``); the flattened feature map goes through an
    optional hidden head (``head_layer_sizes``) to a last ``nn.Linear``, so a
    classifier's output can grow with new classes.

    Input is ``(n_samples, in_channels, length)``, or ``(n_samples,
    in_channels * length)`` which is reshaped channel by channel (a 2-D
    window of a univariate series is one channel). The estimators pass
    ``n_features`` (the number of values per sample), ``n_outputs`` and
    ``input_shape`` themselves: ``ContinualRegressor(module=CNN1D)`` works on
    windows from :func:`sklearn_cl.timeseries.make_windows` and on 3-D
    ``X`` of any number of channels; for several channels flattened into
    2-D ``X`` add ``module__in_channels=C``.

    Parameters
    ----------
    n_features : int
        Values per sample: ``in_channels * length``.
    n_outputs : int
        Width of the output: number of classes or of regression targets.
    in_channels : int, default=None
        Channels of the input (variables of a multivariate series). None
        means ``input_shape[0]`` for samples of shape (channels, length),
        else 1.
    channels : sequence of int, default=(16, 32)
        Output channels of each convolutional block.
    kernel_size : int, default=5
        Kernel width of every convolution.
    pool_size : int, default=2
        Pooling window and stride after each convolution; 1 disables pooling.
    pooling : {"max", "avg"}, default="max"
        Kind of pooling.
    head_layer_sizes : sequence of int, default=()
        Hidden layers of the head between the flattened features and the
        output layer.
    activation : {"relu", "tanh", "logistic", "gelu", "identity"}, default="relu"
        Non-linearity after each convolution and hidden head layer.
    dropout : float, default=0.0
        Dropout probability before each linear layer of the head.
    input_shape : tuple of int, default=None
        Shape of one sample, which the estimators pass: it sets the default
        ``in_channels``.

    Examples
    --------
    >>> import torch
    >>> net = CNN1D(n_features=96, n_outputs=24, channels=(4, 8))
    >>> net(torch.zeros(5, 96)).shape
    torch.Size([5, 24])
    >>> CNN1D(n_features=96, n_outputs=2, in_channels=3)(torch.zeros(5, 3, 32)).shape
    torch.Size([5, 2])
    >>> CNN1D(n_features=96, n_outputs=2, input_shape=(3, 32)).in_channels
    3
    """

    def __init__(
        self,
        n_features: int,
        n_outputs: int,
        in_channels: int | None = None,
        channels: Sequence[int] = (16, 32),
        kernel_size: int = 5,
        pool_size: int = 2,
        pooling: str = "max",
        head_layer_sizes: Sequence[int] = (),
        activation: str = "relu",
        dropout: float = 0.0,
        input_shape: tuple[int, ...] | None = None,
    ):
        super().__init__()
        if in_channels is None:
            in_channels = input_shape[0] if input_shape and len(input_shape) == 2 else 1
        _check_sizes(
            {
                "kernel_size": kernel_size,
                "pool_size": pool_size,
                "in_channels": in_channels,
            },
            {"channels": channels, "head_layer_sizes": head_layer_sizes},
        )
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(_ACTIVATIONS)}; got {activation!r}."
            )
        if n_features % in_channels:
            raise ValueError(
                f"CNN1D got n_features={n_features} values per sample, which is "
                f"not a whole number of in_channels={in_channels} channels. Pass "
                "module__in_channels equal to the channels of X (its axis 1)."
            )
        if pooling not in _POOLS:
            raise ValueError(
                f"pooling must be one of {sorted(_POOLS)}; got {pooling!r}."
            )
        self.in_channels = in_channels
        self.length = n_features // in_channels
        length, width = self.length, in_channels
        layers: list[nn.Module] = []
        for size in channels:
            layers += [
                nn.Conv1d(width, size, kernel_size, padding="same"),
                _ACTIVATIONS[activation](),
            ]
            if pool_size > 1:
                if length < pool_size:
                    raise ValueError(
                        f"Windows of length {self.length} are too short for "
                        f"{len(channels)} blocks with pool_size={pool_size}: "
                        "pooling would leave nothing. Use fewer channels, a "
                        "smaller pool_size or longer windows."
                    )
                layers.append(_POOLS[pooling](pool_size))
                length //= pool_size
            width = size
        self.features = nn.Sequential(*layers, nn.Flatten())
        head: list[nn.Module] = []
        width *= length
        for size in head_layer_sizes:
            head += _dropout(dropout) + [
                nn.Linear(width, size),
                _ACTIVATIONS[activation](),
            ]
            width = size
        head += _dropout(dropout) + [nn.Linear(width, n_outputs)]
        self.head = nn.Sequential(*head)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        if X.ndim == 2:
            X = X.reshape(len(X), self.in_channels, -1)
        elif X.ndim != 3:
            raise ValueError(
                f"CNN1D takes input of shape (n_samples, channels, length) or "
                f"(n_samples, channels * length); got {tuple(X.shape)}. Reshape X."
            )
        if X.shape[1:] != (self.in_channels, self.length):
            raise ValueError(
                f"CNN1D expects samples of shape ({self.in_channels}, "
                f"{self.length}) (channels, length); got {tuple(X.shape[1:])}. "
                "Pass module__in_channels equal to the channels of X."
            )
        return self.head(self.features(X))


def _check_sizes(scalars: dict, sequences: dict) -> None:
    """A ``ValueError`` naming a size that is not a positive integer: torch
    fails on some with an unclear message (``kernel_size=0``) and builds a
    network that cannot learn from others (a zero-width head layer; a
    negative ``pool_size`` silently disabled pooling)."""
    for name, value in scalars.items():
        if not _positive_int(value):
            raise ValueError(
                f"CNN1D's {name} must be a positive integer; got {value!r}."
            )
    for name, values in sequences.items():
        if not (isinstance(values, Sequence) and all(map(_positive_int, values))):
            raise ValueError(
                f"CNN1D's {name} must be a sequence of positive integers, "
                f"e.g. (16, 32); got {values!r}."
            )


def _positive_int(value) -> bool:
    return (
        isinstance(value, numbers.Integral)
        and not isinstance(value, bool)
        and value >= 1
    )


def _dropout(p: float) -> list[nn.Module]:
    return [nn.Dropout(p)] if p else []
