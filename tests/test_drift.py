"""The built-in Page-Hinkley detector."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone

from sklearn_cl.drift import PageHinkley


def detections(detector, values) -> list[int]:
    found = []
    for i, value in enumerate(values):
        detector.update(value)
        if detector.drift_detected:
            found.append(i)
    return found


def error_stream(seed: int, before: float, after: float, n: int = 1000):
    rng = np.random.default_rng(seed)
    return np.r_[rng.random(n) < before, rng.random(n) < after].astype(float)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_detects_a_rise_in_error_soon_and_nothing_before(seed):
    found = detections(PageHinkley(), error_stream(seed, 0.1, 0.4))
    assert found, "the rise in error was not detected"
    assert 1000 <= found[0] < 1000 + 300


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_no_alarm_on_a_stationary_stream_or_a_fall(seed):
    assert detections(PageHinkley(), error_stream(seed, 0.3, 0.3)) == []
    assert detections(PageHinkley(), error_stream(seed, 0.4, 0.1)) == []


def test_min_instances_and_reset_after_a_drift():
    values = [0.0, 0.0, 0.0, 10.0, 0.0]
    params = {"threshold": 1.0, "delta": 0.0, "alpha": 1.0}
    assert detections(PageHinkley(**params, min_instances=1), values) == [3]
    detector = PageHinkley(**params, min_instances=5)
    assert detections(detector, values) == [4]  # held back until 5 values
    assert detector.n_ == 5 and detector.n_detections_ == 1
    detector.update(0.0)  # starts afresh after a drift
    assert detector.n_ == 1 and not detector.drift_detected


def test_state_is_fresh_after_clone_and_survives_pickle():
    detector = PageHinkley(threshold=5)
    assert not detector.drift_detected
    values = error_stream(0, 0.1, 0.6, n=300)
    detections(detector, values[:350])
    restored = pickle.loads(pickle.dumps(detector))
    assert detections(restored, values[350:]) == detections(detector, values[350:])
    fresh = clone(detector)
    assert not hasattr(fresh, "n_") and fresh.get_params() == detector.get_params()


def test_matches_river_page_hinkley_up():
    drift = pytest.importorskip("river.drift")
    values = np.r_[error_stream(0, 0.1, 0.5), error_stream(1, 0.2, 0.7)]
    params = {"threshold": 20.0, "delta": 0.01, "alpha": 0.999, "min_instances": 50}
    ours = detections(PageHinkley(**params), values)
    theirs = detections(drift.PageHinkley(mode="up", **params), values)
    assert len(ours) >= 2 and ours == theirs


@pytest.mark.parametrize(
    "params, match",
    [
        ({"threshold": 0}, "threshold"),
        ({"alpha": 1.5}, "alpha"),
        ({"min_instances": 0}, "min_instances"),
    ],
)
def test_invalid_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        PageHinkley(**params).update(0.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_value_raises_and_leaves_the_detector_as_it_was(bad):
    detector = PageHinkley(min_instances=5, threshold=3)
    values = error_stream(0, 0.1, 0.9, n=100)
    with pytest.raises(ValueError, match="values must be finite"):
        PageHinkley().update(bad)
    detections(detector, values[:100])
    state = dict(vars(detector))
    with pytest.raises(ValueError, match=f"got {float(bad)}; the values must"):
        detector.update(bad)
    assert vars(detector) == state
    # the detector still detects (a NaN mean would never signal again)
    assert detections(detector, values[100:])
