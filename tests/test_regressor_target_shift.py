"""An update whose targets lie far outside the first training's scale warns."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes

from sklearn_cl import ContinualRegressor
from sklearn_cl.datasets import load_elec2

DAY = 48
SHIFT = "lie .* standard deviations .* from the scale the network was trained for"


def regressor(**params):
    return ContinualRegressor(
        hidden_layer_sizes=(8,), max_epochs=2, random_state=0, **params
    )


def lagged(series, n_lags=4):
    """Windows of the last ``n_lags`` values, and the value that follows."""
    X = np.lib.stride_tricks.sliding_window_view(series[:-1], n_lags)
    return X, series[n_lags:]


def updates_without_a_warning(reg, updates):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for X, y in updates:
            reg.partial_fit(X, y)


def test_the_most_extreme_real_updates_do_not_warn(shared_data):
    # Elec2 demand fitted on its first day: the half-hour and the day that
    # stray furthest from it in the 2.5 years that follow (4.65 and 2.51
    # standard deviations, benchmarks/bench_target_shift.py)
    X, y = lagged(load_elec2(shared_data)[0][:, 2].astype(np.float64))
    reg = regressor().fit(X[:DAY], y[:DAY])
    z = np.abs(y - y[:DAY].mean()) / y[:DAY].std()
    row = int(np.argmax(z[DAY:])) + DAY
    days = np.sqrt(np.mean(z[: len(z) // DAY * DAY].reshape(-1, DAY) ** 2, axis=1))
    day = slice(int(np.argmax(days[1:]) + 1) * DAY, None)
    assert z[row] > 4.5 and days[1:].max() > 2.4
    updates_without_a_warning(
        reg, [(X[row : row + 1], y[row : row + 1]), (X[day][:DAY], y[day][:DAY])]
    )
    with pytest.warns(UserWarning, match=SHIFT):  # the same day in kilowatts
        reg.partial_fit(X[day][:DAY], y[day][:DAY] * 1000)


def test_diabetes_patients_far_from_the_first_ones_do_not_warn():
    X, y = load_diabetes(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X[order], y[order]
    reg = regressor().fit(X[:20], y[:20])
    z = np.abs(y[20:] - y[:20].mean()) / y[:20].std()
    furthest = int(np.argmax(z)) + 20
    updates_without_a_warning(reg, [(X[furthest : furthest + 1], y[[furthest]])])
    updates_without_a_warning(reg, [(X[20:60], y[20:60])])
    with pytest.warns(UserWarning, match=SHIFT):  # ten times the units
        reg.partial_fit(X[20:60], y[20:60] * 10)


def test_the_warning_names_the_shift_and_the_fix_and_the_update_goes_on():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = X @ [1.0, -2.0, 0.5] + 20.0
    reg = regressor().fit(X, y)
    before = reg.predict(X)
    with pytest.warns(UserWarning) as record:
        reg.partial_fit(X[:50], y[:50] + 273.15)  # degrees C to kelvin
    (warning,) = record
    message = str(warning.message)
    assert "The targets of this update lie 119 standard deviations" in message
    assert "mean 292.9 and spread 2.01 here" in message
    assert "against mean 19.83 and standard deviation 2.294" in message
    assert "convert y back" in message and "refit with `fit`" in message
    assert warning.filename == __file__  # it points at the caller
    # a warning, not a refusal: the update trained, with the old statistics
    assert reg.n_updates_ == 1 and not np.array_equal(reg.predict(X), before)
    np.testing.assert_allclose(reg.target_scaler_.mean_, [y.mean()])


def test_the_first_training_never_warns():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = np.r_[np.zeros(100), np.full(100, 1e6)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        regressor().partial_fit(X, y)  # the first training, whichever method
        regressor().fit(X, y, tasks=np.repeat([0, 1], 100))  # one scale for all


def test_weights_and_outputs_are_taken_into_account():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    Y = np.c_[X.sum(1), X[:, 0] * 100]
    reg = regressor().fit(X, Y)
    far = Y[:50] * [1, 1000]
    with pytest.warns(UserWarning, match="Target 1 of this update"):
        reg.partial_fit(X[:50], far)
    # the far rows switched off: what trains is in scale
    weight = np.r_[np.zeros(10), np.ones(40)]
    near = Y[:50].copy()
    near[:10] = far[:10]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reg.partial_fit(X[:50], near, sample_weight=weight)


def test_without_target_scaling_nothing_is_checked():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    reg = regressor(target_scaling=None).fit(X, X.sum(1))
    updates_without_a_warning(reg, [(X, X.sum(1) * 1000)])


def test_a_stream_from_its_first_sample_does_not_warn():
    # one sample (or constant targets) at the first training has no spread:
    # StandardScaler keeps a scale of 1, and every later update of diabetes
    # (targets 25-346) warned "standard deviation 1 at the first training"
    X, y = load_diabetes(return_X_y=True)
    reg = regressor()
    updates_without_a_warning(reg, [(X[i : i + 1], y[i : i + 1]) for i in range(10)])
    assert reg.n_updates_ == 10  # every partial_fit counts
    constant = regressor().fit(X[:20], np.full(20, 150.0))
    updates_without_a_warning(constant, [(X[20:40], y[20:40])])
    # an output that had a spread is still checked beside one that had none
    Y = np.c_[np.full(20, 150.0), y[:20]]
    both = regressor().fit(X[:20], Y)
    with pytest.warns(UserWarning, match="Target 1 of this update"):
        both.partial_fit(X[20:40], np.c_[y[20:40], y[20:40] * 10])
