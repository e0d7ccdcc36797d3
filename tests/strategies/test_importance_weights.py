"""EWC's Fisher, MAS's importance and SI's path integral weigh each sample by
its weight (``sample_weight`` times ``class_weight``), as the loss does: a
weight counts as a repetition of the sample, a weight of 0 as a dropped row."""

import pickle

import numpy as np
import pytest
import torch
from contexts import context_of
from helpers import per_sample_fisher_names, the_strategy

from sklearn_cl import ContinualClassifier, ContinualRegressor
from sklearn_cl.modules import CNN1D
from sklearn_cl.persistence import load, save
from sklearn_cl.strategies import EWC, MAS, SI, _fisher, ewc, mas
from sklearn_cl.strategies._fisher import diagonal_fisher
from sklearn_cl.strategies.mas import output_sensitivity


class Grouped(torch.nn.Module):
    """Layers the Fisher's closed forms do not cover (a grouped ``Conv1d``, a
    ``LayerNorm``: ``vmap``'s per-sample gradients) before one they do (the
    ``Linear`` head)."""

    def __init__(self, n_features, n_outputs):
        super().__init__()
        self.conv = torch.nn.Conv1d(2, 4, 3, groups=2)
        width = 4 * (n_features // 2 - 2)
        self.norm = torch.nn.LayerNorm(width)
        self.head = torch.nn.Linear(width, n_outputs)

    def forward(self, X):
        h = self.conv(X.reshape(len(X), 2, -1)).flatten(1)
        return self.head(torch.relu(self.norm(h)))


MODULES = {
    "mlp": lambda n_in, n_out: torch.nn.Sequential(
        torch.nn.Linear(n_in, 16), torch.nn.ReLU(), torch.nn.Linear(16, n_out)
    ),
    "cnn": lambda n_in, n_out: CNN1D(n_in, n_out, channels=(4, 6)),
    "grouped": Grouped,
}
# the parameters left to vmap's per-sample gradients
PER_SAMPLE = {
    "mlp": [],
    "cnn": [],
    "grouped": ["conv.bias", "conv.weight", "norm.bias", "norm.weight"],
}


def classifier(strategy, module=None, **params):
    return ContinualClassifier(
        hidden_layer_sizes=(16,),
        module=module,
        max_epochs=3,
        update_epochs=2,
        callbacks=[("s", strategy)],
        random_state=0,
        **params,
    )


def learned(strategy):
    """The importance a strategy holds: EWC's Fisher, SI's and MAS's Omega."""
    return strategy.fisher_ if isinstance(strategy, EWC) else strategy.importance_


def assert_same(a: dict, b: dict, **tolerance) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], **tolerance)


def repeated(w, *tensors):
    """Each row repeated as many times as its integer weight."""
    counts = torch.as_tensor(w).long()
    return [t.repeat_interleave(counts, dim=0) for t in tensors]


# ----------------------------------------------------------------------
# the functions: a weight is a repetition count, on every path
# ----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["empirical", "true"])
@pytest.mark.parametrize("task", ["classifier", "regressor"])
@pytest.mark.parametrize("make", MODULES)
def test_integer_weights_give_the_fisher_of_repeated_rows(
    make, task, kind, monkeypatch
):
    torch.manual_seed(0)
    module = MODULES[make](16, 3)
    X = torch.randn(40, 16)
    y = torch.randint(0, 3, (40,)) if task == "classifier" else torch.randn(40, 3)
    w = torch.randint(0, 4, (40,)).float()
    per_sample = per_sample_fisher_names(monkeypatch)
    # several chunks on both paths: each must take its own rows' weights
    monkeypatch.setattr(_fisher, "_MAX_CHUNK", 7)
    monkeypatch.setattr(_fisher, "_CHUNK_ELEMENTS", 2000)
    weighted = diagonal_fisher(module, X, y, kind=kind, sample_weight=w)
    assert sorted(set(per_sample)) == PER_SAMPLE[make]
    expected = diagonal_fisher(module, *repeated(w, X, y), kind=kind)
    assert_same(weighted, expected, rtol=1e-5, atol=1e-7)
    # the weights do change the Fisher
    plain = diagonal_fisher(module, X, y, kind=kind)
    assert not all(torch.allclose(plain[n], expected[n]) for n in plain)


@pytest.mark.parametrize("make", MODULES)
def test_integer_weights_give_the_sensitivity_of_repeated_rows(make):
    torch.manual_seed(0)
    module = MODULES[make](16, 3)
    X, w = torch.randn(40, 16), torch.randint(0, 4, (40,)).float()
    weighted = output_sensitivity(module, X, sample_weight=w)
    assert_same(weighted, output_sensitivity(module, *repeated(w, X)))


def test_weights_must_be_one_per_sample():
    module, X = torch.nn.Linear(3, 2), torch.randn(5, 3)
    with pytest.raises(ValueError, match=r"one weight per sample, shape \(5,\)"):
        diagonal_fisher(module, X, torch.zeros(5).long(), sample_weight=torch.ones(4))
    with pytest.raises(ValueError, match=r"one weight per sample.*got shape \(5, 1\)"):
        output_sensitivity(module, X, sample_weight=torch.ones(5, 1))


def test_all_weights_zero_give_zero_importance():
    module, X = torch.nn.Linear(3, 2), torch.randn(5, 3)
    fisher = diagonal_fisher(
        module, X, torch.zeros(5).long(), kind="true", sample_weight=torch.zeros(5)
    )
    omega = output_sensitivity(module, X, sample_weight=torch.zeros(5))
    for importance in (fisher, omega):
        assert all(not t.any() for t in importance.values())


# ----------------------------------------------------------------------
# the strategies, with the weights the estimator gives them
# ----------------------------------------------------------------------
CASES = {
    "EWC": (EWC, None),
    "EWC true, vmap path": (lambda: EWC(fisher="true"), Grouped),
    "EWC every 2 calls, subsampled": (
        lambda: EWC(consolidate_every=2, n_fisher_samples=64),
        None,
    ),
    "MAS": (MAS, None),
    "MAS, vmap path": (lambda: MAS(n_importance_samples=64), Grouped),
    "SI": (SI, None),
}


def updated(case, X, y, w):
    """Fitted on the first 200 rows, updated on the next 100 (two calls)."""
    make, module = CASES[case]
    clf = classifier(make(), module)
    clf.fit(X[:200], y[:200], sample_weight=w[:200])
    return clf.partial_fit(X[200:300], y[200:300], sample_weight=w[200:300])


@pytest.mark.parametrize("case", CASES)
def test_a_row_of_weight_zero_has_no_influence(digits, case):
    X, y = digits
    X, y = X[:300].copy(), y[:300].copy()
    w = np.where(np.arange(300) % 3 == 0, 0.0, 1.0)
    # the rows switched off replaced by others with other labels: the
    # importance of those rows at any weight is another
    X_other, y_other = X.copy(), y.copy()
    X_other[w == 0], y_other[w == 0] = digits[0][1000:1100], (y[w == 0] + 3) % 10
    a = the_strategy(updated(case, X, y, w).net_)
    b = the_strategy(updated(case, X_other, y_other, w).net_)
    assert a.n_consolidations_ == b.n_consolidations_ > 0
    assert_same(learned(a), learned(b), rtol=0, atol=0)
    # and the same rows at weight 1 do change it
    ones = np.ones(300)
    a = the_strategy(updated(case, X, y, ones).net_)
    b = the_strategy(updated(case, X_other, y_other, ones).net_)
    assert not all(torch.allclose(learned(a)[n], learned(b)[n]) for n in learned(a))


@pytest.mark.parametrize("case", CASES)
def test_doubling_every_weight_changes_nothing(digits, case):
    X, y = digits
    w = np.random.default_rng(0).integers(0, 4, size=300) * 0.75
    a, b = (the_strategy(updated(case, X, y, scale * w).net_) for scale in (1, 2))
    assert_same(learned(a), learned(b))


def test_class_weight_weighs_the_fisher_as_sample_weight_does(digits):
    X, y = digits
    class_weight = {label: 1.0 + label % 3 for label in range(10)}
    by_class = classifier(EWC(), class_weight=class_weight).fit(X[:200], y[:200])
    per_sample = np.array([class_weight[label] for label in y[:200]])
    by_sample = classifier(EWC()).fit(X[:200], y[:200], sample_weight=per_sample)
    unweighted = classifier(EWC()).fit(X[:200], y[:200])
    fisher = [the_strategy(m.net_).fisher_ for m in (by_class, by_sample, unweighted)]
    assert_same(fisher[0], fisher[1])
    assert not torch.allclose(
        fisher[0]["layers.0.weight"], fisher[2]["layers.0.weight"]
    )


def fitted_net(digits, module=None):
    X, y = digits
    return classifier(SI(), module).fit(X[:200], y[:200]).net_


def consolidated(strategy, net, batches):
    """``strategy``, fresh, after ``on_update_end`` on each ``(X, y, w)``."""
    strategy.initialize()
    for X, y, w in batches:
        context = context_of(net, X)
        strategy.on_update_end(net, X, y, context=context, sample_weight=w)
    return strategy


@pytest.mark.parametrize("module", [None, Grouped], ids=["mlp", "grouped"])
@pytest.mark.parametrize(
    "make",
    [EWC, lambda: EWC(fisher="true", consolidate_every=2), MAS],
    ids=["EWC", "EWC true, every 2 calls", "MAS"],
)
def test_integer_weights_count_as_repeated_rows(digits, make, module):
    net = fitted_net(digits, module)
    X, y = (torch.as_tensor(a[200:360]) for a in digits)
    w = torch.randint(0, 4, (160,), generator=torch.Generator().manual_seed(0))
    w = w.float()
    halves = [slice(0, 80), slice(80, 160)]  # two calls
    weighted = consolidated(make(), net, [(X[h], y[h], w[h]) for h in halves])
    rows = consolidated(
        make(), net, [(*repeated(w[h], X[h], y[h]), None) for h in halves]
    )
    assert weighted.n_consolidations_ == rows.n_consolidations_ > 0
    assert_same(learned(weighted), learned(rows), rtol=1e-5, atol=1e-8)


def test_consolidate_every_pools_over_the_total_weight(digits):
    X, y = digits
    w = np.random.default_rng(0).uniform(0, 2, size=300)
    clf = classifier(EWC(consolidate_every=2)).fit(
        X[:200], y[:200], sample_weight=w[:200]
    )
    ewc = the_strategy(clf.net_)

    def weighted_sums(rows):
        return diagonal_fisher(
            clf.net_.module_,
            torch.as_tensor(X[rows]),
            torch.as_tensor(y[rows]),
            sample_weight=torch.as_tensor(w[rows], dtype=torch.float32),
        )

    assert ewc.fisher_ is None
    assert ewc.n_pending_samples_ == pytest.approx(w[:200].sum(), rel=1e-6)
    pending = {name: f.clone() for name, f in ewc.pending_fisher_.items()}
    assert_same(pending, weighted_sums(slice(0, 200)))
    clf.partial_fit(X[200:300], y[200:300], sample_weight=w[200:300])
    last = weighted_sums(slice(200, 300))
    expected = {n: (pending[n] + last[n]) / w.sum() for n in pending}
    assert ewc.n_consolidations_ == 1 and ewc.n_pending_samples_ == 0
    assert_same(ewc.fisher_, expected, rtol=1e-5, atol=1e-8)


# each strategy, and the function that measures the importance it keeps
SUBSAMPLED = {
    "EWC": (lambda: EWC(n_fisher_samples=40), ewc, "diagonal_fisher"),
    "MAS": (lambda: MAS(n_importance_samples=40, power=1), mas, "output_sensitivity"),
}


@pytest.mark.parametrize("case", SUBSAMPLED)
def test_the_subsample_is_drawn_among_rows_of_positive_weight(digits, case):
    net = fitted_net(digits)
    X, y = (torch.as_tensor(a[200:300]) for a in digits)
    w = torch.linspace(0.5, 2.0, 100)
    w[::3] = 0.0
    make = SUBSAMPLED[case][0]
    torch.manual_seed(0)
    weighted = consolidated(make(), net, [(X, y, w)])
    torch.manual_seed(0)
    kept = w > 0
    dropped = consolidated(make(), net, [(X[kept], y[kept], w[kept])])
    # a weight-0 row is a dropped row: the same rows are drawn
    assert_same(learned(weighted), learned(dropped), rtol=0, atol=0)
    torch.manual_seed(1)
    other = consolidated(make(), net, [(X[kept], y[kept], w[kept])])
    assert not torch.equal(
        learned(other)["layers.0.weight"], learned(dropped)["layers.0.weight"]
    )


@pytest.mark.parametrize("case", SUBSAMPLED)
def test_the_subsample_keeps_each_row_s_weight(digits, case, monkeypatch):
    net = fitted_net(digits)
    X, y = (torch.as_tensor(a[200:300]) for a in digits)
    w = torch.linspace(0.5, 2.0, 100)  # one weight per row, to tell them apart
    make, namespace, function = SUBSAMPLED[case]
    real, calls = getattr(namespace, function), []

    def spy(module, X, *args, sample_weight=None, **kwargs):
        result = real(module, X, *args, sample_weight=sample_weight, **kwargs)
        calls.append((X, sample_weight, result))
        return result

    monkeypatch.setattr(namespace, function, spy)
    strategy = consolidated(make(), net, [(X, y, w)])
    ((rows, weights, result),) = calls
    assert len(rows) == 40
    weight_of = dict(zip(map(bytes, X.numpy()), w.tolist()))
    assert weights.tolist() == [weight_of[bytes(row)] for row in rows.numpy()]
    if case == "EWC":  # the sums over the subsample, over its total weight
        result = {n: s / weights.sum() for n, s in result.items()}
    assert_same(learned(strategy), result)


def test_si_integer_weights_count_as_repeated_rows(digits):
    # SI's path integral follows the gradients of the weighted loss: with
    # one batch of the whole call, a row of weight k is k copies of the row
    X, y = digits
    w = np.random.default_rng(0).integers(0, 4, size=100)
    models = [classifier(SI(), batch_size=None).fit(X[:200], y[:200]) for _ in "ab"]
    models[0].partial_fit(X[200:300], y[200:300], sample_weight=w)
    models[1].partial_fit(*(np.repeat(a, w, axis=0) for a in (X[200:300], y[200:300])))
    a, b = (the_strategy(m.net_) for m in models)
    assert_same(learned(a), learned(b), rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("case", ["EWC", "MAS"])
def test_a_call_without_positive_weight_adds_no_importance(digits, case, monkeypatch):
    X, y = digits
    strategy, method = (EWC, "_consolidate") if case == "EWC" else (MAS, "consolidate")
    added = []
    real = getattr(strategy, method)

    def spy(self, module, importance):
        added.append(importance)
        return real(self, module, importance)

    monkeypatch.setattr(strategy, method, spy)
    tasks = np.repeat([0, 1, 2], 100)
    w = np.where(tasks == 1, 0.0, 1.0)  # the second task is switched off
    clf = classifier(strategy()).fit(X[:300], y[:300], tasks=tasks, sample_weight=w)
    assert the_strategy(clf.net_).n_consolidations_ == 3
    assert [all(t.any() for t in a.values()) for a in added] == [True, False, True]
    assert all(
        torch.isfinite(t).all() for t in learned(the_strategy(clf.net_)).values()
    )


@pytest.mark.parametrize("how", ["pickle", "skops"])
def test_a_pending_weighted_fisher_survives_a_file(digits, tmp_path, how):
    # the weights are the call's: a file holds the pooled sums and their
    # total weight (a float), in the state EWC always had
    X, y = digits
    w = np.random.default_rng(0).uniform(0, 2, size=300)
    clf = classifier(EWC(consolidate_every=2)).fit(
        X[:200], y[:200], sample_weight=w[:200]
    )
    if how == "pickle":
        loaded = pickle.loads(pickle.dumps(clf))
    else:
        save(clf, tmp_path / "model.skops")
        loaded = load(tmp_path / "model.skops")
    assert (
        the_strategy(loaded.net_).n_pending_samples_
        == the_strategy(clf.net_).n_pending_samples_
    )
    for model in (clf, loaded):
        model.partial_fit(X[200:300], y[200:300], sample_weight=w[200:300])
    a, b = (the_strategy(m.net_) for m in (clf, loaded))
    assert a.n_consolidations_ == b.n_consolidations_ == 1
    assert_same(a.fisher_, b.fisher_, rtol=0, atol=0)


# the unweighted path is the one before weights reached the importances:
# these checksums were printed by the code of commit c22be32 on the call
# sequence below, with one torch thread as in the tests (conftest.py), and
# must not move (beyond the last digits, which another CPU's kernels may
# round differently)
BEFORE = {
    "EWC": 3683.2606803439185,
    "EWC true, vmap path": 90062.32604430198,
    "EWC every 2 calls, subsampled": 1114.0211850498501,
    "MAS": 1902.76903900191,
    "MAS, vmap path": 199407.0666481359,
    "SI": 2.1386499033236723,
    "EWC true, regressor": 8942.48265937693,
}


def checksum(state: dict) -> float:
    """Every entry, times its position: a permutation moves it too."""
    return float(
        sum(
            (t.double().flatten() * torch.arange(1, t.numel() + 1)).sum()
            for t in state.values()
        )
    )


@pytest.mark.parametrize("case", BEFORE)
def test_unweighted_calls_are_unchanged(digits, case):
    X, y = digits
    if case == "EWC true, regressor":
        target = np.c_[y, X[:, 20]].astype(np.float32)
        model = ContinualRegressor(
            hidden_layer_sizes=(16,),
            max_epochs=3,
            update_epochs=2,
            callbacks=[("s", EWC(fisher="true"))],
            random_state=0,
        )
        model.fit(X[:300], target[:300]).partial_fit(X[300:500], target[300:500])
    else:
        make, module = CASES[case]
        model = classifier(make(), module).fit(X[:300], y[:300])
        model.partial_fit(X[300:500], y[300:500]).partial_fit(X[500:700], y[500:700])
    assert checksum(learned(the_strategy(model.net_))) == pytest.approx(
        BEFORE[case], rel=1e-6
    )
