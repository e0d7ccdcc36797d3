"""All-or-nothing updates: failures, non-finite losses and rejections undo."""

import numpy as np
import pytest
import torch
from helpers import assert_same_state, model_state
from sklearn.exceptions import NotFittedError

from sklearn_cl import (
    AcceptanceCheck,
    ContinualClassifier,
    NonFiniteUpdateError,
    UpdateRejectedWarning,
)
from sklearn_cl.strategies import Strategy


class FailAfter(Strategy):
    """Raises ``error`` on the n-th training batch of an update."""

    _learned_state = ("seen_",)

    def __init__(self, n=3, error=RuntimeError):
        self.n = n
        self.error = error

    def initialize(self):
        self.seen_ = 0
        return self

    def penalty(self, net, X, y, y_pred):
        self.seen_ += 1
        if net.history and self.seen_ > self.n:
            raise self.error("strategy failed")


class NanPenalty(Strategy):
    def __init__(self, active=False):
        self.active = active

    def penalty(self, net, X, y, y_pred):
        return torch.tensor(float("nan")) if self.active else None


def fitted(callbacks, digits, **params):
    X, y = digits
    est = ContinualClassifier(
        max_epochs=2, random_state=0, callbacks=callbacks, **params
    )
    return est.fit(X[:300], y[:300])


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failing_strategy_rolls_back_the_update(error, digits):
    X, y = digits
    est = fitted([FailAfter(n=1000, error=error)], digits)
    dict(est.net_.callbacks_)["failafter"].n = 1
    before = model_state(est)
    with pytest.raises(error, match="strategy failed"):
        est.partial_fit(X[300:500], y[300:500])
    assert_same_state(before, model_state(est))


def test_nonfinite_loss_raises_and_rolls_back(digits):
    X, y = digits
    est = fitted([("nan", NanPenalty())], digits)
    dict(est.net_.callbacks_)["nan"].active = True
    before = model_state(est)
    with pytest.raises(
        NonFiniteUpdateError, match="rolled back.*smaller learning rate"
    ):
        est.partial_fit(X[300:400], y[300:400])
    assert_same_state(before, model_state(est))


def test_nonfinite_loss_can_warn_and_keep_serving(digits):
    X, y = digits
    est = fitted([("nan", NanPenalty())], digits, on_nonfinite="warn")
    dict(est.net_.callbacks_)["nan"].active = True
    before = model_state(est)
    predictions = est.predict(X)
    with pytest.warns(UpdateRejectedWarning, match="rolled back"):
        est.partial_fit(X[300:400], y[300:400])
    np.testing.assert_array_equal(est.predict(X), predictions)
    after = model_state(est)
    assert after.pop("rejected_updates_")[0]["reason"] == "non-finite loss or weights"
    before.pop("rejected_updates_")
    assert_same_state(before, after)


def test_nonfinite_first_training_is_an_error_even_with_warn(digits):
    X, y = digits
    est = ContinualClassifier(
        max_epochs=1, on_nonfinite="warn", callbacks=[NanPenalty(active=True)]
    )
    with pytest.raises(NonFiniteUpdateError):
        est.partial_fit(X[:50], y[:50], classes=np.arange(10))
    with pytest.raises(NotFittedError):
        est.predict(X[:2])


def test_failed_update_undoes_grown_classes(digits):
    X, y = digits
    low = y < 5
    est = ContinualClassifier(
        max_epochs=2,
        random_state=0,
        allow_new_classes=True,
        callbacks=[FailAfter(n=1000)],
    ).fit(X[low][:300], y[low][:300])
    dict(est.net_.callbacks_)["failafter"].n = 1
    before = model_state(est)
    with pytest.raises(RuntimeError):
        est.partial_fit(X[:200], y[:200])
    assert_same_state(before, model_state(est))
    assert est.net_.module_.layers[-1].out_features == 5
    # and the next update (strategy fixed) grows as usual
    dict(est.net_.callbacks_)["failafter"].n = 10**6
    est.partial_fit(X[:200], y[:200])
    assert est.classes_.tolist() == list(range(10))


def test_acceptance_check_rejects_a_harmful_update(digits):
    X, y = digits
    check = AcceptanceCheck(X[1200:], y[1200:], tolerance=0.01)
    est = ContinualClassifier(
        max_epochs=10, random_state=0, update_lr=0.5, acceptance_check=check
    ).fit(X[:1000], y[:1000])
    before = model_state(est)
    est.partial_fit(X[1000:1100], y[1000:1100])
    after = model_state(est)
    (record,) = after.pop("rejected_updates_")
    assert record["after"] < record["before"] - 0.01
    before.pop("rejected_updates_")
    assert_same_state(before, after)
    # a gentle update passes the same check
    est.set_params(update_lr=1e-4).partial_fit(X[1000:1100], y[1000:1100])
    assert est.n_updates_ == 1 and len(est.rejected_updates_) == 1
