"""The guarantees a small update keeps while it does as little as it can.

``partial_fit`` reuses its rollback storage, checks finiteness with one sum,
re-checks parameters by identity first, seeds torch's RNG without
``fork_rng`` and sums the epoch's losses once (see
``benchmarks/bench_update_profile.py``); each test here fails if one of
those shortcuts loses a guarantee.
"""

import math

import numpy as np
import pytest
import torch
from helpers import assert_same_state, model_state

from sklearn_cl import ContinualClassifier
from sklearn_cl._transaction import is_finite
from sklearn_cl.strategies import Strategy


class FailWhen(Strategy):
    """Raises at the end of an update (after its steps) while ``fail``."""

    def __init__(self, fail=False):
        self.fail = fail

    def on_update_end(self, net, X=None, y=None, **kwargs):
        if self.fail:
            raise RuntimeError("update failed on purpose")


class BatchLosses(Strategy):
    """Records each training batch's loss and size, and the context's
    ``n_outputs``, in the last call."""

    _learned_state = ("losses_", "sizes_", "n_outputs_")

    def on_update_begin(self, net, X=None, y=None, *, context, **kwargs):
        self.losses_, self.sizes_ = [], []
        self.n_outputs_ = context.n_outputs

    def on_batch_end(self, net, batch=None, training=False, loss=None, **kwargs):
        if training:
            self.losses_.append(loss.item())
            self.sizes_.append(len(batch[0]))


def small(**params):
    params = {"hidden_layer_sizes": (16,), "max_epochs": 2, "random_state": 0, **params}
    return ContinualClassifier(**params)


def test_finiteness_check_finds_a_nan_or_inf_in_any_parameter(digits):
    X, y = digits
    net = small().fit(X[:200], y[:200]).net_
    assert is_finite(net, 0.5)
    assert not is_finite(net, math.nan)
    for parameter in net.module_.parameters():
        for bad in (math.nan, math.inf, -math.inf):
            kept = parameter.detach().flatten()[-1].item()
            with torch.no_grad():
                parameter.view(-1)[-1] = bad
            assert not is_finite(net, 0.5)
            with torch.no_grad():
                parameter.view(-1)[-1] = kept
    assert is_finite(net, 0.5)


def test_large_finite_weights_are_not_taken_for_non_finite(digits):
    # their float32 sum overflows to inf: the check must look closer
    X, y = digits
    net = small().fit(X[:200], y[:200]).net_
    weight = next(net.module_.parameters())
    with torch.no_grad():
        weight.view(-1)[:4] = 3e38
    assert math.isinf(weight.detach().sum().item())
    assert is_finite(net, 0.5)


class LargeState(Strategy):
    """Holds a learned tensor whose float32 sum overflows, all of it finite."""

    _learned_state = ("big_",)

    def on_update_end(self, net, X=None, y=None, **kwargs):
        self.big_ = torch.full((4,), 3e38)


def test_large_finite_strategy_state_is_not_taken_for_non_finite(digits):
    X, y = digits
    clf = small(callbacks=[("big", LargeState())]).fit(X[:200], y[:200])
    clf.partial_fit(X[200:300], y[200:300])  # no NonFiniteUpdateError
    assert clf.n_updates_ == 1
    assert math.isinf(dict(clf.net_.callbacks_)["big"].big_.sum().item())


def test_rollback_restores_weights_and_optimizer_state_every_time(digits):
    # the snapshot storage is reused by each update: a rollback must put
    # back this call's state, and the next update must train from it as a
    # model that never failed does
    X, y = digits
    est = small(callbacks=[("fail", FailWhen())]).fit(X[:300], y[:300])
    reference = small(callbacks=[("fail", FailWhen())]).fit(X[:300], y[:300])
    for start in (300, 400):
        batch = X[start : start + 100], y[start : start + 100]
        est.partial_fit(*batch)
        reference.partial_fit(*batch)
        est.set_params(callbacks__fail__fail=True)
        for _ in range(2):
            before = model_state(est)
            with pytest.raises(RuntimeError, match="on purpose"):
                est.partial_fit(X[500:600], y[500:600])
            assert_same_state(before, model_state(est))
        est.set_params(callbacks__fail__fail=False)
    est.partial_fit(X[600:700], y[600:700])
    reference.partial_fit(X[600:700], y[600:700])
    np.testing.assert_array_equal(est.predict_proba(X), reference.predict_proba(X))


def test_failed_update_leaves_the_global_torch_rng_alone(digits):
    X, y = digits
    est = small(callbacks=[("fail", FailWhen())]).fit(X[:200], y[:200])
    est.set_params(callbacks__fail__fail=True)
    state = torch.get_rng_state()
    with pytest.raises(RuntimeError, match="on purpose"):
        est.partial_fit(X[200:300], y[200:300])
    assert torch.equal(state, torch.get_rng_state())


def test_invalid_parameter_set_after_an_equal_one_is_caught(digits):
    X, y = digits
    est = small(update_lr=1e-3).fit(X[:200], y[:200])
    est.set_params(update_lr=float("1e-3"))  # equal value, new object
    est.partial_fit(X[200:300], y[200:300])
    est.set_params(update_lr=float("1e-3"))
    est.partial_fit(X[300:400], y[300:400])
    before = model_state(est)
    est.update_lr = -1.0  # assigned, not through set_params
    with pytest.raises(ValueError, match="update_lr"):
        est.partial_fit(X[400:500], y[400:500])
    assert_same_state(before, model_state(est))


def test_network_parameter_assigned_after_fit_is_caught(digits):
    X, y = digits
    est = small().fit(X[:200], y[:200])
    est.partial_fit(X[200:300], y[200:300])
    est.activation = "tanh"
    with pytest.raises(ValueError, match="define the network"):
        est.partial_fit(X[300:400], y[300:400])
    est.activation = "relu"
    est.partial_fit(X[300:400], y[300:400])


def test_routed_parameter_added_after_fit_is_caught(digits):
    X, y = digits
    est = small().fit(X[:200], y[:200])
    est.set_params(module__dropout=0.5)
    with pytest.raises(ValueError, match="module__dropout"):
        est.partial_fit(X[200:300], y[200:300])


def test_epoch_loss_is_the_batch_losses_weighted_by_size(digits):
    # 70 samples in batches of 32: 32, 32 and 6
    X, y = digits
    recorder = ("losses", BatchLosses())
    est = small(batch_size=32, callbacks=[recorder]).fit(X[:200], y[:200])
    est.partial_fit(X[200:270], y[200:270])
    live = dict(est.net_.callbacks_)["losses"]
    assert live.sizes_ == [32, 32, 6]
    expected = np.dot(live.losses_, live.sizes_) / 70
    assert est.loss_curve_[-1] == pytest.approx(expected, rel=1e-6)
    assert live.n_outputs_ == 10


def test_one_batch_epoch_loss_is_that_batch_loss(digits):
    X, y = digits
    est = small(batch_size=None, callbacks=[("losses", BatchLosses())])
    est.fit(X[:200], y[:200]).partial_fit(X[200:250], y[200:250])
    live = dict(est.net_.callbacks_)["losses"]
    assert live.sizes_ == [50]
    assert est.loss_curve_[-1] == pytest.approx(live.losses_[0], rel=1e-7)


def test_read_only_input_is_neither_written_nor_refused(digits):
    X, y = digits
    X_new, y_new = X[200:300].copy(), y[200:300].copy()
    X_new.setflags(write=False)
    y_new.setflags(write=False)
    kept = X_new.copy()
    est = small().fit(X[:200], y[:200]).partial_fit(X_new, y_new)
    np.testing.assert_array_equal(X_new, kept)
    assert est.n_updates_ == 1


def test_callback_added_to_a_model_fitted_without_any_acts(digits):
    X, y = digits
    est = small().fit(X[:200], y[:200])
    est.partial_fit(X[200:300], y[200:300])
    est.set_params(callbacks=[("losses", BatchLosses())])
    est.partial_fit(X[300:400], y[300:400])
    assert len(dict(est.net_.callbacks_)["losses"].sizes_) == 4


def test_nan_input_is_refused_before_training(digits):
    X, y = digits
    est = small().fit(X[:200], y[:200])
    before = model_state(est)
    bad = X[200:300].copy()
    bad[5, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.partial_fit(bad, y[200:300])
    assert_same_state(before, model_state(est))


@pytest.mark.parametrize(
    "classes, unknown",
    [([10, 12, 15], 11), ([10, 12, 15], 16), ([10, 12, 15], 9), ([-3, -1], -2)],
)
def test_a_label_outside_the_classes_is_never_encoded_as_one(digits, classes, unknown):
    # the lookup table has gaps (-1) and bounds; both are checked
    X, y = digits
    labels = np.asarray(classes)[y[:200] % len(classes)]
    est = small().fit(X[:200], labels)
    new = labels.copy()
    new[7] = unknown
    with pytest.raises(ValueError, match=rf"new labels \[{unknown}\]"):
        est.partial_fit(X[:200], new)
    assert est.n_updates_ == 0
    est.partial_fit(X[:200], labels.astype(np.uint8 if min(classes) >= 0 else np.int8))
    assert est.n_updates_ == 1
