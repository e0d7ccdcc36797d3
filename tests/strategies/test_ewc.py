"""EWC: the per-sample Fisher, the penalty, both modes, growth, state, errors."""

import pickle

import numpy as np
import pytest
import torch
from contexts import context_of
from helpers import per_sample_fisher_names
from sklearn.base import clone

from sklearn_cl import ContinualClassifier, ContinualRegressor
from sklearn_cl.base import NonFiniteUpdateError
from sklearn_cl.strategies import EWC, Replay, _fisher
from sklearn_cl.strategies._fisher import diagonal_fisher


def classifier(callbacks, **params):
    defaults = dict(
        hidden_layer_sizes=(16,), max_epochs=3, update_epochs=2, random_state=0
    )
    return ContinualClassifier(callbacks=callbacks, **{**defaults, **params})


def ewc_of(est, name="ewc"):
    return dict(est.net_.callbacks_)[name]


def parameters(est):
    return {n: p.detach().clone() for n, p in est.net_.module_.named_parameters()}


# ----------------------------------------------------------------------
# the Fisher
# ----------------------------------------------------------------------
class WithBatchNorm(torch.nn.Module):
    """A module with buffers (batch-norm running statistics) and dropout."""

    def __init__(self, n_in=5, n_out=3):
        super().__init__()
        self.hidden = torch.nn.Linear(n_in, 8)
        self.norm = torch.nn.BatchNorm1d(8)
        self.drop = torch.nn.Dropout(0.5)
        self.out = torch.nn.Linear(8, n_out)

    def forward(self, X):
        return self.out(self.drop(torch.relu(self.norm(self.hidden(X)))))


def looped_fisher(module, X, y, kind):
    """The per-sample Python loop of EWC tutorials: one backward per sample
    (one per output for the true Fisher)."""
    module.eval()
    fisher = {n: torch.zeros_like(p) for n, p in module.named_parameters()}
    for x, target in zip(X, y):
        out = module(x[None])[0]
        if y.dtype.is_floating_point:
            terms = (
                [(-0.5 * ((out - target) ** 2).sum(), 1.0)]
                if kind == "empirical"
                else [(out[k], 1.0) for k in range(len(out))]
            )
        else:
            logp = torch.log_softmax(out, 0)
            terms = (
                [(logp[target], 1.0)]
                if kind == "empirical"
                else [(logp[c], logp[c].exp().item()) for c in range(len(out))]
            )
        for value, weight in terms:
            grads = torch.autograd.grad(
                value, list(module.parameters()), retain_graph=True
            )
            for (name, _), g in zip(module.named_parameters(), grads):
                fisher[name] += weight * g**2
    return fisher


@pytest.mark.parametrize("kind", ["empirical", "true"])
@pytest.mark.parametrize("task", ["classifier", "regressor"])
def test_fisher_is_the_per_sample_definition(kind, task):
    torch.manual_seed(0)
    n_out = 3 if task == "classifier" else 2
    module = WithBatchNorm(n_out=n_out)
    module.train()(torch.randn(64, 5))  # move the running statistics
    X = torch.randn(20, 5)
    y = torch.randint(0, 3, (20,)) if task == "classifier" else torch.randn(20, 2)
    fisher = diagonal_fisher(module.train(), X, y, kind=kind)
    assert module.training  # put back in its mode
    expected = looped_fisher(module, X, y, kind)
    assert fisher.keys() == expected.keys()
    for name in fisher:
        torch.testing.assert_close(fisher[name], expected[name], rtol=1e-4, atol=1e-6)


class Tricky(torch.nn.Module):
    """Linear layers the outer-product identity does not cover: one applied
    twice, one to 3-D input, one whose weight is also used outside it; and
    an in-place activation after a layer that it does cover."""

    def __init__(self):
        super().__init__()
        self.first = torch.nn.Linear(6, 6, bias=False)
        self.twice = torch.nn.Linear(6, 6)
        self.per_step = torch.nn.Linear(3, 4)
        self.tied = torch.nn.Linear(6, 3)

    def forward(self, X):
        h = torch.relu_(self.first(X))
        h = self.twice(torch.tanh(self.twice(h)))
        steps = self.per_step(X.reshape(len(X), 2, 3)).sum(1)  # 3-D input
        out = self.tied(h + steps.repeat(1, 2)[:, :6] * 0.1)
        return out + 0.1 * torch.nn.functional.linear(h[:, :6], self.tied.weight)


@pytest.mark.parametrize("kind", ["empirical", "true"])
def test_fisher_of_layers_outside_the_outer_product_identity(kind):
    torch.manual_seed(0)
    module = Tricky()
    X, y = torch.randn(30, 6), torch.randint(0, 3, (30,))
    fisher = diagonal_fisher(module, X, y, kind=kind)
    expected = looped_fisher(module, X, y, kind)
    for name in fisher:
        torch.testing.assert_close(fisher[name], expected[name], rtol=1e-4, atol=1e-6)


class Convolutions(torch.nn.Module):
    """Conv1d layers of every padding, stride and dilation, and two the closed
    form does not cover (groups, reflect padding)."""

    def __init__(self):
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Conv1d(2, 4, 4, padding="same"),  # even kernel: odd padding
            torch.nn.ReLU(),
            torch.nn.Conv1d(4, 4, 3, padding="same", dilation=2, bias=False),
            torch.nn.Conv1d(4, 6, 3, stride=2, padding=1),
            torch.nn.Tanh(),
            torch.nn.Conv1d(6, 6, 3, groups=2),
            torch.nn.Conv1d(6, 3, 2, padding=1, padding_mode="reflect"),
            torch.nn.Flatten(),
        )
        self.head = torch.nn.LazyLinear(3)

    def forward(self, X):
        return self.head(self.layers(X))


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("kind", ["empirical", "true"])
@pytest.mark.parametrize("make", [Convolutions, "CNN1D"])
@pytest.mark.parametrize("buffer", [100, 1500])  # one sample, or some and a rest
def test_fisher_of_convolutions_is_the_per_sample_definition(
    kind, make, buffer, monkeypatch
):
    from sklearn_cl.modules import CNN1D

    torch.manual_seed(0)
    if make == "CNN1D":
        module, X = CNN1D(24, 3, channels=(4, 6)), torch.randn(40, 24)
    else:
        module, X = make(), torch.randn(40, 2, 16)
        module(X)  # size the lazy head
    y = torch.randint(0, 3, (40,))
    per_sample = per_sample_fisher_names(monkeypatch)
    monkeypatch.setattr(_fisher, "_CHUNK_ELEMENTS", 1000)  # sub-chunks too
    monkeypatch.setattr(_fisher, "_CONV_BUFFER_ELEMENTS", buffer)
    fisher = diagonal_fisher(module, X, y, kind=kind)
    expected = looped_fisher(module, X, y, kind)
    for name in fisher:
        torch.testing.assert_close(fisher[name], expected[name], rtol=1e-4, atol=1e-6)
    if make == "CNN1D":
        assert per_sample == []
    else:
        assert sorted(per_sample) == [
            "layers.5.bias",
            "layers.5.weight",
            "layers.6.bias",
            "layers.6.weight",
        ]


def test_fisher_of_frozen_parameters_leaves_them_frozen():
    torch.manual_seed(0)
    module = WithBatchNorm()
    X, y = torch.randn(20, 5), torch.randint(0, 3, (20,))
    expected = diagonal_fisher(module, X, y)
    module.hidden.requires_grad_(False)
    fisher = diagonal_fisher(module, X, y)
    assert not module.hidden.weight.requires_grad
    for name in fisher:
        torch.testing.assert_close(fisher[name], expected[name])


def test_fisher_does_not_depend_on_the_chunk_size(monkeypatch):
    torch.manual_seed(0)
    module = WithBatchNorm()
    X, y = torch.randn(50, 5), torch.randint(0, 3, (50,))
    whole = diagonal_fisher(module, X, y)
    monkeypatch.setattr(_fisher, "_MAX_CHUNK", 7)
    chunked = diagonal_fisher(module, X, y)
    for name in whole:
        torch.testing.assert_close(chunked[name], whole[name])


def test_fisher_is_not_the_squared_batch_gradient(digits):
    # the squared gradient of a batch mean is far smaller than the mean of
    # squared per-sample gradients (what lambda_ is defined against)
    X, y = digits
    clf = classifier([]).fit(X[:300], y[:300])
    module = clf.net_.module_
    Xt, yt = torch.as_tensor(X[:256]), torch.as_tensor(y[:256])
    per_sample = diagonal_fisher(module, Xt, yt)
    loss = torch.nn.functional.cross_entropy(module(Xt), yt)
    batch = torch.autograd.grad(loss, list(module.parameters()))
    ratio = sum(f.sum() for f in per_sample.values()) / len(Xt)
    ratio /= sum((g**2).sum() for g in batch)
    assert ratio > 10


# ----------------------------------------------------------------------
# the penalty and consolidation
# ----------------------------------------------------------------------
def test_penalty_is_half_lambda_fisher_weighted_distance(digits):
    X, y = digits
    clf = classifier([("ewc", EWC(lambda_=7.0))]).fit(X[:200], y[:200])
    ewc = ewc_of(clf)
    Xt, yt = torch.as_tensor(X[:200]), torch.as_tensor(y[:200])
    expected_fisher = diagonal_fisher(clf.net_.module_, Xt, yt)
    anchor = parameters(clf)
    for name, f in expected_fisher.items():
        torch.testing.assert_close(ewc.fisher_[name], f / 200)
        torch.testing.assert_close(ewc.anchor_[name], anchor[name])
    # move the weights, then compare the penalty with the formula
    with torch.no_grad():
        for p in clf.net_.module_.parameters():
            p.add_(0.01 * torch.randn_like(p))
    context = context_of(clf.net_, Xt)
    ewc.on_update_begin(clf.net_, X=Xt, y=yt, context=context)
    value = ewc.penalty(clf.net_, Xt, yt, None, context=context)
    formula = 3.5 * sum(
        (ewc.fisher_[n] * (p - anchor[n]) ** 2).sum()
        for n, p in clf.net_.module_.named_parameters()
    )
    torch.testing.assert_close(value, formula)


def test_no_penalty_before_the_first_consolidation(digits):
    X, y = digits
    est = classifier([("ewc", EWC())])
    est.partial_fit(X[:100], y[:100], classes=np.arange(10))
    assert ewc_of(est).n_consolidations_ == 1
    # after training calls, the transient per-call tensors are released
    assert ewc_of(est).active_stiffness_ is None
    assert ewc_of(est).active_anchor_ is None


def test_separate_mode_is_the_sum_of_one_term_per_update():
    # stored as one quadratic: same gradient as the sum of the per-update terms
    torch.manual_seed(0)
    ewc = EWC(lambda_=1.0, mode="separate").initialize()
    module = torch.nn.Linear(3, 2)
    terms = []
    for _ in range(3):
        with torch.no_grad():
            for p in module.parameters():
                p.copy_(torch.randn_like(p))
        fisher = {n: torch.rand_like(p) for n, p in module.named_parameters()}
        fisher["bias"][0] = 0.0  # a weight no update finds important
        weights = {n: p.detach().clone() for n, p in module.named_parameters()}
        terms.append((fisher, weights))
        ewc._consolidate(module, fisher)
    assert ewc.n_consolidations_ == 3
    theta = {n: torch.randn_like(p, requires_grad=True) for n, p in terms[0][1].items()}
    summed = sum((f[n] * (theta[n] - a[n]) ** 2).sum() for f, a in terms for n in theta)
    stored = sum(
        (ewc.fisher_[n] * (theta[n] - ewc.anchor_[n]) ** 2).sum() for n in theta
    )
    expected = torch.autograd.grad(summed, list(theta.values()))
    got = torch.autograd.grad(stored, list(theta.values()))
    for e, g in zip(expected, got):
        torch.testing.assert_close(g, e)
    assert torch.isfinite(ewc.anchor_["bias"]).all()


def test_online_mode_decays_the_running_fisher(digits):
    X, y = digits
    est = classifier([("ewc", EWC(mode="online", gamma=0.5))]).fit(X[:200], y[:200])
    first = {n: f.clone() for n, f in ewc_of(est).fisher_.items()}
    est.partial_fit(X[200:400], y[200:400])
    Xt, yt = torch.as_tensor(X[200:400]), torch.as_tensor(y[200:400])
    new = diagonal_fisher(est.net_.module_, Xt, yt)
    weights = parameters(est)
    for name in first:
        torch.testing.assert_close(
            ewc_of(est).fisher_[name], 0.5 * first[name] + new[name] / 200
        )
        torch.testing.assert_close(ewc_of(est).anchor_[name], weights[name])


def stored_bytes(strategy) -> int:
    total = 0
    for value in vars(strategy).values():
        tensors = value.values() if isinstance(value, dict) else [value]
        total += sum(t.nbytes for t in tensors if torch.is_tensor(t))
    return total


@pytest.mark.parametrize("mode", ["online", "separate"])
def test_memory_stays_at_two_copies_of_the_parameters(digits, mode):
    X, y = digits
    est = classifier([("ewc", EWC(mode=mode))], update_epochs=1)
    est.fit(X[:100], y[:100])
    n_bytes = sum(p.nbytes for p in est.net_.module_.parameters())
    assert stored_bytes(ewc_of(est)) == 2 * n_bytes
    for i in range(20):
        est.partial_fit(X[100 + 30 * i : 130 + 30 * i], y[100 + 30 * i : 130 + 30 * i])
    assert ewc_of(est).n_consolidations_ == 21
    assert stored_bytes(ewc_of(est)) == 2 * n_bytes


def test_consolidate_every_pools_the_fisher_of_several_calls(digits, monkeypatch):
    X, y = digits
    est = classifier([("ewc", EWC(consolidate_every=3))], update_epochs=1)
    est.fit(X[:100], y[:100])  # call 1: pending
    ewc = ewc_of(est)
    assert ewc.n_consolidations_ == 0 and ewc.fisher_ is None
    assert ewc.n_pending_calls_ == 1 and ewc.n_pending_samples_ == 100
    est.partial_fit(X[100:150], y[100:150])  # call 2: pending
    pending = {n: f.clone() for n, f in ewc.pending_fisher_.items()}
    est.partial_fit(X[150:180], y[150:180])  # call 3: consolidates
    assert ewc.n_consolidations_ == 1 and ewc.pending_fisher_ is None
    last = diagonal_fisher(
        est.net_.module_, torch.as_tensor(X[150:180]), torch.as_tensor(y[150:180])
    )
    for name in pending:
        torch.testing.assert_close(
            ewc.fisher_[name], (pending[name] + last[name]) / 180
        )
        torch.testing.assert_close(ewc.anchor_[name], parameters(est)[name])
    for i in range(3):
        est.partial_fit(X[200 + 20 * i : 220 + 20 * i], y[200 + 20 * i : 220 + 20 * i])
    assert ewc.n_consolidations_ == 2


def test_n_fisher_samples_subsamples_the_data(digits, monkeypatch):
    X, y = digits
    sizes = []
    real = diagonal_fisher

    def spy(module, X, y, **kwargs):
        sizes.append(len(X))
        return real(module, X, y, **kwargs)

    monkeypatch.setattr("sklearn_cl.strategies.ewc.diagonal_fisher", spy)
    est = classifier([("ewc", EWC(n_fisher_samples=64))]).fit(X[:200], y[:200])
    est.partial_fit(X[200:250], y[200:250])
    assert sizes == [64, 50]


# ----------------------------------------------------------------------
# stiffness bound
# ----------------------------------------------------------------------
def sgd_sequence(clip: bool, digits):
    X, y = digits
    est = classifier(
        [("ewc", EWC(lambda_=1e6, clip_stiffness=clip))],
        optimizer=torch.optim.SGD,
        lr=0.1,
        max_epochs=5,
        update_epochs=3,
    )
    est.fit(X[:300], y[:300])
    first = est.score(X[:300], y[:300])
    est.partial_fit(X[300:600], y[300:600])
    return first, est.score(X[:300], y[:300])


def test_clipped_stiffness_cannot_diverge_where_the_raw_one_does(digits):
    # plain SGD: lr * lambda_ * F_i >> 2 for many weights
    with pytest.raises(NonFiniteUpdateError):
        sgd_sequence(False, digits)
    first, after = sgd_sequence(True, digits)
    assert after > first - 0.05  # held near the first model, not thrown around


def test_stiffness_is_capped_at_one_over_the_update_lr(digits):
    X, y = digits
    seen = []

    class Spy(EWC):
        def penalty(self, net, X, y, y_pred, **kwargs):
            if self.active_stiffness_ is not None:
                seen.append(max(s.max().item() for s in self.active_stiffness_))
            return super().penalty(net, X, y, y_pred, **kwargs)

    est = classifier([("ewc", Spy(lambda_=1e9))], update_lr=0.01).fit(X[:200], y[:200])
    est.partial_fit(X[200:300], y[200:300])
    assert seen and max(seen) == pytest.approx(100.0)


# ----------------------------------------------------------------------
# with the estimators
# ----------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["online", "separate"])
def test_growing_output_layer_pads_fisher_and_anchor(digits, mode):
    X, y = digits
    old = y < 5
    est = classifier([("ewc", EWC(mode=mode))], allow_new_classes=True)
    est.fit(X[old][:200], y[old][:200])
    ewc = ewc_of(est)
    before = {n: f.clone() for n, f in ewc.fisher_.items()}
    est.partial_fit(X[~old][:100], y[~old][:100])  # grows to 10, consolidates
    weights = parameters(est)
    name = "layers.2.weight"
    assert ewc.fisher_[name].shape == (10, 16)
    assert ewc.anchor_[name].shape == (10, 16)
    # new rows: anchored where the update left them (importance from new data)
    torch.testing.assert_close(ewc.anchor_[name][5:], weights[name][5:])
    # the new rows add importance from the new data only
    assert (ewc.fisher_[name][:5] >= before[name]).all()
    if mode == "separate":
        return
    # online: the next update's penalty starts at zero
    net = est.net_
    context = context_of(net)
    ewc.on_update_begin(net, X=None, y=None, context=context)
    value = ewc.penalty(net, None, None, None, context=context)
    assert value.item() == pytest.approx(0.0, abs=1e-6)


def test_padding_on_growth_before_any_penalty(digits):
    X, y = digits
    old = y < 5
    est = classifier([("ewc", EWC(consolidate_every=2))], allow_new_classes=True)
    est.fit(X[old][:200], y[old][:200])  # pending, not consolidated
    est.partial_fit(X[~old][:100], y[~old][:100])
    ewc = ewc_of(est)
    assert ewc.n_consolidations_ == 1
    assert ewc.fisher_["layers.2.bias"].shape == (10,)


def test_tunable_by_name_and_refit_resets(digits):
    X, y = digits
    est = classifier([("ewc", EWC())])
    est.set_params(callbacks__ewc__lambda_=3.0, callbacks__ewc__mode="online")
    assert est.get_params()["callbacks__ewc__lambda_"] == 3.0
    est.fit(X[:100], y[:100]).partial_fit(X[100:200], y[100:200])
    assert ewc_of(est).lambda_ == 3.0 and ewc_of(est).mode == "online"
    assert ewc_of(est).n_consolidations_ == 2
    est.fit(X[:100], y[:100])
    assert ewc_of(est).n_consolidations_ == 1
    assert clone(EWC(lambda_=5.0)).lambda_ == 5.0


def test_pickle_round_trip_with_pending_fisher(digits):
    X, y = digits
    est = classifier([("ewc", EWC(mode="online", consolidate_every=2))])
    est.fit(X[:200], y[:200]).partial_fit(X[200:300], y[200:300])
    est.partial_fit(X[300:400], y[300:400])  # a pending Fisher is stored
    loaded = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(est.predict_proba(X), loaded.predict_proba(X))
    for model in (est, loaded):
        model.partial_fit(X[400:500], y[400:500])
    np.testing.assert_array_equal(est.predict_proba(X), loaded.predict_proba(X))
    for name, f in ewc_of(est).fisher_.items():
        torch.testing.assert_close(ewc_of(loaded).fisher_[name], f)


def test_regressor_uses_the_gaussian_likelihood():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    y = X @ [1.0, -1.0, 0.5, 0.0]
    reg = ContinualRegressor(
        hidden_layer_sizes=(8,),
        max_epochs=3,
        target_scaling=None,  # the Fisher of the targets as given
        callbacks=[("ewc", EWC())],
        random_state=0,
    ).fit(X, y)
    Xt = torch.as_tensor(X)
    yt = torch.as_tensor(y, dtype=torch.float32)[:, None]
    expected = diagonal_fisher(reg.net_.module_, Xt, yt)
    for name, f in expected.items():
        torch.testing.assert_close(ewc_of(reg).fisher_[name], f / 200)
    reg.partial_fit(X[:50], y[:50] + 1.0)
    assert ewc_of(reg).n_consolidations_ == 2


def test_works_with_replay(digits):
    X, y = digits
    est = classifier([("ewc", EWC()), ("replay", Replay(buffer_size=50))])
    est.fit(X[:200], y[:200]).partial_fit(X[200:300], y[200:300])
    assert ewc_of(est).n_consolidations_ == 2
    assert len(ewc_of(est, "replay").buffer_) == 50


@pytest.mark.parametrize(
    "params, match",
    [
        ({"lambda_": -1.0}, r"'lambda_' parameter of \w+ must be a float in the range"),
        (
            {"lambda_": "big"},
            r"'lambda_' parameter of \w+ must be a float in the range",
        ),
        ({"fisher": "exact"}, r"'fisher' parameter of \w+ must be a str among"),
        ({"mode": "joint"}, r"'mode' parameter of \w+ must be a str among"),
        (
            {"mode": "online", "gamma": 0.0},
            r"'gamma' parameter of \w+ must be a float in the range",
        ),
        ({"mode": "separate", "gamma": 0.9}, "only applies to mode=.online."),
        (
            {"n_fisher_samples": 0},
            r"'n_fisher_samples' parameter of \w+ must be an int in the range \[1",
        ),
        (
            {"consolidate_every": 1.5},
            r"'consolidate_every' parameter of \w+ must be an int in the range \[1",
        ),
    ],
)
def test_bad_parameters_are_rejected_and_leave_the_model(digits, params, match):
    X, y = digits
    est = classifier([("ewc", EWC())]).fit(X[:100], y[:100])
    before = est.predict_proba(X)
    with pytest.raises(ValueError, match=match):
        est.set_params(**{f"callbacks__ewc__{k}": v for k, v in params.items()})
        est.fit(X[:100], y[:100])
    np.testing.assert_array_equal(est.predict_proba(X), before)


def test_clip_stiffness_must_be_a_bool():
    with pytest.raises(
        TypeError,
        match=r"'clip_stiffness' parameter of \w+ must be an instance of 'bool'",
    ):
        EWC(clip_stiffness="yes").initialize()
