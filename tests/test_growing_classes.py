"""Class-incremental updates: labels unseen so far grow the output layer."""

import copy
import pickle

import numpy as np
import pytest
import torch
from helpers import assert_same_state, model_state
from torch import nn

from sklearn_cl import ContinualClassifier
from sklearn_cl.datasets import split_digits
from sklearn_cl.strategies import Replay, Strategy


def last_linear(module: nn.Module) -> nn.Linear:
    return [m for m in module.modules() if isinstance(m, nn.Linear)][-1]


class Growth(Strategy):
    """Records the output layer and its optimizer state when it grows."""

    def initialize(self):
        self.events_ = []
        return self

    def on_output_grown(self, net, n_old, n_new, **kwargs):
        head = last_linear(net.module_)
        self.events_.append(
            {
                "n_old": n_old,
                "n_new": n_new,
                "weight": head.weight.detach().clone(),
                "bias": head.bias.detach().clone(),
                "state": copy.deepcopy(net.optimizer_.state.get(head.weight)),
                "in_optimizer": any(
                    p is head.weight
                    for group in net.optimizer_.param_groups
                    for p in group["params"]
                ),
            }
        )


def classifier(*callbacks, **params):
    defaults = dict(
        hidden_layer_sizes=(32,),
        max_epochs=5,
        update_epochs=5,
        allow_new_classes=True,
        random_state=0,
    )
    callbacks = [*callbacks, ("growth", Growth())]
    return ContinualClassifier(callbacks=callbacks, **{**defaults, **params})


def growth_events(clf):
    return dict(clf.net_.callbacks_)["growth"].events_


def by_class(X, y, labels):
    mask = np.isin(y, labels)
    return X[mask], y[mask]


def test_unseen_labels_grow_the_output_and_keep_old_rows(digits):
    X, y = digits
    clf = classifier().fit(*by_class(X, y, [0, 1]))
    head = last_linear(clf.net_.module_)
    old_weight, old_bias = head.weight.detach().clone(), head.bias.detach().clone()
    old_state = copy.deepcopy(clf.net_.optimizer_.state[head.weight])

    clf.partial_fit(*by_class(X, y, [2, 3]))

    np.testing.assert_array_equal(clf.classes_, [0, 1, 2, 3])
    assert last_linear(clf.net_.module_).out_features == 4
    (event,) = growth_events(clf)
    assert (event["n_old"], event["n_new"]) == (2, 4)
    # at the moment of growth: old rows bit-identical, new rows fresh
    assert torch.equal(event["weight"][:2], old_weight)
    assert torch.equal(event["bias"][:2], old_bias)
    assert not torch.equal(event["weight"][2:], torch.zeros(2, 32))
    # Adam keeps its moments for the old rows; the new rows start at zero
    state = event["state"]
    assert torch.equal(state["step"], old_state["step"])
    for key in ("exp_avg", "exp_avg_sq"):
        assert torch.equal(state[key][:2], old_state[key])
        assert torch.equal(state[key][2:], torch.zeros(2, 32))
    assert event["in_optimizer"]
    # and the update trained the new classes
    X_new, y_new = by_class(X, y, [2, 3])
    assert clf.score(X_new, y_new) > 0.9


def test_new_labels_are_appended_in_a_stable_order(digits):
    X, y = digits
    clf = classifier().fit(*by_class(X, y, [5, 6]))
    clf.partial_fit(*by_class(X, y, [9, 7]))
    np.testing.assert_array_equal(clf.classes_, [5, 6, 7, 9])
    clf.partial_fit(*by_class(X, y, [8, 9]))
    np.testing.assert_array_equal(clf.classes_, [5, 6, 7, 9, 8])
    proba = clf.predict_proba(X[:20])
    assert proba.shape == (20, 5)
    np.testing.assert_array_equal(clf.predict(X[:20]), clf.classes_[proba.argmax(1)])
    # a batch of known labels only does not grow anything
    clf.partial_fit(*by_class(X, y, [5]))
    assert len(growth_events(clf)) == 2


def test_string_labels(digits):
    X, y = digits
    names = np.array(["zero", "one", "two", "three"], dtype=object)
    X4, y4 = by_class(X, y, [0, 1, 2, 3])
    labels = names[y4]
    clf = classifier().fit(X4[y4 < 2], labels[y4 < 2])
    clf.partial_fit(X4[y4 >= 2], labels[y4 >= 2])
    assert list(clf.classes_) == ["one", "zero", "three", "two"]
    assert set(clf.predict(X4)) <= set(names)
    assert clf.score(X4[y4 >= 2], labels[y4 >= 2]) > 0.9


class Flat(nn.Module):
    """A custom module whose last layer is an nn.Linear."""

    def __init__(self, n_features, n_outputs):
        super().__init__()
        self.hidden = nn.Linear(n_features, 16)
        self.out = nn.Linear(16, n_outputs)

    def forward(self, X):
        return self.out(torch.relu(self.hidden(X)))


class BodyHead(nn.Module):
    """The common layout: a body container, then a linear head."""

    def __init__(self, n_features, n_outputs):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_features, 16), nn.ReLU())
        self.head = nn.Linear(16, n_outputs)

    def forward(self, X):
        return self.head(self.body(X))


@pytest.mark.parametrize("module", [Flat, BodyHead])
def test_custom_modules_grow_their_last_linear(digits, module):
    X, y = digits
    clf = classifier(module=module).fit(*by_class(X, y, [0, 1, 2]))
    body = [p.detach().clone() for p in clf.net_.module_.parameters()][:2]
    clf.partial_fit(*by_class(X, y, [3, 4]))
    grown = clf.net_.module_
    assert last_linear(grown).out_features == 5
    assert [m.out_features for m in grown.modules() if isinstance(m, nn.Linear)] == [
        16,
        5,
    ]
    # the body was trained by the update, not replaced
    assert all(p.shape == q.shape for p, q in zip(body, grown.parameters()))
    assert clf.predict_proba(X[:3]).shape == (3, 5)


def test_replay_keeps_working_across_growth(digits):
    X, y = digits
    tasks = split_digits(5, random_state=0)
    clf = classifier(
        Replay(buffer_size=100, buffer="class_balanced"),
        max_epochs=20,
        update_epochs=20,
    )
    first = tasks[0]
    clf.fit(first.X_train, first.y_train)
    for task in tasks[1:]:
        clf.partial_fit(task.X_train, task.y_train)
    np.testing.assert_array_equal(clf.classes_, np.arange(10))
    # stored class indices stay valid: each maps to its sample's true label
    buffer = dict(clf.net_.callbacks_)["replay"].buffer_
    label = {row.tobytes(): c for row, c in zip(X, y)}
    stored = [label[row.tobytes()] for row in buffer.X]
    np.testing.assert_array_equal(clf.classes_[buffer.y], stored)
    assert np.bincount(buffer.y).tolist() == [10] * 10
    # replay across growth keeps the first classes (naive growth forgets them)
    X_test, y_test, _ = tasks.test_arrays()
    assert clf.score(X_test, y_test) > 0.8
    first_task = clf.score(first.X_test, first.y_test)
    naive = classifier(max_epochs=20, update_epochs=20).fit(
        first.X_train, first.y_train
    )
    for task in tasks[1:]:
        naive.partial_fit(task.X_train, task.y_train)
    assert naive.score(first.X_test, first.y_test) < 0.2 < first_task - 0.5


def test_without_opt_in_unseen_labels_are_an_error(digits):
    X, y = digits
    clf = classifier(allow_new_classes=False).fit(*by_class(X, y, [0, 1]))
    before = model_state(clf)
    with pytest.raises(ValueError, match=r"`y` has new labels \[2 3\].*allow_new"):
        clf.partial_fit(*by_class(X, y, [1, 2, 3]))
    assert_same_state(before, model_state(clf))
    assert clf.n_updates_ == 0


class NoLinear(nn.Module):
    """A module without any nn.Linear layer."""

    def __init__(self, n_features, n_outputs):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_features, n_outputs) * 0.01)

    def forward(self, X):
        return X @ self.weight


def test_module_without_linear_layer_is_a_clear_error(digits):
    X, y = digits
    clf = classifier(module=NoLinear).fit(*by_class(X, y, [0, 1]))
    before = model_state(clf)
    with pytest.raises(ValueError, match="NoLinear: it has no torch.nn.Linear"):
        clf.partial_fit(*by_class(X, y, [2]))
    assert_same_state(before, model_state(clf))
    np.testing.assert_array_equal(clf.classes_, [0, 1])


def test_pickled_model_grows_like_the_original(digits):
    X, y = digits
    clf = classifier(Replay(buffer_size=50)).fit(*by_class(X, y, [0, 1]))
    clf.partial_fit(*by_class(X, y, [2]))
    loaded = pickle.loads(pickle.dumps(clf))
    for model in (clf, loaded):
        model.partial_fit(*by_class(X, y, [3, 4]))
    np.testing.assert_array_equal(loaded.classes_, [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(clf.predict_proba(X), loaded.predict_proba(X))
