"""UpdateEnsemble: members, memory, weights, classes, API contracts, errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from helpers import assert_same_state, model_state
from sklearn import config_context
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression, Ridge, SGDClassifier
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_cl import ContinualClassifier, ContinualRegressor, UpdateEnsemble

# No expected failures: every ensemble below passes every check.
CHECKED = [
    UpdateEnsemble(ContinualClassifier()),
    UpdateEnsemble(LogisticRegression()),
    UpdateEnsemble(SGDClassifier(), voting="hard"),
    UpdateEnsemble(Ridge(), data="old_and_new"),
]


@parametrize_with_checks(CHECKED)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def batches():
    """Three batches of a binary problem and a test set, float32-exact."""
    X, y = make_classification(n_samples=800, n_features=8, random_state=0)
    X = X.astype(np.float32).astype(np.float64)
    parts = [(X[i : i + 200], y[i : i + 200]) for i in range(0, 600, 200)]
    return parts, (X[600:], y[600:])


def mlp(**params):
    defaults = dict(hidden_layer_sizes=(16,), max_epochs=5, random_state=0)
    return ContinualClassifier(**{**defaults, **params})


def ensemble_state(ensemble) -> dict:
    """Everything the ensemble and its members learned, for exact comparison."""
    state = {
        k: v
        for k, v in vars(ensemble).items()
        if k.endswith("_") and k not in ("estimators_", "memory_")
    }
    state["member_ids"] = [id(m) for m in ensemble.estimators_]
    state["members"] = [model_state(m) for m in ensemble.estimators_]
    state["memory"] = pickle.dumps(ensemble.memory_)
    return state


# ----------------------------------------------------------------------
# members
# ----------------------------------------------------------------------
def test_fit_fits_one_clone_of_the_estimator(batches):
    (X, y), *_ = batches[0]
    estimator = LogisticRegression(C=0.5)
    ensemble = UpdateEnsemble(estimator).fit(X, y)
    assert len(ensemble.estimators_) == 1
    assert ensemble.estimators_[0] is not estimator
    assert not hasattr(estimator, "coef_")
    alone = clone(estimator).fit(X, y)
    np.testing.assert_array_equal(ensemble.estimators_[0].coef_, alone.coef_)
    np.testing.assert_array_equal(ensemble.predict_proba(X), alone.predict_proba(X))


def test_partial_fit_adds_a_member_and_never_refits_old_ones(batches):
    parts, _ = batches
    ensemble = UpdateEnsemble(LogisticRegression()).fit(*parts[0])
    first = ensemble.estimators_[0]
    coef = first.coef_.copy()
    ensemble.partial_fit(*parts[1]).partial_fit(*parts[2])
    assert len(ensemble.estimators_) == 3 and ensemble.n_members_added_ == 3
    assert ensemble.estimators_[0] is first
    np.testing.assert_array_equal(first.coef_, coef)
    newest = LogisticRegression().fit(*parts[2])
    np.testing.assert_array_equal(ensemble.estimators_[2].coef_, newest.coef_)


def test_refit_starts_again(batches):
    parts, _ = batches
    ensemble = UpdateEnsemble(LogisticRegression()).fit(*parts[0])
    ensemble.partial_fit(*parts[1]).fit(*parts[2])
    assert len(ensemble.estimators_) == 1 and ensemble.n_members_added_ == 1


def test_partial_fit_on_an_unfitted_ensemble_fits_the_first_member(batches):
    parts, _ = batches
    ensemble = UpdateEnsemble(LogisticRegression()).partial_fit(*parts[0])
    assert len(ensemble.estimators_) == 1
    np.testing.assert_array_equal(
        ensemble.predict(parts[1][0]),
        LogisticRegression().fit(*parts[0]).predict(parts[1][0]),
    )


def test_old_and_new_trains_on_memory_plus_batch(batches):
    parts, _ = batches
    ensemble = UpdateEnsemble(
        LogisticRegression(), data="old_and_new", memory_size=None
    )
    ensemble.fit(*parts[0]).partial_fit(*parts[1])
    assert len(ensemble.memory_) == 400
    X_both = np.concatenate([parts[0][0], parts[1][0]])
    y_both = np.concatenate([parts[0][1], parts[1][1]])
    both = LogisticRegression().fit(X_both, y_both)
    np.testing.assert_allclose(ensemble.estimators_[1].coef_, both.coef_, rtol=1e-6)


def test_memory_is_bounded_and_seeded(batches):
    parts, _ = batches

    def run(seed):
        ensemble = UpdateEnsemble(
            KNeighborsClassifier(1),
            data="old_and_new",
            memory_size=50,
            random_state=seed,
        )
        for X, y in parts:
            ensemble.partial_fit(X, y)
        return ensemble

    ensemble = run(0)
    assert len(ensemble.memory_) == 50 and ensemble.memory_.n_seen == 600
    # each member trains on the memory (at most 50 samples) plus its batch
    fitted = [m.n_samples_fit_ for m in ensemble.estimators_]
    assert fitted == [200, 250, 250]
    np.testing.assert_array_equal(run(0).memory_.X, ensemble.memory_.X)
    assert not np.array_equal(run(1).memory_.X, ensemble.memory_.X)


def test_old_and_new_keeps_feature_names(batches):
    pd = pytest.importorskip("pandas")
    parts, _ = batches
    columns = [f"f{i}" for i in range(8)]
    ensemble = UpdateEnsemble(LogisticRegression(), data="old_and_new")
    for X, y in parts[:2]:
        ensemble.partial_fit(pd.DataFrame(X, columns=columns), y)
    assert list(ensemble.feature_names_in_) == columns
    assert list(ensemble.estimators_[1].feature_names_in_) == columns
    with pytest.warns(UserWarning, match="feature names"):
        ensemble.predict(parts[2][0])


def test_max_members_evicts_the_oldest(batches):
    parts, _ = batches
    ensemble = UpdateEnsemble(LogisticRegression(), max_members=2, weights="score")
    ensemble.fit(*parts[0]).partial_fit(*parts[1])
    second = ensemble.estimators_[1]
    ensemble.partial_fit(*parts[2])
    assert len(ensemble.estimators_) == 2 and ensemble.n_members_added_ == 3
    assert ensemble.estimators_[0] is second
    assert ensemble.scores_.shape == (2,)


def test_random_state_seeds_each_member(batches):
    parts, (X_test, _) = batches
    base = mlp(random_state=3)
    plain = UpdateEnsemble(base).fit(*parts[0]).partial_fit(*parts[1])
    assert [m.random_state for m in plain.estimators_] == [3, 3]
    seeded = UpdateEnsemble(base, random_state=0).fit(*parts[0]).partial_fit(*parts[1])
    seeds = [m.random_state for m in seeded.estimators_]
    assert seeds[0] != seeds[1] and 3 not in seeds
    again = UpdateEnsemble(base, random_state=0).fit(*parts[0]).partial_fit(*parts[1])
    np.testing.assert_array_equal(
        again.predict_proba(X_test), seeded.predict_proba(X_test)
    )


# ----------------------------------------------------------------------
# starting from a fitted model
# ----------------------------------------------------------------------
def test_from_fitted_starts_from_the_deployed_model(batches):
    parts, (X_test, y_test) = batches
    deployed = LogisticRegression().fit(*parts[0])
    coef = deployed.coef_.copy()
    ensemble = UpdateEnsemble.from_fitted(deployed)
    np.testing.assert_array_equal(
        ensemble.predict_proba(X_test), deployed.predict_proba(X_test)
    )
    assert ensemble.n_features_in_ == 8 and list(ensemble.classes_) == [0, 1]
    ensemble.partial_fit(*parts[1])
    assert len(ensemble.estimators_) == 2
    assert ensemble.estimators_[0].estimator is deployed
    np.testing.assert_array_equal(deployed.coef_, coef)
    # the scores say how each model does on data it has not seen
    assert ensemble.scores_[0] == deployed.score(*parts[1])


def test_init_survives_clone_and_fit_adds_to_it(batches):
    parts, _ = batches
    deployed = LogisticRegression().fit(*parts[0])
    ensemble = UpdateEnsemble(LogisticRegression(C=0.1), init=FrozenEstimator(deployed))
    copy = clone(ensemble).fit(*parts[1])
    assert copy.estimators_[0].estimator is deployed
    assert len(copy.estimators_) == 2 and copy.estimators_[1].C == 0.1
    search = GridSearchCV(ensemble, {"weights": [None, "score"]}, cv=2).fit(*parts[1])
    assert search.best_estimator_.estimators_[0].estimator is deployed


def test_from_fitted_rejects_an_unfitted_model():
    with pytest.raises(NotFittedError, match="`init` must be a fitted estimator"):
        UpdateEnsemble.from_fitted(LogisticRegression())


def test_unfitted_init_explains_frozen_estimator(batches):
    deployed = LogisticRegression().fit(*batches[0][0])
    ensemble = clone(UpdateEnsemble(LogisticRegression(), init=deployed))
    with pytest.raises(NotFittedError, match="FrozenEstimator"):
        ensemble.fit(*batches[0][1])


# ----------------------------------------------------------------------
# updating the newest member
# ----------------------------------------------------------------------
def test_update_newest_updates_a_copy_of_the_newest_member(batches):
    parts, _ = batches
    ensemble = UpdateEnsemble(mlp(), update="newest").fit(*parts[0])
    before = ensemble.estimators_[0]
    snapshot = model_state(before)
    ensemble.partial_fit(*parts[1])
    assert len(ensemble.estimators_) == 1
    assert ensemble.estimators_[0].n_updates_ == 1
    assert_same_state(model_state(before), snapshot)  # the old object is untouched
    # the per-call override combines both recipes
    ensemble.partial_fit(*parts[2], update="add").partial_fit(*parts[2])
    assert [m.n_updates_ for m in ensemble.estimators_] == [1, 1]


def test_update_newest_never_updates_init(batches):
    parts, _ = batches
    deployed = mlp().fit(*parts[0])
    ensemble = UpdateEnsemble.from_fitted(deployed, update="newest")
    ensemble.partial_fit(*parts[1]).partial_fit(*parts[2])
    assert len(ensemble.estimators_) == 2
    assert deployed.n_updates_ == 0 and ensemble.estimators_[1].n_updates_ == 1


def test_update_newest_with_old_and_new_partial_fits_on_both(batches):
    parts, _ = batches
    ensemble = UpdateEnsemble(
        KNeighborsClassifier(1), data="old_and_new", update="newest"
    )
    with pytest.raises(ValueError, match="has none. Use update='add'"):
        ensemble.fit(*parts[0]).partial_fit(*parts[1])
    ensemble = UpdateEnsemble(
        SGDClassifier(random_state=0),
        voting="hard",
        data="old_and_new",
        update="newest",
    )
    ensemble.fit(*parts[0]).partial_fit(*parts[1])
    expected = SGDClassifier(random_state=0).fit(*parts[0])
    expected.partial_fit(
        np.r_[parts[0][0], parts[1][0]], np.r_[parts[0][1], parts[1][1]]
    )
    np.testing.assert_array_equal(ensemble.estimators_[0].coef_, expected.coef_)


# ----------------------------------------------------------------------
# averaging, weights, classes
# ----------------------------------------------------------------------
def test_probabilities_align_on_the_union_of_classes():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = np.repeat(np.array(["a", "b", "c"]), 100)
    first, second = y != "c", y != "a"
    ensemble = UpdateEnsemble(LogisticRegression()).fit(X[first], y[first])
    ensemble.partial_fit(X[second], y[second], classes=["a", "b", "c", "d"])
    assert list(ensemble.classes_) == ["a", "b", "c", "d"]
    proba = ensemble.predict_proba(X)
    p0, p1 = (m.predict_proba(X) for m in ensemble.estimators_)
    np.testing.assert_allclose(proba[:, 0], p0[:, 0] / 2)
    np.testing.assert_allclose(proba[:, 1], (p0[:, 1] + p1[:, 0]) / 2)
    np.testing.assert_allclose(proba[:, 2], p1[:, 1] / 2)
    np.testing.assert_array_equal(proba[:, 3], 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    assert set(ensemble.predict(X)) <= {"a", "b", "c"}
    with pytest.raises(ValueError, match=r"`y` has labels not in `classes`: \['c'\]"):
        ensemble.partial_fit(X[second], y[second], classes=["a", "b"])


def test_hard_voting_is_a_weighted_majority_with_ties_to_the_first_label(batches):
    parts, (X_test, _) = batches
    ensemble = UpdateEnsemble(SGDClassifier(random_state=0), voting="hard")
    for X, y in parts[:2]:
        ensemble.partial_fit(X, y)
    assert not hasattr(ensemble, "predict_proba")
    votes = np.array([m.predict(X_test) for m in ensemble.estimators_])
    # two members: agreement wins, disagreement ties to label 0
    np.testing.assert_array_equal(ensemble.predict(X_test), votes.min(axis=0))
    ensemble.set_params(weights=[0.4, 0.6])
    np.testing.assert_array_equal(ensemble.predict(X_test), votes[1])


def test_weights(batches):
    parts, (X_test, y_test) = batches
    ensemble = UpdateEnsemble(LogisticRegression())
    for X, y in parts:
        ensemble.partial_fit(X, y)
    probas = np.array([m.predict_proba(X_test) for m in ensemble.estimators_])
    ensemble.set_params(weights=[1, 0, 3])
    np.testing.assert_allclose(ensemble.weights_, [0.25, 0, 0.75])
    expected = np.tensordot([0.25, 0, 0.75], probas, axes=1)
    np.testing.assert_allclose(ensemble.predict_proba(X_test), expected)
    ensemble.set_params(weights="decay", decay=0.5)
    np.testing.assert_allclose(ensemble.weights_, np.array([1, 2, 4]) / 7)
    ensemble.set_params(weights="score")
    # test then train: each member scored on the newest batch it has not seen,
    # the newest (not scored yet) gets the best score of the others
    scores = [m.score(*parts[2]) for m in ensemble.estimators_[:2]]
    np.testing.assert_array_equal(ensemble.scores_, [*scores, np.nan])
    weights = np.array([*scores, max(scores)])
    np.testing.assert_allclose(ensemble.weights_, weights / weights.sum())
    ensemble.set_params(weights=[1, 2])
    with pytest.raises(ValueError, match=r"one non-negative weight per member \(3"):
        ensemble.predict(X_test)


def test_regressor_averages_values_multi_output():
    X, Y = make_regression(n_samples=300, n_features=5, n_targets=2, random_state=0)
    Y = Y / Y.std()
    ensemble = UpdateEnsemble(ContinualRegressor(max_epochs=2, random_state=0))
    ensemble.fit(X[:100], Y[:100]).partial_fit(X[100:200], Y[100:200])
    assert not hasattr(ensemble, "predict_proba") and not hasattr(ensemble, "classes_")
    members = [m.predict(X[200:]) for m in ensemble.estimators_]
    np.testing.assert_allclose(ensemble.predict(X[200:]), np.mean(members, axis=0))
    assert ensemble.predict(X[200:]).shape == (100, 2)
    r2 = r2_score(Y[200:], ensemble.predict(X[200:]))
    assert ensemble.score(X[200:], Y[200:]) == r2
    knn = UpdateEnsemble(KNeighborsRegressor(), data="old_and_new", weights="score")
    knn.fit(X[:100], Y[:100]).partial_fit(X[100:200], Y[100:200])
    assert knn.estimators_[1].n_samples_fit_ == 200


# ----------------------------------------------------------------------
# batched prediction of members that share one MLP shape
# ----------------------------------------------------------------------
def one_by_one(ensemble, X, method):
    """What the ensemble computes, from each member's own prediction."""
    outputs = [getattr(m, method)(X) for m in ensemble.estimators_]
    return np.tensordot(ensemble.weights_, np.asarray(outputs, float), axes=1)


def test_members_of_one_shape_predict_as_one_by_one(batches, monkeypatch):
    parts, (X_test, _) = batches
    deployed = mlp(hidden_layer_sizes=(16, 8), dropout=0.2).fit(*parts[0])
    ensemble = UpdateEnsemble.from_fitted(deployed, weights="decay", random_state=0)
    for X, y in parts[1:]:
        ensemble.partial_fit(X, y)
    calls = []
    monkeypatch.setattr(
        ContinualClassifier, "_forward", lambda *a: calls.append(a) or 1 / 0
    )
    proba = ensemble.predict_proba(X_test)
    hard = clone(ensemble).set_params(voting="hard")
    assert not calls  # one batched pass, no member predicted on its own
    monkeypatch.undo()
    np.testing.assert_allclose(proba, one_by_one(ensemble, X_test, "predict_proba"))
    np.testing.assert_array_equal(
        ensemble.predict(X_test), ensemble.classes_[proba.argmax(axis=1)]
    )
    hard.estimators_, hard.classes_ = ensemble.estimators_, ensemble.classes_
    votes = np.array([m.predict(X_test) for m in ensemble.estimators_])
    np.testing.assert_array_equal(hard.predict(X_test), votes[-1])  # weight 4/7


def test_batched_prediction_follows_members_changed_in_place(batches):
    parts, (X_test, _) = batches
    ensemble = UpdateEnsemble(mlp(), random_state=0).fit(*parts[0])
    ensemble.partial_fit(*parts[1])
    before = ensemble.predict_proba(X_test)
    ensemble.estimators_[0].partial_fit(*parts[2])  # a member updated by hand
    after = ensemble.predict_proba(X_test)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, one_by_one(ensemble, X_test, "predict_proba"))


def test_batched_prediction_aligns_classes_and_mixes_with_other_members():
    X, y = make_classification(
        n_samples=600, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    grown = mlp(allow_new_classes=True).fit(X[y < 2], y[y < 2])
    grown.partial_fit(X[:100], y[:100])  # classes_ [0, 1, 2]
    reordered = mlp(allow_new_classes=True).fit(X[y > 0], y[y > 0])
    reordered.partial_fit(X[:100], y[:100])  # classes_ [1, 2, 0]
    assert list(reordered.classes_) == [1, 2, 0]
    ensemble = UpdateEnsemble.from_fitted(grown, data="old_and_new")
    ensemble.estimators_ = [*ensemble.estimators_, reordered]
    ensemble.partial_fit(X[300:], y[300:])  # a third MLP member
    ensemble.estimators_.append(LogisticRegression().fit(X, y))
    ensemble.scores_ = np.full(4, np.nan)
    expected = sum(
        np.asarray(m.predict_proba(X))[:, np.argsort(m.classes_)]
        for m in ensemble.estimators_
    )
    np.testing.assert_allclose(ensemble.predict_proba(X), expected / 4, atol=1e-6)


@pytest.mark.parametrize("shape", [(1,), (2,)])
def test_batched_regressors_average_values(shape):
    X, Y = make_regression(n_samples=300, n_features=5, n_targets=2, random_state=0)
    Y = (Y / Y.std())[:, : shape[0]].reshape(len(Y), *([] if shape == (1,) else [2]))
    reg = ContinualRegressor(max_epochs=2, hidden_layer_sizes=(8,), random_state=0)
    ensemble = UpdateEnsemble(reg, random_state=0).fit(X[:100], Y[:100])
    ensemble.partial_fit(X[100:200], Y[100:200])
    prediction = ensemble.predict(X[200:])
    assert prediction.shape == Y[200:].shape
    np.testing.assert_allclose(
        prediction, one_by_one(ensemble, X[200:], "predict"), atol=1e-6
    )


def test_any_estimator_even_a_text_pipeline():
    texts = ["good film", "great plot", "bad film", "awful plot"] * 10
    labels = [1, 1, 0, 0] * 10
    pipe = make_pipeline(TfidfVectorizer(), LogisticRegression())
    ensemble = UpdateEnsemble(pipe).fit(texts[:20], labels[:20])
    ensemble.partial_fit(texts[20:], labels[20:])
    assert list(ensemble.predict(["great film", "awful film"])) == [1, 0]


# ----------------------------------------------------------------------
# scikit-learn tools
# ----------------------------------------------------------------------
def test_params_reach_the_estimator_in_pipeline_and_grid_search(batches):
    parts, _ = batches
    ensemble = UpdateEnsemble(mlp(max_epochs=2))
    assert ensemble.get_params(deep=True)["estimator__update_lr"] is None
    pipe = make_pipeline(StandardScaler(), ensemble)
    grid = {"updateensemble__estimator__lr": [1e-3, 1e-2]}
    search = GridSearchCV(pipe, grid, cv=2).fit(*parts[0])
    assert search.best_estimator_[-1].estimators_[0].lr in (1e-3, 1e-2)
    ensemble.set_params(estimator__update_lr=1e-4)
    assert ensemble.estimator.update_lr == 1e-4


def test_pickle_round_trip_continues_identically(batches):
    parts, (X_test, _) = batches
    ensemble = UpdateEnsemble(
        mlp(), data="old_and_new", memory_size=100, random_state=0
    )
    ensemble.fit(*parts[0]).partial_fit(*parts[1])
    loaded = pickle.loads(pickle.dumps(ensemble))
    np.testing.assert_array_equal(
        loaded.predict_proba(X_test), ensemble.predict_proba(X_test)
    )
    ensemble.partial_fit(*parts[2])
    loaded.partial_fit(*parts[2])
    np.testing.assert_array_equal(loaded.memory_.X, ensemble.memory_.X)
    np.testing.assert_array_equal(
        loaded.predict_proba(X_test), ensemble.predict_proba(X_test)
    )


def test_sample_weight_reaches_the_members_without_routing(batches):
    # as in scikit-learn's VotingClassifier and BaggingClassifier
    parts, _ = batches
    X, y = parts[0]
    weight = np.where(y == 1, 5.0, 1.0)
    ensemble = UpdateEnsemble(LogisticRegression()).fit(X, y, sample_weight=weight)
    weighted = LogisticRegression().fit(X, y, sample_weight=weight)
    np.testing.assert_array_equal(ensemble.estimators_[0].coef_, weighted.coef_)
    ensemble.partial_fit(*parts[1], sample_weight=np.ones(200))  # a new member
    assert len(ensemble.estimators_) == 2
    sgd = SGDClassifier(random_state=0)
    newest = UpdateEnsemble(sgd, update="newest", voting="hard").fit(X, y)
    newest.partial_fit(X, y, sample_weight=weight)
    expected = SGDClassifier(random_state=0).fit(X, y)
    expected.partial_fit(X, y, sample_weight=weight)
    np.testing.assert_array_equal(newest.estimators_[0].coef_, expected.coef_)


class _UnweightedUpdates(SGDClassifier):
    """Takes sample weights in ``fit`` only."""

    def partial_fit(self, X, y, classes=None):
        return super().partial_fit(X, y, classes=classes)


def test_sample_weight_a_member_cannot_take_is_refused_unchanged(batches):
    from sklearn.neighbors import KNeighborsClassifier

    parts, _ = batches
    X, y = parts[0]
    with pytest.raises(ValueError, match=r"KNeighborsClassifier\.fit does not take"):
        UpdateEnsemble(KNeighborsClassifier()).fit(X, y, sample_weight=np.ones(len(y)))
    ensemble = UpdateEnsemble(_UnweightedUpdates(), update="newest", voting="hard")
    ensemble.fit(X, y, sample_weight=np.ones(len(y)))
    before = ensemble.estimators_[0].coef_.copy()
    with pytest.raises(ValueError, match=r"partial_fit does not take them"):
        ensemble.partial_fit(X, y, sample_weight=np.ones(len(y)))
    np.testing.assert_array_equal(ensemble.estimators_[0].coef_, before)


def test_metadata_routing(batches):
    parts, _ = batches
    X, y = parts[0]
    weight = np.where(y == 1, 5.0, 1.0)
    with pytest.raises(ValueError, match="enable_metadata_routing=True"):
        UpdateEnsemble(LogisticRegression()).fit(X, y, groups=weight)
    with config_context(enable_metadata_routing=True):
        estimator = LogisticRegression().set_fit_request(sample_weight=True)
        ensemble = UpdateEnsemble(estimator).fit(X, y, sample_weight=weight)
        ensemble.partial_fit(*parts[1], sample_weight=np.ones(200))
        weighted = LogisticRegression().fit(X, y, sample_weight=weight)
        np.testing.assert_array_equal(ensemble.estimators_[0].coef_, weighted.coef_)
        sgd = SGDClassifier(random_state=0).set_partial_fit_request(sample_weight=True)
        sgd.set_fit_request(sample_weight=True)
        newest = UpdateEnsemble(sgd, voting="hard", update="newest").fit(X, y)
        newest.partial_fit(X, y, sample_weight=weight)
        expected = SGDClassifier(random_state=0).fit(X, y)
        expected.partial_fit(X, y, sample_weight=weight)
        np.testing.assert_array_equal(newest.estimators_[0].coef_, expected.coef_)
        both = UpdateEnsemble(estimator, data="old_and_new").fit(
            X, y, sample_weight=weight
        )
        with pytest.raises(ValueError, match="remembered samples have no metadata"):
            both.partial_fit(*parts[1], sample_weight=np.ones(200))


# ----------------------------------------------------------------------
# errors leave the ensemble as it was
# ----------------------------------------------------------------------
@pytest.mark.parametrize("update", ["add", "newest"])
def test_failed_partial_fit_changes_nothing(batches, update):
    parts, _ = batches
    ensemble = UpdateEnsemble(
        mlp(), data="old_and_new", memory_size=100, update=update, random_state=0
    )
    ensemble.fit(*parts[0]).partial_fit(*parts[1])
    snapshot = ensemble_state(ensemble)
    X, y = parts[2]
    X_nan = X.copy()
    X_nan[3, 2] = np.nan
    bad_calls = [
        ((X_nan, y), ValueError, "Input X contains NaN"),
        (
            (X[:, :5], y),
            ValueError,
            "X has 5 features, but UpdateEnsemble is expecting 8",
        ),
        ((X, y.astype(float) + 0.5), ValueError, "Unknown label type"),
        ((X, y[:-1]), ValueError, "inconsistent numbers of samples"),
    ]
    if update == "newest":
        bad_calls.append(((X, y + 2), ValueError, "`y` has classes not in"))
    for args, error, match in bad_calls:
        with pytest.raises(error, match=match):
            ensemble.partial_fit(*args)
        assert_same_state(ensemble_state(ensemble), snapshot)


def test_bad_setups_are_explained(batches):
    parts, _ = batches
    X, y = parts[0]
    with pytest.raises(ValueError, match="has no predict_proba. Use voting='hard'"):
        UpdateEnsemble(SGDClassifier()).fit(X, y)
    with pytest.raises(ValueError, match="must be a classifier or a regressor"):
        UpdateEnsemble(KMeans(2)).fit(X, y)
    deployed = FrozenEstimator(Ridge().fit(X, y))
    with pytest.raises(ValueError, match="`init` must be a classifier"):
        UpdateEnsemble(LogisticRegression(), init=deployed).fit(X, y)
    with pytest.raises(ValueError, match="`classes` is for classifiers"):
        UpdateEnsemble(Ridge()).partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="`update` must be 'add', 'newest' or None"):
        UpdateEnsemble(Ridge()).partial_fit(X, y, update="all")
    both = UpdateEnsemble(LogisticRegression(), data="old_and_new")
    with pytest.raises(TypeError, match="cannot be sparse"):
        both.fit(sp.csr_matrix(X), y)
    text = UpdateEnsemble(
        make_pipeline(TfidfVectorizer(), LogisticRegression()), data="old_and_new"
    )
    with pytest.raises(ValueError, match="so X must be numeric"):
        text.fit(["good", "bad", "good", "bad"], [1, 0, 1, 0])
    assert not hasattr(text, "estimators_")
