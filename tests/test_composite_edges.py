"""Edges scikit-learn users reach first in the composites: comparisons with a
failing candidate, DataFrames through prequential evaluation, non-finite
errors and metadata routing in MonitoredUpdater."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import FitFailedWarning
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import SGDClassifier, SGDRegressor
from sklearn.model_selection import GridSearchCV

from sklearn_cl import ContinualClassifier, IncrementalPipeline, MonitoredUpdater
from sklearn_cl.datasets import permuted_digits
from sklearn_cl.evaluation import (
    compare_strategies,
    comparison_verdict,
    format_comparison,
    prequential_score,
    save_comparison,
)


class FailingUpdates(SGDClassifier):
    """An SGDClassifier whose updates raise (a strategy with a bug)."""

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        raise RuntimeError("update exploded")


@pytest.fixture
def routing():
    sklearn.set_config(enable_metadata_routing=True)
    yield
    sklearn.set_config(enable_metadata_routing=False)


# ----------------------------------------------------------------------
# compare_strategies with a candidate that fails
# ----------------------------------------------------------------------
@pytest.mark.parametrize("n_jobs", [None, 2])
def test_a_failing_candidate_is_named_in_the_error(n_jobs):
    tasks = permuted_digits(n_tasks=2)
    estimators = {"sgd": SGDClassifier(), "buggy": FailingUpdates()}
    with pytest.raises(RuntimeError, match="update exploded") as info:
        compare_strategies(estimators, tasks, n_seeds=1, joint=False, n_jobs=n_jobs)
    assert "the run of 'buggy', seed 0" in " ".join(info.value.__notes__)


@pytest.mark.parametrize("n_jobs", [None, 2])
def test_error_score_nan_keeps_the_other_candidates(n_jobs):
    tasks = permuted_digits(n_tasks=2)
    # the failing one first: its warm-up run fails too
    estimators = {"buggy": FailingUpdates(), "sgd": SGDClassifier()}
    alone = compare_strategies({"sgd": SGDClassifier()}, tasks, n_seeds=2, joint=False)
    with pytest.warns(FitFailedWarning, match="2 of 2 runs of 'buggy'.*exploded"):
        table, results = compare_strategies(
            estimators,
            tasks,
            n_seeds=2,
            joint=False,
            n_jobs=n_jobs,
            error_score=np.nan,
            return_results=True,
        )
    rows = table.set_index("strategy")
    assert rows.loc["buggy", "n_failed"] == 2 and rows.loc["sgd", "n_failed"] == 0
    assert np.isnan(rows.loc["buggy", "average_score_mean"])
    assert rows.loc["sgd", "average_score_mean"] == pytest.approx(
        alone["average_score_mean"][0]
    )
    assert all("exploded" in r.error for r in results["buggy"])
    assert all(r.error is None for r in results["sgd"])
    assert "buggy (2 of 2 runs failed)" in format_comparison(table)
    verdict = comparison_verdict(table)
    assert verdict.startswith("Winner: sgd") and "No score for buggy." in verdict
    assert "nan" not in verdict


def test_error_score_takes_raise_or_nan():
    with pytest.raises(ValueError, match="error_score must be 'raise'.*got 0"):
        compare_strategies(
            {"sgd": SGDClassifier()}, permuted_digits(n_tasks=2), error_score=0
        )


def test_comparison_without_failures_counts_none():
    table = compare_strategies(
        {"sgd": SGDClassifier()}, permuted_digits(n_tasks=2), n_seeds=1
    )
    assert table["n_failed"].tolist() == [0, 0]


# ----------------------------------------------------------------------
# prequential_score keeps DataFrames
# ----------------------------------------------------------------------
def test_prequential_passes_dataframes_on():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(400, 3)), columns=["a", "b", "noise"])
    y = (X["a"] + X["b"] > 0).astype(int).to_numpy()
    # selects its columns by name: it fails on a bare array
    select = ColumnTransformer([("ab", "passthrough", ["a", "b"])]).fit(X)
    pipe = IncrementalPipeline(
        [("select", FrozenEstimator(select)), ("clf", SGDClassifier(random_state=0))]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X does not have valid feature names"
        result = prequential_score(pipe, X, y, batch_size=50)
    plain = prequential_score(
        SGDClassifier(random_state=0), X[["a", "b"]].to_numpy(), y, batch_size=50
    )
    np.testing.assert_array_equal(result.per_sample, plain.per_sample)


# ----------------------------------------------------------------------
# MonitoredUpdater: non-finite errors and metadata routing
# ----------------------------------------------------------------------
def _stream(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    return X, X @ [1.0, -2.0, 0.5]


def _nan_for_one_sample(y_true, y_pred):
    errors = np.abs(y_true - y_pred)
    errors[3] = np.nan
    return errors


def _infinite(y_true, y_pred):
    return np.full(len(y_true), np.inf)


@pytest.mark.parametrize("error", [_nan_for_one_sample, _infinite])
def test_non_finite_errors_are_refused_and_change_nothing(error):
    X, y = _stream()
    updater = MonitoredUpdater(SGDRegressor(random_state=0), error=error)
    updater.fit(X[:100], y[:100])
    before = pickle.dumps(updater)
    with pytest.raises(ValueError, match="NaN or infinite.*disable the drift"):
        updater.partial_fit(X[100:200], y[100:200])
    assert pickle.dumps(updater) == before


def test_nan_predictions_are_refused():
    X, y = _stream()
    updater = MonitoredUpdater(SGDRegressor(random_state=0), policy="always")
    updater.fit(X[:100], y[:100])
    updater.estimator_.coef_[:] = np.nan  # a diverged model
    with pytest.raises(ValueError, match="1?00 NaN or infinite values"):
        updater.partial_fit(X[100:200], y[100:200])
    assert updater.history_ == [] and updater.updates_ == []


def _classifier():
    return ContinualClassifier(
        hidden_layer_sizes=(8,), max_epochs=1, update_epochs=1, random_state=0
    )


def test_routing_passes_requested_tasks_through_a_search(routing):
    X, y = _stream(200)
    y = (y > 0).astype(int)
    tasks = np.repeat([0, 1], 100)
    inner = _classifier().set_fit_request(tasks=True)
    search = GridSearchCV(MonitoredUpdater(inner), {"policy": ["never"]}, cv=2)
    search.fit(X, y, tasks=tasks)
    # one training call per task of the training fold
    assert search.best_estimator_.estimator_.n_updates_ == 1


def test_routing_withholds_what_the_estimator_does_not_request(routing):
    X, y = _stream(200)
    y = (y > 0).astype(int)
    weights = np.linspace(0.1, 5, 200)
    ignores = SGDClassifier(random_state=0).set_fit_request(sample_weight=False)
    with pytest.raises(TypeError, match="sample_weight.*not routed"):
        MonitoredUpdater(ignores).fit(X, y, sample_weight=weights)
    takes = SGDClassifier(random_state=0).set_fit_request(sample_weight=True)
    weighted = MonitoredUpdater(takes).fit(X, y, sample_weight=weights)
    sklearn.set_config(enable_metadata_routing=False)
    plain = MonitoredUpdater(SGDClassifier(random_state=0)).fit(X, y)
    by_hand = SGDClassifier(random_state=0).fit(X, y, sample_weight=weights)
    np.testing.assert_array_equal(weighted.estimator_.coef_, by_hand.coef_)
    assert not np.array_equal(weighted.estimator_.coef_, plain.estimator_.coef_)


def test_without_routing_fit_params_still_reach_the_estimator():
    X, y = _stream(200)
    y = (y > 0).astype(int)
    weights = np.linspace(0.1, 5, 200)
    updater = MonitoredUpdater(SGDClassifier(random_state=0))
    updater.fit(X, y, sample_weight=weights)
    by_hand = SGDClassifier(random_state=0).fit(X, y, sample_weight=weights)
    np.testing.assert_array_equal(updater.estimator_.coef_, by_hand.coef_)


# ----------------------------------------------------------------------
# task scorers through the composites
# ----------------------------------------------------------------------
def _sequence():
    from sklearn_cl.datasets import split_digits

    sequence = split_digits(2)
    return (*sequence.train_arrays(), *sequence.test_arrays())


def test_snapshot_metrics_read_the_model_inside_a_monitored_updater():
    from sklearn_cl.scoring import Snapshots, make_task_scorer

    X, y, tasks, X_test, y_test, tasks_test = _sequence()
    inner = ContinualClassifier(
        hidden_layer_sizes=(8,),
        max_epochs=2,
        update_epochs=2,
        random_state=0,
        callbacks=[("snapshots", Snapshots())],
    )
    updater = MonitoredUpdater(inner).fit(X, y, tasks=tasks)
    scorer = make_task_scorer("neg_forgetting")
    score = scorer(updater, X_test, y_test, tasks=tasks_test)
    assert score == scorer(updater.estimator_, X_test, y_test, tasks=tasks_test)
    assert score < 0  # some of digits 0-4 are forgotten without a strategy


def test_snapshot_metrics_refuse_an_ensemble_and_say_why():
    from sklearn.linear_model import LogisticRegression

    from sklearn_cl import UpdateEnsemble
    from sklearn_cl.scoring import make_task_scorer

    X, y, tasks, X_test, y_test, tasks_test = _sequence()
    ensemble = UpdateEnsemble(LogisticRegression(max_iter=200)).fit(X, y)
    with pytest.raises(ValueError, match="got UpdateEnsemble.*several models.*"):
        make_task_scorer("backward_transfer")(
            ensemble, X_test, y_test, tasks=tasks_test
        )


# ----------------------------------------------------------------------
# UpdateEnsemble: `classes` and the newest member; MonitoredUpdater's names
# ----------------------------------------------------------------------
def test_newest_member_meeting_new_labels_says_classes_are_not_passed_on():
    from sklearn.datasets import load_digits

    from sklearn_cl import UpdateEnsemble

    X, y = load_digits(return_X_y=True)
    first = y < 5
    ensemble = UpdateEnsemble(_classifier(), update="newest")
    ensemble.partial_fit(X[first], y[first], classes=np.arange(10))
    before = pickle.dumps(ensemble)
    with pytest.raises(ValueError, match="new labels") as info:
        ensemble.partial_fit(X[~first], y[~first])
    note = " ".join(info.value.__notes__)
    assert "`classes` is not passed to its members" in note
    assert "allow_new_classes=True" in note and "update='add'" in note
    assert pickle.dumps(ensemble) == before
    # the fix the note names works
    grows = UpdateEnsemble(_classifier().set_params(allow_new_classes=True))
    grows.set_params(update="newest").partial_fit(X[first], y[first])
    grows.partial_fit(X[~first], y[~first])
    assert len(grows.estimators_) == 1
    np.testing.assert_array_equal(grows.estimators_[0].classes_, np.arange(10))


def test_monitored_updater_exposes_feature_names():
    X, y = _stream(100)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    updater = MonitoredUpdater(SGDRegressor(random_state=0)).fit(frame, y)
    assert updater.feature_names_in_.tolist() == ["a", "b", "c"]
    assert not hasattr(MonitoredUpdater(SGDRegressor()).fit(X, y), "feature_names_in_")


@pytest.mark.parametrize("score_func", ["f1_macro", 0.5])
def test_task_scorer_refuses_a_score_func_it_cannot_call(score_func):
    from sklearn_cl.scoring import make_task_scorer

    with pytest.raises(TypeError, match="`score_func` must be a callable.*partial"):
        make_task_scorer("average", score_func=score_func)


# ----------------------------------------------------------------------
# a FrozenEstimator stays frozen in the composites
# ----------------------------------------------------------------------
def _fitted_sgd():
    X, y = _stream(300)
    return X, (y > 0).astype(int), SGDClassifier(random_state=0).fit(X, y > 0)


def test_pipeline_ending_in_a_frozen_model_has_no_partial_fit():
    from sklearn.preprocessing import StandardScaler

    X, y, model = _fitted_sgd()
    coef = model.coef_.copy()
    pipe = IncrementalPipeline(
        [("scale", StandardScaler()), ("clf", FrozenEstimator(model))]
    )
    assert not hasattr(pipe, "partial_fit")
    with pytest.raises(AttributeError, match="partial_fit"):
        pipe.partial_fit(X, y)
    np.testing.assert_array_equal(model.coef_, coef)
    updatable = IncrementalPipeline([("scale", StandardScaler()), ("clf", model)])
    assert hasattr(updatable, "partial_fit")


@pytest.mark.parametrize("policy", ["always", "drift", "periodic"])
def test_monitoring_a_frozen_model_refuses_policies_that_update(policy):
    X, y, model = _fitted_sgd()
    updater = MonitoredUpdater(FrozenEstimator(model), policy=policy, period=2)
    with pytest.raises(ValueError, match="FrozenEstimator is never updated.*'never'"):
        updater.partial_fit(X, y)
    assert not hasattr(updater, "estimator_")


def test_a_frozen_model_is_monitored_from_its_first_batch():
    X, y, model = _fitted_sgd()
    coef = model.coef_.copy()
    updater = MonitoredUpdater(FrozenEstimator(model), policy="never")
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        updater.partial_fit(X[:100], y[:50])
    assert not hasattr(updater, "estimator_")  # a failed first batch: unfitted
    for start in range(0, 300, 100):
        updater.partial_fit(X[start : start + 100], y[start : start + 100])
    errors = [1 - model.score(X[s : s + 100], y[s : s + 100]) for s in (0, 100, 200)]
    assert [h["error"] for h in updater.history_] == pytest.approx(errors)
    assert updater.updates_ == []
    np.testing.assert_array_equal(model.coef_, coef)


def test_ensemble_refuses_a_frozen_model_to_clone_and_points_to_init():
    from sklearn_cl import UpdateEnsemble

    X, y, model = _fitted_sgd()
    with pytest.raises(ValueError, match="FrozenEstimator is never fitted.*`init`"):
        UpdateEnsemble(FrozenEstimator(model), voting="hard").partial_fit(X, y)
    ensemble = UpdateEnsemble.from_fitted(model, voting="hard").partial_fit(X, y)
    assert len(ensemble.estimators_) == 2


class FailingFits(FailingUpdates):
    """Fails at the first training call too (and as the joint bound)."""

    def fit(self, X, y, **params):
        raise RuntimeError("fit exploded")


def test_a_comparison_where_everything_failed_still_reports(tmp_path):
    tasks = permuted_digits(n_tasks=2)
    with pytest.warns(FitFailedWarning):
        table, results = compare_strategies(
            {"buggy": FailingFits()},
            tasks,
            n_seeds=1,
            error_score=np.nan,
            return_results=True,
        )
    assert table["n_failed"].tolist() == [1, 1]
    assert comparison_verdict(table) == (
        "Joint training (upper bound): accuracy -. No score for buggy."
    )
    assert comparison_verdict(table[table["strategy"] == "buggy"]) == (
        "No score for buggy."
    )
    written = save_comparison(tmp_path, table, results, tasks)
    assert (tmp_path / "results.json") in written


@pytest.mark.parametrize("frame_first", [True, False])
def test_periodic_batches_must_all_be_frames_or_all_arrays(frame_first):
    X, y = _stream(300)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    first, second = (frame, X) if frame_first else (X, frame)
    updater = MonitoredUpdater(
        SGDRegressor(random_state=0), policy="periodic", period=2
    )
    updater.fit(first[:100], y[:100])
    updater.partial_fit(first[100:200], y[100:200])
    before = pickle.dumps(updater)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the model's own feature-name warning
        with pytest.raises(ValueError, match="batches waiting for the periodic"):
            updater.partial_fit(second[200:], y[200:])
    assert pickle.dumps(updater) == before
