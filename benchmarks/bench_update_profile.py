"""Where the time of one small update goes: a 32-sample ``partial_fit``, part by part.

MLP 64-100-10 on digits, Adam, one epoch, one batch of 32 (the first
scenario of ``bench_overhead.py``). Each part of ``partial_fit`` is timed on
its own, with the estimator's own private functions, and so is the whole
call and the hand-written loop of ``bench_overhead.py`` (convert, shuffle,
slice, step). The parts, in the order a call runs them:

- ``rollback snapshot``: the copy of the weights, Adam's moments and the
  strategies' state that makes the update all-or-nothing (``Transaction``);
- ``parameter re-check``: the update parameters changed since the last
  call, validated as scikit-learn does, and the checks that the network's
  parameters and the callbacks are still valid;
- ``input checks``: the fast path of ``validate_X_y`` (type, dtype, shape,
  finiteness) and the label encoding;
- ``tensors``: numpy to torch, to the device;
- ``seeding``: the forked, seeded torch RNG around the training call;
- ``UpdateContext``: building the context every strategy hook receives;
- ``train_call, hooks``: the training call without its epoch and its
  context (learning rate, history, skorch's ``notify`` of the callbacks,
  the strategy hooks);
- ``epoch``: shuffle, slice and the training step, in the net's loop;
- ``finiteness check``: every parameter summed to detect NaN or inf.

``update inside the transaction`` is ``_fit_checked``: the call without the
parameter re-check, the snapshot, the finiteness check and the acceptance
logic. ``other`` is what
remains of a call or of ``_fit_checked`` once its parts are taken off: Python
calls, attribute bookkeeping (``n_updates_``), and what the parts cost more
together than apart (caches, the allocator).
Best of several interleaved rounds of 200 calls each, in microseconds per
call, with 1 and 2 torch threads.

Run: ``python benchmarks/bench_update_profile.py``.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from _common import print_table, write_results
from bench_overhead import data, hand_written

from sklearn_cl import ContinualClassifier
from sklearn_cl._build import call_seed, seeded
from sklearn_cl._input import to_tensor, validate_X_y
from sklearn_cl._schedule import update_lr
from sklearn_cl._transaction import Transaction, is_finite
from sklearn_cl.strategies.context import UpdateContext

CALLS = 200
ROUNDS = 15


def parts(est, X, y) -> dict:
    """Each part of ``est.partial_fit(X, y)`` as a function of no argument."""
    net = est.net_
    X_t, y_t = to_tensor(X), to_tensor(est._encode_y(y, reset=False)[0])
    lr = update_lr(est)

    def check_input():
        X_v, y_v = validate_X_y(est, X, y, reset=False)
        est._encode_y(y_v, reset=False)

    def recheck():
        est._check_changed_params()

    def seeding():
        with seeded(call_seed(est), net.device):
            pass

    def update_context():
        return UpdateContext(
            net=net,
            lr=lr,
            is_classifier=net.classifier,
            is_update=True,
            call_index=1,
            n_epochs=1,
            _probe=X_t[:1],
        )

    context = update_context()

    def tensors():
        to_tensor(X).to(net.device), to_tensor(y).to(net.device)

    return {
        "whole partial_fit": lambda: est.partial_fit(X, y),
        "update inside the transaction": lambda: est._fit_checked(
            X, y, None, None, None, False, True
        ),
        "rollback snapshot": lambda: Transaction(est),
        "parameter re-check": recheck,
        "input checks": check_input,
        "tensors": tensors,
        "seeding": seeding,
        "train_call": lambda: net.train_call(X_t, y_t, epochs=1, lr=lr, is_update=True),
        "epoch": lambda: net._run_epoch(X_t, y_t, None, False, context),
        "UpdateContext": update_context,
        "finiteness check": lambda: is_finite(net, 0.0),
    }


def measure(threads: int) -> list[dict]:
    torch.set_num_threads(threads)
    X, y = data(32)
    est = ContinualClassifier(batch_size=32, update_epochs=1, random_state=0)
    est.partial_fit(X, y, classes=np.arange(10))
    functions = parts(est, X, y)
    functions["hand-written loop"] = lambda: loop(X, y)
    loop = hand_written(32)
    best = dict.fromkeys(functions, float("inf"))
    for _ in range(ROUNDS):
        for name, function in functions.items():
            tic = time.perf_counter()
            for _ in range(CALLS):
                function()
            best[name] = min(best[name], (time.perf_counter() - tic) / CALLS * 1e6)
    whole = best["whole partial_fit"]
    inner = best["update inside the transaction"]
    best["train_call, hooks"] = (
        best.pop("train_call") - best["epoch"] - best["UpdateContext"]
    )
    outer = ("rollback snapshot", "finiteness check")
    best["other, outside the update"] = whole - inner - sum(best[n] for n in outer)
    skip = {"whole partial_fit", "hand-written loop", "update inside the transaction"}
    named = [n for n in best if n not in skip and not n.startswith("other")]
    best["other, inside the update"] = inner - sum(
        best[n] for n in named if n not in outer
    )
    return [
        {
            "torch_threads": threads,
            "part": name,
            "us_per_call": us,
            "share_of_call": us / whole,
            "ratio_to_hand_written": us / best["hand-written loop"],
        }
        for name, us in best.items()
    ]


def main() -> None:
    rows = measure(1) + measure(2)
    print_table(rows)
    path = write_results(
        "update_profile",
        {
            "update": "partial_fit, 32 samples, 1 batch, MLP 64-100-10, Adam",
            "note": (
                "measured on a shared 2-core machine while other engineers ran "
                f"tests; each part timed on its own, best of {ROUNDS} interleaved "
                f"rounds of {CALLS} calls; 'other' is the whole call minus the "
                "parts (negative when the parts cost less together than apart)"
            ),
            "rows": rows,
        },
    )
    print(f"written to {path}")


if __name__ == "__main__":
    main()
