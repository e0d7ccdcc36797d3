"""SI and MAS: the importance each one measures, the capped stiffness."""

import numpy as np
import pytest
import torch
from contexts import context_of
from helpers import the_strategy
from skorch.callbacks import Callback

from sklearn_cl import ContinualClassifier
from sklearn_cl.strategies import MAS, SI
from sklearn_cl.strategies.mas import output_sensitivity


class StartWeights(Callback):
    """The weights when the latest training call began."""

    def initialize(self):
        self.weights_ = None
        return self

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.weights_ = {
            n: p.detach().clone() for n, p in net.module_.named_parameters()
        }


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_si_importance_is_the_path_integral_over_the_squared_move(digits, power):
    # one full-batch SGD step: theta moves by -lr * g, so the path integral
    # -g * delta is delta**2 / lr and the importance delta**2 / lr / (delta**2 + xi),
    # raised to `power`
    X, y = digits
    lr, xi = 0.5, 0.1
    clf = ContinualClassifier(
        hidden_layer_sizes=(8,),
        optimizer=torch.optim.SGD,
        lr=lr,
        max_epochs=1,
        batch_size=500,
        callbacks=[("si", SI(xi=xi, power=power)), ("start", StartWeights())],
        random_state=0,
    ).fit(X[:500], y[:500])
    callbacks = dict(clf.net_.callbacks_)
    si, start = callbacks["si"], callbacks["start"].weights_
    assert si.n_consolidations_ == 1
    for name, p in clf.net_.module_.named_parameters():
        delta = p.detach() - start[name]
        expected = (delta**2 / lr / (delta**2 + xi)) ** power
        torch.testing.assert_close(si.importance_[name], expected, rtol=1e-4, atol=1e-7)
        torch.testing.assert_close(si.anchor_[name], p.detach())


class PathIntegral(Callback):
    """``-sum_t g_t * (theta_{t+1} - theta_t)`` over the training steps of
    the latest call, recorded step by step with copies."""

    def initialize(self):
        self.path_ = None
        return self

    def on_train_begin(self, net, **kwargs):
        self.path_ = [torch.zeros_like(p) for p in net.module_.parameters()]

    def on_grad_computed(self, net, **kwargs):
        self.before_ = [p.detach().clone() for p in net.module_.parameters()]
        self.grads_ = [p.grad.clone() for p in net.module_.parameters()]

    def on_batch_end(self, net, training=False, **kwargs):
        params = net.module_.parameters()
        for omega, g, p, b in zip(self.path_, self.grads_, params, self.before_):
            omega -= g * (p.detach() - b)


def test_si_path_integral_over_many_steps_is_minus_gradient_times_move(digits):
    # Adam, mini-batches, several epochs: the path integral that SI sums by
    # parts is the step-by-step sum
    X, y = digits
    xi = 0.1
    clf = ContinualClassifier(
        hidden_layer_sizes=(8,),
        max_epochs=3,
        batch_size=64,
        callbacks=[
            ("si", SI(xi=xi, power=1.0)),
            ("path", PathIntegral()),
            ("start", StartWeights()),
        ],
        random_state=0,
    ).fit(X[:300], y[:300])
    callbacks = dict(clf.net_.callbacks_)
    si, path = callbacks["si"], callbacks["path"].path_
    start = callbacks["start"].weights_
    for (name, p), omega in zip(clf.net_.module_.named_parameters(), path):
        assert (omega > 0).any()
        expected = omega.clamp(min=0) / ((p.detach() - start[name]) ** 2 + xi)
        torch.testing.assert_close(si.importance_[name], expected, rtol=1e-3, atol=1e-6)


class Twice(torch.nn.Module):
    """One Linear layer applied twice: per-sample gradients that are sums
    of two outer products (no single-backward shortcut)."""

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 4)

    def forward(self, x):
        return self.layer(torch.tanh(self.layer(x)))


NETS = {
    # Linear layers only: one backward pass
    "linear": lambda: torch.nn.Sequential(
        torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3)
    ),
    # a parameter outside Linear layers, a shared layer: vmap
    "layernorm": lambda: torch.nn.Sequential(
        torch.nn.Linear(4, 6), torch.nn.LayerNorm(6), torch.nn.Linear(6, 3)
    ),
    "shared": Twice,
}


@pytest.mark.parametrize("make_net", NETS.values(), ids=NETS.keys())
def test_mas_importance_is_the_mean_absolute_per_sample_gradient(make_net):
    torch.manual_seed(0)
    net = make_net()
    X = torch.randn(7, 4)
    expected = {n: torch.zeros_like(p) for n, p in net.named_parameters()}
    for x in X:
        net.zero_grad()
        net(x[None]).pow(2).sum().backward()
        for n, p in net.named_parameters():
            expected[n] += p.grad.abs() / len(X)
    omega = output_sensitivity(net, X)
    for n in expected:
        torch.testing.assert_close(omega[n], expected[n])


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_mas_needs_no_labels(digits, power):
    # the importance is that of the inputs only, raised to `power`
    X, y = digits
    clf = ContinualClassifier(
        max_epochs=2, callbacks=[MAS(power=power)], random_state=0
    )
    clf.fit(X[:300], y[:300])
    mas = the_strategy(clf.net_)
    again = output_sensitivity(clf.net_.module_, torch.from_numpy(X[:300]))
    for name, omega in mas.importance_.items():
        torch.testing.assert_close(omega, again[name] ** power)


class Stiffness(Callback):
    """The largest stiffness a strategy's penalty used in the latest call."""

    def initialize(self):
        self.largest_ = None
        return self

    def on_epoch_end(self, net, **kwargs):
        active = the_strategy(net).active_stiffness_
        if active is not None:
            self.largest_ = max(float(s.max()) for s in active)


@pytest.mark.parametrize("strategy", [SI, MAS])
def test_the_stiffness_is_capped_at_one_over_the_learning_rate(digits, strategy):
    X, y = digits
    clf = ContinualClassifier(
        max_epochs=3,
        update_lr=0.01,
        callbacks=[strategy(lambda_=1e6), ("stiffness", Stiffness())],
        random_state=0,
    )
    clf.fit(X[:400], y[:400]).partial_fit(X[400:800], y[400:800])
    assert dict(clf.net_.callbacks_)["stiffness"].largest_ == pytest.approx(100.0)
    unclipped = ContinualClassifier(
        max_epochs=3,
        update_lr=0.01,
        callbacks=[
            strategy(lambda_=1e6, clip_stiffness=False),
            ("stiffness", Stiffness()),
        ],
        random_state=0,
    )
    unclipped.fit(X[:400], y[:400]).partial_fit(X[400:800], y[400:800])
    assert dict(unclipped.net_.callbacks_)["stiffness"].largest_ > 100.0


@pytest.mark.parametrize("strategy", [SI, MAS])
def test_the_new_output_rows_have_no_importance(digits, strategy):
    X, y = digits
    clf = ContinualClassifier(
        max_epochs=2, allow_new_classes=True, callbacks=[strategy()], random_state=0
    )
    clf.fit(X[y < 5][:300], y[y < 5][:300])
    clf.partial_fit(X[y >= 5][:300], y[y >= 5][:300])
    importance = the_strategy(clf.net_).importance_
    head = importance["layers.2.weight"]
    assert head.shape == (10, 100)
    assert np.isfinite(head.numpy()).all()


@pytest.mark.parametrize(
    "params, match",
    [
        (
            dict(lambda_=-1.0),
            r"'lambda_' parameter of \w+ must be a float in the range",
        ),
        (dict(gamma=0.0), r"'gamma' parameter of \w+ must be a float in the range"),
        (dict(power=0.0), r"'power' parameter of \w+ must be a float in the range"),
    ],
)
@pytest.mark.parametrize("strategy", [SI, MAS])
def test_bad_parameters_are_rejected(digits, strategy, params, match):
    X, y = digits
    with pytest.raises(ValueError, match=match):
        ContinualClassifier(max_epochs=1, callbacks=[strategy(**params)]).fit(
            X[:50], y[:50]
        )
    with pytest.raises(
        ValueError, match=r"'xi' parameter of \w+ must be a float in the range"
    ):
        ContinualClassifier(max_epochs=1, callbacks=[SI(xi=0.0)]).fit(X[:50], y[:50])
    with pytest.raises(
        ValueError,
        match=r"'n_importance_samples' parameter of MAS must be an int",
    ):
        ContinualClassifier(max_epochs=1, callbacks=[MAS(n_importance_samples=0)]).fit(
            X[:50], y[:50]
        )


@pytest.mark.parametrize("strategy", [SI, MAS])
def test_the_penalty_gradient_is_that_of_the_quadratic_penalty(digits, strategy):
    # what on_grad_computed adds to the gradients: the gradient of
    # lambda * sum(importance * (theta - anchor)**2), frozen weights skipped
    X, y = digits
    clf = ContinualClassifier(max_epochs=2, callbacks=[strategy()], random_state=0)
    clf.fit(X[:300], y[:300])
    net, cb = clf.net_, the_strategy(clf.net_)
    params = dict(net.module_.named_parameters())
    with torch.no_grad():
        for p in params.values():
            p.add_(0.1 * torch.randn_like(p))
    params["layers.0.bias"].requires_grad_(False)
    context = context_of(net, torch.from_numpy(X[:10]), lr=1e-3)
    cb.on_update_begin(net, context=context)
    for p in params.values():
        p.grad = torch.ones_like(p) if p.requires_grad else None
    cb.on_grad_computed(net, context=context)
    for name, p in params.items():
        if not p.requires_grad:
            assert p.grad is None
            continue
        theta = p.detach().clone().requires_grad_(True)
        value = cb.lambda_ * (cb.importance_[name] * (theta - cb.anchor_[name]) ** 2)
        value.sum().backward()
        torch.testing.assert_close(p.grad, 1 + theta.grad)
