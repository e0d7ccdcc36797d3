"""Cost of experience replay in ``partial_fit`` updates, and its memory bound.

Digits, Adam, batches of 32 new samples, one epoch per update call. Times per
call of an update without strategies ("plain") and with ``Replay(200)``
(32 replayed samples added to every batch, the default ``replay_ratio=1``):
the whole ``partial_fit`` call, and its training steps alone (the epoch
loop, from the net's history). Target (issue 3): the training steps of an
update with replay cost at most 1.5x the plain steps on the same new data,
with the default MLP 64-100-10 (``steps_ratio``). The whole call also pays
fixed per-call costs: storing the new data in the memory, and the estimator's
snapshot of every strategy's state for its all-or-nothing rollback (a deep
copy of the memory); they show on calls with a single batch. Two more rows explain
the figure: plain training on the new data twice over in batches of 64 (as
many steps as replay, each on as many samples, so the difference to replay
is the cost of the mechanism itself: drawing indices, indexing the device
copy, concatenating), and a wider MLP
(64-512-512-10), where a step's compute dominates and replay's doubled
batch shows; ``replay_ratio`` trades that cost against protection.

Run: ``python benchmarks/bench_replay.py``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import torch
from _common import print_table, write_results
from sklearn.datasets import load_digits

from sklearn_cl import ContinualClassifier
from sklearn_cl.strategies import Replay

REPEATS = 9
TARGET = 1.5


def data():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


def fitted(hidden, batch_size=32, callbacks=None):
    X, y = data()
    est = ContinualClassifier(
        hidden_layer_sizes=hidden,
        batch_size=batch_size,
        max_epochs=1,
        callbacks=callbacks,
        random_state=0,
    )
    return est.fit(X[:900], y[:900])  # the memory is full from here on


def time_per_call(est, X, y, calls: int) -> tuple[float, float]:
    """Seconds per ``partial_fit`` call, and of its training steps alone (the
    epoch loop, as the net's history records it)."""
    steps = 0.0
    tic = time.perf_counter()
    for _ in range(calls):
        est.partial_fit(X, y)
        steps += sum(est.net_.history[:, "dur"])
    return (time.perf_counter() - tic) / calls, steps / calls


def scenario(name, hidden, n_new):
    X, y = data()
    X_new, y_new = X[900 : 900 + n_new], y[900 : 900 + n_new]
    new = (X_new, y_new)
    twice = (np.concatenate([X_new, X_new]), np.concatenate([y_new, y_new]))
    variants = {
        "plain": (fitted(hidden), new),
        "Replay(200)": (fitted(hidden, callbacks=[Replay(200)]), new),
        "Replay(200, class_balanced)": (
            fitted(hidden, callbacks=[Replay(200, buffer="class_balanced")]),
            new,
        ),
        "Replay(200, replay_ratio=0.5)": (
            fitted(hidden, callbacks=[Replay(200, replay_ratio=0.5)]),
            new,
        ),
        # as many steps as replay, on as many samples each: what replay adds
        # beyond the bigger batches is the cost of the mechanism itself
        "plain, data twice in batches of 64": (fitted(hidden, batch_size=64), twice),
    }
    calls = max(3, 4096 // n_new)
    best = {key: (float("inf"), float("inf")) for key in variants}
    for _ in range(REPEATS):  # interleaved, best of REPEATS
        for key, (est, (X_call, y_call)) in variants.items():
            call, steps = time_per_call(est, X_call, y_call, calls)
            best[key] = (min(best[key][0], call), min(best[key][1], steps))
    plain_call, plain_steps = best["plain"]
    rows = []
    for key, (call, steps) in best.items():
        rows.append(
            {
                "scenario": name,
                "method": key,
                "ms_per_call": call * 1e3,
                "call_ratio": call / plain_call,
                "steps_ms_per_call": steps * 1e3,
                "steps_ratio": steps / plain_steps,
                "target": TARGET if key == "Replay(200)" and hidden == (100,) else "",
            }
        )
    buffer = dict(variants["Replay(200)"][0].net_.callbacks_)["replay"].buffer_
    memory = {
        "scenario": name,
        "buffer_samples": len(buffer),
        "samples_seen": buffer.n_seen,
        "buffer_kib": buffer.nbytes / 1024,
    }
    return rows, memory


def main() -> None:
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)  # comparable, and stable on a shared machine
    rows, memory = [], []
    for name, hidden, n_new in [
        ("MLP 64-100-10, 256 new samples", (100,), 256),
        ("MLP 64-100-10, 32 new samples", (100,), 32),
        ("MLP 64-512-512-10, 256 new samples", (512, 512), 256),
    ]:
        scenario_rows, scenario_memory = scenario(name, hidden, n_new)
        rows += scenario_rows
        memory.append(scenario_memory)
    print_table(rows)
    print()
    print_table(memory)
    path = write_results(
        "replay",
        {
            "torch_num_threads": 1,
            "note": "measured on a shared 2-core machine while other processes "
            "ran; variants interleaved, best of 9 repeats, ratios comparable",
            "rows": rows,
            "memory": memory,
        },
    )
    print(f"\nwritten {path}")


if __name__ == "__main__":
    main()
