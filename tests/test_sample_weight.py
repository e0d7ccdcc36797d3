"""sample_weight and class_weight: the weighted mean loss, as scikit-learn means it."""

import numpy as np
import pytest
import sklearn
from helpers import assert_same_state, model_state
from sklearn.model_selection import GridSearchCV
from sklearn.utils.class_weight import compute_class_weight

from sklearn_cl import (
    ContinualClassifier,
    ContinualRegressor,
    MonitoredUpdater,
    UpdateEnsemble,
    make_incremental_pipeline,
)
from sklearn_cl.strategies import ERACE, Rehearsal, Replay


def one_batch(cls=ContinualClassifier, **params):
    # one batch per call: weighting a row and repeating it give the same steps
    defaults = dict(
        hidden_layer_sizes=(16,),
        max_epochs=10,
        update_epochs=10,
        lr=1e-2,
        batch_size=None,
        random_state=0,
    )
    return cls(**{**defaults, **params})


def assert_same_model(a, b, X):
    np.testing.assert_allclose(
        a.predict_proba(X) if hasattr(a, "predict_proba") else a.predict(X),
        b.predict_proba(X) if hasattr(b, "predict_proba") else b.predict(X),
        rtol=1e-3,
        atol=1e-3,
    )


@pytest.fixture
def weighted(digits):
    X, y = digits
    rng = np.random.default_rng(0)
    return X[:200], y[:200], rng.integers(0, 4, size=200)


def test_integer_weights_equal_repeated_rows(weighted):
    X, y, w = weighted
    repeated = np.repeat(np.arange(200), w)
    a = one_batch().fit(X, y, sample_weight=w)
    b = one_batch().fit(X[repeated], y[repeated])
    assert_same_model(a, b, X)
    a.partial_fit(X[:100], y[:100], sample_weight=w[:100])
    keep = np.repeat(np.arange(100), w[:100])
    b.partial_fit(X[keep], y[keep])
    assert_same_model(a, b, X)


def test_zero_weights_equal_dropped_rows(weighted):
    X, y, w = weighted
    a = one_batch().fit(X, y, sample_weight=w > 0)
    b = one_batch().fit(X[w > 0], y[w > 0])
    assert_same_model(a, b, X)


def test_regressor_weights(digits):
    X, _ = digits
    y = X[:200, 20:30].sum(axis=1) * 10 + 50
    w = np.random.default_rng(1).integers(0, 3, size=200)
    repeated = np.repeat(np.arange(200), w)
    a = one_batch(ContinualRegressor, target_scaling=None).fit(
        X[:200], y, sample_weight=w
    )
    b = one_batch(ContinualRegressor, target_scaling=None).fit(X[repeated], y[repeated])
    assert_same_model(a, b, X[:200])


def test_weights_change_the_model(weighted):
    X, y, w = weighted
    a = one_batch().fit(X, y, sample_weight=w)
    b = one_batch().fit(X, y)
    assert not np.allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-3)


def test_a_scalar_weight_is_every_sample_s_weight(weighted):
    X, y, _ = weighted
    assert_same_model(
        one_batch().fit(X, y, sample_weight=3.0), one_batch().fit(X, y), X
    )


@pytest.mark.parametrize(
    "weights, message",
    [
        (np.ones(5), "sample_weight must be a 1-D array of 200 numbers"),
        (np.ones((200, 2)), "sample_weight must be a 1-D array"),
        (np.full(200, -1.0), "finite, non-negative"),
        (np.r_[np.ones(199), np.nan], "finite, non-negative"),
        (np.r_[np.ones(199), np.inf], "finite, non-negative"),
        (np.zeros(200), "sample_weight times class_weight\\) sum to zero"),
        (np.array(["a"] * 200), "1-D array of 200 numbers"),
        (np.full(200, 1e300), "float32's range"),
    ],
)
def test_bad_weights_are_clear_errors_and_change_nothing(weighted, weights, message):
    X, y, w = weighted
    est = one_batch().fit(X, y)
    before = model_state(est)
    with pytest.raises(ValueError, match=message):
        est.partial_fit(X, y, sample_weight=weights)
    assert_same_state(before, model_state(est))
    with pytest.raises(ValueError, match=message):
        est.fit(X, y, sample_weight=weights)
    assert_same_state(before, model_state(est))


def test_weights_follow_the_tasks_of_fit(weighted):
    X, y, w = weighted
    tasks = (y >= 5).astype(int)
    repeated = np.repeat(np.arange(200), w)
    params = dict(update_epochs=3, allow_new_classes=True)
    a = one_batch(**params).fit(X, y, tasks=tasks, sample_weight=w)
    b = one_batch(**params).fit(X[repeated], y[repeated], tasks=tasks[repeated])
    assert_same_model(a, b, X)


def test_stored_samples_keep_their_weights(weighted):
    X, y, w = weighted
    # rehearsal trains on the stored data with the weights it came with
    a = one_batch(callbacks=[Rehearsal()]).fit(X[:100], y[:100], sample_weight=w[:100])
    a.partial_fit(X[100:], y[100:], sample_weight=w[100:])
    # the same as training on the new rows and the old ones, each repeated by
    # its weight
    new_rows = np.repeat(np.arange(100, 200), w[100:])
    old_rows = np.repeat(np.arange(100), w[:100])
    both = one_batch().fit(X[:100], y[:100], sample_weight=w[:100])
    both.partial_fit(np.r_[X[new_rows], X[old_rows]], np.r_[y[new_rows], y[old_rows]])
    assert_same_model(a, both, X)


@pytest.mark.parametrize("strategy", [Replay, ERACE], ids=lambda c: c.__name__)
def test_replay_memories_keep_each_sample_s_weight(weighted, strategy):
    X, y, w = weighted
    clf = one_batch(callbacks=[("memory", strategy(buffer_size=None))])
    clf.fit(X[:100], y[:100], sample_weight=w[:100])
    clf.partial_fit(X[100:], y[100:], sample_weight=w[100:])
    buffer = dict(clf.net_.callbacks_)["memory"].buffer_
    stored = dict(zip(map(bytes, buffer.X), buffer.sample_weight))
    expected = dict(zip(map(bytes, X.astype(np.float32)), w.astype(np.float32)))
    assert stored == {row: expected[row] for row in stored}
    assert len(stored) == len(X)


def test_weights_reach_pipelines_ensembles_updaters_and_searches(weighted):
    X, y, w = weighted
    pipe = make_incremental_pipeline(one_batch())
    pipe.partial_fit(X, y, classes=np.arange(10), sample_weight=w)
    direct = one_batch().partial_fit(X, y, classes=np.arange(10), sample_weight=w)
    assert_same_model(pipe, direct, X)

    updater = MonitoredUpdater(one_batch(), policy="periodic", period=2)
    updater.fit(X, y, sample_weight=w)
    assert_same_model(updater.estimator_, one_batch().fit(X, y, sample_weight=w), X)
    direct = one_batch().fit(X, y, sample_weight=w)
    for start in (0, 50):  # two batches wait, then one update on both
        part = slice(start, start + 50)
        updater.partial_fit(X[part], y[part], sample_weight=w[part])
    direct.partial_fit(X[:100], y[:100], sample_weight=w[:100])
    assert_same_model(updater.estimator_, direct, X)

    with sklearn.config_context(enable_metadata_routing=True):
        est = one_batch().set_fit_request(sample_weight=True)
        est.set_score_request(sample_weight=True)
        search = GridSearchCV(est, {"lr": [1e-2]}, cv=2, refit=True)
        search.fit(X, y, sample_weight=w)
        member = one_batch().set_fit_request(sample_weight=True)
        member.set_partial_fit_request(sample_weight=True)
        ensemble = UpdateEnsemble(member).fit(X, y, sample_weight=w)
        ensemble.partial_fit(X[:100], y[:100], sample_weight=w[:100])
    assert_same_model(
        ensemble.estimators_[0], one_batch().fit(X, y, sample_weight=w), X
    )
    second = one_batch().fit(X[:100], y[:100], sample_weight=w[:100])
    assert_same_model(ensemble.estimators_[1], second, X)
    assert_same_model(search.best_estimator_, one_batch().fit(X, y, sample_weight=w), X)


def test_class_weight_balanced_is_compute_class_weight(digits):
    X, y = digits
    X, y = X[:300], y[:300]
    keep = (y != 3) | (np.arange(300) % 4 == 0)  # class 3 is rare
    X, y = X[keep], y[keep]
    balanced = one_batch(class_weight="balanced").fit(X, y)
    weights = compute_class_weight("balanced", classes=np.unique(y), y=y)
    by_hand = one_batch().fit(X, y, sample_weight=weights[y])
    assert_same_model(balanced, by_hand, X)
    # the rare class is found more often than without the weights
    plain = one_batch().fit(X, y)
    recall = [(est.predict(X[y == 3]) == 3).mean() for est in (balanced, plain)]
    assert recall[0] >= recall[1]


def test_class_weight_dict_multiplies_sample_weight(weighted):
    X, y, w = weighted
    cw = {3: 5.0, 7: 0.5}
    a = one_batch(class_weight=cw).fit(X, y, sample_weight=w)
    per_class = np.array([cw.get(c, 1.0) for c in range(10)])
    b = one_batch().fit(X, y, sample_weight=w * per_class[y])
    assert_same_model(a, b, X)
    a.partial_fit(X[:50], y[:50], sample_weight=w[:50])  # dicts work in updates


def test_class_weight_may_name_labels_that_come_later(weighted):
    X, y, _ = weighted
    est = one_batch(class_weight={9: 2.0}, allow_new_classes=True)
    est.fit(X[y < 5], y[y < 5])
    est.partial_fit(X[y >= 5], y[y >= 5])
    assert list(est.classes_) == list(range(10))


def test_balanced_in_partial_fit_says_what_to_do(weighted):
    X, y, _ = weighted
    est = one_batch(class_weight="balanced").fit(X, y)
    before = model_state(est)
    with pytest.raises(
        ValueError,
        match="balanced.*not supported for partial_fit.*compute_class_weight",
    ):
        est.partial_fit(X, y)
    assert_same_state(before, model_state(est))
    with pytest.raises(ValueError, match="balanced.*not supported for partial_fit"):
        one_batch(class_weight="balanced").partial_fit(X, y, classes=np.arange(10))


@pytest.mark.parametrize(
    "class_weight, message",
    [
        ({0: -1.0}, "finite, non-negative"),
        ({0: "a"}, "finite, non-negative"),
        ("auto", "class_weight"),
        ({c: 0.0 for c in range(10)}, "sum to zero"),
    ],
)
def test_bad_class_weight(weighted, class_weight, message):
    X, y, _ = weighted
    est = one_batch().fit(X, y)
    before = model_state(est)
    est.set_params(class_weight=class_weight)
    with pytest.raises(ValueError, match=message):
        est.partial_fit(X, y)
    assert_same_state(before, model_state(est))
