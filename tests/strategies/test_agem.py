"""A-GEM: projected gradients never point against the memory's gradient."""

import numpy as np
import pytest
import torch
from contexts import context_of
from helpers import the_strategy

from sklearn_cl import ContinualClassifier
from sklearn_cl.strategies import AGEM


def fitted(digits, epochs=3, **params):
    X, y = digits
    clf = ContinualClassifier(
        hidden_layer_sizes=(16,),
        max_epochs=epochs,
        callbacks=[AGEM(**params)],
        random_state=0,
    )
    return clf.fit(X[:300], y[:300])


def test_the_projected_gradient_does_not_raise_the_memory_loss(digits):
    X, y = digits
    clf = fitted(digits, epochs=30, buffer_size=100, sample_size=32)
    net, agem = clf.net_, the_strategy(clf.net_)
    # wrong labels for samples like those in the memory: a conflicting step
    Xb = torch.from_numpy(X[300:364])
    yb = torch.from_numpy((y[300:364] + 1) % 10)
    context = context_of(net, Xb)
    agem.on_update_begin(net, X=Xb, y=yb, context=context)
    params = list(net.module_.parameters())
    net.module_.zero_grad()
    net.criterion_(net.module_(Xb), yb).backward()
    before = [p.grad.clone() for p in params]
    state = agem.generator_.get_state()
    agem.on_grad_computed(net, named_parameters=None, context=context)
    # the same memory batch again: its gradient
    generator = torch.Generator().set_state(state)
    index = torch.randint(len(agem.cache_X_), (32,), generator=generator)
    loss = net.criterion_(net.module_(agem.cache_X_[index]), agem.cache_y_[index])
    reference = torch.autograd.grad(loss, params)

    def dot(a, b):
        return sum(float((x * z).sum()) for x, z in zip(a, b))

    after = [p.grad for p in params]
    assert dot(before, reference) < 0
    assert dot(after, reference) == pytest.approx(0.0, abs=1e-5)
    assert int(agem.projected_) == 1


def test_updates_on_new_classes_are_projected_and_forget_less(digits):
    X, y = digits
    old, new = y < 5, y >= 5
    scores = {}
    for name, callbacks in [("plain", []), ("agem", [AGEM(buffer_size=100)])]:
        clf = ContinualClassifier(
            max_epochs=20, update_epochs=5, callbacks=callbacks, random_state=0
        )
        train = np.r_[np.flatnonzero(old)[:500], np.flatnonzero(new)[:500]]
        clf.fit(X[train], y[train], tasks=new[train])
        scores[name] = clf.score(X[old][500:], y[old][500:])
    assert the_strategy(clf.net_).n_projected_ > 0
    assert scores["agem"] > scores["plain"] + 0.2


def test_fit_is_not_projected(digits):
    clf = fitted(digits)
    agem = the_strategy(clf.net_)
    assert agem.n_projected_ == 0 and len(agem.buffer_) == 200


@pytest.mark.parametrize(
    "params, match",
    [
        (
            dict(sample_size=0),
            r"'sample_size' parameter of \w+ must be an int in the range \[1, inf\)",
        ),
        (dict(buffer="lifo"), r"'buffer' parameter of \w+ must be a str among"),
    ],
)
def test_bad_parameters_are_rejected(digits, params, match):
    with pytest.raises(ValueError, match=match):
        fitted(digits, **params)
