"""States that used to brick a model or mislead its user, each reproduced.

- extreme but finite inputs made EWC's Fisher NaN after the finiteness
  check, and every later update was then rejected;
- ``AcceptanceCheck`` accepted updates whenever a score or the tolerance
  was NaN;
- float64 input beyond float32's range gave NaN probabilities silently;
- a string or boolean label among integer classes was silently converted;
- a second ``KeyboardInterrupt`` inside a rollback left weights half-restored;
- ``UpdateEnsemble``'s memory kept the samples of an interrupted step.
"""

from __future__ import annotations

import os
import signal
import warnings

import numpy as np
import pytest
from helpers import assert_same_state, model_state

from sklearn_cl import (
    AcceptanceCheck,
    ContinualClassifier,
    ContinualRegressor,
    NonFiniteUpdateError,
    UpdateEnsemble,
    UpdateRejectedWarning,
)
from sklearn_cl.strategies import EWC, Rehearsal, Replay, Strategy


def _fitted(digits, **params):
    X, y = digits
    params = {"hidden_layer_sizes": (16,), "max_epochs": 2, "random_state": 0, **params}
    return ContinualClassifier(**params).fit(X[:300], y[:300])


def test_extreme_inputs_cannot_brick_ewc(digits):
    X, y = digits
    clf = _fitted(digits, callbacks=[("ewc", EWC())], on_nonfinite="warn")
    before = model_state(clf)
    with pytest.warns(UpdateRejectedWarning, match="non-finite"):
        clf.partial_fit(X[300:350] * 1e20, y[300:350])
    after = model_state(clf)
    for state in (before, after):
        state.pop("rejected_updates_")
    assert_same_state(before, after)
    # the Fisher stayed finite, so later updates are accepted
    for start in range(350, 750, 20):
        clf.partial_fit(X[start : start + 20], y[start : start + 20])
    assert clf.n_updates_ == 20
    assert [r["reason"] for r in clf.rejected_updates_] == [
        "non-finite loss or weights"
    ]


class NonFiniteState(Strategy):
    """Consolidates a NaN into its state, as EWC's Fisher did."""

    _learned_state = ("value_",)

    def initialize(self):
        self.value_ = np.zeros(3)
        return self

    def on_update_end(self, net, X=None, y=None, is_update=True, **kwargs):
        if is_update:
            self.value_ = np.full(3, np.nan)


def test_non_finite_strategy_state_rolls_the_call_back(digits):
    X, y = digits
    clf = _fitted(digits, callbacks=[("bad", NonFiniteState())])
    before = model_state(clf)
    with pytest.raises(NonFiniteUpdateError, match="rolled back"):
        clf.partial_fit(X[300:350], y[300:350])
    assert_same_state(before, model_state(clf))
    np.testing.assert_array_equal(dict(clf.net_.callbacks_)["bad"].value_, 0.0)


def _nan_scorer(estimator, X, y):
    return float("nan")


@pytest.mark.parametrize(
    ("check_params", "reason"),
    [
        ({"scoring": _nan_scorer}, "validation score is NaN"),
        ({"tolerance": float("nan")}, "tolerance is NaN"),
    ],
)
def test_nan_in_the_acceptance_check_rejects_the_update(digits, check_params, reason):
    X, y = digits
    check = AcceptanceCheck(X[1500:], y[1500:], **check_params)
    clf = _fitted(digits, acceptance_check=check, update_lr=1.0)
    before = model_state(clf)
    clf.partial_fit(X[300:400], y[300:400])
    assert clf.n_updates_ == 0
    assert clf.rejected_updates_[-1]["reason"] == reason
    after = model_state(clf)
    after.pop("rejected_updates_")
    before.pop("rejected_updates_")
    assert_same_state(before, after)


def test_acceptance_check_still_accepts_good_updates(digits):
    X, y = digits
    check = AcceptanceCheck(X[1500:], y[1500:], tolerance=1.0)
    clf = _fitted(digits, acceptance_check=check)
    clf.partial_fit(X[300:400], y[300:400])
    assert clf.n_updates_ == 1 and clf.rejected_updates_ == []


@pytest.mark.parametrize("method", ["fit", "partial_fit", "predict", "predict_proba"])
def test_float64_beyond_float32_is_a_clear_error(digits, method):
    X, y = digits
    clf = _fitted(digits)
    before = model_state(clf)
    huge = X[:20].astype(np.float64) * 1e39 + 1e39
    with pytest.raises(ValueError, match="beyond float32's range.*Scale the inputs"):
        if method in ("fit", "partial_fit"):
            getattr(clf, method)(huge, y[:20])
        else:
            getattr(clf, method)(huge)
    assert_same_state(before, model_state(clf))
    with pytest.raises(ValueError, match="beyond float32's range"):
        clf.score(huge, y[:20])


def test_regression_targets_beyond_float32(digits):
    X, y = digits
    with pytest.raises(ValueError, match="y holds values beyond float32's range"):
        ContinualRegressor(max_epochs=1).fit(X[:20], np.full(20, 1e39))


@pytest.mark.parametrize(
    ("labels", "kind"),
    [
        (lambda y: np.array(["0"] * len(y)), "string"),
        (lambda y: y % 2 == 0, "bool"),
        (lambda y: np.array([0, "a"] * (len(y) // 2), dtype=object), "mixed"),
    ],
    ids=["string", "bool", "mixed"],
)
def test_label_kinds_cannot_mix(digits, labels, kind):
    X, y = digits
    clf = _fitted(digits, allow_new_classes=True)
    before = model_state(clf)
    with pytest.raises(ValueError, match=f"holds {kind} labels.*number labels"):
        clf.partial_fit(X[300:320], labels(y[300:320]))
    assert_same_state(before, model_state(clf))
    assert clf.predict(X[:5]).dtype.kind == "i"


class InterruptTwice(Strategy):
    """Raises KeyboardInterrupt in training; a second SIGINT arrives while
    its state is being restored by the rollback."""

    _learned_state = ("count_",)

    def initialize(self):
        self.count_ = 0
        self.armed = False
        return self

    def penalty(self, net, X, y, y_pred):
        self.count_ += 1
        if self.armed:
            raise KeyboardInterrupt("first interrupt")

    def load_state_dict(self, state):
        if self.armed:
            self.armed = False
            os.kill(os.getpid(), signal.SIGINT)  # lands inside the rollback
        return super().load_state_dict(state)


def test_a_second_interrupt_cannot_break_a_rollback(digits):
    X, y = digits
    # the strategy is restored first, the weights after it
    clf = _fitted(digits, callbacks=[("twice", InterruptTwice())])
    before = model_state(clf)
    dict(clf.net_.callbacks_)["twice"].armed = True
    with pytest.raises(KeyboardInterrupt):
        clf.partial_fit(X[300:400], y[300:400])
    assert_same_state(before, model_state(clf))


def test_ensemble_memory_is_part_of_the_transaction(digits, monkeypatch):
    X, y = digits
    ensemble = UpdateEnsemble(
        ContinualClassifier(hidden_layer_sizes=(8,), max_epochs=1, random_state=0),
        data="old_and_new",
        memory_size=500,
        random_state=0,
    ).fit(X[:200], y[:200])
    memory = ensemble.memory_
    stored = (memory.X.copy(), memory.y.copy(), memory.n_seen)
    add = type(memory).add

    def add_then_interrupt(self, *args):
        add(self, *args)
        raise KeyboardInterrupt

    monkeypatch.setattr(type(memory), "add", add_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        ensemble.partial_fit(X[200:300], y[200:300])
    monkeypatch.undo()
    assert ensemble.memory_.n_seen == stored[2] == 200
    np.testing.assert_array_equal(ensemble.memory_.X, stored[0])
    np.testing.assert_array_equal(ensemble.memory_.y, stored[1])
    assert len(ensemble.estimators_) == 1


@pytest.mark.parametrize("strategy", [Rehearsal, Replay], ids=["rehearsal", "replay"])
def test_failed_update_leaves_the_memory_as_it_was(digits, strategy):
    X, y = digits
    clf = _fitted(digits, callbacks=[("memory", strategy())], on_nonfinite="warn")
    clf.partial_fit(X[300:400], y[300:400])
    before = model_state(clf)
    buffer = dict(clf.net_.callbacks_)["memory"].buffer_
    stored = buffer.X.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UpdateRejectedWarning)
        clf.set_params(update_lr=1e30).partial_fit(X[400:500], y[400:500])
    assert clf.rejected_updates_
    after = model_state(clf)
    for state in (before, after):
        state.pop("rejected_updates_")
    assert_same_state(before, after)
    restored = dict(clf.net_.callbacks_)["memory"].buffer_
    np.testing.assert_array_equal(restored.X, stored)
    # and the next update appends after the restored samples
    clf.set_params(update_lr=None).partial_fit(X[500:600], y[500:600])
    assert restored.n_seen == 500
