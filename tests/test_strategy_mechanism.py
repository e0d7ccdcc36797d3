"""The strategy mechanism, exercised with small strategies written here."""

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from sklearn_cl import ContinualClassifier, ContinualRegressor
from sklearn_cl.strategies import Strategy


class Recorder(Strategy):
    """Records the hooks it sees."""

    def __init__(self, tag="x"):
        self.tag = tag

    def initialize(self):
        self.calls_ = []
        return self

    def on_update_begin(self, net, X=None, y=None, is_update=True, **kwargs):
        self.calls_.append(("begin", is_update, len(X)))

    def on_update_end(self, net, X=None, y=None, is_update=True, **kwargs):
        self.calls_.append(("end", is_update, len(X)))


class PullToZero(Strategy):
    """Penalty: strength * squared norm of the weights."""

    def __init__(self, strength=1.0):
        self.strength = strength

    def penalty(self, net, X, y, y_pred):
        return self.strength * sum((p**2).sum() for p in net.module_.parameters())


class AddConstantSample(Strategy):
    """Adds one all-ones sample of class 0 to every batch."""

    def extend_batch(self, net, X, y):
        return torch.cat([X, torch.ones_like(X[:1])]), torch.cat([y, y[:1] * 0])


class DoubleData(Strategy):
    """Trains every update on the call's data twice over."""

    def extend_data(self, net, X, y, is_update=True):
        return torch.cat([X, X]), torch.cat([y, y])


class BatchSizes(Callback):
    """A plain skorch callback: sees the batches through on_batch_begin."""

    def initialize(self):
        self.sizes_ = []
        return self

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        self.sizes_.append(len(batch[0]))


def clf(callbacks, **params):
    return ContinualClassifier(
        **{"max_epochs": 2, "random_state": 0, "callbacks": callbacks, **params}
    )


def named(est, name):
    return dict(est.net_.callbacks_)[name]


def test_update_hooks_see_fit_and_updates(digits):
    X, y = digits
    est = clf([Recorder()]).fit(X[:100], y[:100]).partial_fit(X[:30], y[:30])
    assert named(est, "recorder").calls_ == [
        ("begin", False, 100),
        ("end", False, 100),
        ("begin", True, 30),
        ("end", True, 30),
    ]


def test_user_callbacks_are_cloned_not_mutated(digits):
    X, y = digits
    mine = Recorder()
    est = clf([("rec", mine)]).fit(X[:100], y[:100])
    assert not hasattr(mine, "calls_")
    assert named(est, "rec") is not mine
    # fit clones again: learned state is reset
    est.partial_fit(X[:30], y[:30]).fit(X[:50], y[:50])
    assert named(est, "rec").calls_ == [("begin", False, 50), ("end", False, 50)]


def test_penalty_is_added_to_the_loss(digits):
    X, y = digits
    plain = clf([], lr=1e-2).fit(X[:200], y[:200])
    pulled = clf([PullToZero(strength=0.1)], lr=1e-2).fit(X[:200], y[:200])

    def norm(est):
        return sum(p.norm() ** 2 for p in est.net_.module_.parameters()).item()

    assert norm(pulled) < 0.5 * norm(plain)


def test_extend_batch_and_plain_skorch_callbacks(digits):
    X, y = digits
    est = clf([AddConstantSample(), BatchSizes()], batch_size=32, max_epochs=1).fit(
        X[:64], y[:64]
    )
    assert named(est, "batchsizes").sizes_ == [33, 33]


def test_extend_data_trains_on_more_but_consolidates_new_only(digits):
    X, y = digits
    est = clf([DoubleData(), Recorder(), BatchSizes()], batch_size=None, max_epochs=1)
    est.fit(X[:40], y[:40])
    assert named(est, "batchsizes").sizes_ == [80]
    assert named(est, "recorder").calls_ == [("begin", False, 80), ("end", False, 40)]


def test_callback_params_are_reachable_by_name(digits):
    X, y = digits
    est = clf([("pull", PullToZero()), Recorder(), Recorder(tag="y")])
    params = est.get_params()
    assert params["callbacks__pull__strength"] == 1.0
    assert params["callbacks__recorder-1__tag"] == "x"
    assert params["callbacks__recorder-2__tag"] == "y"
    est.set_params(**{"callbacks__pull__strength": 0.5, "callbacks__recorder-2": None})
    assert est.get_params()["callbacks__pull__strength"] == 0.5
    est.fit(X[:50], y[:50])
    assert named(est, "pull").strength == 0.5
    assert "recorder-2" not in dict(est.net_.callbacks_)  # None disables it
    with pytest.raises(ValueError, match="no callback named 'nope'"):
        est.set_params(callbacks__nope__x=1)


def test_replacing_a_callback_by_name(digits):
    est = clf([("pull", PullToZero())])
    est.set_params(callbacks__pull=PullToZero(strength=3.0))
    assert est.get_params()["callbacks__pull__strength"] == 3.0
    assert isinstance(est.callbacks[0], tuple)


def test_duplicate_callback_names_are_an_error(digits):
    X, y = digits
    with pytest.raises(ValueError, match="must be unique"):
        clf([("a", Recorder()), ("a", PullToZero())]).fit(X[:20], y[:20])


def test_regressor_strategies_see_float_targets():
    seen = {}

    class Peek(Strategy):
        def on_update_end(self, net, X=None, y=None, is_update=True, **kwargs):
            seen["y"] = y

    X = np.random.default_rng(0).normal(size=(40, 3))
    ContinualRegressor(max_epochs=1, callbacks=[Peek()]).fit(X, X[:, 0])
    assert seen["y"].dtype == torch.float32 and seen["y"].shape == (40, 1)
