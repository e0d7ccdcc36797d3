"""The strategies of issue 13 keep a bounded state over many small updates."""

import pickle

import numpy as np
import pytest
from helpers import the_strategy

from sklearn_cl import ContinualClassifier, ContinualRegressor
from sklearn_cl.strategies import (
    AGEM,
    DER,
    ERACE,
    MAS,
    SI,
    DERPlusPlus,
    Graft,
)

STRATEGIES = [
    DER(buffer_size=40),
    DERPlusPlus(buffer_size=40),
    ERACE(40),
    AGEM(40, sample_size=16),
    SI(),
    MAS(),
    Graft(width=8),
]


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: type(s).__name__)
def test_state_stays_bounded_over_many_updates(digits, strategy):
    X, y = digits
    rng = np.random.default_rng(0)
    clf = ContinualClassifier(
        hidden_layer_sizes=(16,), callbacks=[strategy], random_state=0
    )
    sizes = []
    for call in range(120):
        index = rng.integers(0, len(X), size=16)
        clf.partial_fit(X[index], y[index], classes=np.arange(10))
        if call in (39, 119):
            sizes.append(len(pickle.dumps(clf)))
    assert clf.n_updates_ == 120
    assert np.isfinite(clf.predict_proba(X)).all()
    # same pickled size after 40 and after 120 updates (up to counters)
    assert abs(sizes[1] - sizes[0]) < 0.01 * sizes[0]


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda s: type(s).__name__)
def test_the_declared_learned_state_is_all_of_it(digits, strategy):
    X, y = digits
    clf = ContinualClassifier(hidden_layer_sizes=(16,), callbacks=[strategy])
    clf.fit(X[:100], y[:100]).partial_fit(X[100:200], y[100:200])
    used = the_strategy(clf.net_)
    params = set(used.get_params())
    learned = {k for k in vars(used) if k.endswith("_") and k not in params}
    assert learned == {*type(used)._learned_state, *type(used)._transient_state}


@pytest.mark.parametrize(
    "strategy",
    [s for s in STRATEGIES if not isinstance(s, ERACE)],
    ids=lambda s: type(s).__name__,
)
def test_regressors_update_with_it(strategy):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6)).astype(np.float32)
    y = np.c_[X[:, 0] - X[:, 1], np.tanh(X[:, 2])]
    reg = ContinualRegressor(
        hidden_layer_sizes=(16,), max_epochs=5, callbacks=[strategy], random_state=0
    )
    reg.fit(X[:150], y[:150]).partial_fit(X[150:], y[150:])
    assert reg.predict(X).shape == (300, 2)
    assert reg.score(X[150:], y[150:]) > 0
