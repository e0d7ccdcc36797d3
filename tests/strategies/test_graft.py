"""Graft: the old network stays frozen, new layers learn, any last-Linear module."""

import numpy as np
import pytest
import torch
from contexts import context_of
from helpers import the_strategy
from skorch.callbacks import Callback
from torch import nn

from sklearn_cl import ContinualClassifier, ContinualRegressor
from sklearn_cl.modules import CNN1D
from sklearn_cl.strategies import Freeze, Graft


class Tiny(nn.Module):
    """A user module: a body and a last nn.Linear under other names."""

    def __init__(self, n_features, n_outputs):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_features, 12), nn.Tanh())
        self.out = nn.Linear(12, n_outputs)

    def forward(self, X):
        return self.out(self.body(X))


def classifier(graft, **params):
    defaults = dict(max_epochs=5, update_epochs=5, random_state=0)
    return ContinualClassifier(callbacks=[("graft", graft)], **{**defaults, **params})


MODULES = {
    "mlp": {},
    "cnn": dict(module=CNN1D, module__channels=(4,), module__kernel_size=3),
    "user": dict(module=Tiny),
}


@pytest.mark.parametrize("kind", ["head", "column"])
@pytest.mark.parametrize("module", MODULES)
def test_the_old_network_is_frozen_and_the_new_layers_learn(digits, kind, module):
    X, y = digits
    clf = classifier(Graft(kind=kind, width=8), **MODULES[module])
    clf.fit(X[:600], y[:600])
    old = {n: p.detach().clone() for n, p in clf.net_.module_.named_parameters()}
    before = clf.score(X[600:], y[600:])
    clf.partial_fit(X[600:1200], y[600:1200])
    grafted = dict(clf.net_.module_.named_parameters())
    new = {n: p for n, p in grafted.items() if p.requires_grad}
    assert new and len(grafted) == len(old) + len(new)
    # every old weight is still there, unchanged, and frozen
    prefix = "base." if kind == "column" else ""
    frozen = {
        n.replace(".old.", ".", 1) if kind == "head" else n: p
        for n, p in grafted.items()
        if not p.requires_grad
    }
    assert {n.removeprefix(prefix) for n in frozen} == set(old)
    for name, p in frozen.items():
        torch.testing.assert_close(p, old[name.removeprefix(prefix)], rtol=0, atol=0)
    # the new layers learned the new data
    assert clf.score(X[600:1200], y[600:1200]) > before
    assert all(p.abs().sum() > 0 for p in new.values())


def test_the_graft_starts_with_the_old_outputs(digits):
    X, y = digits
    clf = classifier(Graft()).fit(X[:600], y[:600])
    before = clf.net_.forward_raw(torch.from_numpy(X))
    graft = the_strategy(clf.net_)
    Xb = torch.from_numpy(X[:5])
    graft.extend_data(clf.net_, Xb, None, context=context_of(clf.net_, Xb))
    assert graft.grafted_
    torch.testing.assert_close(clf.net_.forward_raw(torch.from_numpy(X)), before)
    trained = {
        id(p) for group in clf.net_.optimizer_.param_groups for p in group["params"]
    }
    assert trained == {id(p) for p in clf.net_.module_.parameters() if p.requires_grad}


def test_a_regressor_can_be_grafted():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    y = np.sin(X[:, 0]) + X[:, 1]
    reg = ContinualRegressor(
        max_epochs=20, update_epochs=30, callbacks=[Graft(width=16)], random_state=0
    ).fit(X[:200], y[:200])
    shifted = y[200:] + 1.0  # the target drifts
    before = reg.score(X[200:], shifted)
    assert reg.partial_fit(X[200:], shifted).score(X[200:], shifted) > before + 0.3


def test_a_failed_update_leaves_the_model_ungrafted(digits):
    X, y = digits

    class Fail(Callback):
        def on_epoch_end(self, net, **kwargs):
            if the_strategy(net).grafted_:
                raise RuntimeError("stop")

    clf = ContinualClassifier(
        max_epochs=2, callbacks=[Graft(), ("fail", Fail())], random_state=0
    ).fit(X[:300], y[:300])
    module = clf.net_.module_
    with pytest.raises(RuntimeError, match="stop"):
        clf.partial_fit(X[300:600], y[300:600])
    assert clf.net_.module_ is module and not the_strategy(clf.net_).grafted_
    assert all(p.requires_grad for p in module.parameters())


def test_bad_parameters_and_modules_are_rejected(digits):
    X, y = digits
    with pytest.raises(
        ValueError,
        match=r"'width' parameter of \w+ must be an int in the range \[1, inf\)",
    ):
        classifier(Graft(width=0)).fit(X[:50], y[:50])
    with pytest.raises(
        ValueError, match=r"'kind' parameter of \w+ must be a str among"
    ):
        classifier(Graft(kind="tail")).fit(X[:50], y[:50])

    class NoLinear(nn.Module):
        def __init__(self, n_features, n_outputs):
            super().__init__()
            self.conv = nn.Conv1d(1, n_outputs, n_features)

        def forward(self, X):
            return self.conv(X[:, None]).squeeze(-1)

    clf = classifier(Graft(), module=NoLinear).fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="Graft needs a module whose output layer"):
        clf.partial_fit(X[50:100], y[50:100])


@pytest.mark.parametrize("penalty", ["EWC", "SI", "MAS"])
@pytest.mark.parametrize("kind", ["head", "column"])
def test_a_penalty_holds_the_grafted_layers_in_either_order(penalty, kind, digits):
    """EWC, SI and MAS keep their state by parameter name; grafting renames
    the old network's parameters and adds new ones. They used to fail with
    a KeyError at the first update after the graft."""
    import sklearn_cl.strategies as strategies

    X, y = digits
    tasks = [y < 4, (y >= 4) & (y < 7), y >= 7]
    results = []
    for order in ("graft first", "penalty first"):
        callbacks = [
            ("graft", Graft(kind=kind)),
            ("penalty", getattr(strategies, penalty)()),
        ]
        if order == "penalty first":
            callbacks.reverse()
        clf = ContinualClassifier(
            max_epochs=3,
            update_epochs=3,
            allow_new_classes=True,
            random_state=0,
            callbacks=callbacks,
        )
        clf.fit(X[tasks[0]], y[tasks[0]])
        body = clf.net_.module_.layers[0].weight.detach().clone()
        for task in tasks[1:]:
            clf.partial_fit(X[task], y[task])
        strategy = dict(clf.net_.callbacks_)["penalty"]
        state = strategy.fisher_ if penalty == "EWC" else strategy.importance_
        names = [n for n, _ in clf.net_.module_.named_parameters()]
        assert list(state) == names
        grafted = [n for n, p in clf.net_.module_.named_parameters() if p.requires_grad]
        assert grafted and all(state[n].abs().sum() > 0 for n in grafted)
        module = clf.net_.module_
        old = module.base if kind == "column" else module
        torch.testing.assert_close(old.layers[0].weight, body)
        results.append(clf.predict_proba(X[:100]))
    np.testing.assert_allclose(*results, atol=1e-6)


@pytest.mark.parametrize("kind", ["head", "column"])
@pytest.mark.parametrize("how", ["pickle", "skops"])
def test_a_model_whose_classes_grew_after_the_graft_loads(kind, how, digits, tmp_path):
    # the frozen layer keeps the outputs it had at the graft; loading built
    # it with all of them and failed with a size mismatch
    import pickle

    from sklearn_cl.persistence import load, save

    X, y = digits
    clf = classifier(Graft(kind=kind), allow_new_classes=True, max_epochs=2)
    clf.fit(X[y < 2], y[y < 2]).partial_fit(X[y < 3], y[y < 3])
    clf.partial_fit(X[y < 5], y[y < 5])
    if how == "pickle":
        loaded = pickle.loads(pickle.dumps(clf))
    else:
        save(clf, tmp_path / "model.skops")
        loaded = load(tmp_path / "model.skops")
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X))
    for model in (clf, loaded):
        model.partial_fit(X[y < 6], y[y < 6])
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=1e-6)


def test_beside_freeze_the_old_network_stays_frozen_for_good(digits):
    # Freeze unfreezes what it froze at the end of each update, the old
    # network of the graft among it: the flags of the module the call
    # trains are put back, the grafted one's too
    X, y = digits
    est = ContinualClassifier(
        callbacks=[Graft(width=8), Freeze()], max_epochs=2, random_state=0
    ).fit(X[:300], y[:300])
    for start in (300, 400):
        est.partial_fit(X[start : start + 100], y[start : start + 100])
        flags = {n: p.requires_grad for n, p in est.net_.module_.named_parameters()}
        assert {n for n, flag in flags.items() if flag} == {
            n for n in flags if ".branch." in n
        }
