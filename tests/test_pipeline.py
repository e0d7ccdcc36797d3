"""IncrementalPipeline: partial_fit through transformers, fit parameters, search."""

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.decomposition import PCA, IncrementalPCA
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from sklearn_cl import (
    ContinualClassifier,
    ContinualRegressor,
    IncrementalPipeline,
    Snapshots,
    UpdateEnsemble,
    make_incremental_pipeline,
    make_task_scorer,
)
from sklearn_cl.datasets import split_digits

CLASSES = np.arange(10)


def small_clf(**params):
    defaults = dict(hidden_layer_sizes=(16,), max_epochs=2, random_state=0)
    return ContinualClassifier(**{**defaults, **params})


def batches(X, y, n):
    return zip(np.array_split(X, n), np.array_split(y, n))


def test_partial_fit_updates_scalers_then_the_final_step(digits):
    X, y = digits
    pipe = make_incremental_pipeline(
        StandardScaler(), IncrementalPCA(n_components=8), small_clf()
    )
    for Xb, yb in batches(X[:600], y[:600], 3):
        pipe.partial_fit(Xb, yb, classes=CLASSES)
    scaler, pca, clf = (step for _, step in pipe.steps)
    assert scaler.n_samples_seen_ == 600
    np.testing.assert_allclose(scaler.mean_, X[:600].mean(axis=0), atol=1e-6)
    assert pca.n_samples_seen_ == 600
    assert clf.n_updates_ == 3 and clf.n_features_in_ == 8


@pytest.mark.parametrize(
    "make_final", [small_clf, lambda: ContinualRegressor(max_epochs=1, random_state=0)]
)
def test_partial_fit_equals_the_steps_by_hand(digits, make_final):
    X, y = digits
    classes = {"classes": CLASSES} if make_final is small_clf else {}
    pipe = IncrementalPipeline([("scale", MinMaxScaler()), ("model", make_final())])
    scaler, model = MinMaxScaler(), make_final()
    for Xb, yb in batches(X[:400], y[:400], 2):
        pipe.partial_fit(Xb, yb, **classes)
        model.partial_fit(scaler.partial_fit(Xb).transform(Xb), yb, **classes)
    np.testing.assert_array_equal(
        pipe.predict(X[400:500]), model.predict(scaler.transform(X[400:500]))
    )


def test_transformers_without_partial_fit_are_applied_not_updated(digits):
    X, y = digits
    frozen_scaler = FrozenEstimator(StandardScaler().fit(X[:100]))
    pca = PCA(n_components=8).fit(X[:100])
    components = pca.components_.copy()
    pipe = IncrementalPipeline(
        [("scale", frozen_scaler), ("pca", pca), ("clf", small_clf())]
    )
    pipe.partial_fit(X[100:300], y[100:300], classes=CLASSES)
    pipe.partial_fit(X[300:500], y[300:500])
    # FrozenEstimator forwards attribute access, partial_fit included: the
    # pipeline must not call it
    assert frozen_scaler.estimator.n_samples_seen_ == 100
    np.testing.assert_array_equal(pca.components_, components)
    assert pipe[-1].n_updates_ == 2


def test_unfitted_transformer_without_partial_fit_is_a_clear_error(digits):
    X, y = digits
    pipe = make_incremental_pipeline(StandardScaler(), PCA(8), small_clf())
    with pytest.raises(NotFittedError, match="'pca' \\(PCA\\) has no partial_fit"):
        pipe.partial_fit(X[:100], y[:100], classes=CLASSES)
    # the scaler updated before the failure was put back
    assert not hasattr(pipe[0], "n_samples_seen_")


def test_failed_update_leaves_the_pipeline_as_it_was(digits):
    X, y = digits
    old, new = y < 5, y >= 5
    pipe = make_incremental_pipeline(StandardScaler(), small_clf())
    pipe.partial_fit(X[old][:200], y[old][:200], classes=[0, 1, 2, 3, 4])
    mean, before = pipe[0].mean_.copy(), pipe.predict_proba(X[:50])
    with pytest.raises(ValueError, match="classes not in `self.classes_`"):
        pipe.partial_fit(X[new][:200], y[new][:200])
    assert pipe[0].n_samples_seen_ == 200
    np.testing.assert_array_equal(pipe[0].mean_, mean)
    np.testing.assert_array_equal(pipe.predict_proba(X[:50]), before)


def test_partial_fit_parameters_by_step_prefix_or_for_the_final_step(digits):
    X, y = digits
    weights = np.r_[np.ones(100), np.zeros(100)]
    pipe = make_incremental_pipeline(StandardScaler(), small_clf())
    pipe.partial_fit(
        X[:200], y[:200], classes=CLASSES, standardscaler__sample_weight=weights
    )
    np.testing.assert_allclose(pipe[0].mean_, X[:100].mean(axis=0), atol=1e-6)
    with pytest.raises(ValueError, match="no step named 'scaler'"):
        pipe.partial_fit(X[:10], y[:10], scaler__sample_weight=np.ones(10))


def test_partial_fit_with_metadata_routing(digits):
    X, y = digits
    weights = np.r_[np.ones(100), np.zeros(100)]
    with sklearn.config_context(enable_metadata_routing=True):
        scaler = StandardScaler().set_partial_fit_request(sample_weight=True)
        clf = small_clf(batch_size=None).set_partial_fit_request(sample_weight=True)
        pipe = make_incremental_pipeline(scaler, clf)
        pipe.partial_fit(X[:200], y[:200], classes=CLASSES, sample_weight=weights)
        # zero weights are dropped rows for the scaler and the network alike
        unweighted = make_incremental_pipeline(
            StandardScaler(), small_clf(batch_size=None)
        ).partial_fit(X[:100], y[:100], classes=CLASSES)
    np.testing.assert_allclose(pipe[0].mean_, X[:100].mean(axis=0), atol=1e-6)
    assert pipe[-1].loss_curve_ == pytest.approx(unweighted[-1].loss_curve_, rel=1e-4)


def test_partial_fit_only_when_the_final_step_has_it():
    pipe = make_incremental_pipeline(StandardScaler(), LogisticRegression())
    assert not hasattr(pipe, "partial_fit")
    with pytest.raises(AttributeError, match="partial_fit"):
        pipe.partial_fit([[0.0]], [0])


@pytest.fixture(scope="module")
def split3():
    X, y, tasks = split_digits(3).train_arrays()
    return X[::2], y[::2], tasks[::2]


def test_fit_sends_tasks_to_the_final_step(split3):
    X, y, tasks = split3
    pipe = make_incremental_pipeline(StandardScaler(), small_clf())
    assert pipe.fit(X, y, tasks=tasks)[-1].n_updates_ == 2
    assert pipe.fit(X, y, continualclassifier__tasks=tasks)[-1].n_updates_ == 2
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_incremental_pipeline(
            StandardScaler(), small_clf().set_fit_request(tasks=True)
        )
        assert pipe.fit(X, y, tasks=tasks)[-1].n_updates_ == 2


def test_plain_pipeline_in_a_search_with_step_prefixed_tasks(split3):
    X, y, tasks = split3
    pipe = Pipeline([("scale", StandardScaler()), ("clf", small_clf())])
    search = GridSearchCV(
        pipe, {"clf__update_lr": [1e-3, 1e-2]}, cv=2, error_score="raise"
    ).fit(X, y, clf__tasks=tasks)
    assert search.best_estimator_[-1].n_updates_ == 2


def test_incremental_pipeline_in_a_search_with_task_scorers(split3):
    X, y, tasks = split3
    pipe = make_incremental_pipeline(
        StandardScaler(), small_clf(callbacks=[("snapshots", Snapshots())])
    )
    with sklearn.config_context(enable_metadata_routing=True):
        pipe[-1].set_fit_request(tasks=True)
        search = GridSearchCV(
            pipe,
            {"continualclassifier__update_lr": [1e-3, 1.0]},
            scoring={
                "average": make_task_scorer("average"),
                "neg_forgetting": make_task_scorer("neg_forgetting"),
            },
            refit="average",
            cv=2,
            error_score="raise",
        ).fit(X, y, tasks=tasks)
    small, huge = search.cv_results_["mean_test_neg_forgetting"]
    assert huge < small
    assert search.best_params_ == {"continualclassifier__update_lr": 1e-3}


@pytest.mark.parametrize("update", ["add", "newest"])
def test_update_ensemble_of_incremental_pipelines(digits, update):
    X, y = digits
    pipe = make_incremental_pipeline(StandardScaler(), small_clf())
    ensemble = UpdateEnsemble(pipe, update=update).fit(X[:300], y[:300])
    ensemble.partial_fit(X[300:600], y[300:600])
    members = ensemble.estimators_
    if update == "add":
        assert len(members) == 2 and members[1][0].n_samples_seen_ == 300
    else:
        assert len(members) == 1 and members[0][0].n_samples_seen_ == 600
        assert members[0][-1].n_updates_ == 1
    average = np.mean([member.predict_proba(X[600:700]) for member in members], 0)
    np.testing.assert_allclose(ensemble.predict_proba(X[600:700]), average)


def test_clone_and_params_are_pipeline_s(digits):
    pipe = make_incremental_pipeline(StandardScaler(), small_clf())
    copy = clone(pipe).set_params(continualclassifier__update_lr=0.5)
    assert type(copy) is IncrementalPipeline
    assert copy.get_params()["continualclassifier__update_lr"] == 0.5
    assert pipe.get_params()["continualclassifier__update_lr"] is None
