"""Replay buffers: what they keep, their bounds, seeding, cost and pickling."""

import pickle

import numpy as np
import pytest

from sklearn_cl.strategies import (
    ClassBalancedBuffer,
    ReservoirBuffer,
    WindowBuffer,
    make_buffer,
)

KINDS = ["reservoir", "class_balanced", "window"]


def stream(n_batches=20, batch=37, n_features=3, n_classes=4, seed=0):
    rng = np.random.default_rng(seed)
    for i in range(n_batches):
        ids = np.arange(i * batch, (i + 1) * batch)
        X = np.column_stack([ids, rng.normal(size=(batch, n_features - 1))])
        yield X, rng.integers(0, n_classes, batch)


@pytest.mark.parametrize("kind", KINDS)
def test_never_exceeds_capacity_and_stores_float32(kind):
    buffer = make_buffer(kind, 50, random_state=0)
    for X, y in stream():
        buffer.add(X.astype(np.float64), y)
        assert len(buffer) <= 50
    assert len(buffer) == 50 and buffer.n_seen == 20 * 37
    assert buffer.X.dtype == np.float32 and buffer.y.dtype == np.int64
    assert buffer.X.shape == (50, 3) and buffer.y.shape == (50,)
    # memory is bounded by the capacity, not by what was seen
    assert buffer.nbytes == 50 * (3 * 4 + 8)


@pytest.mark.parametrize("kind", KINDS)
def test_keeps_everything_below_capacity_and_without_one(kind):
    data = list(stream(n_batches=5))
    for capacity in (5 * 37, None):
        buffer = make_buffer(kind, capacity, random_state=0)
        for X, y in data:
            buffer.add(X, y)
        X_all = np.concatenate([X for X, _ in data]).astype(np.float32)
        y_all = np.concatenate([y for _, y in data])
        np.testing.assert_array_equal(buffer.X, X_all)
        np.testing.assert_array_equal(buffer.y, y_all)


@pytest.mark.parametrize("kind", KINDS)
def test_stored_pairs_are_pairs_that_were_added(kind):
    buffer = make_buffer(kind, 40, random_state=1)
    truth = {}
    for X, y in stream():
        buffer.add(X, y)
        truth.update(zip(X[:, 0].astype(int).tolist(), y.tolist()))
    ids = buffer.X[:, 0].astype(int)
    assert len(set(ids.tolist())) == len(buffer)  # no sample stored twice
    assert [truth[i] for i in ids.tolist()] == buffer.y.tolist()


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_buffer_other_seed_other_buffer(kind):
    def fill(seed):
        buffer = make_buffer(kind, 30, random_state=seed)
        for X, y in stream():
            buffer.add(X, y)
        return buffer

    a, b = fill(0), fill(0)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.sample(10)[0], b.sample(10)[0])
    if kind != "window":  # the window does not depend on the seed
        assert not np.array_equal(a.X, fill(1).X)


def test_reservoir_keeps_each_sample_with_equal_probability():
    # algorithm R: after n samples each is kept with probability capacity / n
    n, capacity, runs = 400, 40, 400
    counts = np.zeros(n)
    for seed in range(runs):
        buffer = ReservoirBuffer(capacity, random_state=seed)
        for start in range(0, n, 50):
            buffer.add(np.zeros((50, 1)), np.arange(start, start + 50))
        counts[buffer.y] += 1
    expected = runs * capacity / n  # 40 per sample
    # each quarter of the stream (100 samples, 4000 expected) within 6%
    quarters = counts.reshape(4, -1).sum(axis=1)
    np.testing.assert_allclose(quarters, 100 * expected, rtol=0.06)


def test_reservoir_with_one_batch_larger_than_capacity():
    buffer = ReservoirBuffer(10, random_state=0)
    buffer.add(np.arange(1000.0)[:, None], np.arange(1000))
    assert len(buffer) == 10
    # not simply the first ten: later samples replaced some of them
    assert buffer.y.max() >= 10


def test_window_keeps_the_most_recent_in_arrival_order():
    buffer = WindowBuffer(capacity=5)
    buffer.add(np.zeros((3, 2)), [0, 1, 2])
    np.testing.assert_array_equal(buffer.y, [0, 1, 2])
    buffer.add(np.zeros((4, 2)), [3, 4, 5, 6])
    np.testing.assert_array_equal(buffer.y, [2, 3, 4, 5, 6])
    buffer.add(np.arange(16.0).reshape(8, 2), np.arange(7, 15))
    np.testing.assert_array_equal(buffer.y, [10, 11, 12, 13, 14])
    np.testing.assert_array_equal(buffer.X[:, 0], [6, 8, 10, 12, 14])


def test_class_balanced_gives_each_class_an_equal_share():
    buffer = ClassBalancedBuffer(capacity=60, random_state=0)
    buffer.add(np.zeros((600, 2)), np.repeat([0, 1], 300))
    assert np.bincount(buffer.y).tolist() == [30, 30]
    buffer.add(np.zeros((50, 2)), np.full(50, 2))  # a new, rarer class
    assert np.bincount(buffer.y).tolist() == [20, 20, 20]
    buffer.add(np.zeros((5, 2)), np.full(5, 3))  # fewer than its share: all kept
    # evicted from the largest class, ties to the class seen first: 0, 1, 2, 0, 1
    assert np.bincount(buffer.y).tolist() == [18, 18, 19, 5]


def test_class_balanced_beats_reservoir_on_a_rare_recent_class():
    X, y = np.zeros((1000, 1)), np.r_[np.zeros(950, int), np.ones(50, int)]
    balanced = ClassBalancedBuffer(100, random_state=0).add(X, y)
    reservoir = ReservoirBuffer(100, random_state=0).add(X, y)
    assert np.sum(balanced.y == 1) == 50
    assert np.sum(reservoir.y == 1) < 20


def test_class_balanced_replaces_within_a_full_class_at_reservoir_rate():
    # one class only: within-class reservoir sampling, uniform over the stream
    kept_late = 0
    for seed in range(50):
        buffer = ClassBalancedBuffer(20, random_state=seed)
        buffer.add(np.arange(200.0)[:, None], np.zeros(200, int))
        kept_late += int(np.sum(buffer.X[:, 0] >= 100))
    assert 400 < kept_late < 600  # half of 50 * 20 expected


def test_class_balanced_string_labels():
    buffer = ClassBalancedBuffer(4, random_state=0)
    buffer.add(np.zeros((4, 1)), ["a", "a", "a", "a"])
    buffer.add(np.zeros((2, 1)), ["longer label", "longer label"])
    assert sorted(buffer.y.tolist()) == ["a", "a", "longer label", "longer label"]


def test_regression_targets_and_nd_samples():
    buffer = ReservoirBuffer(8, random_state=0)
    X = np.random.default_rng(0).normal(size=(20, 3, 5))
    y = np.random.default_rng(1).normal(size=(20, 2))
    buffer.add(X, y)
    assert buffer.X.shape == (8, 3, 5) and buffer.y.shape == (8, 2)
    assert buffer.y.dtype == np.float32
    X_drawn, y_drawn = buffer.sample(3)
    assert X_drawn.shape == (3, 3, 5) and y_drawn.shape == (3, 2)


def test_sample_draws_distinct_stored_samples():
    buffer = ReservoirBuffer(None, random_state=0)
    buffer.add(np.arange(10.0)[:, None], np.arange(10))
    X, y = buffer.sample(6, rng=3)
    assert len(set(y.tolist())) == 6
    np.testing.assert_array_equal(X[:, 0], y)
    np.testing.assert_array_equal(buffer.sample(6, rng=3)[1], y)
    assert len(buffer.sample(100)[1]) == 10  # at most what is stored
    X_empty, y_empty = ReservoirBuffer(5).sample(3)
    assert len(X_empty) == len(y_empty) == 0


@pytest.mark.parametrize("kind", KINDS)
def test_adding_costs_the_batch_not_the_stored(kind):
    # once full, the storage is written in place, never reallocated or copied
    buffer = make_buffer(kind, 100, random_state=0)
    data = list(stream(n_batches=30, batch=10))
    for X, y in data[:10]:
        buffer.add(X, y)
    storage = buffer._X
    for X, y in data[10:]:
        buffer.add(X, y)
    assert buffer._X is storage


def test_unbounded_storage_grows_geometrically():
    buffer = ReservoirBuffer(None)
    allocations, storage = 0, None
    for _ in range(1000):
        buffer.add(np.zeros((3, 2)), np.zeros(3, int))
        allocations += buffer._X is not storage
        storage = buffer._X
    assert len(buffer) == 3000
    assert allocations <= 11  # 3, 6, 12, ..., 3072
    assert buffer.nbytes <= 2 * 3000 * (2 * 4 + 8)


@pytest.mark.parametrize("kind", KINDS)
def test_pickles_and_continues_identically(kind):
    data = list(stream())
    buffer = make_buffer(kind, 30, random_state=0)
    for X, y in data[:10]:
        buffer.add(X, y)
    copy = pickle.loads(pickle.dumps(buffer))
    for b in (buffer, copy):
        for X, y in data[10:]:
            b.add(X, y)
    np.testing.assert_array_equal(buffer.X, copy.X)
    np.testing.assert_array_equal(buffer.y, copy.y)


def test_accepts_a_legacy_random_state():
    a = ReservoirBuffer(5, random_state=np.random.RandomState(0))
    b = ReservoirBuffer(5, random_state=np.random.RandomState(0))
    for buffer in (a, b):
        buffer.add(np.arange(50.0)[:, None], np.arange(50))
    np.testing.assert_array_equal(a.y, b.y)


@pytest.mark.parametrize(
    ("capacity", "error", "match"),
    [
        (0, ValueError, "positive int or None"),
        (-3, ValueError, "positive int or None"),
        (2.5, TypeError, "positive int or None"),
        (True, TypeError, "positive int or None"),
    ],
)
def test_bad_capacity(capacity, error, match):
    with pytest.raises(error, match=match):
        ReservoirBuffer(capacity)


def test_bad_kind():
    with pytest.raises(ValueError, match="Unknown buffer kind 'fifo'.*reservoir"):
        make_buffer("fifo", 10)


def test_bad_additions_leave_the_buffer_unchanged():
    buffer = ReservoirBuffer(10, random_state=0).add(np.zeros((4, 3)), np.arange(4))
    with pytest.raises(ValueError, match="same number of samples"):
        buffer.add(np.zeros((4, 3)), np.arange(3))
    with pytest.raises(ValueError, match=r"shape \(2,\).*shape \(3,\)"):
        buffer.add(np.zeros((4, 2)), np.arange(4))
    with pytest.raises(ValueError, match="dtype float64.*int64"):
        buffer.add(np.zeros((4, 3)), np.full(4, 0.5))
    with pytest.raises(ValueError, match="one class label per sample"):
        ClassBalancedBuffer(10).add(np.zeros((4, 3)), np.zeros((4, 2)))
    assert len(buffer) == 4 and buffer.n_seen == 4
    np.testing.assert_array_equal(buffer.y, np.arange(4))


@pytest.mark.parametrize("kind", ["reservoir", "window", "class_balanced"])
def test_resized_keeps_a_sample_of_what_it_held(kind):
    buffer = make_buffer(kind, 100, random_state=0)
    X = np.arange(600, dtype=np.float32).reshape(300, 2)
    y = np.arange(300) % 3
    buffer.add(X, y, sample_weight=np.arange(300) + 1.0)
    small = buffer.resized(30)
    assert len(small) == 30 and small.capacity == 30 and small.n_seen == 300
    held = {tuple(row) for row in buffer.X}
    assert all(tuple(row) in held for row in small.X)
    # every sample keeps its weight
    np.testing.assert_array_equal(small.sample_weight, small.X[:, 0] / 2 + 1)
    if kind == "window":
        np.testing.assert_array_equal(small.X, X[-30:])
    if kind == "class_balanced":
        assert np.bincount(small.y).tolist() == [10, 10, 10]
    larger = buffer.resized(200).add(X[:50], y[:50])
    assert len(larger) == 150 and larger.n_seen == 350


def test_weights_are_stored_only_once_given():
    buffer = make_buffer("reservoir", None, random_state=0)
    buffer.add(np.zeros((5, 2)), np.zeros(5, dtype=int))
    assert buffer.sample_weight is None and buffer.nbytes == 5 * 8 + 5 * 8
    buffer.add(np.ones((3, 2)), np.ones(3, dtype=int), sample_weight=[2, 3, 4])
    np.testing.assert_array_equal(buffer.sample_weight, [1, 1, 1, 1, 1, 2, 3, 4])
    X, y, w = buffer.sample(8, rng=0, return_weight=True)
    np.testing.assert_array_equal(w, np.where(y == 1, X[:, 0] * 0 + w, 1))
    with pytest.raises(ValueError, match="one weight per sample"):
        buffer.add(np.ones((3, 2)), np.ones(3, dtype=int), sample_weight=[1, 2])
