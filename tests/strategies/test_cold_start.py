"""The first training of a model is never an update, whichever method starts it.

A ``partial_fit`` on an unfitted estimator (the streaming idiom) trains
exactly as without any strategy: there is no old model to protect. The
strategies still consolidate after it, so the next update protects it.
Every strategy exported by ``sklearn_cl.strategies`` is checked, including
those added later.
"""

import inspect

import numpy as np
import pytest
import torch

import sklearn_cl.strategies as strategies
from sklearn_cl import ContinualClassifier, ContinualRegressor
from sklearn_cl.strategies import Strategy

# arguments that make a strategy act visibly (its defaults may be a no-op)
ARGUMENTS = {"Augment": {"noise_std": 0.5}}

STRATEGIES = [
    getattr(strategies, name)
    for name in strategies.__all__
    if inspect.isclass(getattr(strategies, name))
    and issubclass(getattr(strategies, name), Strategy)
    and getattr(strategies, name) is not Strategy
]


def make(cls, estimator=ContinualClassifier, **params):
    callbacks = [] if cls is None else [cls(**ARGUMENTS.get(cls.__name__, {}))]
    defaults = dict(hidden_layer_sizes=(16,), update_epochs=3, lr=1e-2, random_state=0)
    return estimator(callbacks=callbacks, **{**defaults, **params})


def weights(est):
    return {k: v.clone() for k, v in est.net_.module_.state_dict().items()}


def assert_equal_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def differs(a, b):
    return any(not torch.equal(a[k], b[k]) for k in a)


def stream(digits):
    """Digits 0-4, then 5-9: an update that conflicts with the first training,
    so that every strategy visibly acts on it."""
    X, y = digits
    old, new = y < 5, y >= 5
    return (X[old][:300], y[old][:300]), (X[new][:300], y[new][:300])


@pytest.mark.parametrize("cls", STRATEGIES, ids=lambda c: c.__name__)
def test_cold_start_partial_fit_trains_as_without_the_strategy(cls, digits):
    (X1, y1), (X2, y2) = stream(digits)
    classes = np.arange(10)
    with_it = make(cls).partial_fit(X1, y1, classes=classes)
    without = make(None).partial_fit(X1, y1, classes=classes)
    assert_equal_weights(weights(with_it), weights(without))
    # it consolidated: the second call, an update, is protected
    with_it.partial_fit(X2, y2)
    without.partial_fit(X2, y2)
    assert differs(weights(with_it), weights(without))


@pytest.mark.parametrize("cls", STRATEGIES, ids=lambda c: c.__name__)
def test_cold_start_regressor(cls, digits):
    if cls.__name__ == "ERACE":
        pytest.skip("ERACE is for classifiers: its loss is a cross-entropy")
    X, _ = digits
    y = X[:, 20:30].sum(axis=1)
    with_it = make(cls, ContinualRegressor).partial_fit(X[:200], y[:200])
    without = make(None, ContinualRegressor).partial_fit(X[:200], y[:200])
    assert_equal_weights(weights(with_it), weights(without))
    with_it.partial_fit(X[200:400], y[200:400])
    assert np.isfinite(with_it.predict(X[:10])).all()
