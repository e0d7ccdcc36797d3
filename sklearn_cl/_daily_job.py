"""The daily job of a deployed model, from CSV files: create the model, then
update it with each day's new data, keeping an update only when a held-out
check accepts it. What ``sklearn-cl fit`` and ``sklearn-cl update`` run.

The model file is a skops file (:mod:`sklearn_cl.persistence`): an
:class:`~sklearn_cl.IncrementalPipeline` of a frozen ``StandardScaler``
(fitted on the first training data, never updated, so the network always
sees inputs scaled the same way) and a continual estimator built by a named
strategy of the command line. It is fitted on a DataFrame, so it knows the
names of its feature columns and each new file is checked against them.
An update is judged by :class:`~sklearn_cl.AcceptanceCheck`'s rule on data
the update did not train on; a new file replaces the model file atomically,
the previous one kept beside it as ``MODEL.prev``.

Concurrent updates of one model file (two cron jobs, a retried job) run one
after the other: each holds an exclusive ``flock`` on the model file from
loading it to saving the update, so none saves over another's update with a
model that never saw it (and ``fit`` takes the lock to save over a model).
The standard library's ``fcntl.flock`` suffices (the ``filelock`` package
would add a dependency and a lock file beside each model); it is POSIX only,
so on Windows updates are not serialised.
"""

from __future__ import annotations

import errno
import os
import time
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.base import is_regressor
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import check_scoring
from sklearn.preprocessing import StandardScaler

from . import persistence
from ._atomic import atomic_write
from ._strategy_registry import STRATEGIES, base_estimator
from .base import NonFiniteUpdateError
from .datasets import load_csv
from .evaluation import JOINT, set_random_state
from .evaluation._compare import _scoring_name
from .guard import AcceptanceCheck
from .pipeline import IncrementalPipeline

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

__all__ = ["Outcome", "fit_csv", "previous_path", "update_csv"]


@dataclass
class Outcome:
    """What one fit or update did, for the one line the command prints."""

    scoring: str
    after: float | None
    n_train: int
    n_validation: int
    seconds: float
    path: Path
    previous: Path | None = None
    before: float | None = None
    reason: str | None = None

    @property
    def accepted(self) -> bool:
        """Whether the model file was written: no reason to reject."""
        return self.reason is None


def previous_path(path) -> Path:
    """Where the model file replaced by a new one is kept: ``MODEL.prev``."""
    path = Path(path)
    return path.with_name(path.name + ".prev")


def _save_keeping_previous(model, path: Path) -> Path | None:
    """Save ``model`` to ``path`` atomically; an existing file is first copied
    (atomically too) to :func:`previous_path`, so the model file is never
    missing and never half written."""
    previous = None
    target = path
    try:
        if path.exists():
            target = previous_path(path)
            previous = atomic_write(target, path.read_bytes())
            target = path
        persistence.save(model, path)
    except OSError as exc:  # its file name is that of the temporary file
        raise OSError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return previous


# what flock raises where the file system cannot lock
_NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EBADF)


@contextmanager
def _exclusive(path: Path):
    """Hold an exclusive lock on the model file ``path`` (see the module
    docstring). A save replaces the file, so a lock obtained on a file that
    was replaced meanwhile is dropped and taken on the new file."""
    if path.exists() and not path.is_file():
        # a FIFO would block the load; a device could not be replaced
        raise ValueError(f"{path} is not a model file (not a regular file)")
    if fcntl is None:
        yield
        return
    while True:
        with open(path, "rb") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX)
            except OSError as exc:
                if exc.errno not in _NO_LOCKS:
                    raise
                # a file system without flock (NFS without lockd, some FUSE
                # ones): the update runs, as it did before there was a lock
                warnings.warn(
                    f"could not lock {path} ({exc.strerror}): concurrent "
                    "updates of it are not run one after the other",
                    stacklevel=3,
                )
                yield
                return
            if os.fstat(f.fileno()).st_ino == os.stat(path).st_ino:
                yield
                return


def _same_file(a, b) -> bool:
    """Whether the paths ``a`` and ``b`` name one existing file."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one is missing: the reader says so
        return False


def _kind(labels: np.ndarray) -> str:
    return "text" if labels.dtype.kind in "OSU" else "numbers"


def _check_labels(model, data, path, target: str) -> None:
    """Refuse targets that cannot be the classifier's labels: non-integer
    numbers (a regression file), or text for numeric classes and vice versa
    (scikit-learn's errors name neither the file nor the column)."""
    classes, y = np.asarray(model.classes_), data.target
    shown = f"{classes[:5].tolist()}{' ...' if len(classes) > 5 else ''}"
    if y.dtype.kind == "f" and classes.dtype.kind != "f":
        raise ValueError(
            f"{path} column {target!r} holds non-integer numbers such as "
            f"{y[y != np.round(y)][0]:g}, but the model is a classifier (classes "
            f"{shown}); update a regressor with this file"
        )
    if _kind(y) != _kind(classes):
        raise ValueError(
            f"{path} column {target!r} holds {_kind(y)} such as {str(y[0])!r}, but "
            f"the model's classes are {_kind(classes)}: {shown}"
        )


def _inputs(data, named: bool):
    """The features of ``data`` (a :func:`load_csv` Bunch): a DataFrame with
    the column names when the model records them, else the array."""
    if not named:
        return data.data
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError(
            "sklearn-cl fit and update need pandas, to record the names of the "
            "feature columns in the model: pip install 'sklearn_cl[pandas]'."
        ) from exc
    return pd.DataFrame(data.data, columns=data.feature_names)


def _split(data, validation_fraction: float, *, named: bool, allow_none: bool):
    """``(X_train, y_train, X_val, y_val)``: the validation part is the last
    ``validation_fraction`` of the rows (the most recent ones), never shuffled."""
    if not (0 <= validation_fraction < 1) or (
        validation_fraction == 0 and not allow_none
    ):
        low = "[0, 1)" if allow_none else "(0, 1)"
        raise ValueError(
            f"the validation fraction must be in {low}; got {validation_fraction}"
        )
    n = len(data.target)
    n_val = round(validation_fraction * n)
    if validation_fraction > 0 and not 1 <= n_val < n:
        raise ValueError(
            f"{n} rows cannot be split into training rows and a validation "
            f"fraction of {validation_fraction}; give more rows or a validation file"
        )
    X, cut = _inputs(data, named), n - n_val
    return X[:cut], data.target[:cut], X[cut:], data.target[cut:]


def fit_csv(
    data_path,
    out,
    *,
    target: str,
    drop=(),
    task_type: str = "auto",
    strategy: str = "finetune",
    validation_fraction: float = 0.2,
    scoring=None,
    scale: bool = True,
    seed: int = 0,
    **training,
) -> Outcome:
    """Create the first model from a CSV file and save it to ``out``.

    The model trains on the first rows and is scored on the last
    ``validation_fraction`` of them (0: trains on all rows, no score).
    ``training`` goes to :func:`~sklearn_cl._strategy_registry.base_estimator`
    (``hidden_layer_sizes``, ``max_epochs``, ``update_epochs``, ``lr``,
    ``batch_size``).
    """
    if strategy not in STRATEGIES or strategy == JOINT:
        names = ", ".join(name for name in STRATEGIES if name != JOINT)
        raise ValueError(f"unknown strategy {strategy!r}; choose from {names}")
    if _same_file(out, data_path):
        raise ValueError(f"the model file {out} is the data file; give another --out")
    data = load_csv(data_path, target=target, drop=drop, task_type=task_type)
    X, y, X_val, y_val = _split(data, validation_fraction, named=True, allow_none=True)
    base = base_estimator(regression=data.regression, **training)
    estimator = set_random_state(STRATEGIES[strategy].build(base), seed)
    steps = [("model", estimator)]
    if scale:
        steps.insert(0, ("scale", FrozenEstimator(StandardScaler().fit(X))))
    model = IncrementalPipeline(steps)
    scorer = check_scoring(model, scoring=scoring)
    start = time.perf_counter()
    model.fit(X, y)
    seconds = time.perf_counter() - start
    score = float(scorer(model, X_val, y_val)) if len(y_val) else None
    out = Path(out)
    # an update running meanwhile saves first, rather than over this model
    with _exclusive(out) if out.exists() else nullcontext():
        previous = _save_keeping_previous(model, out)
    return Outcome(
        _scoring_name(scoring, model), score, len(y), len(y_val), seconds, out, previous
    )


def update_csv(
    model_path,
    data_path,
    *,
    target: str,
    drop=(),
    validation=None,
    validation_fraction: float = 0.2,
    tolerance: float = 0.0,
    min_score: float | None = None,
    scoring=None,
) -> Outcome:
    """Update a saved model with a CSV file of new data, guarded by a check.

    The new file must have the model's feature columns (plus the target and
    the ``drop`` columns). The update trains on all of it when a
    ``validation`` file is given, else on its first rows, the last
    ``validation_fraction`` held out. It is kept when the validation score
    does not drop by more than ``tolerance`` (the rule of
    :class:`~sklearn_cl.AcceptanceCheck`) and is at least ``min_score``; the
    model file is then replaced, the previous file kept as ``MODEL.prev``.
    A rejected update leaves the model file as it was.
    """
    model_path = Path(model_path)
    with _exclusive(model_path):
        return _update(
            model_path,
            persistence.load(model_path),
            data_path,
            target=target,
            drop=drop,
            validation=validation,
            validation_fraction=validation_fraction,
            tolerance=tolerance,
            min_score=min_score,
            scoring=scoring,
        )


def _update(
    model_path: Path,
    model,
    data_path,
    *,
    target,
    drop,
    validation,
    validation_fraction,
    tolerance,
    min_score,
    scoring,
) -> Outcome:
    """:func:`update_csv` on the loaded ``model``, with the file locked."""
    if not hasattr(model, "partial_fit"):
        raise ValueError(
            f"{model_path} holds a {type(model).__name__}, which has no partial_fit"
        )
    names = getattr(model, "feature_names_in_", None)
    named = names is not None
    features = [str(name) for name in names] if named else None
    task_type = "regression" if is_regressor(model) else "classification"

    def read(path):
        data = load_csv(
            path, target=target, drop=drop, features=features, task_type=task_type
        )
        if data.data.shape[1] != model.n_features_in_:
            raise ValueError(
                f"{path} has {data.data.shape[1]} feature columns; the model "
                f"was trained on {model.n_features_in_}"
            )
        if not is_regressor(model):
            _check_labels(model, data, path, target)
        return data

    if validation is not None and _same_file(validation, data_path):
        raise ValueError(
            f"the validation file {validation} is the new data file: the check "
            "would score the update on the rows it trained on"
        )
    data = read(data_path)
    if validation is not None:
        held_out = read(validation)
        X, y = _inputs(data, named), data.target
        X_val, y_val = _inputs(held_out, named), held_out.target
    else:
        X, y, X_val, y_val = _split(
            data, validation_fraction, named=named, allow_none=False
        )
    check = AcceptanceCheck(X_val, y_val, tolerance=tolerance, scoring=scoring)
    before = float(check.score(model))
    start = time.perf_counter()
    try:
        model.partial_fit(X, y)
    except NonFiniteUpdateError:
        after, reason = None, "non-finite loss or weights"
    else:
        after = float(check.score(model))
        reason = check.rejection(before, after)
        if reason is None and min_score is not None and not after >= min_score:
            reason = f"validation score below the minimum {min_score}"
    seconds = time.perf_counter() - start
    previous = None
    if reason is None:
        previous = _save_keeping_previous(model, model_path)
    return Outcome(
        _scoring_name(scoring, model),
        after,
        len(y),
        len(y_val),
        seconds,
        model_path,
        previous,
        before=before,
        reason=reason,
    )
