"""CNN1D: shapes, errors, and the estimators on 2-D and 3-D windows."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sklearn_cl import ContinualClassifier, ContinualRegressor
from sklearn_cl.modules import CNN1D


def bumps(n: int, length: int = 64, seed: int = 0):
    """Noise with a bump of one of three widths somewhere: the class is the
    width, wherever the bump lies (a pattern a convolution finds anywhere)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = 0.3 * rng.normal(size=(n, length))
    for i, label in enumerate(y):
        width = (3, 7, 13)[label]
        start = rng.integers(0, length - width)
        X[i, start : start + width] += 1.5
    return X.astype(np.float32), y


def cnn_classifier(**params):
    return ContinualClassifier(
        **{
            "module": CNN1D,
            "module__channels": (8, 8),
            "max_epochs": 15,
            "random_state": 0,
            **params,
        }
    )


@pytest.mark.parametrize(
    "kwargs, shape",
    [
        ({"n_features": 40, "n_outputs": 3}, (5, 40)),
        ({"n_features": 40, "n_outputs": 3, "in_channels": 2}, (5, 2, 20)),
        ({"n_features": 40, "n_outputs": 3, "in_channels": 2}, (5, 40)),
        ({"n_features": 40, "n_outputs": 3, "pool_size": 1, "kernel_size": 3}, (5, 40)),
        ({"n_features": 40, "n_outputs": 3, "head_layer_sizes": (16,)}, (5, 40)),
    ],
)
def test_output_shape(kwargs, shape):
    assert CNN1D(**kwargs)(torch.zeros(shape)).shape == (5, 3)


@pytest.mark.parametrize("length", [12, 13])
def test_max_pooling_matches_torch_max_pool1d(length):
    from sklearn_cl.modules import _MaxPool1d

    X = torch.randn(4, 3, length, dtype=torch.float64).relu()  # ties at 0
    X[0, 0, :4] = 1.0  # tied maxima: the first gets the gradient
    X.requires_grad_(True)
    ours, theirs = _MaxPool1d(3)(X), torch.nn.MaxPool1d(3)(X)
    assert torch.equal(ours, theirs)
    weights = torch.randn_like(ours)
    (grad,) = torch.autograd.grad((ours * weights).sum(), X)
    (expected,) = torch.autograd.grad((theirs * weights).sum(), X)
    assert torch.equal(grad, expected)


def test_last_layer_is_linear_and_head_is_configurable():
    net = CNN1D(40, 3, channels=(4,), head_layer_sizes=(16, 8), dropout=0.1)
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [16, 8, 3]
    assert list(net.modules())[-1] is linears[-1]
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv1d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(1, 4)]
    # one pooling of 2 halves the length: 4 channels x 20 positions
    assert linears[0].in_features == 4 * 20


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_features": 41, "in_channels": 2}, "not a whole number of"),
        ({"n_features": 8, "channels": (4, 4, 4, 4)}, "too short"),
        ({"n_features": 8, "pooling": "median"}, "pooling must be one of"),
    ],
)
def test_invalid_configurations(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CNN1D(n_outputs=2, **kwargs)


def test_wrong_channels_at_forward():
    with pytest.raises(ValueError, match=r"expects samples of shape \(2, 20\)"):
        CNN1D(40, 2, in_channels=2)(torch.zeros(3, 4, 10))


@pytest.mark.slow
def test_classifier_learns_a_shift_invariant_pattern():
    # accuracy across seeds 0-3: 0.91 to 0.98
    X, y = bumps(900)
    clf = cnn_classifier(max_epochs=8).fit(X[:600], y[:600])
    assert clf.score(X[600:], y[600:]) > 0.85


def test_estimators_take_3d_windows_with_channels():
    X, y = bumps(200)
    X3 = np.stack([X, -X], axis=1)  # two channels
    clf = cnn_classifier(max_epochs=2, module__in_channels=2).fit(X3, y)
    assert clf.input_shape_ == (2, 64)
    assert clf.predict_proba(X3[:5]).shape == (5, 3)
    with pytest.raises(
        ValueError,
        match=r"samples of shape \(64,\).*fitted on samples of shape \(2, 64\)",
    ):
        clf.predict(X)
    reg = ContinualRegressor(module=CNN1D, module__in_channels=2, max_epochs=2)
    assert reg.fit(X3, X[:, :4]).predict(X3[:3]).shape == (3, 4)


def test_wrong_channels_fail_at_fit_and_leave_the_model_as_it_was():
    X, y = bumps(100)
    clf = cnn_classifier(max_epochs=1).fit(X, y)
    before = clf.predict_proba(X)
    X3 = np.stack([X, X, X], axis=1)
    with pytest.raises(ValueError, match="not a whole number of|module__in_channels"):
        clf.set_params(module__in_channels=2).fit(X3, y)
    np.testing.assert_array_equal(clf.predict_proba(X), before)


def test_output_layer_grows_with_new_classes():
    X, y = bumps(300)
    clf = cnn_classifier(max_epochs=2, allow_new_classes=True)
    clf.fit(X[y < 2], y[y < 2])
    clf.partial_fit(X[y == 2], y[y == 2])
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.net_.module_.head[-1].out_features == 3


def test_update_clone_and_pickle_round_trip():
    X, y = bumps(200)
    clf = cnn_classifier(max_epochs=2).fit(X[:100], y[:100])
    clf.partial_fit(X[100:], y[100:])
    updated = clf.predict_proba(X)
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), updated)
    restored.partial_fit(X[:50], y[:50])
    clf.partial_fit(X[:50], y[:50])
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    # the same seed and calls give the same model
    twin = clone(clf).fit(X[:100], y[:100]).partial_fit(X[100:], y[100:])
    np.testing.assert_array_equal(twin.predict_proba(X), updated)
