"""Long streams stay flat: 10,000 ``partial_fit`` calls of 32 samples.

A ``ContinualClassifier`` with EWC and Replay is updated 10,000 times on
32-sample batches of digits. Every 1,000 calls the script records the time
per call over the last window, the process's resident memory, the pickled
size of the model and the replay buffer's length. Flat means: the last
window's time per call and memory within a small factor of the first
window after warm-up (the buffer fills in the first calls).

Run: ``python benchmarks/bench_long_stream.py [n_calls]``.
"""

from __future__ import annotations

import gc
import pickle
import sys
import time

import numpy as np
import torch
from _common import print_table, write_results
from sklearn.datasets import load_digits

from sklearn_cl import ContinualClassifier
from sklearn_cl.strategies import EWC, Replay

WINDOW = 1000


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main(n_calls: int = 10_000) -> None:
    torch.set_num_threads(1)
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    rng = np.random.default_rng(0)
    clf = ContinualClassifier(
        update_epochs=1,
        callbacks=[("ewc", EWC(lambda_=10.0, mode="online")), ("replay", Replay(200))],
        random_state=0,
    )
    rows = []
    tic = time.perf_counter()
    for call in range(1, n_calls + 1):
        index = rng.integers(0, len(X), size=32)
        clf.partial_fit(X[index], y[index], classes=np.arange(10))
        if call % WINDOW == 0:
            elapsed = time.perf_counter() - tic
            gc.collect()
            replay = dict(clf.net_.callbacks_)["replay"]
            rows.append(
                {
                    "calls": call,
                    "ms_per_call": elapsed / WINDOW * 1e3,
                    "rss_mib": rss_mib(),
                    "pickle_kib": len(pickle.dumps(clf)) / 1024,
                    "buffer_len": len(replay.buffer_),
                    "history_rows": len(clf.net_.history),
                }
            )
            tic = time.perf_counter()
    print_table(rows)
    first, last = rows[1] if len(rows) > 1 else rows[0], rows[-1]
    summary = {
        "time_ratio_last_to_second_window": last["ms_per_call"] / first["ms_per_call"],
        "rss_growth_mib_after_warmup": last["rss_mib"] - first["rss_mib"],
        "pickle_ratio_last_to_second_window": last["pickle_kib"] / first["pickle_kib"],
    }
    print(summary)
    path = write_results("long_stream", {"n_calls": n_calls, "rows": rows, **summary})
    print(f"written {path}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
