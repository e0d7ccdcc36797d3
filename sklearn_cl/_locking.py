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
which might yet be rolled back. Pickle and skops write the weights after
reading them (as arrays sharing the weights' memory: a copy would double
the time of pickling a large model), so an update that *begins* while
they write can still reach the file: save from the updating thread, or
between updates.

A meta-estimator whose updates replace its members rather than change them
(``UpdateEnsemble``) takes the same lock with ``updating(estimator,
snapshot=shallow_copy)``: each update begins by taking a shallow copy of
it (a new attribute dict; the members are shared), and ``reading`` hands
that copy to predictions made while the update runs, the estimator itself
otherwise.

Python's ``threading`` has no reader-writer lock; this is the small part of
one these estimators need.
"""

from __future__ import annotations

import copy
import threading
import weakref
from contextlib import contextmanager

from ._net import forward_in_chunks

__all__ = ["consistent", "reading", "serving", "shallow_copy", "updating"]

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
    with guard.lock:
        outer = guard.writer
        if outer is None and snapshot is not None:
            guard.before = snapshot(estimator)
        guard.writer = threading.get_ident()
        try:
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


def shallow_copy(estimator):
    """A copy of ``estimator`` sharing its attribute values (members)."""
    new = object.__new__(type(estimator))
    vars(new).update(vars(estimator))
    return new


@contextmanager
def reading(estimator):
    """Yield what a prediction of an estimator updated under
    ``updating(..., snapshot=)`` runs on: the copy its running update
    began with, or else a shallow copy taken under its lock (held only for
    the copy, so that readers predict in parallel; a step replaces the
    estimator's attributes and leaves the copy's alone)."""
    guard = _guard(estimator)
    if guard.writer == threading.get_ident():  # the updating thread itself
        yield estimator
        return
    acquired = guard.lock.acquire(blocking=False)
    while not acquired:
        before = guard.before
        if before is not None:  # an update runs: serve what it began with
            yield before
            return
        # another reader, or an update just beginning (taking its copy) or
        # ending: look again shortly
        acquired = guard.lock.acquire(timeout=0.01)
    try:
        view = shallow_copy(estimator)
    finally:
        guard.lock.release()
    yield view


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
