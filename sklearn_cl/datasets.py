"""Task builders, built-in task sequences, public data sets and CSV files.

A :class:`TaskSequence` is an ordered list of :class:`Task` objects, each with
its own train and test arrays. Builders turn any ``(X, y)`` into one; the
``*_digits`` functions build the standard benchmarks on scikit-learn's
``load_digits`` (no download).

The public data sets are fetched as scikit-learn fetches its own:
:func:`fetch_elec2`, :func:`fetch_weather` and :func:`fetch_mnist_idx`
download their files from a canonical public source on first use into a
cache, the data home (:func:`get_data_home`: ``$SKLEARN_CL_DATA``, else
``~/scikit_learn_data/sklearn_cl``), verify a sha256 checksum, and never
download them again. :func:`load_elec2`, :func:`load_weather` and
:func:`load_mnist_idx` read a local copy given by path (and fetch with
``path=None``). :func:`load_mnist1d` generates MNIST-1D offline with the
optional ``mnist1d`` package. :func:`load_csv` reads a CSV file of numeric
features and a target, as the ``sklearn-cl`` command does.
"""

from __future__ import annotations

import csv
import gzip
import math
import random
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch, check_random_state
from sklearn.utils.multiclass import type_of_target

from ._fetch import DATA_ENV, DownloadError, RemoteFile, fetch_file, get_data_home

__all__ = [
    "Task",
    "TaskSequence",
    "split_by_class",
    "permute_features",
    "split_digits",
    "permuted_digits",
    "shift_signals",
    "split_by_time",
    "standardize_tasks",
    "DATA_ENV",
    "DownloadError",
    "get_data_home",
    "fetch_elec2",
    "fetch_weather",
    "fetch_mnist_idx",
    "load_csv",
    "load_elec2",
    "load_weather",
    "load_mnist_idx",
    "load_mnist1d",
    "split_mnist",
    "permuted_mnist",
    "split_mnist1d",
    "elec2_periods",
    "weather_periods",
    "BENCHMARKS",
    "load_benchmark",
]


@dataclass
class Task:
    """One task (or period) of a sequence: its name, train and test arrays."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


class TaskSequence(Sequence):
    """An ordered sequence of tasks; iterate it, index it, or flatten it.

    Parameters
    ----------
    tasks : list of Task
    name : str, default="tasks"
        Name shown in reports.
    """

    def __init__(self, tasks: list[Task], name: str = "tasks"):
        if not tasks:
            raise ValueError("A TaskSequence needs at least one task.")
        self.tasks = list(tasks)
        self.name = name

    def __len__(self) -> int:
        return len(self.tasks)

    def __getitem__(self, index):
        return self.tasks[index]

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)

    def __repr__(self) -> str:
        sizes = ", ".join(str(len(t.y_train)) for t in self.tasks)
        return f"TaskSequence({self.name!r}, {len(self)} tasks, train sizes [{sizes}])"

    @property
    def classes(self) -> np.ndarray:
        """All labels of all tasks (train and test), sorted."""
        return np.unique(np.concatenate([np.r_[t.y_train, t.y_test] for t in self]))

    def train_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(X, y, tasks)`` of all training data, for ``fit(X, y, tasks=tasks)``."""
        X = np.concatenate([t.X_train for t in self])
        y = np.concatenate([t.y_train for t in self])
        tasks = np.concatenate([np.full(len(t.y_train), i) for i, t in enumerate(self)])
        return X, y, tasks

    def test_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(X, y, tasks)`` of all test data."""
        X = np.concatenate([t.X_test for t in self])
        y = np.concatenate([t.y_test for t in self])
        tasks = np.concatenate([np.full(len(t.y_test), i) for i, t in enumerate(self)])
        return X, y, tasks


def _split(X, y, test_size, random_state, stratify=True):
    return train_test_split(
        X,
        y,
        test_size=test_size,
        stratify=y if stratify else None,
        random_state=random_state,
    )


def split_by_class(
    X,
    y,
    *,
    n_tasks: int | None = None,
    classes_per_task: Sequence[Sequence] | None = None,
    test_size: float = 0.5,
    random_state=0,
    name: str = "split",
) -> TaskSequence:
    """Split ``(X, y)`` into tasks that each hold a disjoint group of classes.

    Parameters
    ----------
    X, y : array-like
    n_tasks : int, default=None
        Split the sorted classes into this many groups of equal size.
    classes_per_task : sequence of sequences, default=None
        The classes of each task, explicitly. Give this or ``n_tasks``.
    test_size : float, default=0.5
        Fraction of each task held out for testing (stratified).
    random_state : int, default=0

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> tasks = split_by_class(X, y, n_tasks=5)
    >>> [np.unique(t.y_train).tolist() for t in tasks][:2]
    [[0, 1], [2, 3]]
    """
    X, y = np.asarray(X), np.asarray(y)
    classes = np.unique(y)
    if classes_per_task is None:
        if n_tasks is None or not 1 <= n_tasks <= len(classes):
            raise ValueError(
                f"Pass n_tasks between 1 and the number of classes ({len(classes)}),"
                " or the classes of each task in classes_per_task."
            )
        classes_per_task = np.array_split(classes, n_tasks)
    tasks = []
    for group in classes_per_task:
        mask = np.isin(y, group)
        if not mask.any():
            raise ValueError(f"No sample has a label in {list(group)}.")
        parts = _split(X[mask], y[mask], test_size, random_state)
        label = "-".join(str(c) for c in group)
        tasks.append(Task(f"classes {label}", *_reorder(parts)))
    return TaskSequence(tasks, name=name)


def _reorder(parts):
    X_train, X_test, y_train, y_test = parts
    return X_train, y_train, X_test, y_test


def permute_features(
    X,
    y,
    *,
    n_tasks: int = 5,
    test_size: float = 0.5,
    random_state=0,
    name: str = "permuted",
) -> TaskSequence:
    """Tasks that see the same data under a fixed random feature permutation each.

    The first task keeps the original order. One train/test split is shared by
    all tasks, so task ``i``'s test set is the permuted test set.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> tasks = permute_features(X, y, n_tasks=3)
    >>> len(tasks), tasks[0].X_train.shape
    (3, (898, 64))
    """
    X, y = np.asarray(X), np.asarray(y)
    rng = check_random_state(random_state)
    X_train, X_test, y_train, y_test = _split(X, y, test_size, random_state)
    tasks = []
    for i in range(n_tasks):
        order = np.arange(X.shape[1]) if i == 0 else rng.permutation(X.shape[1])
        tasks.append(
            Task(
                f"permutation {i}", X_train[:, order], y_train, X_test[:, order], y_test
            )
        )
    return TaskSequence(tasks, name=name)


def shift_signals(
    X,
    y,
    *,
    n_tasks: int = 5,
    shifts: Sequence[int] | None = None,
    circular: bool = True,
    test_size: float = 0.5,
    random_state=0,
    name: str = "shifted",
) -> TaskSequence:
    """Tasks that see the same 1-D signals shifted in time by a fixed amount each.

    Each task shifts every signal along its last axis; ``circular=True``
    rotates it (samples pushed off one end come back at the other), otherwise
    the gap is filled with zeros. One stratified train/test split is shared
    by all tasks, as in :func:`permute_features`.

    Parameters
    ----------
    X : array-like of shape (n_samples, length) or (n_samples, channels, length)
    y : array-like of shape (n_samples,)
    n_tasks : int, default=5
        Number of tasks when ``shifts`` is not given; the shifts are then
        ``0, length // n_tasks, 2 * length // n_tasks, ...``.
    shifts : sequence of int, default=None
        The shift of each task, in samples (negative shifts go left).
    circular : bool, default=True
        Rotate the signals (True) or shift them and pad with zeros (False).
    test_size : float, default=0.5
    random_state : int, default=0

    Examples
    --------
    >>> X = np.tile(np.arange(4.0), (4, 1))
    >>> tasks = shift_signals(X, [0, 0, 1, 1], shifts=[0, 1], test_size=0.5)
    >>> tasks[1].X_train[0].tolist()
    [3.0, 0.0, 1.0, 2.0]
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim < 2:
        raise ValueError(
            f"shift_signals needs signals of shape (n_samples, length); got X of "
            f"shape {X.shape}."
        )
    length = X.shape[-1]
    if shifts is None:
        shifts = [i * length // n_tasks for i in range(n_tasks)]
    X_train, X_test, y_train, y_test = _split(X, y, test_size, random_state)
    tasks = [
        Task(
            f"shift {shift}",
            _shift(X_train, shift, circular),
            y_train,
            _shift(X_test, shift, circular),
            y_test,
        )
        for shift in shifts
    ]
    return TaskSequence(tasks, name=name)


def _shift(X: np.ndarray, shift: int, circular: bool) -> np.ndarray:
    shifted = np.roll(X, shift, axis=-1)
    if not circular and shift > 0:
        shifted[..., :shift] = 0
    elif not circular and shift < 0:
        shifted[..., shift:] = 0
    return shifted


def split_by_time(
    X,
    y,
    *,
    n_periods: int | None = None,
    periods=None,
    test_size: float = 0.2,
    name: str = "periods",
) -> TaskSequence:
    """Split time-ordered ``(X, y)`` into periods, each tested on its last part.

    Give ``n_periods`` to cut the rows, in their given order, into that many
    chunks of (almost) equal size, or ``periods`` to group rows by a period
    column (a date, month, year, batch id). Within each period the rows keep
    their order and the test part is the period's LAST ``test_size``
    fraction: nothing is shuffled, so a model is always tested on data that
    comes after what it trained on.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        Rows in time order.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    n_periods : int, default=None
        Number of equal chunks. Give this or ``periods``.
    periods : array-like of shape (n_samples,), default=None
        Period of each row. Periods come in order of first appearance, as
        in ``fit(X, y, tasks=...)``: sort the rows by time first.
    test_size : float, default=0.2
        Fraction of each period held out for testing, taken from its end;
        every period keeps at least one train and one test row.

    Returns
    -------
    TaskSequence

    Examples
    --------
    >>> X, y = np.arange(10.0).reshape(-1, 1), np.arange(10) % 2
    >>> tasks = split_by_time(X, y, n_periods=2, test_size=0.4)
    >>> tasks[0].X_train.ravel().tolist(), tasks[0].X_test.ravel().tolist()
    ([0.0, 1.0, 2.0], [3.0, 4.0])
    >>> tasks = split_by_time(X, y, periods=["jun"] * 5 + ["jul"] * 5)
    >>> [t.name for t in tasks]
    ['jun', 'jul']
    """
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}.")
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be in (0, 1); got {test_size!r}.")
    if (n_periods is None) == (periods is None):
        raise ValueError("Pass exactly one of n_periods and periods.")
    if periods is None:
        if not 1 <= n_periods <= len(X) // 2:
            raise ValueError(
                f"n_periods must be between 1 and n_samples // 2 = {len(X) // 2} "
                f"(each period needs a train and a test row); got {n_periods!r}."
            )
        chunks = np.array_split(np.arange(len(X)), n_periods)
        names = [f"period {i}" for i in range(n_periods)]
    else:
        periods = np.asarray(periods)
        if periods.shape != (len(X),):
            raise ValueError(
                f"periods must hold one value per row: expected shape ({len(X)},), "
                f"got {periods.shape}."
            )
        _, first = np.unique(periods, return_index=True)
        values = periods[np.sort(first)]
        chunks = [np.flatnonzero(periods == value) for value in values]
        names = [str(value) for value in values]
    tasks = []
    for label, rows in zip(names, chunks):
        if len(rows) < 2:
            raise ValueError(
                f"Period {label!r} has {len(rows)} row; each period needs at least "
                "2 (one to train, one to test). Merge it with a neighbour."
            )
        n_test = min(max(1, round(test_size * len(rows))), len(rows) - 1)
        train, test = rows[:-n_test], rows[-n_test:]
        tasks.append(Task(label, X[train], y[train], X[test], y[test]))
    return TaskSequence(tasks, name=name)


def standardize_tasks(tasks: TaskSequence) -> TaskSequence:
    """Scale features with the mean and standard deviation of the first task's
    training data, as a model deployed after the first task would.

    Later tasks are not looked at, so no statistic leaks from the future.
    Constant features are left unscaled.

    Examples
    --------
    >>> X, y = np.arange(20.0).reshape(-1, 2), np.arange(10) % 2
    >>> scaled = standardize_tasks(split_by_time(X, y, n_periods=2))
    >>> float(scaled[0].X_train.mean())
    0.0
    """
    first = tasks[0].X_train.astype(np.float64)
    mean = first.mean(axis=0)
    scale = first.std(axis=0)
    scale[scale == 0] = 1.0

    def apply(X):
        return ((X - mean) / scale).astype(np.float32)

    scaled = [
        Task(t.name, apply(t.X_train), t.y_train, apply(t.X_test), t.y_test)
        for t in tasks
    ]
    return TaskSequence(scaled, name=tasks.name)


def _digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y


def split_digits(n_tasks: int = 5, *, test_size: float = 0.5, random_state=0):
    """Split digits: classes {0, 1}, {2, 3}, ... one task each (scikit-learn's digits).

    Class-incremental; pixels are scaled to [0, 1]; each task is split
    50/50, stratified.
    """
    X, y = _digits()
    return split_by_class(
        X,
        y,
        n_tasks=n_tasks,
        test_size=test_size,
        random_state=random_state,
        name="split-digits",
    )


def permuted_digits(n_tasks: int = 5, *, test_size: float = 0.5, random_state=0):
    """Permuted digits: all 10 classes, a fixed pixel permutation per task.

    Domain-incremental; pixels are scaled to [0, 1].
    """
    X, y = _digits()
    return permute_features(
        X,
        y,
        n_tasks=n_tasks,
        test_size=test_size,
        random_state=random_state,
        name="permuted-digits",
    )


# ----------------------------------------------------------------------
# CSV files of numbers: the reader of the file loaders and the command line
# ----------------------------------------------------------------------
_FLOAT32_MAX = float(np.finfo(np.float32).max)
# spellings of a missing value (those of pandas.read_csv, lower-cased)
_MISSING = ["#n/a", "#n/a n/a", "#na", "-nan", "<na>", "n/a", "na", "nan", "none",
            "null"]  # fmt: skip


def _read_columns(path) -> dict[str, np.ndarray]:
    """The columns of a CSV file as arrays of stripped strings, by header name."""
    try:
        # utf-8-sig: a byte order mark (Excel's "CSV UTF-8") is not part of
        # the first column's name
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [row for row in csv.reader(f) if row]
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path} is not UTF-8 text ({exc}); save it as UTF-8 (CSV UTF-8)"
        ) from exc
    except csv.Error as exc:
        raise ValueError(f"{path} is not a readable CSV file: {exc}") from exc
    if len(rows) < 2:
        raise ValueError(f"{path} needs a header line and at least one data row")
    header = [name.strip() for name in rows[0]]
    unnamed = [i + 1 for i, name in enumerate(header) if not name]
    if unnamed:
        raise ValueError(
            f"{path} column {unnamed[0]} has no name (an index written by pandas' "
            "to_csv? write the file with index=False); name every column, and "
            "drop those that are no feature"
        )
    separator = [sep for sep in ";\t|" if len(header) == 1 and sep in header[0]]
    if separator:
        raise ValueError(
            f"{path} seems to separate its columns with {separator[0]!r}; it "
            "must be comma-separated (with '.' as the decimal mark)"
        )
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise ValueError(f"{path} repeats the columns {repeated}")
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ValueError(
                f"{path} line {number} has {len(row)} fields, the header has "
                f"{len(header)}"
            )
    values = np.char.strip(np.array(rows[1:], dtype=str))
    return {name: values[:, i] for i, name in enumerate(header)}


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _no_missing(values: np.ndarray, name: str, path) -> np.ndarray:
    """``values``, or an error naming the first empty cell."""
    empty = np.flatnonzero(values == "")
    if len(empty):
        raise ValueError(
            f"{path} column {name!r} has a missing value on line {empty[0] + 2} "
            f"({len(empty)} in all); fill or drop those rows"
        )
    return values


def _numbers(values: np.ndarray, name: str, path) -> np.ndarray:
    """A column of strings as finite floats within float32's range (the
    networks compute in float32), or an error naming the first bad cell."""
    try:
        numbers = values.astype(np.float64)
    except ValueError:
        numbers = None
    if numbers is None or not np.isfinite(numbers).all():
        _no_missing(values, name, path)
        for number, value in enumerate(values, start=2):
            if not _is_number(value):
                raise ValueError(
                    f"{path} column {name!r} is not a finite number on line "
                    f"{number} ({str(value)!r}); encode it or drop the column"
                )
        numbers = np.array(
            [float(value) for value in values]
        )  # spellings numpy rejects
    huge = np.flatnonzero(np.abs(numbers) > _FLOAT32_MAX)
    if len(huge):
        raise ValueError(
            f"{path} column {name!r} holds {values[huge[0]]} on line {huge[0] + 2}, "
            f"beyond float32's range ({_FLOAT32_MAX:.3g}) in which models compute; "
            "rescale the column (e.g. divide it by a power of ten)"
        )
    return numbers


def _column(columns: dict, name: str, role: str, path) -> np.ndarray:
    if name not in columns:
        raise ValueError(
            f"{path} has no column {name!r} (the {role}); its columns are "
            f"{', '.join(columns)}"
        )
    return columns[name]


def _target(y_raw: np.ndarray, name: str, task_type: str, path):
    """The target as numbers when it is numeric; ``(y, regression)``."""
    if task_type not in ("auto", "classification", "regression"):
        raise ValueError(
            "task_type must be 'auto', 'classification' or 'regression'; got "
            f"{task_type!r}"
        )
    _no_missing(y_raw, name, path)
    try:
        y = y_raw.astype(np.float64)
    except ValueError:
        y = y_raw
        numeric = np.array([_is_number(value) for value in y_raw])
        markers = np.char.lower(y_raw[~numeric])
        if numeric.any() and np.isin(markers, _MISSING).all():
            # numbers and "NA": missing labels, not a class named "NA"
            line = np.flatnonzero(~numeric)[0] + 2
            raise ValueError(
                f"{path} column {name!r} has a missing value on line {line} "
                f"({y_raw[line - 2]!s}); fill or drop those rows"
            ) from None
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        line = np.flatnonzero(~np.isfinite(y))[0] + 2
        raise ValueError(
            f"{path} column {name!r} is not a finite number on line {line} "
            f"({y_raw[line - 2]!s}); fill or drop those rows"
        )
    if task_type == "auto":
        with np.errstate(invalid="ignore", over="ignore"):  # checked by _numbers
            regression = type_of_target(y) == "continuous"
    else:
        regression = task_type == "regression"
    if regression:
        return _numbers(y_raw, name, path), True
    if y.dtype.kind == "f" and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    return y, False


def load_csv(
    path,
    *,
    target: str,
    task: str | None = None,
    drop: Sequence[str] = (),
    features: Sequence[str] | None = None,
    task_type: str = "auto",
) -> Bunch:
    """Read a CSV file of numeric features and a target, checking every cell.

    The reader of the file loaders and of the ``sklearn-cl`` command. Every
    column other than the target, the task column and the dropped ones is a
    feature, and every feature cell must be a finite number; an error names
    the file, the column and the line of the first bad cell.

    Parameters
    ----------
    path : str or path-like, or list of them
        The file; several files with the same columns (matched by name, in
        any order) are read as one table, in order (``source`` says which
        file each row came from).
    target : str
        The target column.
    task : str, default=None
        A task or period column, returned as ``periods`` (as strings).
    drop : sequence of str, default=()
        Columns to leave out.
    features : sequence of str, default=None
        The feature columns expected, in this order (those a fitted model
        was trained on); any other column not dropped is an error. ``None``
        takes every remaining column, in file order.
    task_type : {"auto", "classification", "regression"}, default="auto"
        What the target is; ``"auto"`` makes it a regression when it holds
        non-integer numbers. A numeric classification target becomes
        integers when all its values are whole.

    Returns
    -------
    Bunch
        ``data`` (float32 array of shape (n_rows, n_features)), ``target``,
        ``feature_names`` (list of str), ``periods`` (array of str, or None
        without ``task``), ``regression`` (bool) and ``source`` (the index of
        each row's file in ``path``).

    Raises
    ------
    ValueError
        For a malformed file, a missing column or a bad cell.
    OSError
        When a file cannot be read.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "sales.csv"
    >>> _ = path.write_text("month,price,sold\\n1,2.5,1\\n1,3.0,0\\n2,2.0,1\\n")
    >>> data = load_csv(path, target="sold", task="month")
    >>> data.data.tolist(), data.target.tolist(), data.feature_names
    ([[2.5], [3.0], [2.0]], [1, 0, 1], ['price'])
    >>> data.periods.tolist(), data.regression
    (['1', '1', '2'], False)
    """
    paths = list(path) if isinstance(path, list | tuple) else [path]
    tables = [_read_columns(p) for p in paths]
    if task is not None and task == target:
        raise ValueError(f"the target and the task column are both {target!r}")
    for p, table in zip(paths[1:], tables[1:]):
        if set(table) != set(tables[0]):  # matched by name, in any order
            raise ValueError(
                f"{paths[0]} and {p} must have the same columns; "
                f"{list(tables[0])} vs {list(table)}"
            )
    columns = {
        name: np.concatenate([table[name] for table in tables]) for name in tables[0]
    }
    name = paths[0] if len(paths) == 1 else " + ".join(str(p) for p in paths)
    y_raw = _column(columns, target, "target", name)
    periods = None
    if task is not None:
        periods = _no_missing(_column(columns, task, "task column", name), task, name)
    unknown = [column for column in drop if column not in columns]
    if unknown:
        raise ValueError(f"{name} has no columns {unknown} (to drop)")
    rest = [c for c in columns if c not in (target, task, *drop)]
    if features is None:
        features = rest
    else:
        features = list(features)
        missing = [c for c in features if c not in columns]
        extra = [c for c in rest if c not in features]
        if missing or extra:
            raise ValueError(
                f"{name} does not have the expected feature columns: "
                + (f"missing {missing}" if missing else "")
                + ("; " if missing and extra else "")
                + (f"not expected {extra} (drop them)" if extra else "")
                + f". Expected {features}."
            )
    if not features:
        raise ValueError(f"{name} has no feature column left")
    X = np.column_stack([_numbers(columns[c], c, name) for c in features])
    y, regression = _target(y_raw, target, task_type, name)
    source = np.concatenate([np.full(len(t[target]), i) for i, t in enumerate(tables)])
    return Bunch(
        data=X.astype(np.float32),
        target=y,
        feature_names=features,
        periods=periods,
        regression=regression,
        source=source,
    )


# ----------------------------------------------------------------------
# public data sets: fetched once into the data home, or read from a path
# ----------------------------------------------------------------------
# The CSV files are those of scikit-multiflow's streaming-datasets, pinned to
# a commit; the MNIST mirrors are torchvision's. See the fetchers' docstrings
# for what each checksum covers.
_STREAMING_DATASETS = (
    "https://raw.githubusercontent.com/scikit-multiflow/streaming-datasets/"
    "f1eb9f068c3450233721c3beac6fb0e880e9e7d7/"
)
_MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
_REMOTE = {
    "elec.csv": RemoteFile(
        "elec.csv",
        (_STREAMING_DATASETS + "elec.csv",),
        "cdf901433885f29eca6911f70c0eeafb50d90596c879c30c5b99f5a2e8e734ff",
    ),
    "weather.csv": RemoteFile(
        "weather.csv",
        (_STREAMING_DATASETS + "weather.csv",),
        "3c38f05bdc5c4cb115f122414c66976e3662c875d96d7199d9e47fc46aff150e",
    ),
    "t10k-images-idx3-ubyte": RemoteFile(
        "mnist-t10k/t10k-images-idx3-ubyte.gz",
        tuple(m + "t10k-images-idx3-ubyte.gz" for m in _MNIST_MIRRORS),
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        gzipped=True,
    ),
    "t10k-labels-idx1-ubyte": RemoteFile(
        "mnist-t10k/t10k-labels-idx1-ubyte.gz",
        tuple(m + "t10k-labels-idx1-ubyte.gz" for m in _MNIST_MIRRORS),
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        gzipped=True,
    ),
}


def _local_file(path, names: Sequence[str], fetcher: str) -> Path:
    """``path`` itself when it is a file, else the first of ``names`` in it."""
    path = Path(path)
    if path.is_file():
        return path
    for name in names:
        if (path / name).is_file():
            return path / name
    raise FileNotFoundError(
        f"Found no {names[0]!r} in {path}. Pass the file or the directory that "
        f"holds it, or call {fetcher}() to use the copy in the data home "
        "(downloaded on first use)."
    )


ELEC2_COLUMNS = [
    "period",
    "nswprice",
    "nswdemand",
    "vicprice",
    "vicdemand",
    "transfer",
    "class",
]
WEATHER_COLUMNS = [f"feat_{i}" for i in range(1, 9)] + ["target"]


def _load_stream(file: Path, columns: list[str], target: str, as_frame: bool):
    with open(file, newline="") as f:
        header = next(csv.reader(f), [])
    if header != columns:
        raise ValueError(
            f"{file} should have the columns {columns}; it has {header}. "
            "Pass the path of an unmodified copy."
        )
    if as_frame:
        import pandas as pd

        return pd.read_csv(file)
    data = load_csv(file, target=target, task_type="classification")
    return data.data, data.target.astype(np.int64)


def fetch_elec2(
    *, data_home=None, download_if_missing: bool = True, as_frame: bool = False
):
    """Load the Elec2 stream (Harries 1999), downloaded on first use.

    New South Wales electricity market, half-hourly from 7 May 1996 to
    5 December 1998 (45,312 rows in time order, 48 rows a day). The target
    ``class`` is 1 when the price went up against its last-24-hours average.

    The file is ``elec.csv`` of scikit-multiflow's ``streaming-datasets``
    repository at commit ``f1eb9f0``, the normalised version of Harries'
    data used across the concept-drift literature (MOA's ``elecNormNew``
    with the date and day columns dropped and the class as 0/1). It is
    downloaded once into ``data_home`` and its sha256 checked against that
    of the copy the tests use (``md5 badaf31b...``), which was checked to be
    byte-identical to the file in that commit.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The cache directory (see :func:`get_data_home`): ``$SKLEARN_CL_DATA``
        or ``~/scikit_learn_data/sklearn_cl``. A directory that already holds
        ``elec.csv`` is used as it is, with no download.
    download_if_missing : bool, default=True
        Download the file when it is not cached; False raises instead.
    as_frame : bool, default=False
        Return the whole table as a pandas DataFrame (needs pandas).

    Returns
    -------
    (X, y) : tuple of ndarray
        ``X`` float32 of shape (45312, 6), the columns ``period, nswprice,
        nswdemand, vicprice, vicdemand, transfer`` (all scaled to [0, 1]);
        ``y`` int64 of shape (45312,). Or a DataFrame with all seven columns
        when ``as_frame=True``.

    Raises
    ------
    DownloadError
        When the download fails or its checksum does not match (nothing is
        written to the cache); the message says how to place the file by
        hand.
    FileNotFoundError
        When the file is not cached and ``download_if_missing=False``.

    Examples
    --------
    >>> X, y = fetch_elec2()  # doctest: +SKIP
    >>> X.shape, np.bincount(y).tolist()  # doctest: +SKIP
    ((45312, 6), [26075, 19237])
    """
    file = fetch_file(
        _REMOTE["elec.csv"], data_home, download_if_missing=download_if_missing
    )
    return _load_stream(file, ELEC2_COLUMNS, "class", as_frame)


def fetch_weather(
    *, data_home=None, download_if_missing: bool = True, as_frame: bool = False
):
    """Load the NOAA weather stream (Elwell & Polikar 2011), downloaded on first use.

    Fifty years of daily records from Bellevue, Nebraska, in time order; the
    binary target says whether it rained. The file is ``weather.csv`` of
    scikit-multiflow's ``streaming-datasets`` repository at commit
    ``f1eb9f0`` (Polikar's eight features, named ``feat_1`` .. ``feat_8``),
    checked by sha256 as :func:`fetch_elec2` checks its file (the copy the
    tests use, ``md5 923b0061...``, is byte-identical to it).

    Parameters
    ----------
    data_home : str or path-like, default=None
        The cache directory, as in :func:`fetch_elec2`.
    download_if_missing : bool, default=True
    as_frame : bool, default=False
        Return the whole table as a pandas DataFrame (needs pandas).

    Returns
    -------
    (X, y) : tuple of ndarray
        ``X`` float32 of shape (18159, 8) (``feat_1`` .. ``feat_8``, unscaled),
        ``y`` int64 of shape (18159,). Or a DataFrame with all nine columns
        when ``as_frame=True``.

    Raises
    ------
    DownloadError, FileNotFoundError
        As :func:`fetch_elec2`.

    Examples
    --------
    >>> X, y = fetch_weather()  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (18159, 8)
    """
    file = fetch_file(
        _REMOTE["weather.csv"], data_home, download_if_missing=download_if_missing
    )
    return _load_stream(file, WEATHER_COLUMNS, "target", as_frame)


def load_elec2(path=None, *, as_frame: bool = False):
    """Load the Elec2 stream from a local ``elec.csv``, or fetch it.

    Parameters
    ----------
    path : str or path-like, default=None
        The CSV file or the directory that holds ``elec.csv``; nothing is
        downloaded. ``None`` is :func:`fetch_elec2` with its defaults (the
        copy in the data home, downloaded on first use).
    as_frame : bool, default=False
        Return the whole table as a pandas DataFrame (needs pandas).

    Returns
    -------
    (X, y) : tuple of ndarray, or DataFrame
        As :func:`fetch_elec2`.

    Raises
    ------
    FileNotFoundError
        When ``path`` holds no ``elec.csv``.

    Examples
    --------
    >>> X, y = load_elec2("elec.csv")  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (45312, 6)
    """
    if path is None:
        return fetch_elec2(as_frame=as_frame)
    file = _local_file(path, ["elec.csv"], "fetch_elec2")
    return _load_stream(file, ELEC2_COLUMNS, "class", as_frame)


def load_weather(path=None, *, as_frame: bool = False):
    """Load the NOAA weather stream from a local ``weather.csv``, or fetch it.

    Parameters
    ----------
    path : str or path-like, default=None
        The CSV file or the directory that holds ``weather.csv``; nothing is
        downloaded. ``None`` is :func:`fetch_weather` with its defaults.
    as_frame : bool, default=False
        Return the whole table as a pandas DataFrame (needs pandas).

    Returns
    -------
    (X, y) : tuple of ndarray, or DataFrame
        As :func:`fetch_weather`.

    Raises
    ------
    FileNotFoundError
        When ``path`` holds no ``weather.csv``.

    Examples
    --------
    >>> X, y = load_weather("weather.csv")  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (18159, 8)
    """
    if path is None:
        return fetch_weather(as_frame=as_frame)
    file = _local_file(path, ["weather.csv"], "fetch_weather")
    return _load_stream(file, WEATHER_COLUMNS, "target", as_frame)


def _read_idx(file: Path) -> np.ndarray:
    """An IDX array (the MNIST file format), gzipped or not."""
    opener = gzip.open if file.suffix == ".gz" else open
    with opener(file, "rb") as f:
        raw = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{file} is not an IDX file of unsigned bytes.")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _mnist_arrays(images_file: Path, labels_file: Path):
    images, labels = _read_idx(images_file), _read_idx(labels_file)
    if len(images) != len(labels):
        raise ValueError(
            f"The MNIST files disagree: {len(images)} images, {len(labels)} labels."
        )
    X = images.reshape(len(images), -1).astype(np.float32) / 255.0
    return X, labels.astype(np.int64)


_MNIST_STEMS = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def fetch_mnist_idx(
    *, data_home=None, download_if_missing: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Load the 10,000 MNIST test images, downloaded on first use.

    Downloads ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz``
    from the mirrors torchvision uses (``ossci-datasets.s3.amazonaws.com``,
    then ``yann.lecun.com``) into ``data_home/mnist-t10k/``. Copies of these
    files circulate re-gzipped, so the sha256 checked is that of the
    decompressed IDX content, computed from a copy whose content was checked
    (magic numbers, 28x28 images, the known label histogram); it could not be
    compared with a download from the mirrors here (no network).

    Parameters
    ----------
    data_home : str or path-like, default=None
        The cache directory, as in :func:`fetch_elec2`.
    download_if_missing : bool, default=True

    Returns
    -------
    X : ndarray of shape (10000, 784), float32
        Pixels scaled to [0, 1]; ``X.reshape(-1, 28, 28)`` gives the images.
    y : ndarray of shape (10000,), int64

    Raises
    ------
    DownloadError, FileNotFoundError
        As :func:`fetch_elec2`.

    Examples
    --------
    >>> X, y = fetch_mnist_idx()  # doctest: +SKIP
    >>> X.shape, y[:5].tolist()  # doctest: +SKIP
    ((10000, 784), [7, 2, 1, 0, 4])
    """
    files = [
        fetch_file(_REMOTE[stem], data_home, download_if_missing=download_if_missing)
        for stem in _MNIST_STEMS
    ]
    return _mnist_arrays(*files)


def load_mnist_idx(path=None) -> tuple[np.ndarray, np.ndarray]:
    """Load the 10,000 MNIST test images from local IDX files, or fetch them.

    Reads ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz``
    (or the uncompressed files) from ``path`` or from a ``mnist-t10k``
    directory under it.

    Parameters
    ----------
    path : str or path-like, default=None
        Directory that holds the two files; nothing is downloaded. ``None``
        is :func:`fetch_mnist_idx` with its defaults.

    Returns
    -------
    X : ndarray of shape (10000, 784), float32
    y : ndarray of shape (10000,), int64
        As :func:`fetch_mnist_idx`.

    Raises
    ------
    FileNotFoundError
        When a file is missing.

    Examples
    --------
    >>> X, y = load_mnist_idx("mnist")  # doctest: +SKIP
    >>> X.shape, y[:5].tolist()  # doctest: +SKIP
    ((10000, 784), [7, 2, 1, 0, 4])
    """
    if path is None:
        return fetch_mnist_idx()
    files = [
        _local_file(
            path,
            [f"{stem}.gz", stem, f"mnist-t10k/{stem}.gz", f"mnist-t10k/{stem}"],
            "fetch_mnist_idx",
        )
        for stem in _MNIST_STEMS
    ]
    return _mnist_arrays(*files)


@lru_cache(maxsize=4)
def _mnist1d(seed: int, num_samples: int) -> tuple[np.ndarray, np.ndarray]:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:
        raise ImportError(
            "load_mnist1d needs the optional package mnist1d: "
            "pip install 'sklearn_cl[datasets]' (or pip install mnist1d)."
        ) from exc
    args = get_dataset_args()
    args.seed, args.num_samples = seed, num_samples
    # make_dataset seeds the global RNGs; give the caller theirs back
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    X = np.concatenate([data["x"], data["x_test"]]).astype(np.float32)
    y = np.concatenate([data["y"], data["y_test"]]).astype(np.int64)
    X.flags.writeable = y.flags.writeable = False
    return X, y


def load_mnist1d(
    *, seed: int = 42, num_samples: int = 5000
) -> tuple[np.ndarray, np.ndarray]:
    """Generate MNIST-1D (Greydanus 2020) offline with the ``mnist1d`` package.

    Calls ``mnist1d.data.make_dataset`` with the package's default arguments
    (never its download path) and leaves the global random state as it was.
    With the defaults the first 4,000 rows are the package's training split
    and the last 1,000 its test split, the split published accuracies use
    (logistic regression 32%, MLP 68%, CNN 94%).

    Parameters
    ----------
    seed : int, default=42
        Seed of the generator (42 reproduces the published data set).
    num_samples : int, default=5000
        Number of signals, split 80/20 as described above.

    Returns
    -------
    X : ndarray of shape (num_samples, 40), float32
        Standardised 1-D signals of length 40.
    y : ndarray of shape (num_samples,), int64
        Digits 0-9.

    Examples
    --------
    >>> X, y = load_mnist1d()  # doctest: +SKIP
    >>> X.shape, len(np.unique(y))  # doctest: +SKIP
    ((5000, 40), 10)
    """
    X, y = _mnist1d(seed, num_samples)
    return X.copy(), y.copy()


# ----------------------------------------------------------------------
# built-in benchmarks: the first line of each builder's docstring is the
# note that ``sklearn-cl list`` prints
# ----------------------------------------------------------------------
def _local_or_fetched(load, fetch, path, data_home):
    """``load(path)`` for a local copy, else ``fetch`` from the data home."""
    return load(path) if path is not None else fetch(data_home=data_home)


def split_mnist(
    n_tasks: int = 5,
    *,
    path=None,
    data_home=None,
    test_size: float = 0.5,
    random_state=0,
) -> TaskSequence:
    """Split MNIST on the 10k MNIST test images: digits {0,1}, {2,3}, ...

    Each task is split into train and test (stratified). Only the MNIST test
    set is read (:func:`load_mnist_idx` from ``path``, else
    :func:`fetch_mnist_idx` into ``data_home``), so scores are not
    comparable to published full-MNIST tables.
    """
    X, y = _local_or_fetched(load_mnist_idx, fetch_mnist_idx, path, data_home)
    return split_by_class(
        X,
        y,
        n_tasks=n_tasks,
        test_size=test_size,
        random_state=random_state,
        name="split-mnist",
    )


def permuted_mnist(
    n_tasks: int = 5,
    *,
    path=None,
    data_home=None,
    test_size: float = 0.5,
    random_state=0,
) -> TaskSequence:
    """Permuted MNIST on the 10k MNIST test images, a pixel permutation per task.

    All digits in every task, the first task unpermuted; the images are read
    as in :func:`split_mnist`.
    """
    X, y = _local_or_fetched(load_mnist_idx, fetch_mnist_idx, path, data_home)
    return permute_features(
        X,
        y,
        n_tasks=n_tasks,
        test_size=test_size,
        random_state=random_state,
        name="permuted-mnist",
    )


def split_mnist1d(
    n_tasks: int = 5, *, test_size: float = 0.2, random_state=0
) -> TaskSequence:
    """Split MNIST-1D, generated offline (needs the mnist1d package).

    Digits {0, 1}, {2, 3}, ... one task each, on the 5,000 signals of
    :func:`load_mnist1d`. Each task is split into train and test
    (stratified, ``test_size``), not along the package's own 4,000/1,000
    split.
    """
    X, y = load_mnist1d()
    return split_by_class(
        X,
        y,
        n_tasks=n_tasks,
        test_size=test_size,
        random_state=random_state,
        name="mnist1d",
    )


def elec2_periods(
    n_periods: int = 10, *, path=None, data_home=None, test_size: float = 0.2
) -> TaskSequence:
    """Elec2 electricity prices in consecutive periods of equal length (elec.csv).

    The stream (:func:`load_elec2` from ``path``, else :func:`fetch_elec2`
    into ``data_home``) is cut into ``n_periods`` periods, each tested on its
    last ``test_size`` fraction. The features are already scaled to [0, 1]
    in the file.
    """
    X, y = _local_or_fetched(load_elec2, fetch_elec2, path, data_home)
    return split_by_time(X, y, n_periods=n_periods, test_size=test_size, name="elec2")


def weather_periods(
    n_periods: int = 10, *, path=None, data_home=None, test_size: float = 0.2
) -> TaskSequence:
    """NOAA daily weather in periods of 5 years (by default) from weather.csv.

    The stream (:func:`load_weather` from ``path``, else
    :func:`fetch_weather` into ``data_home``) is cut into ``n_periods``
    periods, each tested on its last ``test_size`` fraction, the features
    standardised with the first period's training statistics
    (:func:`standardize_tasks`).
    """
    X, y = _local_or_fetched(load_weather, fetch_weather, path, data_home)
    tasks = split_by_time(X, y, n_periods=n_periods, test_size=test_size)
    return standardize_tasks(TaskSequence(list(tasks), name="weather"))


#: The built-in benchmarks by name: each builds a :class:`TaskSequence`.
BENCHMARKS = {
    "split-digits": split_digits,
    "permuted-digits": permuted_digits,
    "split-mnist": split_mnist,
    "permuted-mnist": permuted_mnist,
    "mnist1d": split_mnist1d,
    "elec2": elec2_periods,
    "weather": weather_periods,
}


def load_benchmark(name: str, **kwargs) -> TaskSequence:
    """Build a built-in benchmark by name (see ``BENCHMARKS``).

    Parameters
    ----------
    name : str
        One of ``split-digits``, ``permuted-digits``, ``split-mnist``,
        ``permuted-mnist``, ``mnist1d``, ``elec2``, ``weather``.
    **kwargs
        Passed to the builder (``n_tasks`` or ``n_periods``,
        ``random_state``, ``path``, ``data_home`` ...).

    Raises
    ------
    ValueError
        For an unknown name.
    FileNotFoundError, DownloadError, ImportError
        When the benchmark's file cannot be found or downloaded, or its
        optional package is missing.

    Examples
    --------
    >>> load_benchmark("split-digits", n_tasks=2)
    TaskSequence('split-digits', 2 tasks, train sizes [450, 448])
    """
    if name not in BENCHMARKS:
        raise ValueError(
            f"Unknown benchmark {name!r}. Choose one of {sorted(BENCHMARKS)}."
        )
    return BENCHMARKS[name](**kwargs)
