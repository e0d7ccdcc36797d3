"""ContinualRegressor: target shapes, updates, errors."""

import numpy as np
import pytest
import torch
from helpers import assert_same_state, model_state
from sklearn.datasets import load_diabetes
from sklearn.preprocessing import StandardScaler

from sklearn_cl import ContinualRegressor


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return X, (y - y.mean()) / y.std()


def small(**params):
    return ContinualRegressor(**{"max_epochs": 30, "random_state": 0, **params})


def test_learns_and_updates(diabetes):
    X, y = diabetes
    reg = small().fit(X[:300], y[:300])
    assert reg.score(X[300:], y[300:]) > 0.35
    assert reg.predict(X[:5]).shape == (5,)
    assert reg.predict(X[:5]).dtype == np.float64
    reg.partial_fit(X[300:350], y[300:350])
    assert reg.n_updates_ == 1


@pytest.mark.parametrize("shape", [(1,), (3,)])
def test_two_d_targets_keep_their_shape(shape, diabetes):
    X, y = diabetes
    Y = np.column_stack([y * (i + 1) for i in range(shape[0])])
    reg = small(max_epochs=2).fit(X, Y)
    assert reg.n_outputs_ == shape[0]
    assert reg.predict(X[:4]).shape == (4, *shape)
    reg.partial_fit(X[:20], Y[:20])


def test_changed_number_of_targets_is_an_error(diabetes):
    X, y = diabetes
    reg = small(max_epochs=2).fit(X, y)
    before = model_state(reg)
    with pytest.raises(ValueError, match="y has 2 targets.*fitted with 1"):
        reg.partial_fit(X[:10], np.column_stack([y[:10], y[:10]]))
    assert_same_state(before, model_state(reg))


def test_string_targets_are_an_error(diabetes):
    X, _ = diabetes
    with pytest.raises(ValueError, match="needs numeric targets.*ContinualClassifier"):
        small().fit(X[:4], np.array(["a", "b", "c", "d"]))


def test_first_partial_fit_initialises(diabetes):
    X, y = diabetes
    reg = small(update_epochs=3).partial_fit(X[:64], y[:64])
    assert reg.n_features_in_ == 10 and reg.n_updates_ == 1
    assert len(reg.net_.history) == 3


def _linear_target(n=500, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    signal = X @ [1.0, -2.0, 0.5, 0.0, 1.5] + 0.3 * np.sin(3 * X[:, 0])
    return X, (signal - signal.mean()) / signal.std()


def test_raw_targets_fit_as_well_as_standardised_ones():
    X, z = _linear_target()
    raw = ContinualRegressor(random_state=0).fit(X, 50 + 20 * z)
    standard = ContinualRegressor(random_state=0).fit(X, z)
    assert raw.score(X, 50 + 20 * z) == pytest.approx(standard.score(X, z), abs=0.01)
    assert raw.score(X, 50 + 20 * z) > 0.95
    # without scaling the same budget underfits the raw target
    unscaled = ContinualRegressor(target_scaling=None, random_state=0)
    assert unscaled.fit(X, 50 + 20 * z).score(X, 50 + 20 * z) < 0.9


def test_target_statistics_stay_those_of_the_first_training():
    X, z = _linear_target()
    reg = ContinualRegressor(random_state=0).fit(X[:250], 50 + 20 * z[:250])
    mean, scale = reg.target_scaler_.mean_.copy(), reg.target_scaler_.scale_.copy()
    with pytest.warns(UserWarning, match="lie 25 standard deviations"):
        reg.partial_fit(X[250:], 500 + 20 * z[250:])  # a shifted period
    np.testing.assert_array_equal(reg.target_scaler_.mean_, mean)
    np.testing.assert_array_equal(reg.target_scaler_.scale_, scale)
    # predictions are the network's outputs brought back to the original units
    outputs = reg.net_.module_(torch.as_tensor(X[:5], dtype=torch.float32))
    expected = outputs.detach().numpy().ravel() * scale + mean
    np.testing.assert_allclose(reg.predict(X[:5]), expected, rtol=1e-5)


def test_first_partial_fit_sets_the_statistics_and_multioutput_scales_each():
    X, z = _linear_target()
    Y = np.c_[50 + 20 * z, -3 + 0.01 * z]
    reg = ContinualRegressor(random_state=0, update_epochs=20).partial_fit(X, Y)
    np.testing.assert_allclose(reg.target_scaler_.mean_, Y.mean(axis=0), rtol=1e-5)
    assert reg.predict(X).shape == (500, 2)
    assert reg.score(X, Y) > 0.9


def test_constant_target_does_not_divide_by_zero():
    X, _ = _linear_target()
    reg = ContinualRegressor(max_epochs=2, random_state=0).fit(X, np.full(500, 7.0))
    np.testing.assert_allclose(reg.predict(X), 7.0, atol=0.5)
