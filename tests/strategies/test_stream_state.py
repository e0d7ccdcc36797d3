"""The strategies of issue 13 keep a bounded state over many small updates."""

import pickle

import numpy as np
import pytest

from sklearn_cl import ContinualClassifier
from sklearn_cl.strategies import AGEM, DER, ERACE, MAS, SI, DERPlusPlus, Graft

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
