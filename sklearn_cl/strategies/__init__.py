"""Update strategies: skorch callbacks that act on every update."""

from .base import Strategy

__all__ = ["Strategy"]
