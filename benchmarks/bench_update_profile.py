"""Where the time of one small update goes: a 32-sample ``partial_fit``, part by part.

MLP 64-100-10 on digits, Adam, one epoch, one batch of 32 (the first
scenario of ``bench_overhead.py``), with 1 and 2 torch threads, and one
batch of 1,024 (its third scenario) with 1 thread. Each part is
measured two ways:

- ``alone_us``: the part on its own, called in a tight loop with the
  estimator's own private functions;
- ``in_call_us``: what the part costs inside a whole ``partial_fit``: the
  call's time minus the time of the same call with the part replaced by a
  no-op, paired round by round (median of the differences). A part costs
  more inside the call than alone: the interpreter, numpy and torch code it
  runs and the memory it touches push the training step's own code and
  data out of the caches, which the step then reads again.

The parts, in the order a call runs them:

- ``lock``: the estimator's update lock (``_locking``);
- ``rollback snapshot``: the copy of the weights, Adam's moments and the
  strategies' state that makes the update all-or-nothing (``Transaction``);
- ``parameter re-check``: the update parameters changed since the last
  call, the network's parameters and the callbacks;
- ``input checks``: the fast path of ``validate_X_y`` (type, dtype, shape,
  finiteness);
- ``label encoding``: labels to class indices;
- ``callback sync``: callback changes made with ``set_params``;
- ``seeding``: torch's global RNG seeded for the call, and restored;
- ``curves``: ``loss_curve_`` and the other MLP attributes;
- ``finiteness check``: the parameters summed to detect NaN or inf.

``train_call`` (the net's call on ready tensors: context, hooks, history
and the epoch) and ``epoch`` (shuffle, slice, step in the net's loop) are
timed alone, beside the whole call and the hand-written loop of
``bench_overhead.py`` (convert, shuffle, slice, step). ``all parts`` is the
call with every part above replaced at once: what remains is the bare
training call. Times in microseconds of process CPU time per call.

Run: ``python benchmarks/bench_update_profile.py``.
"""

from __future__ import annotations

import contextlib
import time

import numpy as np
import torch
from _common import print_table, write_results
from bench_overhead import data, hand_written

import sklearn_cl._transaction as transaction_module
import sklearn_cl.base as base_module
from sklearn_cl import ContinualClassifier
from sklearn_cl._build import call_seed, seeded, sync_callbacks
from sklearn_cl._input import to_tensor, validate_X_y
from sklearn_cl._locking import updating
from sklearn_cl._schedule import update_lr
from sklearn_cl._transaction import Transaction, is_finite
from sklearn_cl.base import ContinualEstimator
from sklearn_cl.strategies.context import UpdateContext

ROUNDS = 15
CALL_ROUNDS = 25  # paired rounds of the in-call measurement
SECONDS = 0.03  # per timing of a whole call


class _NoSnapshot:
    def __init__(self, estimator, net_state=True):
        self.net = getattr(estimator, "net_", None)

    def rollback(self, estimator):
        pass


@contextlib.contextmanager
def _nothing(*args, **kwargs):
    yield


def parts(est, X, y) -> dict:
    """Each part: ``(alone, stubs)``, a function of no argument timing the
    part alone and the ``(owner, name, no-op)`` replacements that take it
    out of a call."""
    net = est.net_
    y_encoded = est._encode_y(y, reset=False)[0]

    def lock():
        with updating(est):
            pass

    def seeding():
        with seeded(call_seed(est), net.device):
            pass

    return {
        "lock": (lock, [(base_module, "updating", _nothing)]),
        "rollback snapshot": (
            lambda: Transaction(est),
            [(transaction_module, "Transaction", _NoSnapshot)],
        ),
        "parameter re-check": (
            est._check_changed_params,
            [(ContinualEstimator, "_check_changed_params", lambda self: None)],
        ),
        "input checks": (
            lambda: validate_X_y(est, X, y, reset=False),
            [(base_module, "validate_X_y", lambda est, X, y, reset: (X, y))],
        ),
        "label encoding": (
            lambda: est._encode_y(y, reset=False),
            [(est, "_encode_y", lambda y, reset, classes: (y_encoded, 10))],
        ),
        "callback sync": (
            lambda: sync_callbacks(est),
            [(base_module, "sync_callbacks", lambda est: None)],
        ),
        "seeding": (seeding, [(base_module, "seeded", _nothing)]),
        "curves": (
            est._record_curves,
            [(ContinualEstimator, "_record_curves", lambda self: None)],
        ),
        "finiteness check": (
            lambda: is_finite(net, 0.0),
            [(transaction_module, "is_finite", lambda net, loss: True)],
        ),
    }


def _per_call(function, calls: int) -> float:
    function()
    tic = time.process_time()
    for _ in range(calls):
        function()
    return (time.process_time() - tic) / calls * 1e6


@contextlib.contextmanager
def _replaced(stubs):
    saved = [(owner, name, vars(owner).get(name)) for owner, name, _ in stubs]
    for owner, name, stub in stubs:
        setattr(owner, name, stub)
    try:
        yield
    finally:
        for owner, name, value in saved:
            if value is None:
                delattr(owner, name)  # an instance's stub
            else:
                setattr(owner, name, value)


def measure(threads: int, n: int = 32) -> list[dict]:
    """The parts of a one-batch update of ``n`` samples."""
    torch.set_num_threads(threads)
    X, y = data(n)
    est = ContinualClassifier(batch_size=n, update_epochs=1, random_state=0)
    est.partial_fit(X, y, classes=np.arange(10))
    net = est.net_
    X_t, y_t = to_tensor(X), to_tensor(est._encode_y(y, reset=False)[0])
    lr = update_lr(est)
    context = UpdateContext(
        net=net,
        lr=lr,
        is_classifier=True,
        is_update=True,
        call_index=1,
        n_epochs=1,
        _probe=X_t,
    )
    loop = hand_written(n)
    table = parts(est, X, y)
    # calls per timing: the machine's load, and with 2 threads the waits for
    # the second thread, change a call's time by orders of magnitude
    per_call = _per_call(lambda: est.partial_fit(X, y), 3) / 1e6
    calls = max(3, min(200, int(SECONDS / per_call)))
    whole = {
        "whole partial_fit": lambda: est.partial_fit(X, y),
        "hand-written loop": lambda: loop(X, y),
        "train_call": lambda: net.train_call(X_t, y_t, epochs=1, lr=lr, is_update=True),
        "epoch": lambda: net._run_epoch(X_t, y_t, None, False, context),
    }
    alone = dict.fromkeys([*whole, *table], float("inf"))
    functions = {**whole, **{name: part[0] for name, part in table.items()}}
    for _ in range(ROUNDS):  # interleaved; best of the rounds
        for name, function in functions.items():
            alone[name] = min(alone[name], _per_call(function, calls))
    variants = {name: stubs for name, (_, stubs) in table.items()}
    variants["all parts"] = [stub for stubs in variants.values() for stub in stubs]
    saved = {name: [] for name in variants}
    for _ in range(CALL_ROUNDS):  # paired: the whole call, then without a part
        for name, stubs in variants.items():
            with_part = _per_call(whole["whole partial_fit"], calls)
            with _replaced(stubs):
                without = _per_call(whole["whole partial_fit"], calls)
            saved[name].append(with_part - without)
    hand = alone["hand-written loop"]
    rows = [
        {
            "torch_threads": threads,
            "samples": n,
            "part": name,
            "alone_us": alone.get(name, float("nan")),
            "in_call_us": float(np.median(saved[name])) if name in saved else "",
            "in_call_ratio_to_hand_written": (
                float(np.median(saved[name])) / hand if name in saved else ""
            ),
        }
        for name in [*whole, *variants]
    ]
    for row in rows:
        if row["part"] in whole:
            row["in_call_ratio_to_hand_written"] = row["alone_us"] / hand
    return rows


def main() -> None:
    rows = measure(1) + measure(2) + measure(1, n=1024)
    print_table(rows)
    path = write_results(
        "update_profile",
        {
            "update": "partial_fit, 32 or 1,024 samples in 1 batch, MLP 64-100-10",
            "note": (
                "measured on a shared 2-core machine while other engineers ran "
                f"tests; process CPU time; alone: best of {ROUNDS} interleaved "
                f"rounds of calls taking about {SECONDS} s; in call: median over "
                f"{CALL_ROUNDS} paired rounds of the whole call minus "
                "the call without the part; for the whole call, the hand-written "
                "loop, train_call and the epoch, the last column is the ratio of "
                "the time alone to the hand-written loop's"
            ),
            "rows": rows,
        },
    )
    print(f"written to {path}")


if __name__ == "__main__":
    main()
