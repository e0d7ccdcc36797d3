"""Thread safety: one update at a time, predictions from the committed model.

An estimator may serve ``predict``, ``predict_proba`` and ``score`` from any
number of threads while one thread updates it:

- ``fit`` and ``partial_fit`` hold the estimator's lock, so concurrent
  updates run one after the other (none is lost);
- a prediction never runs on the module while it trains: it runs on the
  live module only while it holds the lock itself (no update in progress),
  or, while an update runs in another thread, on a copy of the model as
  committed by the last update. The copy is made only once threads have
  been seen to contend, then once per update, so a single-threaded program
  never pays for it; it costs one copy of the module's weights.

Readers therefore see the model before or after an update, never a mix,
and a prediction never switches the training module to evaluation mode.
Copying and saving (pickle, ``copy.deepcopy``, skops) hold the lock while
they read the state (``consistent``): a copy begun while another thread
updates the estimator waits for the update, so it never holds half of one,
which might yet be rolled back. Pickle and skops write the state after
``__getstate__`` returns it and the lock is released, when another update
may have begun: so that update cannot reach what they write, the state
holds nothing a later update changes in place. Its weights and optimizer
state are copies (``unshared``; ``benchmarks/bench_consistent_copies.py``:
0.11x the time of ``pickle.dumps`` for 22 MB of weights and Adam state),
and meta-estimators whose updates change their parts in place store copies
of those parts.

A meta-estimator whose updates replace its members rather than change them
(``UpdateEnsemble``) takes the same lock with ``updating(estimator,
snapshot=shallow_copy)``: each update begins by taking a shallow copy of
it (a new attribute dict; the members are shared), and ``reading`` hands
that copy to predictions made while the update runs, the estimator itself
otherwise.

A meta-estimator whose updates change its parts in place
(``IncrementalPipeline``: its transformers, then its final step) reads with
``reading(estimator, live=True)``: a prediction that begins while no update
runs uses the parts themselves and is counted, and an update, once it holds
the lock, waits for the counted predictions to end before it changes
anything; so a prediction never sees some parts updated and others not.
A prediction that begins while an update runs uses the copy the update's
``snapshot`` made of the parts it changes; an update makes that copy only
once a prediction has had to wait for an update (``contended``), so that
a program that never predicts from another thread while it updates never
pays for it.

A meta-estimator that wraps one model (``MonitoredUpdater``) reads a model
that keeps these promises itself directly, and any other model, which its
updates change in place, with ``reading(estimator, live=True)`` and a
``snapshot`` that copies the model once readers have contended; its
``__getstate__`` copies the model and the records an update appends to.
A drift detector (``PageHinkley``) holds its lock (``lock_of``) while it
adds a value and while its state is read for a copy.

Python's ``threading`` has no reader-writer lock; this is the small part of
one these estimators need.
"""

from __future__ import annotations

import copy
import threading
import weakref
from contextlib import contextmanager

from ._net import forward_in_chunks

__all__ = [
    "consistent",
    "contended",
    "lock_of",
    "locked_deepcopy",
    "reading",
    "serving",
    "shallow_copy",
    "unshared",
    "updating",
]

_GUARDS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_GUARDS_LOCK = threading.Lock()


class _Guard:
    def __init__(self):
        self.lock = threading.RLock()
        self.writer: int | None = None  # thread updating the estimator
        self.version = 0  # committed updates so far
        self.contended = False  # a reader has waited for a writer
        self.copy: _Committed | None = None
        self.before = None  # the estimator as the running update found it
        # threads predicting on the live estimator (reading(live=True)): an
        # update waits for them before it changes anything
        self.readers: dict[int, int] = {}
        self.drained = threading.Condition(threading.Lock())


class _Committed:
    """A copy of a fitted estimator's module and classes, for readers."""

    def __init__(self, estimator, version: int):
        net = estimator.net_
        self.version = version
        self.source = net.module_
        self.module = copy.deepcopy(net.module_).eval().requires_grad_(False)
        self.device = net.device
        self.classes = getattr(estimator, "classes_", None)

    def forward(self, X):
        return forward_in_chunks(self.module, X, self.device)


def _guard(estimator) -> _Guard:
    guard = _GUARDS.get(estimator)
    if guard is None:
        with _GUARDS_LOCK:
            guard = _GUARDS.setdefault(estimator, _Guard())
    return guard


@contextmanager
def updating(estimator, snapshot=None):
    """Hold the estimator's lock for an update (re-entrant); ``snapshot``,
    a function of the estimator, makes the copy ``reading`` serves while
    the update runs."""
    guard = _guard(estimator)
    me = threading.get_ident()
    with guard.lock:
        outer = guard.writer
        if outer is None and snapshot is not None:
            guard.before = snapshot(estimator)
        guard.writer = me
        try:
            if outer is None and guard.readers:
                # no reader can begin on the live estimator while the lock is
                # held: wait for those that did
                with guard.drained:
                    guard.drained.wait_for(
                        lambda: not any(t != me for t in guard.readers)
                    )
            yield
        finally:
            guard.writer = outer
            if outer is None:
                guard.version += 1
                guard.copy = guard.before = None


@contextmanager
def consistent(estimator):
    """Hold the estimator's lock while its state is read whole (a copy, a
    save): no update runs meanwhile in another thread."""
    with _guard(estimator).lock:
        yield


def lock_of(estimator) -> threading.RLock:
    """The estimator's lock itself, for a ``with`` where the cost of a
    context manager counts (a drift detector's update, once per value)."""
    return _guard(estimator).lock


def locked_deepcopy(estimator, memo: dict):
    """``copy.deepcopy`` of ``estimator``, attribute by attribute, under its
    lock (for ``__deepcopy__``): not half of another thread's update."""
    new = object.__new__(type(estimator))
    memo[id(estimator)] = new
    with consistent(estimator):
        new.__dict__.update(copy.deepcopy(vars(estimator), memo))
    return new


def unshared(state):
    """``state`` in the plain form of ``_state.plain``, with the arrays that
    share memory with CPU tensors copied (a GPU tensor's array is a copy
    already)."""
    if isinstance(state, dict):
        if "$tensor" in state and state["device"] == "cpu":
            return {**state, "$tensor": state["$tensor"].copy()}
        return {key: unshared(value) for key, value in state.items()}
    if isinstance(state, list | tuple):
        return type(state)(map(unshared, state))
    return state


def shallow_copy(estimator):
    """A copy of ``estimator`` sharing its attribute values (members)."""
    new = object.__new__(type(estimator))
    vars(new).update(vars(estimator))
    return new


def contended(estimator) -> bool:
    """Whether a prediction of ``estimator`` has had to wait for an update
    (from then on, its updates make copies for the readers)."""
    return _guard(estimator).contended


@contextmanager
def reading(estimator, *, live: bool = False):
    """Yield what a prediction of an estimator updated under
    ``updating(..., snapshot=)`` runs on: the copy its running update
    began with, or else a shallow copy taken under its lock (held only for
    the copy, so that readers predict in parallel; a step replaces the
    estimator's attributes and leaves the copy's alone); with ``live``, the
    estimator itself, counted as a reader until the block ends (for
    estimators whose updates change their parts in place)."""
    guard = _guard(estimator)
    me = threading.get_ident()
    if guard.writer == me:  # the updating thread itself
        yield estimator
        return
    acquired = guard.lock.acquire(blocking=False)
    while not acquired:
        before = guard.before
        if before is not None:  # an update runs: serve what it began with
            yield before
            return
        # another reader, an update that made no copy, or one just beginning
        # (taking its copy) or ending: look again shortly
        if guard.writer is not None:
            guard.contended = True
        acquired = guard.lock.acquire(timeout=0.01)
    try:
        if live:
            with guard.drained:
                guard.readers[me] = guard.readers.get(me, 0) + 1
        else:
            view = shallow_copy(estimator)
    finally:
        guard.lock.release()
    if not live:
        yield view
        return
    try:
        yield estimator
    finally:
        with guard.drained:
            guard.readers[me] -= 1
            if not guard.readers[me]:
                del guard.readers[me]
            guard.drained.notify_all()


@contextmanager
def serving(estimator):
    """Yield ``(forward, classes)`` of the committed model for a prediction."""
    guard = _guard(estimator)
    if guard.writer == threading.get_ident():  # the updating thread itself
        yield estimator.net_.forward_raw, getattr(estimator, "classes_", None)
        return
    committed = guard.copy
    if committed is not None and _current(committed, guard, estimator):
        yield committed.forward, committed.classes
        return
    if not guard.lock.acquire(blocking=False):
        guard.contended = True
        guard.lock.acquire()
    try:
        if not guard.contended:
            # no other thread has updated meanwhile: the live module is safe
            # while the lock is held
            yield estimator.net_.forward_raw, getattr(estimator, "classes_", None)
            return
        if guard.copy is None or not _current(guard.copy, guard, estimator):
            guard.copy = _Committed(estimator, guard.version)
        committed = guard.copy
    finally:
        guard.lock.release()
    yield committed.forward, committed.classes


def _current(committed: _Committed, guard: _Guard, estimator) -> bool:
    net = getattr(estimator, "net_", None)
    return (
        committed.version == guard.version
        and net is not None
        and committed.source is net.module_
    )
