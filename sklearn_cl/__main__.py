"""``python -m sklearn_cl``: the ``sklearn-cl`` command."""

from __future__ import annotations

import gc
import sys

from .cli import main


def run() -> None:
    """Run the command line's command and end the process with its status.

    Before the interpreter shuts down, every object is moved out of the
    garbage collector's reach (``gc.freeze``): its last passes would walk
    the hundreds of thousands of objects torch creates, which took longer
    than importing torch (1.5-2.5 s on a busy 2-core machine, 0.5 s frozen),
    to free memory the process is about to return anyway.
    """
    status = main()
    gc.freeze()
    sys.exit(status)


if __name__ == "__main__":
    run()
