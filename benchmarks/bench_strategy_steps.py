"""Cost of the penalty strategies in ``partial_fit`` updates.

One update = ``partial_fit`` on 898 new samples (a digits task), 5 epochs,
Adam, batches of 32, after a ``fit`` on 898 other samples. For each strategy:

- ``steps_ms``: the training steps of the update alone (the epoch loop, from
  the net's history): forward, loss, penalty, backward, optimizer step;
- ``call_ms``: the whole ``partial_fit`` call, which adds what the
  strategies do at its start and end (EWC's Fisher, LwF's copy of the
  network, replay's storing) and the estimator's fixed per-call costs;
- ratios to the plain update without strategies (and, for EWC + Replay, to
  Replay alone).

Targets (issue 3): the training steps with EWC cost at most 1.5x plain steps
(``steps_ratio``), with replay too (EWC + Replay against Replay); with the
Fisher, an update of 5 epochs with EWC costs at most about 2.1x a plain one
(``call_ratio``). Variants are interleaved and the best of several repeats
is kept, so ratios are comparable even on a busy machine.

Run: ``python benchmarks/bench_strategy_steps.py``.
"""

from __future__ import annotations

import time
import warnings

import torch
from _common import print_table, write_results

from sklearn_cl import ContinualClassifier
from sklearn_cl.datasets import permuted_digits
from sklearn_cl.strategies import EWC, L2SP, LwF, Replay

REPEATS = 9
EPOCHS = 5
STRATEGIES = {
    "plain": lambda: [],
    "EWC": lambda: [EWC()],
    "L2SP": lambda: [L2SP()],
    "L2SP(norm='l1')": lambda: [L2SP(norm="l1")],
    "LwF": lambda: [LwF()],
    "Replay(200)": lambda: [Replay(200)],
    "EWC + Replay(200)": lambda: [EWC(), Replay(200)],
}
TARGETS = {"EWC": (1.5, 2.1), "EWC + Replay(200)": (1.5, None)}


def fitted(hidden, callbacks, X, y):
    est = ContinualClassifier(
        hidden_layer_sizes=hidden,
        max_epochs=2,
        update_epochs=EPOCHS,
        callbacks=callbacks,
        random_state=0,
    )
    return est.fit(X, y)


def one_update(est, X, y) -> tuple[float, float]:
    """Seconds of a ``partial_fit`` call, and of its training steps alone."""
    tic = time.perf_counter()
    est.partial_fit(X, y)
    return time.perf_counter() - tic, sum(est.net_.history[:, "dur"])


def scenario(name, hidden):
    tasks = permuted_digits(2)
    old, new = tasks[0], tasks[1]
    variants = {
        key: fitted(hidden, make(), old.X_train, old.y_train)
        for key, make in STRATEGIES.items()
    }
    best = {key: (float("inf"), float("inf")) for key in variants}
    for _ in range(REPEATS):  # interleaved, best of REPEATS
        for key, est in variants.items():
            call, steps = one_update(est, new.X_train, new.y_train)
            best[key] = (min(best[key][0], call), min(best[key][1], steps))
    rows = []
    for key, (call, steps) in best.items():
        base = "Replay(200)" if key == "EWC + Replay(200)" else "plain"
        steps_target, call_target = TARGETS.get(key, (None, None))
        rows.append(
            {
                "scenario": name,
                "method": key,
                "baseline": base,
                "steps_ms": steps * 1e3,
                "call_ms": call * 1e3,
                "steps_ratio": steps / best[base][1],
                "call_ratio": call / best[base][0],
                "target_steps_ratio": steps_target or "",
                "target_call_ratio": call_target or "",
            }
        )
    return rows


def main() -> None:
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)  # comparable, and stable on a shared machine
    rows = []
    for name, hidden in [
        ("MLP 64-100-10 (default)", (100,)),
        ("MLP 64-512-512-10", (512, 512)),
    ]:
        rows += scenario(name, hidden)
    print_table(rows)
    path = write_results(
        "strategy_steps",
        {
            "torch_num_threads": 1,
            "update": f"898 new samples, {EPOCHS} epochs, batch 32, Adam",
            "note": "measured on a shared 2-core machine while other processes "
            f"ran; variants interleaved, best of {REPEATS} repeats, ratios "
            "comparable",
            "rows": rows,
        },
    )
    print(f"\nwritten {path}")


if __name__ == "__main__":
    main()
