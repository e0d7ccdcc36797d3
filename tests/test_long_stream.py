"""Long streams: learned state stays bounded over many small updates."""

import pickle

import numpy as np

from sklearn_cl import ContinualClassifier
from sklearn_cl.strategies import EWC, Replay


def test_state_stays_bounded_over_many_updates(digits):
    X, y = digits
    rng = np.random.default_rng(0)
    clf = ContinualClassifier(
        hidden_layer_sizes=(32,),
        callbacks=[("ewc", EWC(lambda_=10.0, mode="online")), ("replay", Replay(50))],
        random_state=0,
    )
    sizes = []
    for call in range(300):
        index = rng.integers(0, len(X), size=16)
        clf.partial_fit(X[index], y[index], classes=np.arange(10))
        if call in (99, 299):
            sizes.append(len(pickle.dumps(clf)))
    assert clf.n_updates_ == 300
    assert len(dict(clf.net_.callbacks_)["replay"].buffer_) == 50
    assert len(clf.net_.history) == 1
    # same pickled size after 100 and after 300 updates (up to counters)
    assert abs(sizes[1] - sizes[0]) < 0.01 * sizes[0]
