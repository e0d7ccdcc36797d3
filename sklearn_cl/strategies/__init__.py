"""Update strategies: skorch callbacks that act on every update."""

from .agem import AGEM
from .augment import Augment
from .base import Strategy
from .buffers import ClassBalancedBuffer, ReservoirBuffer, WindowBuffer, make_buffer
from .context import UpdateContext
from .der import DER, DERPlusPlus
from .erace import ERACE
from .ewc import EWC
from .freeze import Freeze
from .graft import Graft
from .l2sp import L2SP
from .lwf import LwF
from .mas import MAS
from .rehearsal import Rehearsal
from .replay import Replay
from .si import SI

__all__ = [
    "Strategy",
    "UpdateContext",
    "EWC",
    "SI",
    "MAS",
    "L2SP",
    "LwF",
    "Replay",
    "ERACE",
    "DER",
    "DERPlusPlus",
    "AGEM",
    "Rehearsal",
    "Freeze",
    "Graft",
    "Augment",
    "ReservoirBuffer",
    "ClassBalancedBuffer",
    "WindowBuffer",
    "make_buffer",
]
