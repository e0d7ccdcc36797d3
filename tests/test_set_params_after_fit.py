"""A parameter acts from the next call after it is set.

Update parameters and strategy parameters set on a fitted model take effect
at the next ``partial_fit``; parameters that define the network make
``partial_fit`` say to call ``fit``.
"""

import numpy as np
import pytest
import torch
from helpers import assert_same_state, model_state
from sklearn.base import clone
from skorch.callbacks import Callback, EpochScoring

from sklearn_cl import AcceptanceCheck, ContinualClassifier, ContinualRegressor
from sklearn_cl.strategies import EWC, Replay, Strategy


class BatchSizes(Strategy):
    """Records the size of every training batch of the last call."""

    _learned_state = ("sizes_",)

    def on_update_begin(self, net, **kwargs):
        self.sizes_ = []

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if training:
            self.sizes_.append(len(batch[0]))


def live(est, name):
    return dict(est.net_.callbacks_).get(name)


@pytest.fixture
def fitted(digits):
    X, y = digits
    est = ContinualClassifier(
        hidden_layer_sizes=(16,),
        max_epochs=2,
        random_state=0,
        callbacks=[("sizes", BatchSizes()), ("replay", Replay(buffer_size=50))],
    )
    return est.fit(X[:300], y[:300]), X, y


def update(est, X, y):
    return est.partial_fit(X[300:400], y[300:400])


def test_batch_size(fitted):
    est, X, y = fitted
    est.set_params(batch_size=60)
    update(est, X, y)
    new = [s for s in live(est, "sizes").sizes_]
    assert new == [120, 80]  # each batch doubled by replay
    est.set_params(batch_size=None)
    update(est, X, y)
    assert len(live(est, "sizes").sizes_) == 1


def test_update_epochs(fitted):
    est, X, y = fitted
    est.set_params(update_epochs=3)
    assert update(est, X, y).n_iter_ == 3


def test_update_lr_and_decay(fitted):
    est, X, y = fitted
    est.set_params(update_lr=0.02, update_lr_decay=0.5)
    update(est, X, y)
    assert est.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(0.02)
    update(est, X, y)
    assert est.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(0.01)


def test_optimizer_arguments(fitted):
    est, X, y = fitted
    est.set_params(optimizer__weight_decay=0.5)
    update(est, X, y)
    assert est.net_.optimizer_.param_groups[0]["weight_decay"] == 0.5


def test_on_nonfinite(fitted):
    est, X, y = fitted
    est.set_params(update_lr=1e30, on_nonfinite="warn")
    with pytest.warns(UserWarning, match="non-finite"):
        update(est, X, y)
    assert est.rejected_updates_


def test_acceptance_check(fitted):
    est, X, y = fitted

    class Declining:
        """A score that drops at every call."""

        def __init__(self):
            self.calls = 0

        def __call__(self, estimator, X, y):
            self.calls += 1
            return -self.calls

    est.set_params(acceptance_check=AcceptanceCheck(X, y, scoring=Declining()))
    update(est, X, y)
    assert est.n_updates_ == 0 and est.rejected_updates_


def test_strategy_parameter_keeps_learned_state(fitted):
    est, X, y = fitted
    stored = live(est, "replay").buffer_.X.copy()
    est.set_params(callbacks__replay__buffer_size=10)
    assert live(est, "replay").buffer_size == 50  # not before the next call
    update(est, X, y)
    replay = live(est, "replay")
    assert replay.buffer_size == 10 and len(replay.buffer_) == 10
    # what it keeps comes from what it had and the new batch, not from nothing
    kept = replay.buffer_.X
    from_before = [(row == stored).all(axis=1).any() for row in kept]
    assert any(from_before)


def test_strategy_parameter_acts_on_the_next_penalty(digits):
    X, y = digits
    est = ContinualClassifier(
        hidden_layer_sizes=(16,), random_state=0, callbacks=[("ewc", EWC(lambda_=1.0))]
    ).fit(X[:300], y[:300])
    fisher = live(est, "ewc").fisher_
    est.set_params(callbacks__ewc__lambda_=1e6)
    update(est, X, y)
    assert live(est, "ewc").lambda_ == 1e6
    assert live(est, "ewc").n_consolidations_ == 2  # the first one was kept
    assert all(not torch.equal(fisher[k], live(est, "ewc").fisher_[k]) for k in fisher)


def test_added_callback_starts_fresh_and_removed_one_stops(fitted):
    est, X, y = fitted
    est.set_params(callbacks=[("sizes", BatchSizes()), ("ewc", EWC())])
    update(est, X, y)
    assert live(est, "replay") is None
    assert live(est, "ewc").n_consolidations_ == 1  # only this update's
    assert live(est, "sizes").sizes_ == [32] * 3 + [4]  # no replayed samples


def test_disabling_a_callback_by_name(fitted):
    est, X, y = fitted
    est.set_params(callbacks__replay=None)
    update(est, X, y)
    assert live(est, "replay") is None


def test_added_skorch_callback_acts(fitted):
    est, X, y = fitted
    score = ("acc", EpochScoring("accuracy", on_train=True, name="acc"))
    est.set_params(callbacks=[*est.callbacks, score])
    update(est, X, y)
    assert "acc" in est.net_.history[-1]


def test_a_failed_update_keeps_the_old_callbacks(fitted):
    class Fails(Callback):
        def on_epoch_end(self, net, **kwargs):
            raise RuntimeError("boom")

    est, X, y = fitted
    before = model_state(est)
    names = [n for n, _ in est.net_.callbacks_]
    est.set_params(callbacks=[*est.callbacks, ("fails", Fails())])
    with pytest.raises(RuntimeError, match="boom"):
        update(est, X, y)
    assert [n for n, _ in est.net_.callbacks_] == names
    assert_same_state(before, model_state(est))


def test_early_stopping_parameters(fitted):
    est, X, y = fitted
    est.set_params(early_stopping=True, update_epochs=50, n_iter_no_change=1, tol=1.0)
    update(est, X, y)
    assert est.n_iter_ == 2 and est.validation_scores_ is not None
    est.set_params(early_stopping=False)
    update(est, X, y)
    assert est.n_iter_ == 50 and est.validation_scores_ is None


def test_train_split(fitted):
    est, X, y = fitted
    est.set_params(train_split=0.5)
    update(est, X, y)
    assert "valid_loss" in est.net_.history[-1]
    assert len(live(est, "sizes").sizes_) == 2  # 50 training samples, replay added


def test_class_weight(fitted):
    est, X, y = fitted
    a = clone(est).fit(X[:300], y[:300])
    b = clone(est).fit(X[:300], y[:300])
    b.set_params(class_weight={0: 10.0})
    update(a, X, y), update(b, X, y)
    assert not np.allclose(a.predict_proba(X[:50]), b.predict_proba(X[:50]))


def test_verbose(fitted, capsys):
    est, X, y = fitted
    est.set_params(verbose=1)
    update(est, X, y)
    assert "update 1" in capsys.readouterr().out


@pytest.mark.parametrize(
    "param, value",
    [
        ("hidden_layer_sizes", (8,)),
        ("activation", "tanh"),
        ("dropout", 0.5),
        ("criterion", torch.nn.NLLLoss),
        ("optimizer", torch.optim.SGD),
        ("module", torch.nn.Linear),
        ("module__hidden_layer_sizes", (4, 4)),
        ("criterion__label_smoothing", 0.1),
        ("device", "meta"),
    ],
)
def test_network_parameters_need_a_new_fit(fitted, param, value):
    est, X, y = fitted
    before = model_state(est)
    est.set_params(**{param: value})
    with pytest.raises(
        ValueError, match=rf"\['{param}'\] define the network.*Call fit"
    ):
        update(est, X, y)
    assert_same_state(before, model_state(est))


def test_target_scaling_needs_a_new_fit(digits):
    X, _ = digits
    y = X[:300, :5].sum(axis=1)
    reg = ContinualRegressor(hidden_layer_sizes=(8,), max_epochs=1).fit(X[:300], y)
    reg.set_params(target_scaling=None)
    with pytest.raises(ValueError, match="target_scaling.*Call fit"):
        reg.partial_fit(X[:300], y)


def test_setting_a_network_parameter_back_is_fine(fitted):
    est, X, y = fitted
    est.set_params(hidden_layer_sizes=(8,))
    est.set_params(hidden_layer_sizes=(16,))
    update(est, X, y)
    assert est.n_updates_ == 1


def test_a_model_with_a_changed_network_parameter_still_saves_and_loads(fitted):
    import pickle

    from sklearn_cl.persistence import load, save

    est, X, y = fitted
    est.set_params(hidden_layer_sizes=(8,))
    for loaded in (pickle.loads(pickle.dumps(est)), _saved_and_loaded(est, save, load)):
        assert loaded.hidden_layer_sizes == (8,)
        np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
        with pytest.raises(ValueError, match="hidden_layer_sizes.*Call fit"):
            update(loaded, X, y)
        assert loaded.fit(X[:300], y[:300]).net_.module_.layers[0].out_features == 8


def _saved_and_loaded(est, save, load):
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "model.skcl"
    save(est, path)
    return load(path, trusted=[BatchSizes])


# an invalid value of each parameter that acts from the next call: listing
# them all makes a new parameter fail here until it is checked or declared
# network-defining
INVALID_UPDATE_VALUES = {
    "lr": -1.0,
    "max_epochs": 0,
    "batch_size": 0,
    "update_epochs": 0,
    "update_lr": -1.0,
    "update_lr_decay": 2.0,
    "train_split": 1.5,
    "early_stopping": "yes",
    "validation_fraction": 1.5,
    "n_iter_no_change": 0,
    "tol": -1.0,
    "callbacks": "replay",
    "on_nonfinite": "ignore",
    "acceptance_check": "strict",
    "random_state": "seed",
    "verbose": "loud",
    "allow_new_classes": "yes",
    "class_weight": 3,
}


def test_every_parameter_is_checked_by_updates_or_defines_the_network():
    est = ContinualClassifier()
    update_params = set(est._update_param_names())
    assert update_params == set(INVALID_UPDATE_VALUES)
    assert update_params | set(est._network_param_names) == set(
        est.get_params(deep=False)
    )


@pytest.mark.parametrize("param", sorted(INVALID_UPDATE_VALUES))
def test_an_invalid_update_parameter_is_an_error_at_the_next_update(fitted, param):
    est, X, y = fitted
    before = model_state(est)
    est.set_params(**{param: INVALID_UPDATE_VALUES[param]})
    with pytest.raises(ValueError, match=f"'{param}' parameter of ContinualClassifier"):
        update(est, X, y)
    assert_same_state(before, model_state(est))
