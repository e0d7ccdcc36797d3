"""Finding layers in a module: the one helper that finds the output layer."""

from __future__ import annotations

from torch import nn


def last_linear(module: nn.Module) -> tuple[nn.Module, str, nn.Linear] | None:
    """``(parent, attribute name, layer)`` of the last ``nn.Linear`` registered
    inside ``module``, by qualified name (``head`` after ``body.0``); None
    when there is none (or ``module`` itself is the ``nn.Linear``).

    Examples
    --------
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> parent, name, layer = last_linear(net)
    >>> parent is net, name, layer.out_features
    (True, '2', 2)
    >>> last_linear(nn.Linear(4, 2)) is None
    True
    """
    names = [n for n, m in module.named_modules() if isinstance(m, nn.Linear)]
    if not names or not names[-1]:
        return None
    parent_name, _, attr = names[-1].rpartition(".")
    parent = module.get_submodule(parent_name)
    return parent, attr, getattr(parent, attr)
