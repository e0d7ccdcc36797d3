"""MonitoredUpdater and PageHinkley under threads: what a reader or a copy
sees is a whole model.

A prediction of a ``MonitoredUpdater`` made while another thread updates it
equals the prediction before the update or after it, whatever model it
wraps (``SGDClassifier`` has no lock of its own). A pickle, deep copy or
skops file taken while another thread updates it holds the model and its
records (``history_``, ``updates_``, the detector) from one moment: before
an update or after it, also when another update begins while it is written.
"""

from __future__ import annotations

import copy
import pickle
import threading
import time

import numpy as np
import pytest
from helpers import read_while_updating
from sklearn.linear_model import SGDClassifier

from sklearn_cl import ContinualClassifier, MonitoredUpdater
from sklearn_cl.drift import PageHinkley
from sklearn_cl.persistence import load, save
from sklearn_cl.strategies import Strategy


class Halfway(SGDClassifier):
    """``partial_fit`` assigns the new coefficients, pauses, then assigns the
    rest (intercept, counts), as an estimator whose update releases the GIL
    between its assignments: in the pause the model is half updated. The
    pause waits for ``Halfway.release`` (after setting ``Halfway.entered``)
    when it is set, and is 10 ms otherwise."""

    entered = release = None

    def partial_fit(self, X, y, **kwargs):
        if not hasattr(self, "coef_"):
            return super().partial_fit(X, y, **kwargs)
        new = super(Halfway, copy.deepcopy(self)).partial_fit(X, y, **kwargs)
        self.coef_ = new.coef_
        if Halfway.release is None:
            time.sleep(0.01)
        else:
            Halfway.entered.set()
            assert Halfway.release.wait(timeout=60)
        vars(self).update(vars(new))
        return self


@pytest.fixture
def halfway():
    yield Halfway
    Halfway.entered = Halfway.release = None


def _updater(X, y, policy="always", detector=None):
    model = Halfway(loss="log_loss", random_state=0)
    return MonitoredUpdater(model, policy=policy, detector=detector).fit(X, y)


class Sleep(Strategy):
    """Sleeps on every training batch of an update."""

    def penalty(self, net, X, y, y_pred, **kwargs):
        if net.module_.training:
            time.sleep(0.01)


@pytest.mark.parametrize(
    "kind, method",
    [
        ("sgd", "predict_proba"),
        ("sgd", "decision_function"),
        ("continual", "predict_proba"),  # read directly: it guards its readers
    ],
)
def test_readers_see_the_model_before_or_after_each_update(
    digits, halfway, kind, method
):
    # predictions went straight to the wrapped SGDClassifier while it was
    # updated: new coefficients with the old intercept
    X, y = digits
    probe = X[1500:1600]
    if kind == "sgd":
        updater = _updater(X[:200], y[:200])
    else:
        clf = ContinualClassifier(
            hidden_layer_sizes=(16,),
            max_epochs=1,
            batch_size=25,
            callbacks=[("sleep", Sleep())],
            random_state=0,
        )
        updater = MonitoredUpdater(clf, policy="always").fit(X[:200], y[:200])
    batches = [(X[i : i + 50], y[i : i + 50]) for i in range(200, 700, 50)]
    committed, seen = read_while_updating(
        updater, batches, lambda model: getattr(model, method)(probe)
    )
    assert len(seen) > 0
    for outputs in seen:
        assert any(np.array_equal(outputs, c) for c in committed)


def _held_update(updater, X, y):
    """Start ``updater.partial_fit(X, y)`` in a thread, held halfway through
    the wrapped model's update."""
    Halfway.entered, Halfway.release = threading.Event(), threading.Event()
    writer = threading.Thread(target=lambda: updater.partial_fit(X, y))
    writer.start()
    assert Halfway.entered.wait(timeout=60)
    return writer


def _read_all(updater, X, y):
    return [
        updater.predict(X),
        updater.predict_proba(X),
        updater.decision_function(X),
        updater.score(X, y),
    ]


def _assert_same(outputs, expected):
    for output, wanted in zip(outputs, expected, strict=True):
        np.testing.assert_array_equal(output, wanted)


def test_predictions_during_an_update_wait_once_then_read_a_copy(digits, halfway):
    # the first reader during an update waits for it; from then on each
    # update begins with a copy of the wrapped model, which readers use
    X, y = digits
    probe, labels = X[1500:], y[1500:]
    updater = _updater(X[:200], y[:200])
    seen = []
    writer = _held_update(updater, X[200:300], y[200:300])
    reader = threading.Thread(
        target=lambda: seen.append(_read_all(updater, probe, labels))
    )
    try:
        reader.start()
        reader.join(timeout=0.3)
        assert reader.is_alive()  # the first reader waits for the update
    finally:
        Halfway.release.set()
        writer.join(timeout=60)
        reader.join(timeout=60)
    after_first = _read_all(updater, probe, labels)
    _assert_same(seen[0], after_first)

    writer = _held_update(updater, X[300:400], y[300:400])
    try:
        reader = threading.Thread(
            target=lambda: seen.append(_read_all(updater, probe, labels))
        )
        reader.start()
        reader.join(timeout=30)
        assert not reader.is_alive() and writer.is_alive()
    finally:
        Halfway.release.set()
        writer.join(timeout=60)
    _assert_same(seen[1], after_first)
    assert not np.array_equal(updater.decision_function(probe), after_first[2])


class CountsCopies(SGDClassifier):
    """Counts the deep copies made of it."""

    copies = 0

    def __deepcopy__(self, memo):
        CountsCopies.copies += 1
        new = object.__new__(type(self))
        vars(new).update(copy.deepcopy(vars(self), memo))
        return new


def test_one_thread_never_copies_the_model(digits):
    # the copy for readers is made only once a prediction has waited for a
    # batch: a program that predicts and updates in one thread never pays
    X, y = digits
    updater = MonitoredUpdater(CountsCopies(random_state=0), policy="always")
    updater.fit(X[:200], y[:200])
    CountsCopies.copies = 0
    for start in range(200, 500, 50):
        updater.predict(X[:10])
        updater.partial_fit(X[start : start + 50], y[start : start + 50])
    assert CountsCopies.copies == 0
    copy.deepcopy(updater.estimator_)  # the counter counts
    assert CountsCopies.copies == 1


def _copy(model, how, path):
    if how == "pickle":
        return pickle.loads(pickle.dumps(model))
    if how == "deepcopy":
        return copy.deepcopy(model)
    save(model, path)
    return load(path, trusted=[Halfway, SlowToCopy, HeldAlpha])


def _moment(updater) -> tuple:
    """What must come from one moment: the records and the model."""
    return (
        len(updater.history_),
        len(updater.updates_),
        updater.detector_.n_,
        updater.estimator_.t_,
        hash(updater.estimator_.coef_.tobytes()),
        hash(updater.estimator_.intercept_.tobytes()),
    )


@pytest.mark.parametrize("how", ["pickle", "deepcopy", "save"])
def test_a_copy_taken_during_an_update_is_from_one_moment(
    digits, tmp_path, halfway, how
):
    # __getstate__ held the lock only while it returned the attribute dict:
    # the wrapped model, half updated, was written with the records before
    # the update
    X, y = digits
    updater = _updater(X[:200], y[:200])
    updater.partial_fit(X[200:250], y[200:250])
    before = _moment(updater)
    copies = []
    writer = _held_update(updater, X[250:300], y[250:300])
    copier = threading.Thread(
        target=lambda: copies.append(_copy(updater, how, tmp_path / "m.skops"))
    )
    try:
        copier.start()
        copier.join(timeout=0.5)  # done at once if it does not wait
    finally:
        Halfway.release.set()
        writer.join(timeout=60)
        copier.join(timeout=60)
    after = _moment(updater)
    assert after != before
    assert _moment(copies[0]) in (before, after)


class SlowToCopy(PageHinkley):
    """In the thread named "copier", ``__getstate__`` of a detector that has
    seen values waits for ``SlowToCopy.proceed`` (after setting
    ``SlowToCopy.copying``): a copy under way, with the parts written before
    the detector written already and those after it not yet."""

    copying = proceed = None

    def __getstate__(self):
        state = super().__getstate__()
        copier = threading.current_thread().name == "copier"
        if copier and SlowToCopy.proceed and hasattr(self, "n_"):
            SlowToCopy.copying.set()
            assert SlowToCopy.proceed.wait(timeout=60)
        return state


@pytest.mark.parametrize("how", ["pickle", "deepcopy", "save"])
def test_an_update_begun_during_a_copy_does_not_reach_it(digits, tmp_path, how):
    # pickle and skops write the attributes after __getstate__ returned:
    # an update begun meanwhile appended its row to the history written
    # after the model
    X, y = digits
    updater = _updater(X[:200], y[:200], detector=SlowToCopy(threshold=1e9))
    updater.partial_fit(X[200:250], y[200:250])
    before = _moment(updater)
    copies = []
    SlowToCopy.copying, SlowToCopy.proceed = threading.Event(), threading.Event()
    copier = threading.Thread(
        target=lambda: copies.append(_copy(updater, how, tmp_path / "m.skops")),
        name="copier",
    )
    writer = threading.Thread(
        target=lambda: updater.partial_fit(X[250:300], y[250:300])
    )
    try:
        copier.start()
        assert SlowToCopy.copying.wait(timeout=60)
        writer.start()
        writer.join(timeout=0.5)  # done at once if the copy does not hold it
    finally:
        SlowToCopy.proceed.set()
        copier.join(timeout=60)
        writer.join(timeout=60)
        SlowToCopy.copying = SlowToCopy.proceed = None
    after = _moment(updater)
    assert after != before
    assert _moment(copies[0]) in (before, after)


class HeldAlpha(float):
    """A fading factor of 1 whose product, taken halfway through
    ``PageHinkley.update``, waits for ``HeldAlpha.release`` (after setting
    ``HeldAlpha.entered``) when it is set: the update held halfway."""

    entered = release = None

    def __mul__(self, other):
        if HeldAlpha.release is not None:
            HeldAlpha.entered.set()
            assert HeldAlpha.release.wait(timeout=60)
        return float(self) * other

    __rmul__ = __mul__


def _detector_state(detector) -> tuple:
    return tuple(vars(detector)[name] for name in ("n_", "mean_", "sum_", "min_sum_"))


def _held_detector_update(detector, value):
    """Start ``detector.update(value)`` in a thread, held halfway."""
    HeldAlpha.entered, HeldAlpha.release = threading.Event(), threading.Event()
    writer = threading.Thread(target=lambda: detector.update(value))
    writer.start()
    assert HeldAlpha.entered.wait(timeout=60)
    return writer


@pytest.fixture
def held_alpha():
    yield HeldAlpha
    HeldAlpha.entered = HeldAlpha.release = None


@pytest.mark.parametrize("how", ["pickle", "deepcopy", "save"])
def test_a_detector_copied_during_an_update_is_whole(tmp_path, held_alpha, how):
    # update set its attributes one by one: a copy made in another thread
    # held the count and mean of a value with the deviation before it
    detector = PageHinkley(alpha=HeldAlpha(1.0), threshold=1e9)
    for value in range(10):
        detector.update(value)
    before = _detector_state(detector)
    copies = []
    writer = _held_detector_update(detector, 100.0)
    copier = threading.Thread(
        target=lambda: copies.append(_copy(detector, how, tmp_path / "ph.skops"))
    )
    try:
        copier.start()
        copier.join(timeout=0.3)  # done at once if it does not wait
    finally:
        HeldAlpha.release.set()
        writer.join(timeout=60)
        copier.join(timeout=60)
    after = _detector_state(detector)
    assert after != before
    assert _detector_state(copies[0]) in (before, after)


def test_concurrent_detector_updates_run_one_after_the_other(held_alpha):
    # a value added while another was half added read the count and mean of
    # that one with the deviation before it: the state matched no order
    values = [float(v) for v in range(10)]
    detector = PageHinkley(alpha=HeldAlpha(1.0), threshold=1e9)
    for value in values:
        detector.update(value)
    writer = _held_detector_update(detector, 100.0)
    other = threading.Thread(target=lambda: detector.update(200.0))
    try:
        other.start()
        other.join(timeout=0.3)  # waits for the update under way
    finally:
        HeldAlpha.release.set()
        writer.join(timeout=60)
        other.join(timeout=60)
    alone = PageHinkley(alpha=1.0, threshold=1e9)
    for value in [*values, 100.0, 200.0]:
        alone.update(value)
    assert _detector_state(detector) == _detector_state(alone)
