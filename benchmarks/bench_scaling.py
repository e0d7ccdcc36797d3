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

For each point: CPU seconds per update, both contenders interleaved in one
new process (the best update of at least 3 rounds and about 2 seconds, so
the load of a shared machine hits both alike), and the peak memory the
model and its updates add to a process, one new process per contender
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
CONTENDERS = ("sklearn_cl", "hand-written")
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


def _warm_up() -> None:
    """Load the code and kernels both contenders use (before a baseline)."""
    torch.set_num_threads(1)
    small = data(64)
    HandWritten((8,)).partial_fit(*small)
    ContinualClassifier(hidden_layer_sizes=(8,)).fit(*small).partial_fit(*small)


def timed(sweep: str, value: int) -> dict:
    """CPU seconds per update of both contenders, interleaved in this (new)
    process so that the load of a shared machine hits both alike."""
    _warm_up()
    models = {c: build(c, sweep, value) for c in CONTENDERS}
    if sweep == "updates":
        times = {c: {} for c in CONTENDERS}
        done = 0
        for end in SWEEPS["updates"]:
            for contender, (model, (X, y)) in models.items():
                for _ in range(end - 1000 - done):
                    model.partial_fit(X, y)
                tic = time.process_time()
                for _ in range(1000):
                    model.partial_fit(X, y)
                times[contender][end] = (time.process_time() - tic) / 1000
            done = end
        return times
    best = dict.fromkeys(CONTENDERS, float("inf"))
    tic = time.process_time()
    for model, (X, y) in models.values():
        model.partial_fit(X, y)  # warm up
    # at least REPEATS rounds and about two seconds in all
    rounds = max(REPEATS, min(300, int(2.0 / (time.process_time() - tic))))
    for _ in range(rounds):
        for contender, (model, (X, y)) in models.items():
            tic = time.process_time()
            model.partial_fit(X, y)
            best[contender] = min(best[contender], time.process_time() - tic)
    return best


def peak(contender: str, sweep: str, value: int) -> float:
    """MiB the model and its updates add to the peak of this (new) process."""
    _warm_up()
    before = _resident_mib()
    model, (X, y) = build(contender, sweep, value)
    n_updates = SWEEPS["updates"][-1] if sweep == "updates" else 3
    for _ in range(n_updates):
        model.partial_fit(X, y)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before


def _resident_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def in_new_process(function, *args):
    # spawned, not forked: a forked child inherits the parent's peak
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


def main() -> None:
    rows = []
    for sweep, values in SWEEPS.items():
        points = SWEEPS["updates"][-1:] if sweep == "updates" else values
        for value in points:
            seconds = in_new_process(timed, sweep, value)
            memory = {c: in_new_process(peak, c, sweep, value) for c in CONTENDERS}
            for x in values if sweep == "updates" else [value]:
                ours, hand = seconds["sklearn_cl"], seconds["hand-written"]
                if sweep == "updates":  # one time per window
                    ours, hand = ours[x], hand[x]
                rows.append(
                    {
                        "sweep": sweep,
                        "x": x,
                        "ms_per_update": 1e3 * ours,
                        "hand_ms_per_update": 1e3 * hand,
                        "time_ratio": ours / hand,
                        "peak_mib": memory["sklearn_cl"],
                        "hand_peak_mib": memory["hand-written"],
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
                "tests; one torch thread; CPU time (time.process_time) of a new "
                "process per point, both contenders interleaved, best update "
                "of >= 3 rounds and about 2 s (updates sweep: mean over a "
                "window of 1,000 updates); peak_mib: in another new process "
                "per contender, ru_maxrss after 3 updates (100,000 for the "
                "updates sweep) minus the resident size before the model was "
                "built, once small models of both kinds had run"
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
