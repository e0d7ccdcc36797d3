"""Replay: batches extended with stored samples, a bounded memory, seeding."""

import pickle

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from sklearn_cl import ContinualClassifier, ContinualRegressor
from sklearn_cl.strategies import Replay


class Batches(Callback):
    """Records the training batches of a call, as the module sees them."""

    def initialize(self):
        self.batches_ = []
        return self

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.batches_ = []  # the batches of the latest training call only

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        self.batches_.append((batch[0].clone(), batch[1].clone()))


def classifier(callbacks, **params):
    defaults = dict(
        hidden_layer_sizes=(16,), max_epochs=2, update_epochs=1, random_state=0
    )
    return ContinualClassifier(callbacks=callbacks, **{**defaults, **params})


def strategy(clf, name="replay"):
    return dict(clf.net_.callbacks_)[name]


def batches_of(clf):
    return strategy(clf, "batches").batches_


def test_batches_of_updates_get_replayed_samples(digits):
    X, y = digits
    clf = classifier([Replay(buffer_size=50, replay_batch_size=8), Batches()])
    clf.fit(X[:200], y[:200])
    # fit: the memory is empty while it trains, so batches are plain
    assert [len(b[0]) for b in batches_of(clf)] == ([32] * 6 + [8]) * 2
    clf.partial_fit(X[200:264], y[200:264])
    assert [len(b[0]) for b in batches_of(clf)] == [40, 40]
    # the 8 extra samples come from the memory, i.e. from the fit data
    stored = {row.tobytes() for row in X[:200]}
    for Xb, _ in batches_of(clf):
        assert all(row.numpy().tobytes() in stored for row in Xb[32:])


def test_replay_ratio_sets_the_number_replayed(digits):
    X, y = digits
    clf = classifier([Replay(replay_ratio=0.5), Batches()]).fit(X[:100], y[:100])
    clf.partial_fit(X[100:150], y[100:150])  # batches of 32 and 18
    assert [len(b[0]) for b in batches_of(clf)] == [32 + 16, 18 + 9]


def test_replayed_labels_match_their_samples(digits):
    X, y = digits
    clf = classifier([Replay(replay_batch_size=32), Batches()]).fit(X[:300], y[:300])
    clf.partial_fit(X[300:400], y[300:400])
    label = {row.tobytes(): c for row, c in zip(X[:300], y[:300])}
    for Xb, yb in batches_of(clf):
        for row, index in zip(Xb[-32:], yb[-32:]):
            assert clf.classes_[index] == label[row.numpy().tobytes()]


@pytest.mark.parametrize("buffer", ["reservoir", "class_balanced", "window"])
def test_memory_never_exceeds_buffer_size(digits, buffer):
    X, y = digits
    clf = classifier([Replay(buffer_size=40, buffer=buffer)], max_epochs=1)
    clf.partial_fit(X[:30], y[:30], classes=np.arange(10))
    replay = strategy(clf)
    assert len(replay.buffer_) == 30
    for start in range(30, 600, 57):
        clf.partial_fit(X[start : start + 57], y[start : start + 57])
        assert len(replay.buffer_) <= 40
    assert len(replay.buffer_) == 40
    assert replay.buffer_.nbytes == 40 * (64 * 4 + 8)
    # the device copy used during a call is dropped afterwards
    assert replay.cache_X_ is None and replay.cache_y_ is None


def test_memory_stores_fit_and_update_data(digits):
    X, y = digits
    clf = classifier([Replay(buffer_size=None)]).fit(X[:100], y[:100])
    clf.partial_fit(X[100:130], y[100:130])
    replay = strategy(clf)
    assert replay.buffer_.n_seen == 130
    np.testing.assert_array_equal(replay.buffer_.X, X[:130])
    np.testing.assert_array_equal(clf.classes_[replay.buffer_.y], y[:130])


def test_fit_resets_the_memory(digits):
    X, y = digits
    clf = classifier([Replay(buffer_size=None)]).fit(X[:100], y[:100])
    clf.partial_fit(X[100:150], y[100:150])
    clf.fit(X[:60], y[:60])
    assert strategy(clf).buffer_.n_seen == 60


def run_sequence(random_state=None, estimator_seed=0, **replay):
    from sklearn_cl.datasets import split_digits

    X, y, tasks = split_digits(3, random_state=0).train_arrays()
    clf = classifier(
        [Replay(buffer_size=30, random_state=random_state, **replay)],
        random_state=estimator_seed,
        update_epochs=2,
    )
    return clf.fit(X, y, tasks=tasks)


def weights(clf):
    return [p.detach().clone() for p in clf.net_.module_.parameters()]


def assert_same_model(a, b):
    assert all(torch.equal(p, q) for p, q in zip(weights(a), weights(b)))
    np.testing.assert_array_equal(strategy(a).buffer_.X, strategy(b).buffer_.X)


@pytest.mark.parametrize("random_state", [None, 3])
def test_equal_seeds_give_bit_identical_models(random_state):
    assert_same_model(run_sequence(random_state), run_sequence(random_state))


def test_random_state_changes_what_is_kept_and_replayed():
    a, b = run_sequence(random_state=1), run_sequence(random_state=2)
    assert not np.array_equal(strategy(a).buffer_.y, strategy(b).buffer_.y)
    assert not all(torch.equal(p, q) for p, q in zip(weights(a), weights(b)))


def test_default_seed_follows_the_estimator():
    a = run_sequence(estimator_seed=0)
    b = run_sequence(estimator_seed=1)
    assert not np.array_equal(strategy(a).buffer_.X, strategy(b).buffer_.X)


def test_class_balanced_memory_keeps_every_class(digits):
    X, y = digits
    order = np.argsort(y, kind="stable")  # classes arrive one after another
    clf = classifier([Replay(buffer_size=50, buffer="class_balanced")])
    clf.partial_fit(X[order[:180]], y[order[:180]], classes=np.arange(10))
    for start in range(180, len(y), 180):
        clf.partial_fit(X[order[start : start + 180]], y[order[start : start + 180]])
    assert np.bincount(strategy(clf).buffer_.y).tolist() == [5] * 10


def test_pickle_after_updates_continues_identically(digits):
    X, y = digits
    clf = classifier([Replay(buffer_size=40)]).fit(X[:100], y[:100])
    clf.partial_fit(X[100:200], y[100:200])
    copy = pickle.loads(pickle.dumps(clf))
    for model in (clf, copy):
        model.partial_fit(X[200:300], y[200:300])
    assert_same_model(clf, copy)
    np.testing.assert_array_equal(clf.predict_proba(X), copy.predict_proba(X))


def test_regressor_replays_float_targets(digits):
    X, y = digits
    target = np.column_stack([y, -y]).astype(np.float32)
    reg = ContinualRegressor(
        hidden_layer_sizes=(16,),
        max_epochs=2,
        callbacks=[Replay(buffer_size=30, replay_batch_size=4), Batches()],
        random_state=0,
    ).fit(X[:100], target[:100])
    reg.partial_fit(X[100:132], target[100:132])
    ((Xb, yb),) = batches_of(reg)
    assert Xb.shape == (36, 64) and yb.shape == (36, 2) and yb.dtype == torch.float32
    assert strategy(reg).buffer_.y.shape == (30, 2)


def test_class_balanced_with_a_regressor_is_an_error_and_changes_nothing(digits):
    X, y = digits
    reg = ContinualRegressor(
        hidden_layer_sizes=(8,),
        max_epochs=1,
        callbacks=[Replay(buffer="class_balanced")],
        random_state=0,
    )
    with pytest.raises(ValueError, match="needs class labels.*buffer='reservoir'"):
        reg.fit(X[:50], y[:50].astype(float))
    assert not hasattr(reg, "net_")


@pytest.mark.parametrize(
    ("params", "match"),
    [
        (
            {"buffer_size": 0},
            r"'buffer_size' parameter of \w+ must be an int in the range \[1",
        ),
        (
            {"buffer_size": 2.0},
            r"'buffer_size' parameter of \w+ must be an int in the range \[1",
        ),
        (
            {"replay_batch_size": -1},
            r"'replay_batch_size' parameter of \w+ must be an int in the range \[1",
        ),
        (
            {"replay_ratio": 0},
            r"'replay_ratio' parameter of \w+ must be a float in the range",
        ),
        ({"buffer": "fifo"}, r"'buffer' parameter of \w+ must be a str among"),
    ],
)
def test_bad_parameters_fail_at_fit(digits, params, match):
    X, y = digits
    with pytest.raises(ValueError, match=match):
        classifier([Replay(**params)]).fit(X[:50], y[:50])


def test_bad_parameters_leave_a_fitted_model_unchanged(digits):
    X, y = digits
    clf = classifier([("replay", Replay())]).fit(X[:100], y[:100])
    before = weights(clf)
    clf.set_params(callbacks__replay__buffer="fifo")
    with pytest.raises(
        ValueError, match=r"'buffer' parameter of \w+ must be a str among"
    ):
        clf.fit(X[:100], y[:100])
    assert all(torch.equal(p, q) for p, q in zip(before, weights(clf)))
