"""Checks every strategy exported from ``sklearn_cl.strategies`` must pass.

Like skorch's ``tests/callbacks/test_all.py``: a new strategy is checked here
as soon as it is exported, with its default parameters.
"""

import copy
import inspect
import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from skorch.callbacks import Callback

import sklearn_cl.strategies as strategies
from sklearn_cl import ContinualClassifier
from sklearn_cl.strategies import Strategy

STRATEGIES = sorted(
    (
        obj
        for obj in (getattr(strategies, name) for name in strategies.__all__)
        if isinstance(obj, type) and issubclass(obj, Strategy) and obj is not Strategy
    ),
    key=lambda cls: cls.__name__,
)
HOOKS = [
    "extend_data",
    "on_update_begin",
    "extend_batch",
    "penalty",
    "on_update_end",
    "on_output_grown",
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_batch_begin",
    "on_batch_end",
    "on_grad_computed",
]


@pytest.fixture(params=STRATEGIES, ids=lambda cls: cls.__name__)
def strategy(request):
    return request.param()


def test_the_strategies_are_found():
    names = {cls.__name__ for cls in STRATEGIES}
    assert {"Replay", "Rehearsal", "Freeze", "Augment"} <= names


def init_params(strategy) -> set:
    signature = inspect.signature(type(strategy).__init__)
    return set(signature.parameters) - {"self"}


def learned(strategy) -> dict:
    # a parameter may end in "_" too (EWC's lambda_, a Python keyword otherwise)
    params = init_params(strategy)
    return {
        k: v for k, v in vars(strategy).items() if k.endswith("_") and k not in params
    }


def same(a, b) -> bool:
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and a.keys() == b.keys()
            and all(same(a[k], b[k]) for k in a)
        )
    if isinstance(a, list | tuple):
        return (
            type(a) is type(b)
            and len(a) == len(b)
            and all(same(x, y) for x, y in zip(a, b))
        )
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b)
    return type(a) is type(b) and a == b


def fitted(strategy, digits, **params):
    X, y = digits
    defaults = dict(
        hidden_layer_sizes=(16,), max_epochs=2, update_epochs=2, random_state=0
    )
    clf = ContinualClassifier(
        callbacks=[("strategy", strategy)], **{**defaults, **params}
    )
    clf.fit(X[:200], y[:200])
    clf.partial_fit(X[200:300], y[200:300])
    clf.partial_fit(X[300:400], y[300:400])
    return clf


def used(clf):
    return dict(clf.net_.callbacks_)["strategy"]


def test_init_stores_its_parameters_and_nothing_else(strategy):
    assert set(strategy.get_params()) == init_params(strategy)
    assert not learned(strategy)


def test_clone(strategy):
    cloned = clone(strategy)
    assert cloned is not strategy and type(cloned) is type(strategy)
    assert same(cloned.get_params(), strategy.get_params())


def test_get_set_params_round_trip(strategy):
    params = strategy.get_params()
    other = type(strategy)()
    other.set_params(**params)
    assert same(other.get_params(), params)


def test_learned_state_is_in_attributes_ending_with_underscore(strategy, digits):
    # any other attribute would show up as a parameter and break clone
    assert set(used(fitted(strategy, digits)).get_params()) == init_params(strategy)


def test_hooks_take_the_arguments_the_net_passes(strategy):
    for hook in HOOKS:
        method = getattr(type(strategy), hook)
        base = getattr(Strategy, hook)
        if method is base:
            continue
        theirs = inspect.signature(method).parameters
        expected = inspect.signature(base).parameters
        named = [name for name in expected if name != "kwargs"]
        # the net passes some arguments by position, others by name
        assert list(theirs)[: len(named)] == named, hook
        if "kwargs" in expected:
            assert any(
                p.kind is inspect.Parameter.VAR_KEYWORD for p in theirs.values()
            ), f"{hook} must take **kwargs"


def test_user_instance_is_not_mutated(strategy, digits):
    before = copy.deepcopy(vars(strategy))
    clf = fitted(strategy, digits)
    assert used(clf) is not strategy
    assert same(vars(strategy), before)


def test_initialize_resets_the_learned_state(strategy, digits):
    fresh = learned(clone(strategy).initialize())
    trained = used(fitted(strategy, digits))
    assert learned(trained).keys() >= fresh.keys()
    assert same(learned(trained.initialize()), fresh)


def test_pickles_after_learning_and_continues_identically(strategy, digits):
    X, y = digits
    clf = fitted(strategy, digits)
    loaded = pickle.loads(pickle.dumps(clf))
    assert type(used(loaded)) is type(strategy)
    np.testing.assert_array_equal(clf.predict_proba(X), loaded.predict_proba(X))
    for model in (clf, loaded):
        model.partial_fit(X[400:500], y[400:500])
    np.testing.assert_array_equal(clf.predict_proba(X), loaded.predict_proba(X))


def test_refit_gives_the_same_model(strategy, digits):
    X, y = digits
    clf = fitted(strategy, digits)
    first = clf.predict_proba(X)
    clf.fit(X[:200], y[:200])
    clf.partial_fit(X[200:300], y[200:300])
    clf.partial_fit(X[300:400], y[300:400])
    np.testing.assert_array_equal(clf.predict_proba(X), first)


def test_survives_a_growing_output_layer(strategy, digits):
    X, y = digits
    clf = ContinualClassifier(
        hidden_layer_sizes=(16,),
        max_epochs=2,
        allow_new_classes=True,
        callbacks=[strategy],
        random_state=0,
    )
    clf.fit(X[:300][y[:300] < 5], y[:300][y[:300] < 5])
    clf.partial_fit(X[300:600], y[300:600])
    clf.partial_fit(X[600:700], y[600:700])
    assert clf.predict_proba(X[:5]).shape == (5, 10)


def test_works_beside_a_plain_skorch_callback(strategy, digits):
    X, y = digits

    class Count(Callback):
        def initialize(self):
            self.batches_ = 0
            return self

        def on_batch_end(self, net, **kwargs):
            self.batches_ += 1

    clf = ContinualClassifier(
        hidden_layer_sizes=(16,),
        max_epochs=1,
        callbacks=[strategy, ("count", Count())],
        random_state=0,
    ).fit(X[:64], y[:64])
    count = dict(clf.net_.callbacks_)["count"]
    assert count.batches_ == 2
    clf.partial_fit(X[64:128], y[64:128])
    assert count.batches_ >= 4  # more when the strategy adds data (rehearsal)
