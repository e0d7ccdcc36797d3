"""MonitoredUpdater: test-then-train, policies, drift-triggered updates."""

import pickle
from functools import partial

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import SGDClassifier, SGDRegressor
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_cl import ContinualClassifier, IncrementalPipeline, MonitoredUpdater
from sklearn_cl.datasets import load_elec2, load_weather
from sklearn_cl.drift import PageHinkley


class Recorder(ClassifierMixin, BaseEstimator):
    """Always predicts 0; records the size and ``epochs`` of every training."""

    def __init__(self, epochs=1):
        self.epochs = epochs

    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        self.calls_ = [("fit", len(y), self.epochs)]
        return self

    def partial_fit(self, X, y, classes=None):
        if not hasattr(self, "calls_"):
            self.fit(X, y)
        self.calls_.append(("partial_fit", len(y), self.epochs))
        return self

    def predict(self, X):
        return np.zeros(len(X), dtype=int)


def label_stream(n_batches=20, size=50, flip=10, seed=0):
    """Batches whose labels are mostly 0, then mostly 1 from batch ``flip``:
    the error of always predicting 0 jumps from 0.1 to 0.9."""
    rng = np.random.default_rng(seed)
    batches = []
    for b in range(n_batches):
        rate = 0.1 if b < flip else 0.9
        batches.append((rng.normal(size=(size, 3)), (rng.random(size) < rate) * 1))
    return batches


def run(updater, batches):
    updater.fit(*batches[0])
    for X, y in batches[1:]:
        updater.partial_fit(X, y)
    return updater


def test_always_and_never():
    batches = label_stream()
    always = run(MonitoredUpdater(Recorder(), policy="always"), batches)
    assert [u["batch"] for u in always.updates_] == list(range(19))
    assert all(
        u["reason"] == "always" and u["n_samples"] == 50 for u in always.updates_
    )
    never = run(MonitoredUpdater(Recorder(), policy="never"), batches)
    assert never.updates_ == [] and never.estimator_.calls_ == [("fit", 50, 1)]
    # no batch is kept waiting for an update that never comes
    short = run(MonitoredUpdater(Recorder(), policy="never"), batches[:2])
    growth = len(pickle.dumps(never)) - len(pickle.dumps(short))
    assert growth < 4 * batches[0][0].nbytes  # 18 kept batches: 18x
    # the detector runs under every policy: history shows the drift
    assert any(h["drift"] for h in never.history_)
    assert [h["error"] for h in never.history_] == pytest.approx(
        [np.mean(y != 0) for _, y in batches[1:]]
    )


def test_periodic_updates_on_the_batches_gathered():
    updater = run(
        MonitoredUpdater(Recorder(), policy="periodic", period=3), label_stream()
    )
    assert [u["batch"] for u in updater.updates_] == [2, 5, 8, 11, 14, 17]
    assert [c[1] for c in updater.estimator_.calls_[1:]] == [150] * 6
    assert all(u["reason"] == "periodic" for u in updater.updates_)


def test_drift_updates_once_on_the_batch_with_stronger_params():
    updater = MonitoredUpdater(
        Recorder(epochs=1),
        detector=PageHinkley(threshold=10),
        drift_params={"epochs": 5},
    )
    run(updater, label_stream())
    drifts = [h["batch"] for h in updater.history_ if h["drift"]]
    assert drifts and drifts[0] in (9, 10)  # the jump is in batch 9 (index from 0)
    assert [u["batch"] for u in updater.updates_] == drifts
    assert all(u["reason"] == "drift" for u in updater.updates_)
    assert updater.estimator_.calls_[1:] == [("partial_fit", 50, 5)] * len(drifts)
    assert updater.estimator_.epochs == 1  # put back after the drift update


def test_drift_with_period_also_updates_routinely():
    updater = MonitoredUpdater(Recorder(), period=4, detector=PageHinkley(threshold=10))
    run(updater, label_stream())
    reasons = [(u["batch"], u["reason"]) for u in updater.updates_]
    drift_batch = next(b for b, r in reasons if r == "drift")
    assert (3, "periodic") in reasons and (7, "periodic") in reasons
    # the period restarts after a drift update
    assert (drift_batch + 4, "periodic") in reasons


def test_first_partial_fit_trains_without_testing():
    X, y = label_stream()[0]
    updater = MonitoredUpdater(ContinualClassifier(max_epochs=1, random_state=0))
    updater.partial_fit(X, y, classes=[0, 1])
    assert updater.updates_ == []
    assert updater.history_[0]["update"] == "initial"
    assert np.isnan(updater.history_[0]["error"])
    assert updater.estimator_.n_updates_ == 1
    np.testing.assert_array_equal(updater.classes_, [0, 1])


def test_params_clone_and_objects_given_are_untouched():
    detector = PageHinkley(threshold=10)
    estimator = SGDClassifier(alpha=1e-3, random_state=0)
    updater = MonitoredUpdater(estimator, detector=detector)
    params = updater.get_params()
    assert params["estimator__alpha"] == 1e-3 and params["detector__threshold"] == 10
    updater.set_params(estimator__alpha=1e-2, detector__threshold=5)
    assert estimator.alpha == 1e-2 and detector.threshold == 5
    run(updater, label_stream())
    assert not hasattr(estimator, "coef_") and not hasattr(detector, "n_")
    twin = clone(updater)
    assert (
        not hasattr(twin, "estimator_")
        and twin.get_params()["detector__threshold"] == 5
    )


def test_delegates_predictions_and_availability():
    X, y = label_stream()[0]
    hinge = MonitoredUpdater(SGDClassifier(random_state=0))
    assert not hasattr(hinge, "predict_proba")
    logistic = MonitoredUpdater(SGDClassifier(loss="log_loss", random_state=0))
    logistic.fit(X, y)
    inner = logistic.estimator_
    np.testing.assert_array_equal(logistic.predict_proba(X), inner.predict_proba(X))
    np.testing.assert_array_equal(
        logistic.decision_function(X), inner.decision_function(X)
    )
    assert logistic.score(X, y) == inner.score(X, y)
    assert logistic.n_features_in_ == 3


def test_regressor_watches_absolute_errors():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = X @ [1.0, -1.0]
    updater = MonitoredUpdater(SGDRegressor(random_state=0), policy="never")
    updater.fit(X[:100], y[:100]).partial_fit(X[100:], y[100:])
    expected = np.abs(updater.predict(X[100:]) - y[100:]).mean()
    assert updater.history_[0]["error"] == pytest.approx(expected)


def test_pickle_round_trip_after_updates():
    batches = label_stream()
    updater = run(
        MonitoredUpdater(SGDClassifier(random_state=0), policy="always"), batches[:10]
    )
    restored = pickle.loads(pickle.dumps(updater))
    for X, y in batches[10:]:
        updater.partial_fit(X, y)
        restored.partial_fit(X, y)
    X = batches[0][0]
    np.testing.assert_array_equal(
        restored.decision_function(X), updater.decision_function(X)
    )
    assert restored.history_ == updater.history_


def test_failing_update_leaves_the_updater_as_it_was():
    batches = label_stream()
    updater = run(
        MonitoredUpdater(
            ContinualClassifier(max_epochs=1, random_state=0), policy="always"
        ),
        batches[:5],
    )
    state = pickle.dumps((updater.history_, updater.updates_, updater.detector_))
    X, y = batches[5]
    with pytest.raises(ValueError, match="classes not in"):
        updater.partial_fit(X, np.where(y == 1, 2, y))  # a label never seen
    assert (
        pickle.dumps((updater.history_, updater.updates_, updater.detector_)) == state
    )


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"policy": "periodic"}, ValueError, "needs `period`"),
        ({"policy": "sometimes"}, ValueError, "policy"),
        ({"detector": object()}, ValueError, "detector"),
        ({"drift_params": {"epochz": 3}}, ValueError, r"\['epochz'\].*not parameters"),
    ],
)
def test_invalid_parameters(params, error, match):
    with pytest.raises(error, match=match):
        MonitoredUpdater(Recorder(), **params).fit(*label_stream()[0])


def test_detector_needs_drift_detected():
    class NoFlag:
        def update(self, x):
            return self

    with pytest.raises(TypeError, match="no `drift_detected`"):
        MonitoredUpdater(Recorder(), detector=NoFlag()).fit(*label_stream()[0])


def test_error_must_give_one_value_per_sample():
    batches = label_stream()
    updater = MonitoredUpdater(Recorder(), error=lambda y, p: np.array([0.0]))
    updater.fit(*batches[0])
    with pytest.raises(ValueError, match=r"one value per sample, shape \(50,\)"):
        updater.partial_fit(*batches[1])
    assert updater.history_ == []


def test_river_detector_plugs_in():
    drift = pytest.importorskip("river.drift")
    adwin = drift.ADWIN()
    updater = run(MonitoredUpdater(Recorder(), detector=adwin), label_stream())
    assert [u["reason"] for u in updater.updates_][:1] == ["drift"]
    assert adwin.n_detections == 0  # the given detector was cloned


@parametrize_with_checks(
    [
        MonitoredUpdater(SGDClassifier(random_state=0)),
        MonitoredUpdater(SGDRegressor(random_state=0)),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def stream_accuracy(updater) -> float:
    n = np.array([h["n_samples"] for h in updater.history_])
    errors = np.array([h["error"] for h in updater.history_])
    return float(1 - (errors * n).sum() / n.sum())


def monitored_stream(load, n, batch, n_first, **params):
    X, y = load()
    model = IncrementalPipeline(
        [
            ("scale", StandardScaler()),
            (
                "mlp",
                ContinualClassifier(
                    hidden_layer_sizes=(32,),
                    max_epochs=30,
                    update_epochs=2,
                    update_lr=3e-4,
                    random_state=0,
                ),
            ),
        ]
    )
    start = batch * n_first
    updater = MonitoredUpdater(model, **params).fit(X[:start], y[:start])
    for low in range(start, n, batch):
        updater.partial_fit(X[low : low + batch], y[low : low + batch])
    return updater


def three_policies(*stream):
    never = monitored_stream(*stream, policy="never")
    always = monitored_stream(*stream, policy="always")
    drift = monitored_stream(
        *stream,
        detector=PageHinkley(threshold=10.0),
        drift_params={"mlp__update_epochs": 10},
    )
    assert 0 < len(drift.updates_) < len(always.updates_) / 4
    return [stream_accuracy(u) for u in (never, always, drift)]


@pytest.mark.slow
def test_updates_beat_never_on_elec2(shared_data):
    # 150 days, one batch a day; margins across seeds 0-2: >= 0.04 and >= 0.02
    never, always, drift = three_policies(
        partial(load_elec2, shared_data), 150 * 48, 48, 30
    )
    assert always > never + 0.02
    assert drift > never + 0.01


@pytest.mark.slow
def test_updates_beat_never_on_weather(shared_data):
    # 240 months, one batch a month; margin across seeds 0-2: >= 0.0038. The
    # drift is seasonal and gradual: drift-triggered updates are about as
    # good as none here (they are run, not ranked).
    never, always, _ = three_policies(
        partial(load_weather, shared_data), 240 * 30, 30, 24
    )
    assert always > never + 0.002
