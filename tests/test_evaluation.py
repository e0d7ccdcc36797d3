"""Continual metrics, sequences, streams, flips, comparisons and plots."""

from __future__ import annotations

import multiprocessing
import sys
import time

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import Perceptron, SGDClassifier, SGDRegressor

from sklearn_cl import ContinualClassifier, ContinualRegressor
from sklearn_cl.datasets import permuted_digits, split_by_time, split_digits
from sklearn_cl.evaluation import (
    METRICS,
    accuracy_matrix,
    average_accuracy,
    backward_transfer,
    baseline_scores,
    compare_strategies,
    continual_metrics,
    evaluate_sequence,
    forgetting,
    forward_transfer,
    plot_accuracy_matrix,
    plot_task_curves,
    prediction_flips,
    prequential_score,
    set_random_state,
    state_size,
)
from sklearn_cl.strategies import Replay

R3 = np.array(
    [
        [0.9, 0.2, 0.1],
        [0.7, 0.8, 0.3],
        [0.5, 0.9, 0.6],
    ]
)


# ----------------------------------------------------------------------
# metrics from a matrix
# ----------------------------------------------------------------------
def test_metrics_follow_their_published_definitions():
    assert average_accuracy(R3) == pytest.approx((0.5 + 0.9 + 0.6) / 3)
    # Lopez-Paz & Ranzato: mean over j < T-1 of R[T-1, j] - R[j, j]
    assert backward_transfer(R3) == pytest.approx(((0.5 - 0.9) + (0.9 - 0.8)) / 2)
    # mean over j > 0 of R[j-1, j] - b_j
    b = np.array([0.1, 0.1, 0.2])
    assert forward_transfer(R3, b) == pytest.approx(((0.2 - 0.1) + (0.3 - 0.2)) / 2)
    # Chaudhry et al.: best score since the task was learned minus the final one
    np.testing.assert_allclose(forgetting(R3, per_task=True), [0.9 - 0.5, 0.8 - 0.9])
    assert forgetting(R3) == pytest.approx((0.4 - 0.1) / 2)
    metrics = continual_metrics(R3, b)
    assert metrics == {
        "average_score": average_accuracy(R3),
        "backward_transfer": backward_transfer(R3),
        "forward_transfer": forward_transfer(R3, b),
        "forgetting": forgetting(R3),
    }
    assert np.isnan(continual_metrics(R3)["forward_transfer"])


def test_forgetting_ignores_scores_before_a_task_was_learned():
    R = np.array([[0.5, 0.95, 0.1], [0.5, 0.6, 0.1], [0.5, 0.4, 0.9]])
    # 0.95 on task 1 came before task 1 was trained on: it does not count
    assert forgetting(R, per_task=True)[1] == pytest.approx(0.2)


def test_single_task_metrics_are_nan_and_bad_matrices_raise():
    R = np.array([[0.8]])
    assert average_accuracy(R) == 0.8
    assert np.isnan(backward_transfer(R))
    assert np.isnan(forward_transfer(R, [0.1]))
    assert np.isnan(forgetting(R))
    with pytest.raises(ValueError, match="must be square"):
        average_accuracy(np.ones((2, 3)))
    with pytest.raises(ValueError, match="one score per task"):
        forward_transfer(R3, [0.1, 0.2])


def test_prediction_flips_counts_negative_and_positive_flips():
    y = np.array([0, 1, 2, 0, 1])
    old = np.array([0, 1, 0, 0, 2])  # right on 0, 1, 3
    new = np.array([0, 2, 2, 1, 2])  # right on 0, 2
    flips = prediction_flips(y, old, new)
    assert flips == {
        "negative_flip_rate": pytest.approx(2 / 5),  # samples 1 and 3
        "positive_flip_rate": pytest.approx(1 / 5),  # sample 2
        "flip_rate": pytest.approx(3 / 5),
    }
    with pytest.raises(ValueError, match="same length"):
        prediction_flips(y, old[:3], new)


# ----------------------------------------------------------------------
# sequences
# ----------------------------------------------------------------------
def small_classifier(**params):
    defaults = dict(
        hidden_layer_sizes=(32,),
        max_epochs=10,
        update_epochs=10,
        allow_new_classes=True,
        random_state=0,
    )
    return ContinualClassifier(**{**defaults, **params})


def test_accuracy_matrix_matches_fit_with_tasks():
    """The step-by-step protocol is the sequence ``fit(X, y, tasks)`` runs."""
    tasks = permuted_digits(n_tasks=3)
    clf = small_classifier(max_epochs=3, update_epochs=2)
    R = accuracy_matrix(clf, tasks)
    X, y, ids = tasks.train_arrays()
    fitted = clone(clf).fit(X, y, tasks=ids)
    final = [fitted.score(t.X_test, t.y_test) for t in tasks]
    np.testing.assert_allclose(R[-1], final)
    assert not hasattr(clf, "net_")  # the estimator passed is not fitted


def test_evaluate_sequence_records_forgetting_and_flips():
    tasks = split_digits()
    result = evaluate_sequence(small_classifier(), tasks)
    R = result.matrix
    assert R.shape == (5, 5)
    assert np.all(np.diag(R) > 0.8)  # each new pair of digits is learned
    np.testing.assert_array_equal(R[np.triu_indices(5, k=1)], 0)  # unseen classes
    assert result.metrics["forgetting"] > 0.8  # plain fine-tuning forgets
    assert len(result.flips) == 4 and len(result.update_times) == 4
    assert result.metrics["negative_flip_rate"] == pytest.approx(
        np.mean([f["negative_flip_rate"] for f in result.flips])
    )
    assert result.metrics["negative_flip_rate"] > 0.3
    assert result.fit_time > 0 and result.state_bytes > 1000
    np.testing.assert_allclose(result.baseline, baseline_scores(tasks, classifier=True))


def test_classes_argument_uses_partial_fit_from_the_start():
    tasks = split_digits()
    with pytest.raises(ValueError, match="classes"):
        evaluate_sequence(SGDClassifier(random_state=0), tasks)  # labels fixed by fit
    result = evaluate_sequence(
        SGDClassifier(random_state=0), tasks, classes=np.arange(10)
    )
    assert result.matrix[0, 0] > 0.9


def test_estimators_without_partial_fit_are_pointed_to_update_ensemble():
    from sklearn.tree import DecisionTreeClassifier

    from sklearn_cl import UpdateEnsemble

    tasks = permuted_digits(n_tasks=2)
    with pytest.raises(TypeError, match="no partial_fit.*UpdateEnsemble"):
        evaluate_sequence(DecisionTreeClassifier(), tasks)
    tree = UpdateEnsemble(DecisionTreeClassifier(random_state=0))
    assert evaluate_sequence(tree, tasks).matrix[1, 1] > 0.5


def test_regressors_with_any_scorer():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 4)).astype(np.float32)
    coef = np.array([1.0, -2.0, 0.5, 0.0])
    y = X @ coef + 0.1 * rng.normal(size=600)
    y[300:] += 3 * X[300:, 3]  # the relation drifts in the second half
    tasks = split_by_time(X, y, n_periods=3)
    reg = SGDRegressor(random_state=0)
    r2 = accuracy_matrix(reg, tasks, scoring="r2")
    mae = accuracy_matrix(reg, tasks, scoring="neg_mean_absolute_error")
    assert r2[0, 0] > 0.9 and np.all(mae < 0)
    assert r2[0, 2] < r2[2, 2]  # the drift is learned
    custom = accuracy_matrix(reg, tasks, scoring=lambda est, X, y: 1.0)
    np.testing.assert_array_equal(custom, 1.0)
    net = ContinualRegressor(hidden_layer_sizes=(16,), max_epochs=5, random_state=0)
    result = evaluate_sequence(net, tasks, scoring="neg_mean_absolute_error")
    assert result.matrix.shape == (3, 3) and np.all(result.matrix < 0)
    assert np.isnan(result.metrics["negative_flip_rate"]) and result.flips == []


def test_baseline_scores_are_chance_or_mean_prediction():
    tasks = split_digits()
    b = baseline_scores(tasks, classifier=True)
    assert b.shape == (5,) and 0.0 <= b.mean() < 0.25
    X = np.arange(100.0).reshape(-1, 1)
    reg_tasks = split_by_time(X, X.ravel(), n_periods=2)
    # R² of the pooled mean: 0 where a task's mean is the pooled one, else below
    np.testing.assert_allclose(baseline_scores(reg_tasks, classifier=False)[0], 0)
    assert baseline_scores(reg_tasks, classifier=False)[1] < -100


def test_set_random_state_reaches_nested_strategies():
    clf = small_classifier(random_state=None, callbacks=[("replay", Replay())])
    set_random_state(clf, 7)
    params = clf.get_params(deep=True)
    assert params["random_state"] == 7
    assert params["callbacks__replay__random_state"] == 7


def test_state_size_grows_with_a_replay_buffer():
    tasks = split_digits(n_tasks=2)
    plain = small_classifier(max_epochs=1).fit(tasks[0].X_train, tasks[0].y_train)
    replay = small_classifier(max_epochs=1, callbacks=[Replay(buffer_size=100)])
    replay.fit(tasks[0].X_train, tasks[0].y_train)
    # 100 stored samples of 64 float32 features at least
    assert state_size(replay) - state_size(plain) > 100 * 64 * 4


# ----------------------------------------------------------------------
# compare_strategies
# ----------------------------------------------------------------------
def test_compare_strategies_table_matches_single_runs():
    pytest.importorskip("pandas")
    tasks = permuted_digits(n_tasks=3)
    estimators = {"sgd": SGDClassifier(), "perceptron": Perceptron()}
    table, results = compare_strategies(
        estimators, tasks, n_seeds=2, return_results=True
    )
    assert table["strategy"].tolist() == ["sgd", "perceptron", "joint"]
    assert table.columns.tolist() == ["strategy", "n_seeds", "n_failed", "scoring"] + [
        f"{m}_{s}" for m in METRICS for s in ("mean", "std")
    ]
    assert set(table["scoring"]) == {"accuracy"}  # what the scores are
    runs = [
        evaluate_sequence(SGDClassifier(random_state=seed), tasks) for seed in (0, 1)
    ]
    acc = [r.metrics["average_score"] for r in runs]
    row = table.iloc[0]
    assert row["average_score_mean"] == pytest.approx(np.mean(acc))
    assert row["average_score_std"] == pytest.approx(np.std(acc, ddof=1))
    bwt = [r.metrics["backward_transfer"] for r in runs]
    assert row["backward_transfer_mean"] == pytest.approx(np.mean(bwt))
    np.testing.assert_allclose(results["sgd"][1].matrix, runs[1].matrix)
    joint = table.iloc[2]
    assert np.isnan(joint["backward_transfer_mean"]) and np.isnan(
        joint["update_time_mean"]
    )
    assert joint["average_score_mean"] > row["average_score_mean"] + 0.1
    assert estimators["sgd"].random_state is None  # the caller's object is untouched


def network_strategies():
    """Small networks of every kind the parallel runs must reproduce:
    fine-tuning, replay (seeded memory), an ensemble (pickled size varies
    with how its strings are shared)."""
    from sklearn_cl._strategy_registry import base_estimator, make_strategies

    base = base_estimator(hidden_layer_sizes=(16,), max_epochs=2, update_epochs=2)
    return make_strategies(["finetune", "replay", "ensemble-old-new", "joint"], base)


@pytest.mark.slow  # starts worker processes
def test_compare_strategies_in_parallel_gives_the_same_table():
    tasks = split_digits(n_tasks=3)
    estimators, joint = network_strategies()
    torch.set_num_threads(2)  # the parent's threads must not reach the workers
    try:
        serial = compare_strategies(estimators, tasks, n_seeds=2, joint=joint)
        parallel = compare_strategies(
            estimators, tasks, n_seeds=2, joint=joint, n_jobs=2, progress=True
        )
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    columns = [c for c in serial.columns if "time" not in c]
    assert serial["strategy"].tolist() == ["finetune", "replay", "ensemble-old-new"] + [
        "joint"
    ]
    pd_testing = pytest.importorskip("pandas").testing
    pd_testing.assert_frame_equal(serial[columns], parallel[columns], check_exact=True)
    sgd, tasks = {"sgd": SGDClassifier()}, permuted_digits(n_tasks=2)
    one = compare_strategies(sgd, tasks, n_seeds=2, joint=False)
    with joblib.parallel_config(backend="threading"):  # any joblib backend
        threads = compare_strategies(sgd, tasks, n_seeds=2, joint=False, n_jobs=2)
    assert one["average_score_mean"].tolist() == threads["average_score_mean"].tolist()


def _sleep(name, seed, seconds):
    time.sleep(seconds)
    return name, seed


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="needs fork"
)
def test_forked_runs_go_one_per_estimator_then_longest_first():
    from sklearn_cl.evaluation._compare import _forked

    durations = {"short": 0.0, "long": 0.2, "middle": 0.1}
    jobs = [
        (name, _sleep, (name, seed, seconds))
        for name, seconds in durations.items()
        for seed in range(2)
    ]
    # one worker: the results come back in the order the runs were handed out
    order = list(_forked(jobs, n_workers=1))
    first = [("short", 0), ("long", 0), ("middle", 0)]
    assert order == first + [("long", 1), ("middle", 1), ("short", 1)]


def test_parallel_runs_fail_with_the_runs_error():
    tasks = split_digits(n_tasks=2)
    bad = ContinualClassifier(max_epochs=1, update_lr=-1.0)
    with pytest.raises(ValueError, match="update_lr"):
        compare_strategies({"bad": bad}, tasks, n_seeds=2, joint=False, n_jobs=2)


class _NoPandas:
    """An import hook under which ``import pandas`` fails."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "pandas":
            raise ImportError("pandas is blocked in this test")


def test_compare_strategies_without_pandas_returns_records(monkeypatch, capsys):
    for name in [m for m in sys.modules if m.partition(".")[0] == "pandas"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_NoPandas(), *sys.meta_path])
    tasks = permuted_digits(n_tasks=2)
    table = compare_strategies(
        {"sgd": SGDClassifier()}, tasks, n_seeds=1, joint=Perceptron(), progress=True
    )
    assert isinstance(table, list) and [r["strategy"] for r in table] == [
        "sgd",
        "joint",
    ]
    assert np.isnan(table[0]["average_score_std"])  # one seed: no spread
    assert "compare" in capsys.readouterr().err  # the progress bar


def test_compare_strategies_with_continual_estimators_shows_forgetting():
    tasks = split_digits()
    table = compare_strategies(
        {
            "finetune": small_classifier(),
            "replay": small_classifier(callbacks=[("replay", Replay())]),
        },
        tasks,
        n_seeds=2,
        joint=small_classifier(),
        return_results=False,
    )
    acc = dict(zip(table["strategy"], table["average_score_mean"]))
    assert acc["finetune"] < 0.25 and acc["replay"] > 0.5
    assert acc["joint"] > acc["replay"] + 0.1
    forget = dict(zip(table["strategy"], table["forgetting_mean"]))
    assert forget["replay"] < forget["finetune"] - 0.4


@pytest.mark.parametrize(
    "estimators, kwargs, error, match",
    [
        ({}, {}, TypeError, "non-empty dict"),
        ([SGDClassifier()], {}, TypeError, "non-empty dict"),
        ({"joint": SGDClassifier()}, {}, ValueError, "taken by the joint"),
        ({"sgd": SGDClassifier()}, {"n_seeds": 0}, ValueError, "n_seeds"),
    ],
)
def test_compare_strategies_rejects_bad_arguments(estimators, kwargs, error, match):
    with pytest.raises(error, match=match):
        compare_strategies(estimators, permuted_digits(n_tasks=2), **kwargs)


# ----------------------------------------------------------------------
# prequential evaluation
# ----------------------------------------------------------------------
class LastLabel(ClassifierMixin, BaseEstimator):
    """Predicts the last label it was trained on: a stream learner whose
    prequential scores can be written down by hand."""

    def partial_fit(self, X, y, classes=None):
        self.classes_ = np.unique(y if classes is None else classes)
        self.last_ = y[-1]
        return self

    def fit(self, X, y):
        return self.partial_fit(X, y)

    def predict(self, X):
        return np.full(len(X), self.last_)


def test_prequential_tests_each_sample_before_training_on_it():
    y = np.array([0, 0, 1, 1, 1, 0, 0, 0])
    X = np.zeros((8, 1))
    # predictions of samples 1..7: the previous label
    hits = (y[1:] == y[:-1]).astype(float)  # [1, 0, 1, 1, 0, 1, 1]
    result = prequential_score(LastLabel(), X, y)
    np.testing.assert_array_equal(result.per_sample, hits)
    np.testing.assert_allclose(result.curve, np.cumsum(hits) / np.arange(1, 8))
    np.testing.assert_array_equal(result.n_seen, np.arange(2, 9))
    window = prequential_score(LastLabel(), X, y, window=2)
    assert window.curve.tolist() == [1, 0.5, 0.5, 1, 0.5, 0.5, 1]
    alpha = 0.5
    fading = prequential_score(LastLabel(), X, y, fading=alpha)
    s = n = 0.0
    for value, got in zip(hits, fading.curve):
        s, n = value + alpha * s, 1 + alpha * n
        assert got == pytest.approx(s / n)
    assert fading.score == fading.curve[-1]


def test_prequential_batches_initial_fit_and_regression():
    y = np.array([0, 0, 1, 1, 1, 0, 0, 0])
    X = np.zeros((8, 1))
    batched = prequential_score(LastLabel(), X, y, batch_size=3)
    # batches [0 0 1] (train only), [1 1 0] predicted 1, [0 0] predicted 0
    np.testing.assert_array_equal(batched.per_sample, [1, 1, 0, 1, 1])
    started = prequential_score(LastLabel(), X, y, initial_size=4)
    assert len(started.per_sample) == 4
    rng = np.random.default_rng(0)
    Xr = rng.normal(size=(400, 2))
    yr = Xr @ [1.0, 2.0]
    result = prequential_score(SGDRegressor(random_state=0), Xr, yr, batch_size=20)
    assert result.per_sample.min() >= 0  # absolute errors
    assert result.per_sample[-20:].mean() < result.per_sample[:20].mean()
    squared = prequential_score(
        SGDRegressor(random_state=0), Xr, yr, batch_size=20, metric="squared_error"
    )
    np.testing.assert_allclose(squared.per_sample, result.per_sample**2, rtol=1e-6)


def test_prequential_with_a_network_learns_the_stream(digits):
    X, y = digits
    clf = ContinualClassifier(
        hidden_layer_sizes=(32,), update_epochs=2, lr=3e-3, random_state=0
    )
    result = prequential_score(clf, X, y, batch_size=100, window=300)
    assert result.score > 0.7 and result.curve[0] < 0.5


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"window": 3, "fading": 0.9}, "not both"),
        ({"window": 0}, "window must be a positive"),
        ({"fading": 1.5}, r"fading must be in \(0, 1\]"),
        ({"batch_size": 0}, "batch_size must be"),
        ({"initial_size": 8}, "nothing is left to score"),
        ({"metric": "f1"}, "Unknown metric 'f1'"),
    ],
)
def test_prequential_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        prequential_score(LastLabel(), np.zeros((8, 1)), np.zeros(8), **kwargs)


# ----------------------------------------------------------------------
# plots
# ----------------------------------------------------------------------
def test_plots_draw_every_cell_and_curve():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    ax = plot_accuracy_matrix(R3, task_names=["a", "b", "c"], title="t")
    assert len(ax.texts) == 9 and ax.get_title() == "t"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    ax = plot_accuracy_matrix(R3[:1])  # one row: the joint bound
    assert len(ax.texts) == 3
    ax = plot_task_curves(R3)
    lines = ax.get_lines()
    assert len(lines) == 3
    np.testing.assert_array_equal(lines[1].get_ydata(), R3[1:, 1])
    with pytest.raises(ValueError, match="square"):
        plot_task_curves(R3[:2])
    with pytest.raises(ValueError, match="Give 3 task names"):
        plot_accuracy_matrix(R3, task_names=["a"])
    matplotlib.pyplot.close("all")


def neg_max_error(estimator, X, y):
    return -float(np.max(np.abs(estimator.predict(X) - y)))


def test_the_table_names_what_its_scores_are():
    from sklearn.linear_model import SGDRegressor

    from sklearn_cl.datasets import split_by_time

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2))
    tasks = split_by_time(X, X @ [1.0, -1.0], n_periods=2)
    table = compare_strategies({"sgd": SGDRegressor()}, tasks, n_seeds=1)
    assert set(table["scoring"]) == {"r2"}  # the regressor's own score
    table = compare_strategies(
        {"sgd": SGDRegressor()}, tasks, n_seeds=1, scoring=neg_max_error
    )
    assert set(table["scoring"]) == {"neg_max_error"}
    assert (table["average_score_mean"] < 0).all()


@pytest.mark.slow  # starts fresh worker interpreters
def test_parallel_runs_do_not_fork_where_torch_sees_a_gpu(monkeypatch):
    # on a GPU machine a forked worker's backward fails once the parent has
    # trained ("Unable to handle autograd's threading in combination with
    # fork-based multiprocessing"): the runs go to loky's fresh workers
    from sklearn_cl.evaluation import _compare

    def no_fork(*args):
        raise AssertionError("forked where torch sees a GPU")

    monkeypatch.setattr(_compare, "_has_accelerator", lambda: True)
    monkeypatch.setattr(_compare, "_forked", no_fork)
    assert not _compare._forks()
    sgd, tasks = {"sgd": SGDClassifier()}, permuted_digits(n_tasks=2)
    serial = compare_strategies(sgd, tasks, n_seeds=2, joint=False)
    parallel = compare_strategies(sgd, tasks, n_seeds=2, joint=False, n_jobs=2)
    scores = "average_score_mean"
    assert serial[scores].tolist() == parallel[scores].tolist()
