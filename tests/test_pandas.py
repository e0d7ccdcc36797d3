"""pandas in and out: feature names kept and checked, set_output in pipelines."""

import numpy as np
import pytest
from sklearn.decomposition import IncrementalPCA
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler

from sklearn_cl import (
    ContinualClassifier,
    ContinualRegressor,
    make_incremental_pipeline,
)
from sklearn_cl.datasets import split_digits

pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def frame(digits):
    X, y = digits
    columns = [f"pixel_{i}" for i in range(X.shape[1])]
    return pd.DataFrame(X[:600], columns=columns), pd.Series(y[:600], name="digit")


def small_clf(**params):
    defaults = dict(hidden_layer_sizes=(16,), max_epochs=2, random_state=0)
    return ContinualClassifier(**{**defaults, **params})


def test_feature_names_are_kept_and_checked_on_later_calls(frame):
    X, y = frame
    clf = small_clf().fit(X[:300], y[:300])
    np.testing.assert_array_equal(clf.feature_names_in_, X.columns)
    before = clf.predict_proba(X[300:])
    shuffled = X[X.columns[::-1]]
    with pytest.raises(ValueError, match="feature names"):
        clf.partial_fit(shuffled[300:], y[300:])
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(shuffled)
    # the failed update changed nothing
    assert clf.n_updates_ == 0
    np.testing.assert_array_equal(clf.predict_proba(X[300:]), before)
    clf.partial_fit(X[300:], y[300:])
    assert clf.n_updates_ == 1


def test_string_labels_from_a_series():
    X, y, _ = split_digits(2).train_arrays()
    labels = pd.Series(np.where(y < 5, "low", "high"))
    clf = small_clf().fit(pd.DataFrame(X[::4]), labels[::4])
    assert set(clf.predict(X[:20])) <= {"low", "high"}
    np.testing.assert_array_equal(clf.classes_, ["high", "low"])


def test_regressor_on_a_frame(frame):
    X, _ = frame
    target = X.iloc[:, :5].sum(axis=1)
    reg = ContinualRegressor(max_epochs=2, random_state=0).fit(X, target)
    assert reg.predict(X).shape == (len(X),)
    np.testing.assert_array_equal(reg.feature_names_in_, X.columns)


def test_incremental_pipeline_set_output_pandas(frame):
    X, y = frame
    pipe = make_incremental_pipeline(
        StandardScaler(), IncrementalPCA(n_components=8), small_clf()
    ).set_output(transform="pandas")
    for start in range(0, 600, 200):
        pipe.partial_fit(X[start : start + 200], y[start : start + 200], range(10))
    Xt = pipe[:-1].transform(X)
    assert isinstance(Xt, pd.DataFrame)
    assert list(Xt.columns) == [f"incrementalpca{i}" for i in range(8)]
    np.testing.assert_array_equal(pipe[-1].feature_names_in_, Xt.columns)
    np.testing.assert_array_equal(pipe.feature_names_in_, X.columns)
    with pytest.raises(ValueError, match="feature names"):
        pipe.partial_fit(X[X.columns[::-1]], y)


def test_search_splits_tasks_given_as_a_series():
    X, y, tasks = split_digits(3).train_arrays()
    X = pd.DataFrame(X[::2]).add_prefix("px")
    y, tasks = pd.Series(y[::2]), pd.Series(tasks[::2])
    search = GridSearchCV(
        small_clf(max_epochs=1), {"update_lr": [1e-3]}, cv=2, error_score="raise"
    ).fit(X, y, tasks=tasks)
    assert search.best_estimator_.n_updates_ == 2
