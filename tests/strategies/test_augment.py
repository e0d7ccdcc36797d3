"""Augment: transforms of the update batches, the order rule with Replay."""

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from sklearn_cl import ContinualClassifier
from sklearn_cl.strategies import Augment, Replay


class Batches(Callback):
    """Records the training batches of the latest call."""

    def initialize(self):
        self.batches_ = []
        return self

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.batches_ = []

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        self.batches_.append((batch[0].clone(), batch[1].clone()))


def classifier(*strategies, **params):
    defaults = dict(hidden_layer_sizes=(8,), max_epochs=1, random_state=0)
    callbacks = [*strategies, ("batches", Batches())]
    return ContinualClassifier(callbacks=callbacks, **{**defaults, **params})


def update_batches(clf, X, y):
    clf.partial_fit(X, y)
    return dict(clf.net_.callbacks_)["batches"].batches_


def stacked(batches):
    return torch.cat([Xb for Xb, _ in batches]).numpy()


def test_fit_is_not_augmented(digits):
    X, y = digits
    augmented = classifier(Augment(noise_std=1.0)).fit(X[:200], y[:200])
    plain = classifier().fit(X[:200], y[:200])
    np.testing.assert_array_equal(
        stacked(dict(augmented.net_.callbacks_)["batches"].batches_),
        stacked(dict(plain.net_.callbacks_)["batches"].batches_),
    )


def test_gaussian_noise_has_the_given_scale(digits):
    X, y = digits
    zeros = np.zeros((2000, 64), dtype=np.float32)
    clf = classifier(Augment(noise_std=0.5), batch_size=500).fit(X[:100], y[:100])
    labels = np.arange(2000) % 10
    batches = update_batches(clf, zeros, labels)
    values = stacked(batches)
    assert abs(values.mean()) < 0.01
    assert abs(values.std() - 0.5) < 0.01
    # the labels are left as they were
    np.testing.assert_array_equal(
        np.sort(torch.cat([yb for _, yb in batches]).numpy()), np.sort(labels)
    )


def test_scaling_multiplies_each_sample_by_one_factor(digits):
    X, y = digits
    ones = np.ones((300, 64), dtype=np.float32)
    clf = classifier(Augment(scale_range=(0.5, 1.5))).fit(X[:100], y[:100])
    values = stacked(update_batches(clf, ones, y[:300]))
    factors = values[:, 0]
    np.testing.assert_array_equal(values, np.repeat(factors[:, None], 64, axis=1))
    assert 0.5 <= factors.min() < 0.6 and 1.4 < factors.max() <= 1.5
    fixed = classifier(Augment(scale_range=(2.0, 2.0))).fit(X[:100], y[:100])
    assert np.all(stacked(update_batches(fixed, ones, y[:300])) == 2.0)


def test_func_runs_after_scaling_and_noise(digits):
    X, y = digits
    seen = []

    def record_then_clip(Xb):
        seen.append(Xb.clone())
        return Xb.clamp(0, 1)

    augment = Augment(noise_std=5.0, func=record_then_clip)
    clf = classifier(augment).fit(X[:100], y[:100])
    batches = update_batches(clf, X[100:200], y[100:200])
    assert len(seen) == len(batches) == 4
    assert seen[0].min() < -1  # noise was added before func
    assert stacked(batches).min() >= 0 and stacked(batches).max() <= 1


def marker(Xb):
    return torch.full_like(Xb, 7.0)


def test_after_replay_it_augments_replayed_samples_too(digits):
    X, y = digits
    replay = Replay(replay_batch_size=16)
    clf = classifier(replay, Augment(func=marker)).fit(X[:100], y[:100])
    batches = update_batches(clf, X[100:132], y[100:132])
    Xb, _ = batches[0]
    assert Xb.shape == (48, 64) and torch.all(Xb == 7.0)


def test_before_replay_it_augments_new_samples_only(digits):
    X, y = digits
    replay = Replay(replay_batch_size=16)
    clf = classifier(Augment(func=marker), replay).fit(X[:100], y[:100])
    Xb, _ = update_batches(clf, X[100:132], y[100:132])[0]
    assert torch.all(Xb[:32] == 7.0)
    assert not torch.any(Xb[32:] == 7.0)


def test_seeding(digits):
    X, y = digits

    def noise(random_state, estimator_seed=0):
        clf = classifier(
            Augment(noise_std=1.0, random_state=random_state),
            random_state=estimator_seed,
        ).fit(X[:100], y[:100])
        return stacked(update_batches(clf, X[100:200], y[100:200]))

    np.testing.assert_array_equal(noise(3), noise(3))
    assert not np.array_equal(noise(3), noise(4))
    np.testing.assert_array_equal(noise(None), noise(None))
    assert not np.array_equal(noise(None), noise(None, estimator_seed=1))


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        (
            {"noise_std": -1.0},
            ValueError,
            r"'noise_std' parameter of \w+ must be a float in the range",
        ),
        (
            {"noise_std": "big"},
            ValueError,
            r"'noise_std' parameter of \w+ must be a float in the range",
        ),
        ({"scale_range": (1.2, 0.8)}, ValueError, "0 <= low <= high"),
        (
            {"scale_range": 0.9},
            ValueError,
            "'scale_range' parameter of Augment must be",
        ),
        ({"scale_range": (1, 2, 3)}, ValueError, r"must be a pair \(low, high\)"),
        ({"func": "clip"}, TypeError, r"'func' parameter of \w+ must be a callable"),
    ],
)
def test_bad_parameters(digits, params, error, match):
    X, y = digits
    with pytest.raises(error, match=match):
        classifier(Augment(**params)).fit(X[:50], y[:50])
