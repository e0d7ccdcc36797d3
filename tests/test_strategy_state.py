"""The explicit strategy state: one mechanism for rollback, copying, saving."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import skops.io
import torch

import sklearn_cl.strategies as strategies
from sklearn_cl import ContinualClassifier, NonFiniteUpdateError
from sklearn_cl.persistence import load, save
from sklearn_cl.strategies import EWC, Rehearsal, Strategy
from sklearn_cl.strategies.buffers import (
    ClassBalancedBuffer,
    ReservoirBuffer,
    WindowBuffer,
)

STRATEGIES = [
    cls
    for cls in (getattr(strategies, name) for name in strategies.__all__)
    if isinstance(cls, type) and issubclass(cls, Strategy) and cls is not Strategy
]


@pytest.mark.parametrize("cls", STRATEGIES, ids=lambda cls: cls.__name__)
def test_every_learned_attribute_is_declared(cls, digits):
    """What a strategy learns is in ``_learned_state`` or ``_transient_state``."""
    X, y = digits
    clf = ContinualClassifier(
        hidden_layer_sizes=(8,), max_epochs=1, callbacks=[("s", cls())], random_state=0
    )
    clf.fit(X[:100], y[:100]).partial_fit(X[100:200], y[100:200])
    strategy = dict(clf.net_.callbacks_)["s"]
    learned = {k for k in vars(strategy) if k.endswith("_")} - set(
        cls._get_param_names()
    )
    assert learned <= {*cls._learned_state, *cls._transient_state}
    assert set(strategy.state_dict()) == set(cls._learned_state)
    # parameters are never state
    assert not set(cls._learned_state) & set(cls._get_param_names())


def test_ewc_lambda_is_a_parameter_not_state(digits):
    X, y = digits
    clf = ContinualClassifier(
        max_epochs=1, callbacks=[("ewc", EWC(lambda_=3.0))], random_state=0
    ).fit(X[:100], y[:100])
    ewc = dict(clf.net_.callbacks_)["ewc"]
    state = ewc.state_dict()
    assert "lambda_" not in state and state["n_consolidations_"] == 1
    ewc.lambda_ = 99.0
    ewc.load_state_dict(state)
    assert ewc.lambda_ == 99.0


def test_state_dict_is_a_snapshot(digits):
    X, y = digits
    clf = ContinualClassifier(
        max_epochs=1, callbacks=[("ewc", EWC())], random_state=0
    ).fit(X[:100], y[:100])
    ewc = dict(clf.net_.callbacks_)["ewc"]
    state = ewc.state_dict()
    saved = {k: v.clone() for k, v in state["fisher_"].items()}
    clf.partial_fit(X[100:200], y[100:200])
    for name, tensor in state["fisher_"].items():
        assert torch.equal(tensor, saved[name])
    with pytest.raises(ValueError, match="has no learned state"):
        ewc.load_state_dict({"lambda_": 1.0})


class Counter(Strategy):
    """A new strategy: declaring its state is all it takes."""

    _learned_state = ("calls_", "history_")

    def __init__(self, fail_at=None):
        self.fail_at = fail_at

    def initialize(self):
        self.calls_ = 0
        self.history_ = np.zeros(0)
        return self

    def on_update_end(self, net, X=None, y=None, is_update=True, **kwargs):
        self.calls_ += 1
        self.history_ = np.append(self.history_, float(len(X)))
        if self.calls_ == self.fail_at:
            self.history_[-1] = np.nan  # a non-finite consolidation


def test_a_new_strategy_gets_rollback_copy_and_files_for_free(digits, tmp_path):
    X, y = digits
    clf = ContinualClassifier(
        max_epochs=1, callbacks=[("counter", Counter(fail_at=3))], random_state=0
    ).fit(X[:100], y[:100])
    clf.partial_fit(X[100:150], y[100:150])
    with pytest.raises(NonFiniteUpdateError):
        clf.partial_fit(X[150:200], y[150:200])
    counter = dict(clf.net_.callbacks_)["counter"]
    assert counter.calls_ == 2
    np.testing.assert_array_equal(counter.history_, [100.0, 50.0])
    save(clf, tmp_path / "model.skops")
    for copied in (
        copy.deepcopy(clf),
        pickle.loads(pickle.dumps(clf)),
        load(tmp_path / "model.skops", trusted=[Counter]),
    ):
        state = dict(copied.net_.callbacks_)["counter"].state_dict()
        assert state["calls_"] == 2
        np.testing.assert_array_equal(state["history_"], [100.0, 50.0])


@pytest.mark.parametrize(
    "buffer",
    [
        ReservoirBuffer(capacity=50, random_state=0),
        ReservoirBuffer(random_state=0),
        WindowBuffer(capacity=30),
        ClassBalancedBuffer(capacity=40, random_state=0),
        ClassBalancedBuffer(random_state=0),
    ],
    ids=["reservoir", "unbounded", "window", "balanced", "balanced-unbounded"],
)
def test_buffers_restore_and_continue_identically(buffer, tmp_path):
    rng = np.random.default_rng(0)
    buffer.add(rng.random((60, 3)), rng.integers(0, 4, 60))
    state = buffer.state_dict()
    twin = copy.deepcopy(buffer)
    skops.io.dump(buffer, tmp_path / "buffer.skops")
    loaded = skops.io.load(
        tmp_path / "buffer.skops",
        trusted=skops.io.get_untrusted_types(file=tmp_path / "buffer.skops"),
    )
    batch = rng.random((25, 3)), rng.integers(0, 4, 25)
    buffer.add(*batch)
    after = buffer.X.copy(), buffer.y.copy()
    buffer.load_state_dict(state)  # the rollback
    for other in (buffer, twin, loaded):
        other.add(*batch)
        np.testing.assert_array_equal(other.X, after[0])
        np.testing.assert_array_equal(other.y, after[1])


def test_unbounded_buffer_snapshot_copies_nothing():
    buffer = ReservoirBuffer(random_state=0)
    buffer.add(np.zeros((1000, 4)), np.zeros(1000, dtype=int))
    state = buffer.state_dict()
    assert np.shares_memory(state["X"], buffer.X)
    buffer.add(np.ones((10, 4)), np.ones(10, dtype=int))
    assert (state["X"] == 0).all() and len(state["X"]) == 1000


def test_rehearsal_rollback_restores_the_store(digits):
    X, y = digits
    clf = ContinualClassifier(
        max_epochs=1, callbacks=[("r", Rehearsal())], random_state=0
    ).fit(X[:300], y[:300])
    buffer = dict(clf.net_.callbacks_)["r"].buffer_
    stored = buffer.X.copy()

    class Boom(RuntimeError):
        pass

    rehearsal = dict(clf.net_.callbacks_)["r"]
    store = rehearsal.on_update_end

    def store_then_fail(*args, **kwargs):
        store(*args, **kwargs)
        assert len(rehearsal.buffer_) == 400
        raise Boom

    rehearsal.on_update_end = store_then_fail
    with pytest.raises(Boom):
        clf.partial_fit(X[300:400], y[300:400])
    del rehearsal.on_update_end
    restored = dict(clf.net_.callbacks_)["r"].buffer_
    assert restored.n_seen == 300
    np.testing.assert_array_equal(restored.X, stored)
