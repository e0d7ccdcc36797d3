"""Composites and threads: what a reader or a copy sees is a whole model.

A prediction of an ``IncrementalPipeline`` made while another thread updates
it equals the pipeline's prediction before the update or after it, never a
mix of updated transformers and a final step not yet updated. A pickle or a
skops file taken while another thread updates a model holds the model before
or after an update, also when another update begins while it is written.
"""

from __future__ import annotations

import pickle
import threading
import time

import numpy as np
import pytest
from helpers import PickleInside, read_while_updating
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_cl import (
    ContinualClassifier,
    ContinualRegressor,
    IncrementalPipeline,
    MonitoredUpdater,
    UpdateEnsemble,
)
from sklearn_cl._locking import _guard
from sklearn_cl.persistence import load, save
from sklearn_cl.strategies import Strategy

CLASSES = np.arange(10)


class SlowSGD(SGDClassifier):
    """``partial_fit`` sleeps first: the steps before it are updated, this
    one not yet."""

    def partial_fit(self, X, y, **kwargs):
        time.sleep(0.03)
        return super().partial_fit(X, y, **kwargs)


class Sleep(Strategy):
    """Sleeps on every training batch of an update."""

    def penalty(self, net, X, y, y_pred, **kwargs):
        if net.module_.training:
            time.sleep(0.03)


def slow_final(kind: str):
    if kind == "sgd":
        return SlowSGD(loss="log_loss", random_state=0)
    return ContinualClassifier(
        hidden_layer_sizes=(16,),
        max_epochs=1,
        callbacks=[("sleep", Sleep())],
        random_state=0,
    )


@pytest.mark.parametrize("final", ["sgd", "continual"])
def test_pipeline_readers_see_it_whole_before_or_after_each_update(digits, final):
    # a prediction made while the final step trained combined the updated
    # scaler with the final step as it was before the update
    X, y = digits
    probe = X[1500:1600]
    pipe = IncrementalPipeline(
        [("scale", StandardScaler()), ("model", slow_final(final))]
    )
    pipe.partial_fit(X[:200], y[:200], classes=CLASSES)
    batches = [(X[i : i + 100], y[i : i + 100]) for i in range(200, 800, 100)]
    committed, seen = read_while_updating(
        pipe, batches, lambda model: model.predict_proba(probe)
    )
    assert len(seen) > 0
    for proba in seen:
        assert any(np.array_equal(proba, c) for c in committed)


class Held(SGDClassifier):
    """``partial_fit`` waits for ``Held.release`` (after setting
    ``Held.entered``): the update is held open while the test acts."""

    entered = release = None
    fail = False  # raise once released

    def partial_fit(self, X, y, **kwargs):
        if Held.release is not None:
            Held.entered.set()
            assert Held.release.wait(timeout=60)
            if Held.fail:
                raise ValueError("update failed")
        return super().partial_fit(X, y, **kwargs)


@pytest.fixture
def held():
    yield Held
    Held.entered = Held.release = None
    Held.fail = False


def _held_pipeline(X, y):
    """A scaler and a ``Held`` model, updated once on ``X, y``."""
    pipe = IncrementalPipeline(
        [("scale", StandardScaler()), ("model", Held(loss="log_loss", random_state=0))]
    )
    return pipe.partial_fit(X, y, classes=CLASSES)


def _held_update(pipe, X, y, errors=None):
    """Start ``pipe.partial_fit(X, y)`` in a thread, held in its final step;
    its ``ValueError`` goes to ``errors``."""

    def update():
        try:
            pipe.partial_fit(X, y)
        except ValueError as error:
            errors.append(error)

    Held.entered, Held.release = threading.Event(), threading.Event()
    writer = threading.Thread(target=update)
    writer.start()
    assert Held.entered.wait(timeout=60)
    return writer


def test_pipeline_predictions_need_not_wait_for_an_update(digits, held):
    # a prediction during an update waits for it once; from then on, the
    # updates keep a copy of the steps for the readers, who need not wait
    X, y = digits
    probe = X[1500:]
    pipe = _held_pipeline(X[:200], y[:200])
    seen = []
    writer = _held_update(pipe, X[200:300], y[200:300])
    reader = threading.Thread(target=lambda: seen.append(pipe.predict_proba(probe)))
    reader.start()
    reader.join(timeout=0.3)
    assert reader.is_alive()  # the first reader waits for the update
    Held.release.set()
    writer.join(timeout=60)
    reader.join(timeout=60)
    after_first = pipe.predict_proba(probe)
    np.testing.assert_array_equal(seen[0], after_first)

    writer = _held_update(pipe, X[300:400], y[300:400])
    try:
        reader = threading.Thread(target=lambda: seen.append(pipe.predict_proba(probe)))
        reader.start()
        reader.join(timeout=30)
        assert not reader.is_alive() and writer.is_alive()
    finally:
        Held.release.set()
        writer.join(timeout=60)
    np.testing.assert_array_equal(seen[1], after_first)
    assert not np.array_equal(pipe.predict_proba(probe), after_first)


def test_a_failed_update_leaves_readers_on_the_pipeline_before_it(digits, held):
    # the updated scaler is put back when the final step fails: readers
    # during the update and after it see the pipeline as it was before
    X, y = digits
    probe = X[1500:]
    pipe = _held_pipeline(X[:200], y[:200])
    before = pipe.predict_proba(probe)
    held.fail = True
    seen, errors = [], []
    for start in (200, 300):  # readers wait for the first, not the second
        batch = slice(start, start + 100)
        writer = _held_update(pipe, X[batch], y[batch], errors)
        reader = threading.Thread(target=lambda: seen.append(pipe.predict_proba(probe)))
        try:
            reader.start()
            reader.join(timeout=0.2)
        finally:
            Held.release.set()
            writer.join(timeout=60)
            reader.join(timeout=60)
    assert [str(error) for error in errors] == ["update failed"] * 2
    assert len(seen) == 2
    for proba in [*seen, pipe.predict_proba(probe)]:
        np.testing.assert_array_equal(proba, before)
    assert pipe[0].n_samples_seen_ == 200


class Gate(TransformerMixin, BaseEstimator):
    """Passes ``X`` through; in the thread named "reader", ``transform``
    waits for ``Gate.release`` (after setting ``Gate.entered``)."""

    entered = release = None

    def fit(self, X, y=None):
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        if threading.current_thread().name == "reader" and Gate.release:
            Gate.entered.set()
            assert Gate.release.wait(timeout=60)
        return X


def test_an_update_waits_for_the_predictions_under_way(digits):
    # an update changed the scaler while a prediction that had read it was
    # still to reach the final step, which it then found updated
    X, y = digits
    probe = X[1500:]
    pipe = IncrementalPipeline(
        [
            ("scale", StandardScaler()),
            ("gate", Gate()),
            ("model", SGDClassifier(loss="log_loss", random_state=0)),
        ]
    ).fit(X[:200], y[:200])
    before = pipe.predict_proba(probe)
    Gate.entered, Gate.release = threading.Event(), threading.Event()
    seen = []
    reader = threading.Thread(
        target=lambda: seen.append(pipe.predict_proba(probe)), name="reader"
    )
    writer = threading.Thread(target=lambda: pipe.partial_fit(X[200:300], y[200:300]))
    try:
        reader.start()
        assert Gate.entered.wait(timeout=60)
        writer.start()
        writer.join(timeout=0.3)
        assert writer.is_alive()  # waiting for the prediction under way
        assert pipe[0].n_samples_seen_ == 200
    finally:
        Gate.release.set()
        reader.join(timeout=60)
        writer.join(timeout=60)
        Gate.entered = Gate.release = None
    np.testing.assert_array_equal(seen[0], before)
    assert pipe[0].n_samples_seen_ == 300


class FailsOnNewData(TransformerMixin, BaseEstimator):
    """A transformer whose ``fit`` fails on any but 200 samples."""

    def fit(self, X, y=None):
        if len(X) != 200:
            raise ValueError("fit failed")
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        return X


@pytest.mark.parametrize("how", ["fit_transform", "fit_predict"])
def test_fit_transform_and_fit_predict_are_undone_on_error(digits, how):
    # they bypassed the pipeline's fit: a call failing in a later step left
    # the scaler refitted on its data
    X, y = digits
    final = "passthrough" if how == "fit_transform" else KMeans(3, n_init=1)
    pipe = IncrementalPipeline(
        [("scale", StandardScaler()), ("fail", FailsOnNewData()), ("model", final)]
    )
    getattr(pipe, how)(X[:200], y[:200])
    mean = pipe[0].mean_.copy()
    with pytest.raises(ValueError, match="fit failed"):
        getattr(pipe, how)(X[200:500], y[200:500])
    np.testing.assert_array_equal(pipe[0].mean_, mean)


def _model(kind: str, X, y):
    small = dict(hidden_layer_sizes=(16,), max_epochs=1, random_state=0)
    if kind == "classifier":
        return ContinualClassifier(**small).fit(X, y)
    if kind == "regressor":
        return ContinualRegressor(**small).fit(X, y.astype(float))
    if kind == "pipeline":
        return IncrementalPipeline(
            [("scale", StandardScaler()), ("model", ContinualClassifier(**small))]
        ).fit(X, y)
    return UpdateEnsemble(
        ContinualClassifier(**small), update="newest", data="old_and_new"
    ).fit(X, y)


@pytest.mark.parametrize("kind", ["classifier", "regressor", "pipeline", "ensemble"])
def test_a_pickle_holds_no_memory_a_later_update_changes(digits, kind):
    # the pickled state shared the live weights' memory: pickled with
    # out-of-band buffers (protocol 5, as dask and loky send models), the
    # next update reached the copy
    X, y = digits
    model = _model(kind, X[:200], y[:200])
    before = model.predict(X[1500:]) if kind == "regressor" else None
    before = model.predict_proba(X[1500:]) if before is None else before
    buffers = []
    data = pickle.dumps(model, protocol=5, buffer_callback=buffers.append)
    assert buffers  # the arrays are out of band
    target = y[200:300].astype(float) if kind == "regressor" else y[200:300]
    model.partial_fit(X[200:300], target)
    copy = pickle.loads(data, buffers=buffers)
    after = copy.predict(X[1500:]) if kind == "regressor" else None
    after = copy.predict_proba(X[1500:]) if after is None else after
    np.testing.assert_array_equal(after, before)
    # the lock is not pickled: the copy has its own
    assert b"RLock" not in data and _guard(copy) is not _guard(model)


class SlowToPickle(SGDClassifier):
    """``__getstate__`` waits for ``SlowToPickle.proceed`` (after setting
    ``SlowToPickle.pickling``), then reads the state: a pickle under way."""

    pickling = proceed = None

    def __getstate__(self):
        if SlowToPickle.proceed is not None:
            SlowToPickle.pickling.set()
            assert SlowToPickle.proceed.wait(timeout=60)
        return super().__getstate__()


@pytest.mark.parametrize("how", ["pickle", "save"])
@pytest.mark.parametrize("kind", ["pipeline", "ensemble"])
def test_an_update_begun_during_a_pickle_does_not_reach_it(digits, tmp_path, kind, how):
    # pickle and skops write the parts of a composite after its __getstate__
    # returned: an update begun meanwhile reached the parts written later
    # (the final step, the ensemble's memory) and not those written before
    X, y = digits
    sgd = SlowToPickle(loss="log_loss", random_state=0)
    if kind == "pipeline":
        model = IncrementalPipeline([("scale", StandardScaler()), ("model", sgd)])
        model.partial_fit(X[:200], y[:200], classes=CLASSES)
    else:
        model = UpdateEnsemble(sgd, data="old_and_new").fit(X[:200], y[:200])
    copies = []

    def copier():
        if how == "pickle":
            copies.append(pickle.loads(pickle.dumps(model)))
        else:
            save(model, tmp_path / "model.skops")
            copies.append(load(tmp_path / "model.skops", trusted=[SlowToPickle]))

    SlowToPickle.pickling, SlowToPickle.proceed = threading.Event(), threading.Event()
    reader = threading.Thread(target=copier)
    writer = threading.Thread(target=lambda: model.partial_fit(X[200:300], y[200:300]))
    try:
        reader.start()
        assert SlowToPickle.pickling.wait(timeout=60)
        writer.start()
        writer.join(timeout=0.5)  # done at once if the pickle does not hold it
    finally:
        SlowToPickle.proceed.set()
        reader.join(timeout=60)
        writer.join(timeout=60)
        SlowToPickle.pickling = SlowToPickle.proceed = None
    (copied,) = copies
    if kind == "pipeline":
        n_seen = copied[0].n_samples_seen_
        assert n_seen in (200, 300)
        same = model if n_seen == 300 else None
        if same is not None:
            np.testing.assert_array_equal(copied[-1].coef_, model[-1].coef_)
        else:  # before the update: the final step's coefficients too
            assert copied[-1].t_ < model[-1].t_
    else:
        assert (len(copied.estimators_), len(copied.memory_)) in [(1, 200), (2, 300)]


@pytest.mark.parametrize("how", ["pickle", "save"])
@pytest.mark.parametrize("kind", ["classifier", "pipeline", "ensemble", "updater"])
def test_a_model_saved_inside_its_own_update_does_not_deadlock(
    digits, tmp_path, kind, how
):
    X, y = digits
    clf = ContinualClassifier(
        hidden_layer_sizes=(16,),
        max_epochs=1,
        callbacks=[("inside", PickleInside())],
        random_state=0,
    )
    if kind == "classifier":
        model = clf
    elif kind == "pipeline":
        model = IncrementalPipeline([("scale", StandardScaler()), ("model", clf)])
    elif kind == "ensemble":
        model = UpdateEnsemble(clf, update="newest")
    else:
        model = MonitoredUpdater(clf, policy="always")
    model.fit(X[:200], y[:200])
    PickleInside.target = model
    PickleInside.path = tmp_path / "model.skops" if how == "save" else None
    try:
        updater = threading.Thread(
            target=lambda: model.partial_fit(X[200:300], y[200:300])
        )
        updater.start()
        updater.join(timeout=60)
        assert not updater.is_alive()
    finally:
        PickleInside.target = PickleInside.path = None
    if how == "save":
        assert (tmp_path / "model.skops").is_file()
    if kind == "updater":
        assert [u["batch"] for u in model.updates_] == [0]


@pytest.mark.parametrize(
    "final",
    [
        ContinualClassifier(),
        ContinualRegressor(),
        SGDClassifier(),
        KMeans(2),
        StandardScaler(),
        "passthrough",
    ],
    ids=lambda final: type(final).__name__,
)
def test_the_pipeline_offers_the_methods_pipeline_offers(final):
    # the methods that read under the lock are offered when, and only when,
    # Pipeline offers them
    steps = [("scale", StandardScaler()), ("final", final)]
    for name in [
        "predict",
        "predict_proba",
        "predict_log_proba",
        "decision_function",
        "score_samples",
        "score",
        "transform",
        "inverse_transform",
        "fit_transform",
        "fit_predict",
    ]:
        assert hasattr(IncrementalPipeline(steps), name) == hasattr(
            Pipeline(steps), name
        ), name
