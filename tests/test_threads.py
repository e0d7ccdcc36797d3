"""Thread safety: readers see the committed model while one thread updates.

``predict``, ``predict_proba`` and ``score`` may run in any number of threads
while another thread calls ``partial_fit``: they see the model before or
after an update, never a mix, never an error, and never switch the training
module to evaluation mode. Concurrent ``partial_fit`` calls run one after the
other.
"""

from __future__ import annotations

import copy
import pickle
import threading

import numpy as np
import pytest
import torch
from helpers import read_while_updating, run_threads
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import SGDClassifier

from sklearn_cl import (
    ContinualClassifier,
    MonitoredUpdater,
    UpdateEnsemble,
    make_incremental_pipeline,
)
from sklearn_cl.persistence import load, save
from sklearn_cl.strategies import Strategy


def test_concurrent_updates_are_serialised(digits):
    X, y = digits
    clf = ContinualClassifier(
        hidden_layer_sizes=(16,), max_epochs=1, update_epochs=2, random_state=0
    ).fit(X[:200], y[:200])

    def updates(start):
        def run():
            for i in range(20):
                batch = slice(start + 20 * i, start + 20 * i + 20)
                clf.partial_fit(X[batch], y[batch])

        return run

    assert run_threads([updates(200), updates(600), updates(1000)]) == []
    assert clf.n_updates_ == 60


class TrainingMode(Strategy):
    """Records whether the module is in training mode on every batch."""

    def initialize(self):
        self.modes_ = []
        return self

    def penalty(self, net, X, y, y_pred):
        self.modes_.append(net.module_.training)


def test_readers_see_committed_models_only(digits):
    X, y = digits
    probe = X[1500:1600]
    clf = ContinualClassifier(
        hidden_layer_sizes=(32,),
        dropout=0.2,
        max_epochs=1,
        update_epochs=5,
        callbacks=[("mode", TrainingMode())],
        random_state=0,
    ).fit(X[:200], y[:200])

    def read(model):
        assert 0.0 <= model.score(probe, y[1500:1600]) <= 1.0
        return model.predict_proba(probe)

    batches = [(X[i : i + 100], y[i : i + 100]) for i in range(200, 1000, 100)]
    committed, seen = read_while_updating(clf, batches, read)
    assert len(seen) > 0
    for outputs in seen:
        assert any(np.array_equal(outputs, c) for c in committed)
    # no prediction switched the training module to evaluation mode
    modes = dict(clf.net_.callbacks_)["mode"].modes_
    assert modes and all(modes)


def test_growing_classes_while_predicting(digits):
    X, y = digits
    probe = X[1500:1600]
    clf = ContinualClassifier(
        hidden_layer_sizes=(16,),
        max_epochs=1,
        update_epochs=3,
        allow_new_classes=True,
        random_state=0,
    )
    clf.fit(X[y < 2][:100], y[y < 2][:100])
    done = threading.Event()
    results: list[tuple[np.ndarray, np.ndarray]] = []

    def writer():
        try:
            for label in range(2, 10):
                mask = y == label
                clf.partial_fit(X[mask][:60], y[mask][:60])
        finally:
            done.set()

    def reader():
        while not done.is_set():
            results.append((clf.predict(probe), clf.predict_proba(probe)))

    assert run_threads([writer, reader, reader]) == []
    assert list(clf.classes_) == list(range(10))
    for labels, proba in results:
        width = proba.shape[1]
        assert 2 <= width <= 10
        assert set(labels) <= set(range(10))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def test_a_single_thread_makes_no_copy(digits):
    from sklearn_cl._locking import _guard

    X, y = digits
    clf = ContinualClassifier(hidden_layer_sizes=(16,), max_epochs=1, random_state=0)
    clf.fit(X[:200], y[:200])
    for start in range(200, 500, 100):
        clf.predict(X[:10])
        clf.partial_fit(X[start : start + 100], y[start : start + 100])
    assert _guard(clf).copy is None
    assert torch.equal(
        torch.from_numpy(clf.predict_proba(X[:10])),
        torch.softmax(clf.net_.forward_raw(torch.from_numpy(X[:10])).double(), 1),
    )


def _meet(barrier) -> None:
    """Wait (briefly) for another thread at ``barrier``; alone, go on."""
    if barrier is not None:
        try:
            barrier.wait(timeout=1.0)
        except threading.BrokenBarrierError:
            pass  # the other thread never came: it waits for this one


class Meeting(SGDClassifier):
    """A model whose ``fit`` and ``partial_fit`` meet another thread's at
    ``Meeting.barrier``, or wait for ``Meeting.release``: they hold a step
    open while another thread acts."""

    barrier = release = entered = None

    def fit(self, X, y, **kwargs):
        self._meet()
        return super().fit(X, y, **kwargs)

    def partial_fit(self, X, y, **kwargs):
        self._meet()
        return super().partial_fit(X, y, **kwargs)

    @staticmethod
    def _meet():
        _meet(Meeting.barrier)
        if Meeting.release is not None:
            Meeting.entered.set()
            assert Meeting.release.wait(timeout=60)


@pytest.fixture
def meeting():
    yield Meeting
    Meeting.barrier = Meeting.release = Meeting.entered = None


def test_concurrent_ensemble_steps_lose_no_member(digits, meeting):
    # two steps at once both started from the same members and the last
    # assignment won: a member was lost
    X, y = digits
    ensemble = UpdateEnsemble(Meeting(loss="log_loss", random_state=0)).fit(
        X[:200], y[:200]
    )
    meeting.barrier = threading.Barrier(2)

    def step(start):
        return lambda: ensemble.partial_fit(
            X[start : start + 100], y[start : start + 100]
        )

    assert run_threads([step(200), step(300)]) == []
    assert len(ensemble.estimators_) == ensemble.n_members_added_ == 3


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_ensemble_serves_the_committed_members_while_it_steps(digits, meeting, method):
    # a prediction or a copy during fit saw no member at all (fit starts
    # again) and failed; during partial_fit a prediction could mix old and
    # new attributes
    X, y = digits
    ensemble = UpdateEnsemble(Meeting(loss="log_loss", random_state=0)).fit(
        X[:200], y[:200]
    )
    expected = ensemble.predict_proba(X[1500:])
    meeting.release, meeting.entered = threading.Event(), threading.Event()
    seen = []

    def reader():
        try:
            seen.append(ensemble.predict_proba(X[1500:]))
            seen.append(ensemble.predict(X[1500:]))
            seen.append(ensemble.score(X[1500:], y[1500:]))
            seen.append(pickle.loads(pickle.dumps(ensemble)).predict_proba(X[1500:]))
        finally:
            meeting.release.set()

    writer = threading.Thread(
        target=lambda: getattr(ensemble, method)(X[200:300], y[200:300])
    )
    writer.start()
    try:  # the step is under way, waiting for the reader
        assert meeting.entered.wait(timeout=60)
        assert run_threads([reader]) == []
    finally:
        meeting.release.set()
        writer.join(timeout=60)
    np.testing.assert_array_equal(seen[0], expected)
    np.testing.assert_array_equal(seen[1], ensemble.classes_[expected.argmax(1)])
    np.testing.assert_array_equal(seen[3], expected)
    assert len(ensemble.estimators_) == (1 if method == "fit" else 2)


def test_concurrent_monitored_batches_are_all_recorded(digits, meeting):
    # two batches at once both tested the model, then both recorded
    # themselves as the same batch, and one batch's detector updates were lost
    X, y = digits
    monitored = MonitoredUpdater(
        Meeting(loss="log_loss", random_state=0), policy="always"
    )
    monitored.fit(X[:200], y[:200])
    meeting.barrier = threading.Barrier(2)

    def batch(start):
        return lambda: monitored.partial_fit(
            X[start : start + 50], y[start : start + 50]
        )

    assert run_threads([batch(200), batch(250)]) == []
    assert [record["batch"] for record in monitored.history_] == [0, 1]
    assert [update["batch"] for update in monitored.updates_] == [0, 1]


class Pause(Strategy):
    """Holds the second training batch of an update until ``Pause.go`` is
    set, after setting ``Pause.paused``: the update is half done."""

    paused = go = None

    def initialize(self):
        self.batches_ = 0
        return self

    def penalty(self, net, X, y, y_pred):
        if Pause.go is not None and net.module_.training:
            self.batches_ += 1
            if self.batches_ == 2:
                Pause.paused.set()
                assert Pause.go.wait(timeout=60)


@pytest.mark.parametrize("how", ["pickle", "deepcopy", "save"])
def test_a_copy_made_during_an_update_is_a_committed_model(digits, tmp_path, how):
    # copying or saving read the weights while another thread trained them:
    # the copy held a half-done update, which might later be rolled back
    X, y = digits
    clf = ContinualClassifier(
        hidden_layer_sizes=(16,),
        max_epochs=1,
        batch_size=20,
        callbacks=[Pause()],
        random_state=0,
    ).fit(X[:200], y[:200])
    before = clf.predict_proba(X[:50])
    Pause.paused, Pause.go = threading.Event(), threading.Event()
    copies = []

    def copier():
        if how == "pickle":
            copies.append(pickle.loads(pickle.dumps(clf)))
        elif how == "deepcopy":
            copies.append(copy.deepcopy(clf))
        else:
            save(clf, tmp_path / "model.skops")
            copies.append(load(tmp_path / "model.skops", trusted=[Pause]))

    writer = threading.Thread(target=lambda: clf.partial_fit(X[200:300], y[200:300]))
    writer.start()
    try:
        assert Pause.paused.wait(timeout=60)
        reader = threading.Thread(target=copier)
        reader.start()
        reader.join(timeout=0.5)  # done at once if it does not wait
    finally:
        Pause.go.set()
        writer.join(timeout=60)
        Pause.paused = Pause.go = None
    reader.join(timeout=60)
    after = clf.predict_proba(X[:50])
    assert not np.array_equal(before, after)
    np.testing.assert_array_equal(copies[0].predict_proba(X[:50]), after)


class MeetingCounter(TransformerMixin, BaseEstimator):
    """Counts the samples it has seen; ``partial_fit`` reads the count,
    meets another thread's, then writes it, as a transformer whose update
    releases the GIL in between does (``IncrementalPCA``'s SVD)."""

    def partial_fit(self, X, y=None):
        seen = getattr(self, "n_samples_seen_", 0)
        _meet(Meeting.barrier)
        self.n_samples_seen_ = seen + len(X)
        return self

    def transform(self, X):
        return X


def test_concurrent_pipeline_batches_are_all_counted(digits, meeting):
    # two batches at once both started from the scaler's old statistics and
    # the last one won: the other batch's samples were lost
    X, y = digits
    pipe = make_incremental_pipeline(
        MeetingCounter(), SGDClassifier(loss="log_loss", random_state=0)
    )
    pipe.partial_fit(X[:200], y[:200], classes=np.arange(10))
    meeting.barrier = threading.Barrier(2)

    def batch(start):
        return lambda: pipe.partial_fit(X[start : start + 50], y[start : start + 50])

    assert run_threads([batch(200), batch(250)]) == []
    assert pipe[0].n_samples_seen_ == 300


@pytest.mark.parametrize("kind", ["pipeline", "monitored"])
def test_a_meta_estimator_copied_during_an_update_is_committed(digits, meeting, kind):
    # a pickle taken while another thread updated held the transformer (or
    # the monitor's records) after the update and the model before it: a
    # saved file that mixes both for good
    X, y = digits
    final = Meeting(loss="log_loss", random_state=0)
    if kind == "pipeline":
        model = make_incremental_pipeline(MeetingCounter(), final)
        model.partial_fit(X[:200], y[:200], classes=np.arange(10))
    else:
        model = MonitoredUpdater(final, policy="always").fit(X[:200], y[:200])
    release = meeting.release = threading.Event()
    meeting.entered = threading.Event()
    copies = []
    writer = threading.Thread(target=lambda: model.partial_fit(X[200:300], y[200:300]))
    copier = threading.Thread(
        target=lambda: copies.append(pickle.loads(pickle.dumps(model)))
    )
    writer.start()
    try:  # the update is under way, held in the final model's partial_fit
        assert meeting.entered.wait(timeout=60)
        copier.start()
        copier.join(timeout=0.5)  # done at once if it does not wait
    finally:
        release.set()
        writer.join(timeout=60)
    copier.join(timeout=60)
    (copied,) = copies
    if kind == "pipeline":
        assert copied[0].n_samples_seen_ == model[0].n_samples_seen_ == 300
        assert copied[-1].t_ == model[-1].t_
    else:
        assert copied.history_ == model.history_
        assert copied.estimator_.t_ == model.estimator_.t_


class MeetingReader(SGDClassifier):
    """A model whose ``predict_proba`` meets another thread's at
    ``MeetingReader.barrier``: it passes only if both predict at once."""

    barrier = None

    def predict_proba(self, X):
        if MeetingReader.barrier is not None:
            MeetingReader.barrier.wait(timeout=10)
        return super().predict_proba(X)


def test_ensemble_readers_predict_in_parallel(digits):
    # each reader held the ensemble's lock for its whole prediction, so
    # predictions from several threads ran one at a time
    X, y = digits
    ensemble = UpdateEnsemble(MeetingReader(loss="log_loss", random_state=0))
    ensemble.fit(X[:200], y[:200])
    MeetingReader.barrier = threading.Barrier(2)
    try:
        reader = lambda: ensemble.predict_proba(X[1500:])  # noqa: E731
        assert run_threads([reader, reader]) == []
    finally:
        MeetingReader.barrier = None
