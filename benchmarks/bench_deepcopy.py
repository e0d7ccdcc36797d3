"""What copying a model costs next to one ``partial_fit`` call.

dask-ml's ``IncrementalSearchCV`` and ``HyperbandSearchCV`` deep-copy the
model before every ``partial_fit`` call, and dask pickles it whenever it
moves between worker processes. This measures, for an MLP 64-100-10 with no
strategy, and with EWC plus a replay buffer of 500 and 10,000 samples:

- one ``partial_fit`` call on 256 samples (one epoch, batches of 32), the
  work each copy pays for;
- ``copy.deepcopy`` of the estimator: ``ContinualNet.__deepcopy__`` copies
  the net's attributes directly (skorch's ``NeuralNet`` has none, so a
  plain deep copy would pickle the module, optimizer and callbacks to bytes
  and back through ``torch.load``);
- a pickle round trip (``dumps`` + ``loads``): what a transfer between
  dask workers costs on top of the network, and about what a deep copy
  through skorch's pickling would cost.

Target: a deep copy costs at most 0.2x a ``partial_fit`` call on 256
samples, for every model (then dask-ml's copies add at most 20%).

Run: ``python benchmarks/bench_deepcopy.py``.
"""

from __future__ import annotations

import copy
import os
import pickle
import time
import warnings

import numpy as np
import torch
from _common import print_table, write_results

from sklearn_cl import ContinualClassifier
from sklearn_cl.strategies import EWC, Replay

SCENARIOS = [  # (name, callbacks)
    ("no strategy", lambda: None),
    ("EWC + replay 500", lambda: [EWC(lambda_=10.0), Replay(buffer_size=500)]),
    ("EWC + replay 10000", lambda: [EWC(lambda_=10.0), Replay(buffer_size=10_000)]),
]
BATCH = 256
REPEATS = 7
TARGET = 0.2


def fitted(callbacks, X, y):
    clf = ContinualClassifier(callbacks=callbacks, max_epochs=1, random_state=0)
    # fill the buffers: every training call offers its data to them
    clf.fit(X[:2000], y[:2000])
    for start in range(2000, len(X), 2000):
        clf.partial_fit(X[start : start + 2000], y[start : start + 2000])
    return clf


def best_time(fn, calls: int = 5) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        tic = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - tic) / calls)
    return best


def check_copy(clf, X, y) -> None:
    """The copy is a faithful, independent copy."""
    clone = copy.deepcopy(clf)
    net = clone.net_
    assert net.hooked_["penalty"][0] is dict(net.callbacks_)["ewc"]
    assert all(p in net.optimizer_.state for p in net.module_.parameters())
    clone.partial_fit(X[:BATCH], y[:BATCH])
    again = copy.deepcopy(clf).partial_fit(X[:BATCH], y[:BATCH])
    np.testing.assert_array_equal(clone.predict_proba(X), again.predict_proba(X))
    assert not np.array_equal(clone.predict_proba(X), clf.predict_proba(X))


def measure(clf, X, y) -> dict[str, float]:
    """Seconds per operation on the fitted ``clf``."""
    if clf.callbacks is not None:
        check_copy(clf, X, y)
    work = copy.deepcopy(clf)
    return {
        "partial_fit (256 samples)": best_time(
            lambda: work.partial_fit(X[:BATCH], y[:BATCH])
        ),
        "deepcopy": best_time(lambda: copy.deepcopy(clf)),
        "pickle round trip": best_time(lambda: pickle.loads(pickle.dumps(clf))),
    }


def main() -> None:
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)  # comparable, and stable on a shared machine
    rng = np.random.default_rng(0)
    X = rng.random((12_000, 64), dtype=np.float32)
    y = rng.integers(0, 10, 12_000)
    rows = []
    for name, callbacks in SCENARIOS:
        times = measure(fitted(callbacks(), X, y), X, y)
        fit = times["partial_fit (256 samples)"]
        for operation, seconds in times.items():
            ratio = seconds / fit
            met = ratio <= TARGET if operation.startswith("deepcopy") else ""
            rows.append(
                {
                    "model": name,
                    "operation": operation,
                    "ms": seconds * 1e3,
                    "ratio_to_partial_fit": ratio,
                    f"meets_{TARGET}x": met,
                }
            )
    print_table(rows)
    path = write_results(
        "deepcopy",
        {
            "torch_num_threads": 1,
            "target": f"a deep copy at most {TARGET}x partial_fit on 256 samples",
            "note": "shared machine: other processes were running "
            f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores); "
            "compare ratios, not times",
            "rows": rows,
        },
    )
    print(f"\nwritten {path}")


if __name__ == "__main__":
    main()
