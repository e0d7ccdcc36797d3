"""Update strategies: skorch callbacks that act on every update."""

from .augment import Augment
from .base import Strategy
from .buffers import ClassBalancedBuffer, ReservoirBuffer, WindowBuffer, make_buffer
from .freeze import Freeze
from .rehearsal import Rehearsal
from .replay import Replay

__all__ = [
    "Strategy",
    "Replay",
    "Rehearsal",
    "Freeze",
    "Augment",
    "ReservoirBuffer",
    "ClassBalancedBuffer",
    "WindowBuffer",
    "make_buffer",
]
