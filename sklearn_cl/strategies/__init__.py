"""Update strategies: skorch callbacks that act on every update."""

from .augment import Augment
from .base import Strategy
from .buffers import ClassBalancedBuffer, ReservoirBuffer, WindowBuffer, make_buffer
from .ewc import EWC
from .freeze import Freeze
from .l2sp import L2SP
from .lwf import LwF
from .rehearsal import Rehearsal
from .replay import Replay

__all__ = [
    "Strategy",
    "EWC",
    "L2SP",
    "LwF",
    "Replay",
    "Rehearsal",
    "Freeze",
    "Augment",
    "ReservoirBuffer",
    "ClassBalancedBuffer",
    "WindowBuffer",
    "make_buffer",
]
