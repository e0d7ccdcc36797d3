"""Shared helpers of the benchmark scripts: machine facts and result files."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
# the reference data sets next to the repository, in the layout of the data home
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def data_home() -> Path | None:
    """The data home of the benchmarks: the reference copies when they are
    next to the repository (no download), else the default one."""
    return SHARED_DATA if SHARED_DATA.is_dir() else None


def machine() -> dict:
    """The machine and the versions the figures were measured with."""
    import numpy
    import sklearn
    import skorch
    import torch

    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": load,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "scikit-learn": sklearn.__version__,
        "skorch": skorch.__version__,
        "numpy": numpy.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def write_results(name: str, figures: dict) -> Path:
    """Write ``benchmarks/results/<name>.json`` with the machine facts."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **figures}, indent=2) + "\n")
    return path


def save_figure(fig, path: Path, dpi: int = 120) -> Path:
    """Lay out, write and close a matplotlib figure; return its path."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def print_table(rows: list[dict]) -> None:
    """Print records as an aligned text table."""
    columns = list(rows[0])
    cells = [[_fmt(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)))


def _fmt(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
