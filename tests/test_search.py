"""Hyperparameter searches over update hyperparameters with fit(X, y, tasks=t)."""

import numpy as np
import pytest
import sklearn
import torch
from scipy.stats import loguniform
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, KFold, RandomizedSearchCV

from sklearn_cl import (
    ContinualClassifier,
    NonFiniteUpdateError,
    Snapshots,
    make_task_scorer,
)
from sklearn_cl.datasets import permuted_digits, split_digits
from sklearn_cl.evaluation import backward_transfer, forgetting
from sklearn_cl.strategies import EWC, Replay

METRICS = ["average", "neg_forgetting", "backward_transfer"]


def task_of(X, y):
    """Task of each label on split_digits(3): {0-3}, {4-6}, {7-9}."""
    return np.searchsorted([4, 7], y, side="right")


@pytest.fixture(scope="module")
def split3():
    """Every second training sample of split digits in 3 tasks (449 samples)."""
    X, y, tasks = split_digits(3).train_arrays()
    return X[::2], y[::2], tasks[::2]


def make_clf(**params):
    defaults = dict(
        hidden_layer_sizes=(32,),
        lr=1e-2,
        max_epochs=5,
        update_epochs=5,
        callbacks=[("snapshots", Snapshots()), ("replay", Replay(buffer_size=5))],
        random_state=0,
    )
    return ContinualClassifier(**{**defaults, **params})


def scorers(**kwargs):
    return {metric: make_task_scorer(metric, **kwargs) for metric in METRICS}


def test_grid_search_picks_the_replay_buffer_that_forgets_least(split3):
    X, y, tasks = split3
    search = GridSearchCV(
        make_clf(),
        {"callbacks__replay__buffer_size": [5, 200]},
        scoring=scorers(task_of=task_of),
        refit="neg_forgetting",
        cv=2,
        error_score="raise",
    ).fit(X, y, tasks=tasks)
    assert search.best_params_ == {"callbacks__replay__buffer_size": 200}
    small, large = search.cv_results_["mean_test_average"]
    assert large > small + 0.05
    # the refitted model trained on the three tasks in order
    assert search.best_estimator_.n_updates_ == 2


def test_a_stronger_ewc_forgets_less_on_permuted_digits():
    # tasks share the classes here: shuffled folds keep every task in every fold
    X, y, tasks = permuted_digits(2).train_arrays()
    clf = make_clf(callbacks=[("ewc", EWC(lambda_=1.0)), ("snapshots", Snapshots())])
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            clf.set_fit_request(tasks=True),
            {"callbacks__ewc__lambda_": [1.0, 1000.0]},
            scoring=make_task_scorer("neg_forgetting"),
            cv=KFold(2, shuffle=True, random_state=0),
            error_score="raise",
        ).fit(X[::2], y[::2], tasks=tasks[::2])
    assert search.best_params_ == {"callbacks__ewc__lambda_": 1000.0}
    weak, strong = search.cv_results_["mean_test_score"]
    assert strong > weak + 0.05


def test_with_routing_a_search_finds_that_a_huge_update_lr_forgets_more(split3):
    X, y, tasks = split3
    with sklearn.config_context(enable_metadata_routing=True):
        clf = make_clf().set_fit_request(tasks=True)
        # no task_of: the scorers fail unless routing gives them the tasks
        search = GridSearchCV(
            clf,
            {"update_lr": [1e-3, 1.0]},
            scoring=scorers(),
            refit="average",
            cv=2,
            error_score="raise",
        ).fit(X, y, tasks=tasks)
    assert search.best_params_ == {"update_lr": 1e-3}
    small, huge = search.cv_results_["mean_test_neg_forgetting"]
    assert huge < small - 0.2
    assert search.best_estimator_.n_updates_ == 2


def test_without_routing_or_task_of_the_scorer_says_what_to_do(split3):
    X, y, tasks = split3
    search = GridSearchCV(
        make_clf(max_epochs=1, update_epochs=1),
        {"update_lr": [1e-3]},
        scoring=make_task_scorer("average"),
        cv=2,
        error_score="raise",
    )
    with pytest.raises(ValueError, match="enable_metadata_routing=True"):
        search.fit(X, y, tasks=tasks)


def test_parallel_search_pickles_and_matches_sequential(split3):
    X, y, tasks = split3
    results = []
    for n_jobs in (1, 2):
        search = RandomizedSearchCV(
            make_clf(max_epochs=1, update_epochs=1),
            {
                "update_lr": loguniform(1e-4, 1e-1),
                "callbacks__replay__buffer_size": [10, 100],
            },
            n_iter=2,
            scoring=make_task_scorer("average", task_of=task_of),
            cv=2,
            n_jobs=n_jobs,
            random_state=0,
            error_score="raise",
        ).fit(X, y, tasks=tasks)
        results.append(search.cv_results_["mean_test_score"])
    # workers run torch on fewer threads: sums may differ in the last bits
    np.testing.assert_allclose(results[0], results[1], atol=0.02)


def test_average_and_worst_are_per_task_accuracies(split3):
    X, y, tasks = split3
    clf = make_clf(max_epochs=2, update_epochs=2).fit(X, y, tasks=tasks)
    accuracies = [
        accuracy_score(y[tasks == t], clf.predict(X[tasks == t])) for t in range(3)
    ]
    average = make_task_scorer("average")(clf, X, y, tasks=tasks)
    worst = make_task_scorer("worst")(clf, X, y, tasks=tasks)
    assert average == pytest.approx(np.mean(accuracies))
    assert worst == pytest.approx(min(accuracies))
    # task ids from task_of give the same score
    assert make_task_scorer("average", task_of=task_of)(clf, X, y) == average


def test_last_snapshot_is_the_final_model(split3):
    X, y, tasks = split3
    clf = make_clf(max_epochs=2, update_epochs=2).fit(X, y, tasks=tasks)
    snapshots = dict(clf.net_.callbacks_)["snapshots"].modules(clf.net_.module_)
    assert len(snapshots) == 3
    X_t = torch.as_tensor(X, dtype=torch.float32)
    with torch.inference_mode():
        first, last = snapshots[0](X_t).numpy(), snapshots[-1](X_t).numpy()
    np.testing.assert_array_equal(clf.classes_[last.argmax(1)], clf.predict(X))
    assert not np.allclose(first, last)


def test_snapshot_metrics_are_those_of_the_accuracy_matrix(split3):
    X, y, tasks = split3
    clf = make_clf(max_epochs=2, update_epochs=2).fit(X, y, tasks=tasks)
    snapshots = dict(clf.net_.callbacks_)["snapshots"].modules(clf.net_.module_)
    with torch.inference_mode():
        outputs = [m(torch.as_tensor(X)).numpy() for m in snapshots]
    R = np.array(
        [
            [accuracy_score(y[tasks == t], out[tasks == t].argmax(1)) for t in range(3)]
            for out in outputs
        ]
    )
    neg_forgetting = make_task_scorer("neg_forgetting")(clf, X, y, tasks=tasks)
    bwt = make_task_scorer("backward_transfer")(clf, X, y, tasks=tasks)
    assert neg_forgetting == pytest.approx(-forgetting(R))
    assert bwt == pytest.approx(backward_transfer(R))
    assert forgetting(R) > 0


def test_snapshot_metrics_need_snapshots_and_one_call_per_task(split3):
    X, y, tasks = split3
    plain = ContinualClassifier(hidden_layer_sizes=(8,), max_epochs=1, random_state=0)
    plain.fit(X, y, tasks=tasks)
    with pytest.raises(ValueError, match="Snapshots"):
        make_task_scorer("neg_forgetting")(plain, X, y, tasks=tasks)
    clf = make_clf(max_epochs=1, update_epochs=1).fit(X, y, tasks=tasks)
    clf.partial_fit(X[:10], y[:10])
    with pytest.raises(ValueError, match="trained in 4 calls.*has 3 tasks"):
        make_task_scorer("neg_forgetting")(clf, X, y, tasks=tasks)


def test_scorer_errors(split3):
    X, y, tasks = split3
    clf = make_clf(max_epochs=1, update_epochs=1).fit(X, y, tasks=tasks)
    with pytest.raises(ValueError, match="`metric` must be one of"):
        make_task_scorer("accuracy")
    with pytest.raises(TypeError, match="`task_of` must be a callable"):
        make_task_scorer("average", task_of=[0, 1])
    with pytest.raises(ValueError, match=r"expected shape \(10,\), got \(9,\)"):
        make_task_scorer("average")(clf, X[:10], y[:10], tasks=tasks[:9])


def test_scorer_requests_tasks_by_default():
    scorer = make_task_scorer("average")
    request = scorer.get_metadata_routing()
    assert request.consumes("score", ["tasks"]) == {"tasks"}
    scorer.set_score_request(tasks=False)
    assert scorer.get_metadata_routing().consumes("score", ["tasks"]) == set()


def test_snapshots_keep_a_grown_output_layer_narrow_and_save_safely(tmp_path):
    from sklearn_cl import persistence

    X, y, _ = split_digits(3).train_arrays()
    clf = ContinualClassifier(
        hidden_layer_sizes=(8,),
        max_epochs=1,
        update_epochs=1,
        allow_new_classes=True,
        callbacks=[("snapshots", Snapshots())],
        random_state=0,
    )
    clf.fit(X[y < 2], y[y < 2]).partial_fit(X[y < 4], y[y < 4])
    first, last = dict(clf.net_.callbacks_)["snapshots"].modules(clf.net_.module_)
    X_t = torch.as_tensor(X[:5], dtype=torch.float32)
    with torch.inference_mode():
        assert first(X_t).shape == (5, 2) and last(X_t).shape == (5, 4)
    persistence.save(clf, tmp_path / "model.skops")
    loaded = persistence.load(tmp_path / "model.skops")
    weights = dict(loaded.net_.callbacks_)["snapshots"].weights_
    assert [w.keys() for w in weights] == [
        w.keys() for w in dict(clf.net_.callbacks_)["snapshots"].weights_
    ]
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))


def test_rollback_keeps_the_snapshots_without_copying_them(split3):
    X, y, tasks = split3
    clf = make_clf(max_epochs=1, update_epochs=1).fit(X, y, tasks=tasks)
    snapshots = dict(clf.net_.callbacks_)["snapshots"]
    before = list(snapshots.weights_)
    clf.set_params(update_lr=1e30)
    with pytest.raises(NonFiniteUpdateError):
        clf.partial_fit(X * 1e10, y)
    after = dict(clf.net_.callbacks_)["snapshots"].weights_
    assert len(after) == len(before)
    assert all(a[k] is b[k] for a, b in zip(after, before) for k in b)


def test_snapshots_name_weights_the_template_has_no_place_for(split3):
    X, y, tasks = split3
    clf = make_clf(max_epochs=1, update_epochs=1).fit(X, y, tasks=tasks)
    snapshots = dict(clf.net_.callbacks_)["snapshots"]
    other = torch.nn.Sequential(torch.nn.Linear(64, 10))
    with pytest.raises(ValueError, match=r"Snapshot 0 holds weights .*net_\.module_"):
        snapshots.modules(other)
    snapshots.weights_[1] = {"layers.0.weight": "not a tensor"}
    with pytest.raises(ValueError, match=r"Snapshot 1 .*'layers.0.weight'"):
        snapshots.modules(clf.net_.module_)
