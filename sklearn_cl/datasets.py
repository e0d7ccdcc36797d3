"""Task builders and built-in task sequences for continual learning.

A :class:`TaskSequence` is an ordered list of :class:`Task` objects, each with
its own train and test arrays. Builders turn any ``(X, y)`` into one; the
``*_digits`` functions build the standard benchmarks on scikit-learn's
``load_digits`` (no download).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

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
            Task(f"permutation {i}", X_train[:, order], y_train, X_test[:, order], y_test)
        )
    return TaskSequence(tasks, name=name)


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
