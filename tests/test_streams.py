"""Streams: learning_curve with partial_fit, and hand-written minibatch loops."""

import numpy as np
import pytest
from sklearn.model_selection import learning_curve

from sklearn_cl import ContinualClassifier, ContinualRegressor


def test_learning_curve_increments_are_partial_fit_calls(digits):
    X, y = digits
    X, y = X[:600], y[:600]
    train, test = np.arange(400), np.arange(400, 600)
    clf = ContinualClassifier(
        hidden_layer_sizes=(32,), lr=1e-2, update_epochs=3, random_state=0
    )
    sizes, _, test_scores = learning_curve(
        clf,
        X,
        y,
        train_sizes=[100, 200, 400],
        cv=[(train, test)],
        exploit_incremental_learning=True,
    )
    np.testing.assert_array_equal(sizes, [100, 200, 400])
    # the same partial_fit calls by hand give the same scores
    by_hand, seen = [], 0
    for size in sizes:
        part = train[seen:size]
        clf.partial_fit(X[part], y[part], classes=np.unique(y))
        by_hand.append(clf.score(X[test], y[test]))
        seen = size
    np.testing.assert_array_equal(test_scores[:, 0], by_hand)
    assert clf.n_updates_ == 3
    assert by_hand[-1] > by_hand[0] + 0.1


def test_learning_curve_with_a_regressor(digits):
    X, _ = digits
    y = X[:, 20:30].sum(axis=1)
    reg = ContinualRegressor(hidden_layer_sizes=(16,), random_state=0)
    _, train_scores, test_scores = learning_curve(
        reg,
        X[:400],
        y[:400],
        train_sizes=[0.5, 1.0],
        cv=2,
        exploit_incremental_learning=True,
    )
    assert np.isfinite(test_scores).all() and train_scores.shape == (2, 2)


@pytest.mark.parametrize("update_epochs", [1, 3])
def test_minibatch_loop_epochs_and_learning_rate_per_call(digits, update_epochs):
    X, y = digits
    clf = ContinualClassifier(
        hidden_layer_sizes=(16,),
        update_epochs=update_epochs,
        update_lr=1e-2,
        update_lr_decay=0.5,
        random_state=0,
    )
    for k, start in enumerate(range(0, 320, 64)):
        clf.partial_fit(X[start : start + 64], y[start : start + 64], classes=range(10))
        # every call is update_epochs epochs at update_lr * decay ** k
        assert len(clf.net_.history) == update_epochs
        assert clf.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(1e-2 * 0.5**k)
    assert clf.n_updates_ == 5
