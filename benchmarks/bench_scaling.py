"""How the cost of an update grows with the work, against a hand-written loop.

Four sweeps, each a ``partial_fit`` of one epoch (Adam, batches of 32) on
random 64-feature, 10-class data, against a hand-written PyTorch loop doing
the same steps from numpy input (convert, shuffle, slice, step; for replay,
also drawing the replayed samples from a tensor memory and storing the new
ones):

- ``update size``: 32 to 65,536 samples per update (default MLP 64-100-10);
- ``width``: the default MLP to 64-1024-1024-10 (1,024 samples per update);
- ``updates``: 100,000 updates of 32 samples in a row (default MLP); the
  time per update over windows of 1,000 updates ending at 1,000, 10,000 and
  100,000 updates;
- ``replay buffer``: ``Replay(buffer_size=B)``, B from 100 to 100,000
  samples, the buffer full (1,024 samples per update).

For each point: seconds per update (the best of at least 3 updates and
about a second of them) and the peak memory the
model and its updates add to the process, each in a new process
(``ru_maxrss`` after the updates minus the resident size before the model
is built, once small models of both kinds have run), and
the ratio to the hand-written loop. A term that grows faster than the work
shows up as a ratio that grows along a sweep. Plotted log-log in
``results/scaling.png``.

Run: ``python benchmarks/bench_scaling.py`` (about 5 minutes on 2 cores).
"""

from __future__ import annotations

import multiprocessing
import resource
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
from _common import RESULTS, print_table, write_results

from sklearn_cl import ContinualClassifier
from sklearn_cl.modules import MLP
from sklearn_cl.strategies import Replay

BATCH = 32
REPEATS = 3
SWEEPS = {
    "update size": [32, 256, 2048, 16_384, 65_536],
    "width": [100, 256, 512, 1024],
    "replay buffer": [100, 1_000, 10_000, 100_000],
    "updates": [1_000, 10_000, 100_000],
}


def data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 64), dtype=np.float32), rng.integers(0, 10, n)


class HandWritten:
    """The same steps written out: convert, shuffle, slice, step; with a
    replay memory, each batch is joined by as many stored samples, and the
    new samples are stored afterwards (reservoir sampling, vectorised)."""

    def __init__(self, hidden, buffer_size=None):
        torch.manual_seed(0)
        self.module = MLP(64, 10, hidden_layer_sizes=hidden)
        self.optimizer = torch.optim.Adam(self.module.parameters(), lr=1e-3)
        self.buffer_size, self.seen = buffer_size, 0
        self.memory = None

    def partial_fit(self, X_np, y_np):
        X, y = torch.from_numpy(X_np), torch.from_numpy(y_np)
        self.module.train()
        order = torch.randperm(len(X))
        for start in range(0, len(X), BATCH):
            index = order[start : start + BATCH]
            Xb, yb = X[index], y[index]
            if self.memory is not None:
                drawn = torch.randint(len(self.memory[0]), (len(index),))
                Xb = torch.cat([Xb, self.memory[0][drawn]])
                yb = torch.cat([yb, self.memory[1][drawn]])
            self.optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(self.module(Xb), yb)
            loss.backward()
            self.optimizer.step()
        if self.buffer_size is not None:
            self._store(X, y)
        return self

    def _store(self, X, y):
        if self.memory is None:
            self.memory = (X[: self.buffer_size].clone(), y[: self.buffer_size].clone())
            self.seen = len(self.memory[0])
            X, y = X[self.seen :], y[self.seen :]
        if len(X) == 0:
            return
        slots = torch.randint(0, 2**62, (len(X),)) % (
            self.seen + torch.arange(len(X)) + 1
        )
        keep = slots < self.buffer_size
        self.memory[0][slots[keep]] = X[keep]
        self.memory[1][slots[keep]] = y[keep]
        self.seen += len(X)


def build(contender: str, sweep: str, value: int):
    """The model of one point, fitted once, and the update data."""
    hidden = (value, value) if sweep == "width" and value != 100 else (100,)
    n = value if sweep == "update size" else (32 if sweep == "updates" else 1024)
    buffer_size = value if sweep == "replay buffer" else None
    X_old, y_old = data(max(buffer_size or 0, 1024), seed=1)
    if contender == "hand-written":
        model = HandWritten(hidden, buffer_size)
    else:
        callbacks = [Replay(buffer_size=buffer_size)] if buffer_size else None
        model = ContinualClassifier(
            hidden_layer_sizes=hidden, max_epochs=1, callbacks=callbacks, random_state=0
        )
        model.partial_fit(X_old[:BATCH], y_old[:BATCH], classes=np.arange(10))
    model.partial_fit(X_old, y_old)  # fills a replay memory
    return model, data(n)


def point(contender: str, sweep: str, value: int) -> dict:
    """Seconds per update and peak extra memory, in this (new) process."""
    torch.set_num_threads(1)
    # load the code and kernels both contenders use before the baseline
    small = data(64)
    HandWritten((8,)).partial_fit(*small)
    ContinualClassifier(hidden_layer_sizes=(8,)).fit(*small).partial_fit(*small)
    before = _resident_mib()
    model, (X, y) = build(contender, sweep, value)
    if sweep == "updates":
        times, done = {}, 0
        for end in SWEEPS["updates"]:
            while done < end - 1000:
                model.partial_fit(X, y)
                done += 1
            tic = time.perf_counter()
            for _ in range(1000):
                model.partial_fit(X, y)
            times[end] = (time.perf_counter() - tic) / 1000
            done = end
        seconds = times
    else:
        tic = time.perf_counter()
        model.partial_fit(X, y)  # warm up
        # at least REPEATS updates and about a second in all, best one kept
        repeats = max(REPEATS, int(1.0 / (time.perf_counter() - tic)))
        seconds = float("inf")
        for _ in range(min(repeats, 300)):
            tic = time.perf_counter()
            model.partial_fit(X, y)
            seconds = min(seconds, time.perf_counter() - tic)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mib": peak - before}


def _resident_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def run_point(contender: str, sweep: str, value: int) -> dict:
    # spawned, not forked: a forked child inherits the parent's peak
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(point, contender, sweep, value).result()


def main() -> None:
    rows = []
    for sweep, values in SWEEPS.items():
        points = SWEEPS["updates"][-1:] if sweep == "updates" else values
        for value in points:
            ours = run_point("sklearn_cl", sweep, value)
            hand = run_point("hand-written", sweep, value)
            for x in values if sweep == "updates" else [value]:
                s_ours, s_hand = ours["seconds"], hand["seconds"]
                if sweep == "updates":  # one time per window
                    s_ours, s_hand = s_ours[x], s_hand[x]
                rows.append(
                    {
                        "sweep": sweep,
                        "x": x,
                        "ms_per_update": 1e3 * s_ours,
                        "hand_ms_per_update": 1e3 * s_hand,
                        "time_ratio": s_ours / s_hand,
                        "peak_mib": ours["peak_mib"],
                        "hand_peak_mib": hand["peak_mib"],
                    }
                )
            print_table(rows[-1:])
    print()
    print_table(rows)
    _plot(rows)
    path = write_results(
        "scaling",
        {
            "note": (
                "measured on a shared 2-core machine while other engineers ran "
                "tests; one torch thread; each point in a new process; "
                "time: best update of >= 3 and about 1 s of them (updates sweep: "
                "mean over a window of "
                "1,000); peak_mib: ru_maxrss after the updates minus the "
                "resident size before the model was built (the whole window "
                "of 100,000 updates for the updates sweep)"
            ),
            "x": {
                "update size": "samples per update",
                "width": "hidden units in each of two layers (100: one layer)",
                "replay buffer": "Replay buffer_size (buffer full)",
                "updates": "updates done so far",
            },
            "rows": rows,
        },
    )
    print(f"written to {path}")


def _plot(rows) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(16, 7))
    for column, sweep in enumerate(SWEEPS):
        part = [r for r in rows if r["sweep"] == sweep]
        x = [r["x"] for r in part]
        top, bottom = axes[0, column], axes[1, column]
        top.loglog(x, [r["ms_per_update"] for r in part], "o-", label="sklearn_cl")
        top.loglog(x, [r["hand_ms_per_update"] for r in part], "s--", label="hand")
        top.set_title(sweep)
        top.set_ylabel("ms per update")
        top.legend()
        bottom.semilogx(x, [r["time_ratio"] for r in part], "o-", label="time")
        peak = [max(r["peak_mib"], 0.1) / max(r["hand_peak_mib"], 0.1) for r in part]
        bottom.semilogx(x, peak, "s--", label="peak memory")
        bottom.axhline(1, color="grey", lw=0.5)
        bottom.set_ylabel("ratio to hand-written")
        bottom.set_xlabel(sweep)
        bottom.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "scaling.png", dpi=80)


if __name__ == "__main__":
    main()
