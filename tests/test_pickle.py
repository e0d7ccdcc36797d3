"""Pickle and joblib round trips, and updates after reloading."""

import io
import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch
from helpers import assert_same_state, model_state

from sklearn_cl import ContinualClassifier, ContinualRegressor


def pickle_round_trip(est):
    return pickle.loads(pickle.dumps(est))


def joblib_round_trip(est):
    buffer = io.BytesIO()
    joblib.dump(est, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


ROUND_TRIPS = [pickle_round_trip, joblib_round_trip]


@pytest.mark.parametrize("round_trip", ROUND_TRIPS)
def test_unfitted_round_trip_keeps_params(round_trip):
    est = ContinualClassifier(hidden_layer_sizes=(7,), module__dropout=0.1)
    assert round_trip(est).get_params() == est.get_params()


@pytest.mark.parametrize("round_trip", ROUND_TRIPS)
@pytest.mark.parametrize("updates", [0, 3])
def test_fitted_round_trip_and_update_after_reload(round_trip, updates, digits):
    X, y = digits
    est = ContinualClassifier(max_epochs=2, dropout=0.2, random_state=0)
    est.fit(X[:300], y[:300])
    for i in range(updates):
        est.partial_fit(X[300 + 50 * i : 350 + 50 * i], y[300 + 50 * i : 350 + 50 * i])
    loaded = round_trip(est)
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    assert_same_state(model_state(loaded), model_state(est))
    # the same update on the original and on the reloaded model
    est.partial_fit(X[500:600], y[500:600])
    loaded.partial_fit(X[500:600], y[500:600])
    assert_same_state(model_state(loaded), model_state(est))


def test_regressor_round_trip(digits):
    X, y = digits
    est = ContinualRegressor(max_epochs=2, random_state=0).fit(X[:200], y[:200])
    np.testing.assert_array_equal(
        pickle_round_trip(est).predict(X[:20]), est.predict(X[:20])
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a CPU-only machine")
def test_cuda_model_loads_on_cpu_only_machine(digits):
    X, y = digits
    est = ContinualClassifier(max_epochs=2, random_state=0).fit(X[:200], y[:200])
    expected = est.predict_proba(X[:20])
    # what a model fitted with device="cuda" looks like when pickled
    est.set_params(device="cuda")
    est._built_with["device"] = "cuda"
    est.net_.device = "cuda"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = pickle_round_trip(est)
    assert any("cuda" in str(w.message).lower() for w in caught)
    assert torch.device(loaded.net_.device).type == "cpu"
    np.testing.assert_array_equal(loaded.predict_proba(X[:20]), expected)
    loaded.partial_fit(X[200:300], y[200:300])  # and it keeps learning on the CPU
    assert loaded.n_updates_ == 1
