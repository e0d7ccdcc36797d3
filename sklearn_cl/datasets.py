"""Task builders, built-in task sequences and file loaders for continual learning.

A :class:`TaskSequence` is an ordered list of :class:`Task` objects, each with
its own train and test arrays. Builders turn any ``(X, y)`` into one; the
``*_digits`` functions build the standard benchmarks on scikit-learn's
``load_digits`` (no download).

The file loaders (:func:`load_elec2`, :func:`load_weather`,
:func:`load_mnist_idx`) read local copies of public data sets and never
download anything. With ``path=None`` they look, in order, in the directory
named by the environment variable ``SKLEARN_CL_DATA``, in ``../shared/data``
relative to the current directory and in ``../shared/data`` relative to the
repository root; a missing file raises a :class:`FileNotFoundError` that says
where to put it. :func:`load_mnist1d` generates MNIST-1D offline with the
optional ``mnist1d`` package.
"""

from __future__ import annotations

import gzip
import os
import random
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state

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

DATA_ENV = "SKLEARN_CL_DATA"


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
    """Split digits: classes {0, 1}, {2, 3}, ... one task each (class-incremental).

    Pixels are scaled to [0, 1]; each task is split 50/50, stratified.
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
    """Permuted digits: all 10 classes, a fixed pixel permutation per task
    (domain-incremental). Pixels are scaled to [0, 1]."""
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
# file loaders: local files only, never a download
# ----------------------------------------------------------------------
def _data_dirs(path) -> list[Path]:
    """Directories searched for a data file, in order."""
    if path is not None:
        return [Path(path)]
    dirs = []
    if os.environ.get(DATA_ENV):
        dirs.append(Path(os.environ[DATA_ENV]))
    dirs.append(Path.cwd().parent / "shared" / "data")
    dirs.append(Path(__file__).resolve().parent.parent.parent / "shared" / "data")
    return list(dict.fromkeys(dirs))


def _find_file(names: Sequence[str], path, what: str) -> Path:
    """The first of ``names`` that exists in a searched directory.

    ``path`` may also name the file itself.
    """
    if path is not None and Path(path).is_file():
        return Path(path)
    dirs = _data_dirs(path)
    for directory in dirs:
        for name in names:
            if (directory / name).is_file():
                return directory / name
    searched = ", ".join(str(d) for d in dirs)
    raise FileNotFoundError(
        f"{what}: found no {names[0]!r} in {searched}. Nothing is downloaded: put "
        f"the file in one of these directories, set the environment variable "
        f"{DATA_ENV} to the directory that holds it, or pass path=."
    )


def _load_csv(name: str, columns: list[str], target: str, path, as_frame: bool):
    file = _find_file([name], path, f"{name} not found")
    with open(file) as f:
        header = f.readline().strip().split(",")
    if header != columns:
        raise ValueError(
            f"{file} should have the columns {columns}; it has {header}. "
            "Pass the path of an unmodified copy."
        )
    if as_frame:
        import pandas as pd

        return pd.read_csv(file)
    data = np.loadtxt(file, delimiter=",", skiprows=1)
    features = [i for i, c in enumerate(columns) if c != target]
    return data[:, features].astype(np.float32), data[:, columns.index(target)].astype(
        np.int64
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


def load_elec2(path=None, *, as_frame: bool = False):
    """Load the Elec2 stream (Harries 1999) from ``elec.csv``; no download.

    New South Wales electricity market, half-hourly from 7 May 1996 to
    5 December 1998 (45,312 rows in time order, 48 rows a day). The target
    ``class`` is 1 when the price went up against its last-24-hours average.

    Parameters
    ----------
    path : str or path-like, default=None
        The CSV file or the directory that holds ``elec.csv``. ``None``
        searches ``$SKLEARN_CL_DATA``, then ``../shared/data`` relative to the
        current directory and to the repository root.
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
    FileNotFoundError
        When no ``elec.csv`` is found; the message lists where to put it.

    Examples
    --------
    >>> X, y = load_elec2()  # doctest: +SKIP
    >>> X.shape, np.bincount(y).tolist()  # doctest: +SKIP
    ((45312, 6), [26075, 19237])
    """
    return _load_csv("elec.csv", ELEC2_COLUMNS, "class", path, as_frame)


def load_weather(path=None, *, as_frame: bool = False):
    """Load the NOAA weather stream (Elwell & Polikar 2011) from ``weather.csv``.

    Fifty years of daily records from Bellevue, Nebraska, in time order; the
    binary target says whether it rained. No download.

    Parameters
    ----------
    path : str or path-like, default=None
        The CSV file or the directory that holds ``weather.csv``; ``None``
        searches as :func:`load_elec2` does.
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
    FileNotFoundError
        When no ``weather.csv`` is found; the message lists where to put it.

    Examples
    --------
    >>> X, y = load_weather()  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (18159, 8)
    """
    return _load_csv("weather.csv", WEATHER_COLUMNS, "target", path, as_frame)


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


def _mnist_file(stem: str, path) -> Path:
    names = [f"{stem}.gz", stem, f"mnist-t10k/{stem}.gz", f"mnist-t10k/{stem}"]
    return _find_file(names, path, f"MNIST file {stem}.gz not found")


def load_mnist_idx(path=None) -> tuple[np.ndarray, np.ndarray]:
    """Load the 10,000 MNIST test images from their IDX files; no download.

    Reads ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz``
    (or the uncompressed files) from ``path`` or from a ``mnist-t10k``
    directory under it.

    Parameters
    ----------
    path : str or path-like, default=None
        Directory that holds the two files; ``None`` searches as
        :func:`load_elec2` does.

    Returns
    -------
    X : ndarray of shape (10000, 784), float32
        Pixels scaled to [0, 1]; ``X.reshape(-1, 28, 28)`` gives the images.
    y : ndarray of shape (10000,), int64

    Raises
    ------
    FileNotFoundError
        When a file is missing; the message lists where to put it.

    Examples
    --------
    >>> X, y = load_mnist_idx()  # doctest: +SKIP
    >>> X.shape, y[:5].tolist()  # doctest: +SKIP
    ((10000, 784), [7, 2, 1, 0, 4])
    """
    images = _read_idx(_mnist_file("t10k-images-idx3-ubyte", path))
    labels = _read_idx(_mnist_file("t10k-labels-idx1-ubyte", path))
    if len(images) != len(labels):
        raise ValueError(
            f"The MNIST files disagree: {len(images)} images, {len(labels)} labels."
        )
    X = images.reshape(len(images), -1).astype(np.float32) / 255.0
    return X, labels.astype(np.int64)


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
# built-in benchmarks on the files above
# ----------------------------------------------------------------------
def split_mnist(
    n_tasks: int = 5, *, path=None, test_size: float = 0.5, random_state=0
) -> TaskSequence:
    """Split MNIST on the 10,000 test images: digits {0, 1}, {2, 3}, ... one
    task each, each task split into train and test (stratified).

    Only the MNIST test set is read (see :func:`load_mnist_idx`), so scores
    are not comparable to published full-MNIST tables.
    """
    X, y = load_mnist_idx(path)
    return split_by_class(
        X,
        y,
        n_tasks=n_tasks,
        test_size=test_size,
        random_state=random_state,
        name="split-mnist",
    )


def permuted_mnist(
    n_tasks: int = 5, *, path=None, test_size: float = 0.5, random_state=0
) -> TaskSequence:
    """Permuted MNIST on the 10,000 test images: all digits, a fixed pixel
    permutation per task (the first task unpermuted)."""
    X, y = load_mnist_idx(path)
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
    """Split MNIST-1D: digits {0, 1}, {2, 3}, ... one task each, on the 5,000
    signals of :func:`load_mnist1d` (needs the optional ``mnist1d`` package).

    Each task is split into train and test (stratified, ``test_size``), not
    along the package's own 4,000/1,000 split.
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
    n_periods: int = 10, *, path=None, test_size: float = 0.2
) -> TaskSequence:
    """Elec2 (:func:`load_elec2`) cut into ``n_periods`` consecutive periods of
    equal length, each tested on its last ``test_size`` fraction.

    The features are already scaled to [0, 1] in the file.
    """
    X, y = load_elec2(path)
    return split_by_time(X, y, n_periods=n_periods, test_size=test_size, name="elec2")


def weather_periods(
    n_periods: int = 10, *, path=None, test_size: float = 0.2
) -> TaskSequence:
    """The weather stream (:func:`load_weather`) cut into ``n_periods``
    consecutive periods (five years each by default), each tested on its last
    ``test_size`` fraction, features standardised with the first period's
    training statistics (:func:`standardize_tasks`)."""
    X, y = load_weather(path)
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
        Passed to the builder (``n_tasks``, ``random_state``, ``path`` ...).

    Raises
    ------
    ValueError
        For an unknown name.
    FileNotFoundError, ImportError
        When the benchmark's file or optional package is missing.

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
