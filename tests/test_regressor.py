"""ContinualRegressor: target shapes, updates, errors."""

import numpy as np
import pytest
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
