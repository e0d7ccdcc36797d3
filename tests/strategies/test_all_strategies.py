"""Checks every strategy exported from ``sklearn_cl.strategies`` must pass.

Like skorch's ``tests/callbacks/test_all.py``: a new strategy is checked here
as soon as it is exported, with its default parameters, by the contract
test users run on their own strategies (``sklearn_cl.utils.check_strategy``)
and by the checks below, which it does not make.
"""

import numpy as np
import pytest

import sklearn_cl.strategies as strategies
from sklearn_cl import ContinualClassifier, Snapshots
from sklearn_cl.strategies import L2SP, Strategy
from sklearn_cl.utils import check_strategy

STRATEGIES = sorted(
    (
        obj
        for obj in (getattr(strategies, name) for name in strategies.__all__)
        if isinstance(obj, type) and issubclass(obj, Strategy) and obj is not Strategy
    ),
    key=lambda cls: cls.__name__,
)


@pytest.fixture(params=STRATEGIES, ids=lambda cls: cls.__name__)
def strategy(request):
    return request.param()


def test_the_strategies_are_found():
    names = {cls.__name__ for cls in STRATEGIES}
    assert {"Replay", "Rehearsal", "Freeze", "Augment"} <= names


def test_check_strategy(strategy):
    check_strategy(strategy)


def test_check_strategy_on_snapshots():
    check_strategy(Snapshots())


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


# ----------------------------------------------------------------------
# check_strategy finds the faults it names
# ----------------------------------------------------------------------
class NoKwargs(Strategy):
    def penalty(self, net, X, y, y_pred):
        return None


class SetsStateInInit(Strategy):
    def __init__(self, strength=1.0):
        self.strength = strength
        self.seen_ = 0


class UndeclaredState(Strategy):
    def on_update_end(self, net, X=None, y=None, **kwargs):
        self.calls_ = getattr(self, "calls_", 0) + 1


class LiveStateDict(Strategy):
    """Its ``state_dict`` hands out the live list rather than a copy, so
    the snapshot taken before an update changes with it."""

    _learned_state = ("sums_",)

    def initialize(self):
        super().initialize()
        self.sums_ = []
        return self

    def state_dict(self):
        return {"sums_": self.sums_}

    def on_update_end(self, net, X=None, y=None, **kwargs):
        self.sums_.append(float(X.sum()))


class KeepsTransientState(Strategy):
    _transient_state = ("anchor_",)

    def on_update_begin(self, net, X=None, y=None, *, context, **kwargs):
        self.anchor_ = [p.detach().clone() for p in context.module.parameters()]

    def _clear_transient_state(self):
        """Broken on purpose: the transient state outlives the call."""


@pytest.mark.parametrize(
    ("strategy", "check", "match"),
    [
        (NoKwargs(), "check_hook_signatures", "penalty takes no \\*\\*kwargs"),
        (SetsStateInInit(), "check_parameters", r"__init__ sets \['seen_'\]"),
        (UndeclaredState(), "check_fit_and_update", r"\['calls_'\] are set"),
        (
            KeepsTransientState(),
            "check_fit_and_update",
            r"transient state \['anchor_'\] is still set",
        ),
        (
            LiveStateDict(),
            "check_rollback",
            r"changed the strategy's state_dict\(\)",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_check_strategy_names_the_fault(strategy, check, match):
    with pytest.raises(AssertionError, match=f"{type(strategy).__name__}.*{check}"):
        check_strategy(strategy)
    with pytest.raises(AssertionError, match=match):
        check_strategy(strategy)


def test_check_strategy_needs_a_strategy():
    with pytest.raises(TypeError, match="needs an instance of"):
        check_strategy(L2SP)
