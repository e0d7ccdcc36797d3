"""Train on data larger than one chunk, and search update settings, with dask
==========================================================================

A local dask cluster of two worker processes stands in for a real one (swap
``LocalCluster`` for the address of your scheduler). MNIST test images,
10,000 of them, are held in a dask array of 1,000-row chunks:

1. ``dask_ml.wrappers.Incremental`` streams the chunks through
   ``partial_fit``, one update (``update_epochs`` epochs) per chunk, so no
   worker ever holds the whole array;
2. ``HyperbandSearchCV`` searches update hyperparameters, giving more
   ``partial_fit`` calls to the promising settings;
3. ``GridSearchCV`` runs its fits on the cluster's workers through joblib's
   dask backend, with ``fit(X, y, tasks=t)``.

Needs ``pip install sklearn_cl[dask]`` and the MNIST test files
(see ``sklearn_cl.datasets.load_mnist_idx``).
Run: ``python examples/dask_incremental.py``.
"""

import dask
import dask.array as da
import joblib
import numpy as np
from dask_ml.model_selection import HyperbandSearchCV
from dask_ml.wrappers import Incremental
from distributed import Client, LocalCluster
from sklearn.model_selection import GridSearchCV

from sklearn_cl import ContinualClassifier
from sklearn_cl.datasets import load_mnist_idx, split_digits
from sklearn_cl.strategies import Replay

CHUNK = 1000


def read_rows(start: int, stop: int, targets: bool):
    """Rows ``start:stop`` of the images (or labels), read on the worker: the
    client never holds the data, as with files too large for one machine."""
    X, y = load_mnist_idx()
    return (y if targets else X)[start:stop]


read = dask.delayed(read_rows, pure=True)


def dask_arrays(n_rows: int):
    """The first ``n_rows`` of MNIST as dask arrays of CHUNK-row chunks."""
    starts = range(0, n_rows, CHUNK)
    X = da.concatenate(
        [
            da.from_delayed(read(s, s + CHUNK, False), (CHUNK, 784), np.float32)
            for s in starts
        ]
    )
    y = da.concatenate(
        [da.from_delayed(read(s, s + CHUNK, True), (CHUNK,), np.int64) for s in starts]
    )
    return X, y


def main() -> None:
    X_train, y_train = dask_arrays(8000)
    X_test, y_test = load_mnist_idx()
    X_test, y_test = X_test[8000:], y_test[8000:]
    clf = ContinualClassifier(
        hidden_layer_sizes=(128,),
        update_epochs=2,
        callbacks=[("replay", Replay(buffer_size=500))],
        random_state=0,
    )
    classes = np.arange(10)

    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        ) as cluster,
        Client(cluster),
    ):
        model = Incremental(clf, scoring="accuracy", shuffle_blocks=True)
        model.fit(X_train, y_train, classes=classes)
        print(
            f"Incremental: {model.estimator_.n_updates_} updates, one per chunk; "
            f"test accuracy {model.estimator_.score(X_test, y_test):.3f}"
        )

        search = HyperbandSearchCV(
            clf,
            {
                "update_lr": [1e-4, 3e-4, 1e-3, 3e-3],
                "callbacks__replay__buffer_size": [100, 1000],
            },
            max_iter=4,
            random_state=0,
        )
        search.fit(X_train, y_train, classes=classes)
        print(f"Hyperband: best {search.best_params_}, score {search.best_score_:.3f}")

        X_seq, y_seq, tasks = split_digits(3).train_arrays()
        with joblib.parallel_backend("dask"):
            grid = GridSearchCV(
                clf, {"update_lr": [1e-4, 1e-3], "update_epochs": [1, 5]}, n_jobs=-1
            ).fit(X_seq, y_seq, tasks=tasks)
        print(f"GridSearchCV on dask workers: best {grid.best_params_}")


if __name__ == "__main__":  # the workers re-import this module
    main()
