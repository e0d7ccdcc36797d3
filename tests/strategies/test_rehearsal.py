"""Rehearsal: updates train on the new data plus stored past data."""

import pickle

import numpy as np
import pytest
import torch

from sklearn_cl import ContinualClassifier, ContinualRegressor
from sklearn_cl.strategies import Rehearsal, Strategy


class TrainingSet(Strategy):
    """Records the training set of each call (after Rehearsal extended it)."""

    def initialize(self):
        self.sets_ = []
        return self

    def on_update_begin(self, net, X=None, y=None, is_update=True, **kwargs):
        self.sets_.append((X.clone(), y.clone()))


def classifier(rehearsal, **params):
    defaults = dict(hidden_layer_sizes=(16,), max_epochs=1, random_state=0)
    return ContinualClassifier(
        callbacks=[("rehearsal", rehearsal), ("seen", TrainingSet())],
        **{**defaults, **params},
    )


def callback(clf, name):
    return dict(clf.net_.callbacks_)[name]


def rows(X) -> set:
    return {row.tobytes() for row in np.asarray(X, dtype=np.float32)}


def test_updates_train_on_new_plus_all_past_data(digits):
    X, y = digits
    clf = classifier(Rehearsal()).fit(X[:100], y[:100])
    clf.partial_fit(X[100:150], y[100:150])
    clf.partial_fit(X[150:170], y[150:170])
    sizes = [len(X_seen) for X_seen, _ in callback(clf, "seen").sets_]
    assert sizes == [100, 150, 170]
    X_last, y_last = callback(clf, "seen").sets_[-1]
    assert rows(X_last.numpy()) == rows(X[:170])
    # the new data first, then the stored data with its own labels
    np.testing.assert_array_equal(X_last[:20].numpy(), X[150:170])
    label = {row.tobytes(): c for row, c in zip(X[:170], y[:170])}
    for row, index in zip(X_last.numpy(), y_last.numpy()):
        assert clf.classes_[index] == label[row.tobytes()]


def test_fraction_draws_a_fresh_share_of_the_past_each_update(digits):
    X, y = digits
    clf = classifier(Rehearsal(fraction=0.3)).fit(X[:200], y[:200])
    clf.partial_fit(X[200:250], y[200:250])
    clf.partial_fit(X[250:300], y[250:300])
    (_, _), (X1, _), (X2, _) = callback(clf, "seen").sets_
    assert len(X1) == 50 + 60 and len(X2) == 50 + 75
    assert rows(X1[50:].numpy()) <= rows(X[:200])
    assert rows(X2[50:].numpy()) <= rows(X[:250])
    assert not rows(X1[50:].numpy()) <= rows(X2[50:].numpy())


def test_max_samples_bounds_the_memory(digits):
    X, y = digits
    clf = classifier(Rehearsal(max_samples=80)).fit(X[:100], y[:100])
    for start in range(100, 400, 50):
        clf.partial_fit(X[start : start + 50], y[start : start + 50])
        assert len(callback(clf, "rehearsal").buffer_) == 80
    X_last, _ = callback(clf, "seen").sets_[-1]
    assert len(X_last) == 50 + 80
    # a uniform sample of the whole past, not just the latest data
    assert rows(X_last[50:].numpy()) & rows(X[:100])


def test_fit_trains_on_its_data_only_and_resets_the_memory(digits):
    X, y = digits
    clf = classifier(Rehearsal()).fit(X[:100], y[:100])
    clf.partial_fit(X[100:150], y[100:150])
    clf.fit(X[:60], y[:60])
    assert [len(s[0]) for s in callback(clf, "seen").sets_] == [60]
    assert len(callback(clf, "rehearsal").buffer_) == 60


def test_regressor(digits):
    X, y = digits
    target = y.astype(np.float32)
    reg = ContinualRegressor(
        hidden_layer_sizes=(8,),
        max_epochs=1,
        callbacks=[Rehearsal(fraction=0.5)],
        random_state=0,
    ).fit(X[:100], target[:100])
    reg.partial_fit(X[100:140], target[100:140])
    assert callback(reg, "rehearsal").buffer_.y.shape == (140, 1)


def test_equal_seeds_equal_models_and_pickle_continues(digits):
    X, y = digits

    def run():
        clf = classifier(Rehearsal(fraction=0.5)).fit(X[:100], y[:100])
        return clf.partial_fit(X[100:200], y[100:200])

    a, b = run(), run()
    c = pickle.loads(pickle.dumps(a))
    for clf in (a, b, c):
        clf.partial_fit(X[200:300], y[200:300])
    for other in (b, c):
        for p, q in zip(a.net_.module_.parameters(), other.net_.module_.parameters()):
            assert torch.equal(p, q)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"fraction": 0}, r"'fraction' parameter of \w+ must be a float in the range"),
        (
            {"fraction": 1.5},
            r"'fraction' parameter of \w+ must be a float in the range",
        ),
        (
            {"max_samples": 0},
            r"'max_samples' parameter of \w+ must be an int in the range \[1, inf\)",
        ),
    ],
)
def test_bad_parameters(digits, params, match):
    X, y = digits
    with pytest.raises(ValueError, match=match):
        classifier(Rehearsal(**params)).fit(X[:50], y[:50])
