"""Freeze: updates train only chosen layers; frozen parameters never move."""

import numpy as np
import pytest
import torch
from torch import nn

from sklearn_cl import ContinualClassifier
from sklearn_cl.strategies import Freeze, Strategy


def classifier(freeze=None, **params):
    defaults = dict(hidden_layer_sizes=(16, 16), max_epochs=2, random_state=0)
    callbacks = None if freeze is None else [("freeze", freeze)]
    return ContinualClassifier(callbacks=callbacks, **{**defaults, **params})


def snapshot(clf) -> dict:
    return {name: p.detach().clone() for name, p in clf.net_.module_.named_parameters()}


def changed(before: dict, after: dict) -> set:
    return {name for name in before if not torch.equal(before[name], after[name])}


# the default MLP with two hidden layers: layers.0, layers.2, layers.4 (the head)
def params_of(*layers, kinds=("weight", "bias")):
    return {f"layers.{i}.{kind}" for i in layers for kind in kinds}


ALL = params_of(0, 2, 4)
HEAD = params_of(4)


@pytest.mark.parametrize(
    ("freeze", "trained"),
    [
        (Freeze(), HEAD),
        (Freeze(train_last=1), HEAD),
        (Freeze(train_last=2), params_of(2, 4)),
        (Freeze(patterns="layers.0.*"), params_of(2, 4)),
        (Freeze(patterns=["*.bias"]), params_of(0, 2, 4, kinds=["weight"])),
        (Freeze(patterns=lambda name: name.startswith("layers.2")), params_of(0, 4)),
        (Freeze(patterns="*.bias", train_last=2), params_of(2, 4, kinds=["weight"])),
    ],
)
def test_updates_move_only_the_trained_parameters(digits, freeze, trained):
    X, y = digits
    # Adam with weight decay, and its moments from fit: a frozen parameter
    # the optimizer did not skip would move even without a gradient
    clf = classifier(freeze, optimizer__weight_decay=0.1).fit(X[:300], y[:300])
    before = snapshot(clf)
    clf.partial_fit(X[300:400], y[300:400])
    assert changed(before, snapshot(clf)) == trained
    assert all(p.requires_grad for p in clf.net_.module_.parameters())


def test_sgd_momentum_does_not_move_frozen_parameters(digits):
    X, y = digits
    clf = classifier(
        Freeze(patterns="layers.0.*"),
        optimizer=torch.optim.SGD,
        lr=0.1,
        optimizer__momentum=0.9,
        optimizer__weight_decay=0.01,
    ).fit(X[:300], y[:300])
    before = snapshot(clf)
    clf.partial_fit(X[300:400], y[300:400])
    assert "layers.0.weight" not in changed(before, snapshot(clf))
    assert "layers.2.weight" in changed(before, snapshot(clf))


def test_fit_trains_every_layer(digits):
    X, y = digits
    frozen = classifier(Freeze(train_last=1)).fit(X[:300], y[:300])
    plain = classifier().fit(X[:300], y[:300])
    for p, q in zip(frozen.net_.module_.parameters(), plain.net_.module_.parameters()):
        assert torch.equal(p, q)


def test_later_tasks_of_a_sequence_are_frozen(digits):
    X, y = digits
    tasks = np.repeat([0, 1], [300, 100])
    clf = classifier(Freeze(patterns="layers.0.*")).fit(X[:300], y[:300])
    sequence = classifier(Freeze(patterns="layers.0.*")).fit(
        X[:400], y[:400], tasks=tasks
    )
    assert torch.equal(
        clf.net_.module_.layers[0].weight, sequence.net_.module_.layers[0].weight
    )


class RequiresGrad(Strategy):
    """Records which parameters require a gradient during each call."""

    def initialize(self):
        self.seen_ = []
        return self

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.seen_.append(
            {n for n, p in net.module_.named_parameters() if p.requires_grad}
        )


def test_frozen_during_the_update_restored_after(digits):
    X, y = digits
    clf = ContinualClassifier(
        hidden_layer_sizes=(16, 16),
        max_epochs=1,
        callbacks=[Freeze(), ("grads", RequiresGrad())],
        random_state=0,
    ).fit(X[:100], y[:100])
    clf.partial_fit(X[100:200], y[100:200])
    seen = dict(clf.net_.callbacks_)["grads"].seen_
    assert seen == [ALL, HEAD]
    assert all(p.requires_grad for p in clf.net_.module_.parameters())


def test_new_head_is_reinitialised_at_the_first_update_only(digits):
    X, y = digits
    clf = classifier(Freeze(new_head=True), update_lr=1e-9).fit(X[:300], y[:300])
    fitted_head = clf.net_.module_.layers[4].weight.detach().clone()
    clf.partial_fit(X[300:400], y[300:400])
    fresh_head = clf.net_.module_.layers[4].weight.detach().clone()
    assert (fresh_head - fitted_head).abs().max() > 1e-2
    # its optimizer state started again: one step since the re-initialisation
    state = clf.net_.optimizer_.state[clf.net_.module_.layers[4].weight]
    assert int(state["step"]) == 4
    clf.partial_fit(X[400:500], y[400:500])
    head = clf.net_.module_.layers[4].weight
    assert (head - fresh_head).abs().max() < 1e-6


def test_new_head_is_trained_even_when_patterns_match_it(digits):
    X, y = digits
    clf = classifier(Freeze(patterns="layers.*", new_head=True)).fit(X[:300], y[:300])
    before = snapshot(clf)
    clf.partial_fit(X[300:400], y[300:400])
    assert changed(before, snapshot(clf)) == HEAD


class BodyHead(nn.Module):
    def __init__(self, n_features, n_outputs):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_features, 16), nn.ReLU())
        self.head = nn.Linear(16, n_outputs)

    def forward(self, X):
        return self.head(self.body(X))


def test_custom_module_head_is_its_last_registered_linear(digits):
    X, y = digits
    freeze = Freeze(new_head=True)
    assert freeze.initialize().frozen_names(BodyHead(64, 10)) == [
        "body.0.weight",
        "body.0.bias",
    ]
    clf = classifier(freeze, module=BodyHead).fit(X[:200], y[:200])
    before = snapshot(clf)
    clf.partial_fit(X[200:300], y[200:300])
    assert changed(before, snapshot(clf)) == {"head.weight", "head.bias"}


def test_freezing_everything_is_an_error_and_changes_nothing(digits):
    X, y = digits
    clf = classifier(Freeze(patterns="*")).fit(X[:100], y[:100])
    before = snapshot(clf)
    with pytest.raises(ValueError, match="freezes every parameter"):
        clf.partial_fit(X[100:200], y[100:200])
    assert not changed(before, snapshot(clf))
    assert clf.n_updates_ == 0
    assert all(p.requires_grad for p in clf.net_.module_.parameters())


def test_new_head_needs_a_linear_layer():
    class Bilinear(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(4, 3))

    with pytest.raises(ValueError, match="needs a module with an nn.Linear"):
        Freeze(new_head=True).initialize().frozen_names(Bilinear())


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        (
            {"train_last": 0},
            ValueError,
            r"'train_last' parameter of \w+ must be an int in the range \[1, inf\)",
        ),
        (
            {"train_last": 1.0},
            ValueError,
            r"'train_last' parameter of \w+ must be an int in the range \[1, inf\)",
        ),
        (
            {"patterns": 3},
            TypeError,
            r"'patterns' parameter of \w+ must be an instance of 'str', a callable",
        ),
        ({"patterns": ["a*", None]}, ValueError, "`patterns` must be a str"),
    ],
)
def test_bad_parameters(digits, params, error, match):
    X, y = digits
    with pytest.raises(error, match=match):
        classifier(Freeze(**params)).fit(X[:50], y[:50])


class Fail(Strategy):
    """Raises on a batch of an update while ``FAILURES`` holds a token; the
    estimator's rollback cannot undo the count, which lives outside it."""

    def extend_batch(self, net, X, y):
        frozen = any(not p.requires_grad for p in net.module_.parameters())
        if frozen and FAILURES:
            FAILURES.pop()
            raise RuntimeError("boom")
        return X, y


FAILURES = []


def test_an_update_that_fails_midway_is_healed_by_the_next(digits):
    X, y = digits
    clf = ContinualClassifier(
        hidden_layer_sizes=(16, 16),
        max_epochs=1,
        callbacks=[Freeze(), Fail()],
        random_state=0,
    ).fit(X[:100], y[:100])
    before = snapshot(clf)
    FAILURES[:] = ["once"]
    with pytest.raises(RuntimeError, match="boom"):
        clf.partial_fit(X[100:200], y[100:200])
    assert not changed(before, snapshot(clf))
    clf.partial_fit(X[100:200], y[100:200])
    assert changed(before, snapshot(clf)) == HEAD
    assert all(p.requires_grad for p in clf.net_.module_.parameters())


class GradsAtUpdateEnd(Strategy):
    """Records whether every parameter requires a gradient at on_update_end."""

    def initialize(self):
        self.seen_ = []
        return self

    def on_update_end(self, net, X=None, y=None, is_update=True, **kwargs):
        self.seen_.append(all(p.requires_grad for p in net.module_.parameters()))


@pytest.mark.parametrize("freeze_first", [True, False])
def test_other_strategies_see_trainable_parameters_at_update_end(digits, freeze_first):
    X, y = digits
    callbacks = [Freeze(), ("grads", GradsAtUpdateEnd())]
    clf = ContinualClassifier(
        hidden_layer_sizes=(16,),
        max_epochs=1,
        callbacks=callbacks if freeze_first else callbacks[::-1],
        random_state=0,
    ).fit(X[:100], y[:100])
    clf.partial_fit(X[100:200], y[100:200])
    assert dict(clf.net_.callbacks_)["grads"].seen_ == [True, True]
