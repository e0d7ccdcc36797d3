"""L2SP: the penalty towards the weights at the start of each update.

Its learning quality is checked beside LwF's in ``test_lwf.py`` (an update
on a batch that lacks half of the classes).
"""

import numpy as np
import pytest
import torch
from contexts import context_of

from sklearn_cl import ContinualClassifier, ContinualRegressor
from sklearn_cl.strategies import L2SP


def classifier(callbacks, **params):
    defaults = dict(
        hidden_layer_sizes=(16,), max_epochs=3, update_epochs=3, random_state=0
    )
    return ContinualClassifier(callbacks=callbacks, **{**defaults, **params})


def l2sp_of(est):
    return dict(est.net_.callbacks_)["l2sp"]


def flat_weights(est):
    return torch.cat([p.detach().reshape(-1) for p in est.net_.module_.parameters()])


@pytest.mark.parametrize(
    "norm, formula",
    [
        ("l2", lambda d: 0.5 * 0.3 * (d**2).sum()),
        ("l1", lambda d: 0.3 * d.abs().sum()),
    ],
)
def test_penalty_formula(digits, norm, formula):
    X, y = digits
    est = classifier([("l2sp", L2SP(alpha=0.3, norm=norm))]).fit(X[:100], y[:100])
    strategy, net = l2sp_of(est), est.net_
    start = flat_weights(est)
    context = context_of(net)
    strategy.on_update_begin(net, X=None, y=None, context=context)
    assert strategy.penalty(net, None, None, None, context=context).item() == 0.0
    with torch.no_grad():
        for p in net.module_.parameters():
            p.add_(0.01 * torch.randn_like(p))
    value = strategy.penalty(net, None, None, None, context=context)
    torch.testing.assert_close(value, formula(flat_weights(est) - start))
    value.backward()  # the penalty is differentiable in the weights
    assert all(p.grad is not None for p in net.module_.parameters())


def test_anchor_exists_only_during_updates(digits):
    X, y = digits
    seen = []

    class Spy(L2SP):
        def penalty(self, net, X, y, y_pred, **kwargs):
            seen.append(self.anchor_ is not None)
            return super().penalty(net, X, y, y_pred, **kwargs)

    est = classifier([("l2sp", Spy())], max_epochs=1, update_epochs=1)
    est.fit(X[:64], y[:64])
    assert seen == [False, False]  # fit: no anchor, no penalty
    est.partial_fit(X[64:128], y[64:128])
    assert seen[2:] == [True, True]
    assert l2sp_of(est).anchor_ is None


@pytest.mark.parametrize("norm", ["l2", "l1"])
def test_stronger_alpha_moves_the_weights_less(digits, norm):
    X, y = digits
    distances = []
    for alpha in (0.0, 0.1, 10.0):
        est = classifier([("l2sp", L2SP(alpha=alpha, norm=norm))], update_epochs=10)
        est.fit(X[:300], y[:300])
        start = flat_weights(est)
        est.partial_fit(X[300:400], y[300:400])
        distances.append((flat_weights(est) - start).norm().item())
    assert distances[0] > distances[1] > distances[2]
    assert distances[2] < 0.5 * distances[0]


def test_regressor_changes_its_predictions_less():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)).astype(np.float32)
    y = X @ [1.0, -1.0, 0.5]
    change = {}
    for alpha in (0.0, 100.0):
        reg = ContinualRegressor(
            hidden_layer_sizes=(8,),
            max_epochs=20,
            update_epochs=20,
            callbacks=[("l2sp", L2SP(alpha=alpha))],
            random_state=0,
        ).fit(X, y)
        before = reg.predict(X)
        reg.partial_fit(X[:50], -y[:50])  # a conflicting update
        change[alpha] = np.abs(reg.predict(X) - before).mean()
    assert change[100.0] < 0.5 * change[0.0]


def test_tunable_by_name(digits):
    X, y = digits
    est = classifier([("l2sp", L2SP())])
    est.set_params(callbacks__l2sp__alpha=2.0, callbacks__l2sp__norm="l1")
    est.fit(X[:50], y[:50])
    assert (l2sp_of(est).alpha, l2sp_of(est).norm) == (2.0, "l1")


@pytest.mark.parametrize(
    "params, match",
    [
        ({"alpha": -1.0}, r"'alpha' parameter of \w+ must be a float in the range"),
        ({"alpha": None}, r"'alpha' parameter of \w+ must be a float in the range"),
        ({"norm": "l3"}, r"'norm' parameter of \w+ must be a str among"),
    ],
)
def test_bad_parameters_are_rejected(digits, params, match):
    X, y = digits
    with pytest.raises(ValueError, match=match):
        classifier([L2SP(**params)]).fit(X[:50], y[:50])
