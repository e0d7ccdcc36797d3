"""dask: out-of-core training and searches on a local cluster of 2 processes."""

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from sklearn_cl import ContinualClassifier
from sklearn_cl.datasets import split_digits
from sklearn_cl.strategies import Replay

pytestmark = pytest.mark.dask

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
dask_ml_wrappers = pytest.importorskip("dask_ml.wrappers")
dask_ml_search = pytest.importorskip("dask_ml.model_selection")

CLASSES = np.arange(10)


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def data():
    X, y, tasks = split_digits(3).train_arrays()
    order = np.random.default_rng(0).permutation(len(X))
    # 898 samples in chunks of 150: 6 blocks, none holds everything
    X_dask = da.from_array(X[order], chunks=(150, X.shape[1]))
    y_dask = da.from_array(y[order], chunks=150)
    return X, y, tasks, X_dask, y_dask


def small_clf(**params):
    defaults = dict(hidden_layer_sizes=(32,), lr=1e-2, max_epochs=2, random_state=0)
    return ContinualClassifier(**{**defaults, **params})


def test_incremental_trains_one_update_per_block(client, data):
    _, _, _, X_dask, y_dask = data
    assert X_dask.numblocks[0] == 6
    model = dask_ml_wrappers.Incremental(small_clf(update_epochs=2), scoring="accuracy")
    model.fit(X_dask, y_dask, classes=CLASSES)
    assert model.estimator_.n_updates_ == 6
    assert model.score(X_dask, y_dask) > 0.6


def test_incremental_search_over_update_hyperparameters(client, data):
    _, _, _, X_dask, y_dask = data
    clf = small_clf(callbacks=[("replay", Replay(buffer_size=10))])
    search = dask_ml_search.IncrementalSearchCV(
        clf,
        {"update_lr": [1e-3, 1e-2], "callbacks__replay__buffer_size": [10, 100]},
        n_initial_parameters=3,
        max_iter=3,
        decay_rate=None,
        random_state=0,
    )
    search.fit(X_dask, y_dask, classes=CLASSES)
    best = search.best_estimator_
    assert set(search.best_params_) == {"update_lr", "callbacks__replay__buffer_size"}
    assert best.update_lr == search.best_params_["update_lr"]
    calls = search.cv_results_["partial_fit_calls"][search.best_index_]
    assert best.n_updates_ == calls
    # the copies dask-ml makes keep the hooks on the strategy in callbacks_
    replay = dict(best.net_.callbacks_)["replay"]
    assert best.net_.hooked_["extend_batch"] == [replay]
    assert len(replay.buffer_) == min(replay.buffer_size, replay.buffer_.n_seen)


def test_hyperband_search(client, data):
    _, _, _, X_dask, y_dask = data
    search = dask_ml_search.HyperbandSearchCV(
        small_clf(), {"update_lr": [1e-4, 1e-3, 1e-2]}, max_iter=3, random_state=0
    )
    search.fit(X_dask, y_dask, classes=CLASSES)
    assert search.best_params_["update_lr"] in (1e-4, 1e-3, 1e-2)
    assert search.best_estimator_.n_updates_ >= 1
    assert search.best_score_ > 0.3


def test_grid_search_on_the_dask_joblib_backend(client, data):
    X, y, tasks, _, _ = data
    grid = {"update_lr": [1e-3, 1e-2]}
    results = []
    for backend in ("dask", "sequential"):
        with joblib.parallel_backend(backend):
            search = GridSearchCV(
                small_clf(max_epochs=1), grid, cv=2, n_jobs=-1, error_score="raise"
            ).fit(X, y, tasks=tasks)
        assert search.best_estimator_.n_updates_ == 2
        results.append(search.cv_results_["mean_test_score"])
    # workers run torch on fewer threads: sums may differ in the last bits
    np.testing.assert_allclose(results[0], results[1], atol=0.02)


def test_compare_strategies_on_the_dask_joblib_backend(client):
    from sklearn_cl._strategy_registry import base_estimator, make_strategies
    from sklearn_cl.evaluation import compare_strategies

    base = base_estimator(hidden_layer_sizes=(16,), max_epochs=2, update_epochs=2)
    estimators, joint = make_strategies(["finetune", "replay", "joint"], base)
    tasks = split_digits(3)
    serial = compare_strategies(estimators, tasks, n_seeds=2, joint=joint)
    with joblib.parallel_config(backend="dask"):
        spread = compare_strategies(
            estimators, tasks, n_seeds=2, joint=joint, n_jobs=-1
        )
    # every run on a worker of the cluster, each on one torch thread
    assert sum(client.run(lambda: 1).values()) == 2
    scores = [c for c in serial.columns if "time" not in c and "state" not in c]
    assert serial[scores].equals(spread[scores])
    # pickled sizes: another interpreter shares other equal strings
    np.testing.assert_allclose(
        serial["state_bytes_mean"], spread["state_bytes_mean"], rtol=0.01
    )
