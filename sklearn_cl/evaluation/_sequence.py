"""Train an estimator through a task sequence and record its accuracy matrix."""

from __future__ import annotations

import pickle
import time
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import clone, is_classifier
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.metrics import check_scoring

from ._metrics import continual_metrics, prediction_flips

__all__ = [
    "SequenceResult",
    "evaluate_sequence",
    "accuracy_matrix",
    "baseline_scores",
    "set_random_state",
    "state_size",
]


@dataclass
class SequenceResult:
    """What :func:`evaluate_sequence` measured on one run.

    Attributes
    ----------
    matrix : ndarray of shape (T, T)
        ``matrix[i, j]``: score on task ``j`` after training through task ``i``.
    baseline : ndarray of shape (T,)
        Scores of the untrained baseline, used for forward transfer.
    metrics : dict
        :func:`continual_metrics` of the matrix, plus ``negative_flip_rate``
        (mean over updates; NaN for regressors or a single task).
    fit_time : float
        Seconds of the first training call.
    update_times : list of float
        Seconds of each update (``partial_fit``) call.
    state_bytes : int
        Peak, over the sequence, of the pickled size of the fitted estimator.
    flips : list of dict
        :func:`prediction_flips` of each update on the test data of the tasks
        seen before it (classifiers only).
    error : str or None
        The error of a run that raised in :func:`compare_strategies` with
        ``error_score=np.nan`` (its scores are NaN); None otherwise.
    """

    matrix: np.ndarray
    baseline: np.ndarray
    metrics: dict
    fit_time: float
    update_times: list = field(default_factory=list)
    state_bytes: int = 0
    flips: list = field(default_factory=list)
    error: str | None = None


def set_random_state(estimator, seed: int):
    """Set every ``random_state`` in ``estimator.get_params(deep=True)`` to ``seed``.

    Nested ones too (``estimator__random_state``, ``callbacks__replay__random_state``),
    so one seed fixes a meta-estimator, its members and its strategies.
    Changes ``estimator`` in place and returns it.

    Examples
    --------
    >>> from sklearn.ensemble import BaggingClassifier
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> bag = set_random_state(BaggingClassifier(DecisionTreeClassifier()), 3)
    >>> bag.random_state, bag.estimator.random_state
    (3, 3)
    """
    keys = [
        key
        for key in estimator.get_params(deep=True)
        if key == "random_state" or key.endswith("__random_state")
    ]
    # parents first, so a replaced nested object is seeded after replacement
    for key in sorted(keys, key=lambda k: k.count("__")):
        estimator.set_params(**{key: seed})
    return estimator


def state_size(estimator) -> int:
    """Bytes of the pickled estimator: the memory its learned state needs at rest.

    Includes parameters, optimizer state, strategy buffers and ensemble
    members; excludes transient training memory (activations, gradients).
    """
    return len(pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL))


def baseline_scores(tasks, *, classifier: bool, scoring=None, random_state=0):
    """Scores of an input-blind model on each task: the ``b_j`` of forward transfer.

    A model that has learned nothing from the inputs: for classifiers,
    scikit-learn's ``DummyClassifier(strategy="uniform")`` guessing among the
    labels of all tasks (chance level, the expected score of a randomly
    initialised network as in Lopez-Paz & Ranzato 2017); for regressors
    ``DummyRegressor(strategy="mean")`` predicting the mean of all tasks'
    training targets.

    Parameters
    ----------
    tasks : TaskSequence
    classifier : bool
    scoring : str or callable, default=None
        Scorer name or callable; ``None`` uses the dummy's ``score``
        (accuracy or R²).
    random_state : int, default=0

    Returns
    -------
    ndarray of shape (T,)

    Examples
    --------
    >>> from sklearn_cl.datasets import split_digits
    >>> b = baseline_scores(split_digits(), classifier=True)
    >>> b.shape, bool(0.0 < b.mean() < 0.2)
    ((5,), True)
    """
    X, y, _ = tasks.train_arrays()
    dummy = (
        DummyClassifier(strategy="uniform", random_state=random_state)
        if classifier
        else DummyRegressor(strategy="mean")
    ).fit(X, y)
    scorer = check_scoring(dummy, scoring=scoring)
    return np.array([scorer(dummy, t.X_test, t.y_test) for t in tasks])


def _train_step(estimator, X, y, *, first: bool, classes):
    """One training call of the protocol; returns its duration in seconds."""
    start = time.perf_counter()
    if classes is not None:
        estimator.partial_fit(X, y, classes=classes)
    elif first:
        estimator.fit(X, y)
    else:
        estimator.partial_fit(X, y)
    return time.perf_counter() - start


def evaluate_sequence(
    estimator, tasks, *, scoring=None, classes=None, baseline=None
) -> SequenceResult:
    """Train a clone of ``estimator`` through ``tasks`` and measure it after each.

    The protocol: ``fit`` on task 0, then one ``partial_fit`` per later task,
    in order; after every call the model is scored on the test data of every
    task (the row ``i`` of the accuracy matrix). With ``classes`` given, every
    call, the first included, is ``partial_fit(X, y, classes=classes)``
    instead (scikit-learn's incremental protocol, for estimators such as
    ``SGDClassifier`` whose labels are fixed by their first call).

    For a :class:`~sklearn_cl.ContinualClassifier` this is the sequence
    ``fit(X, y, tasks=...)`` runs, step by step: when every task holds every
    class the final row equals the scores of that one ``fit`` call. When later
    tasks bring new classes (class-incremental), give the classifier
    ``allow_new_classes=True`` so its output layer grows.

    Parameters
    ----------
    estimator : estimator
        Any scikit-learn estimator with ``fit`` and ``partial_fit``; it is
        cloned, never changed.
    tasks : TaskSequence
    scoring : str or callable, default=None
        A scikit-learn scorer name (``"accuracy"``, ``"r2"``,
        ``"neg_mean_absolute_error"``) or callable ``scorer(est, X, y)``;
        ``None`` uses ``estimator.score`` (accuracy or R²). Scores are
        "greater is better", so MAE enters as its negative.
    classes : array-like, default=None
        See above.
    baseline : array-like of shape (T,), default=None
        Untrained scores for forward transfer; ``None`` computes
        :func:`baseline_scores`.

    Returns
    -------
    SequenceResult

    Examples
    --------
    >>> from sklearn.linear_model import SGDClassifier
    >>> from sklearn_cl.datasets import permuted_digits
    >>> tasks = permuted_digits(n_tasks=3)
    >>> result = evaluate_sequence(SGDClassifier(random_state=0), tasks)
    >>> result.matrix.shape, sorted(result.metrics)
    ((3, 3), ['average_score', 'backward_transfer', 'forgetting',
              'forward_transfer', 'negative_flip_rate'])
    """
    if not hasattr(estimator, "partial_fit") and (len(tasks) > 1 or classes):
        raise TypeError(
            f"{type(estimator).__name__} has no partial_fit, so it cannot be "
            "updated task after task. Wrap it in sklearn_cl.UpdateEnsemble, which "
            "adds a model fitted on each new task."
        )
    estimator = clone(estimator)
    scorer = check_scoring(estimator, scoring=scoring)
    classifier = is_classifier(estimator)
    if baseline is None:
        baseline = baseline_scores(tasks, classifier=classifier, scoring=scoring)
    n = len(tasks)
    R = np.full((n, n), np.nan)
    times, flips, state, previous = [], [], 0, None
    for i, task in enumerate(tasks):
        times.append(
            _train_step(
                estimator, task.X_train, task.y_train, first=i == 0, classes=classes
            )
        )
        state = max(state, state_size(estimator))
        R[i] = [scorer(estimator, t.X_test, t.y_test) for t in tasks]
        if classifier:
            predictions = [estimator.predict(t.X_test) for t in tasks[:i]]
            if previous is not None:
                y_seen = np.concatenate([t.y_test for t in tasks[:i]])
                flips.append(
                    prediction_flips(
                        y_seen, np.concatenate(previous), np.concatenate(predictions)
                    )
                )
            previous = predictions + [estimator.predict(task.X_test)]
    metrics = continual_metrics(R, baseline)
    metrics["negative_flip_rate"] = (
        float(np.mean([f["negative_flip_rate"] for f in flips])) if flips else np.nan
    )
    return SequenceResult(
        matrix=R,
        baseline=np.asarray(baseline, dtype=float),
        metrics=metrics,
        fit_time=times[0],
        update_times=times[1:],
        state_bytes=state,
        flips=flips,
    )


def accuracy_matrix(estimator, tasks, *, scoring=None, classes=None) -> np.ndarray:
    """The accuracy matrix ``R[i, j]``: score on task ``j`` after training
    through task ``i``, with the protocol of :func:`evaluate_sequence`.

    Works with any scorer, so regressors too (``scoring="r2"`` or
    ``"neg_mean_absolute_error"``).

    Examples
    --------
    >>> from sklearn.linear_model import SGDRegressor
    >>> from sklearn_cl.datasets import split_by_time
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 3))
    >>> y = X @ [1.0, 2.0, -1.0] + 0.1 * rng.normal(size=300)
    >>> tasks = split_by_time(X, y, n_periods=3)
    >>> R = accuracy_matrix(SGDRegressor(random_state=0), tasks, scoring="r2")
    >>> R.shape, bool(R[-1].min() > 0.9)
    ((3, 3), True)
    """
    return evaluate_sequence(
        estimator,
        tasks,
        scoring=scoring,
        classes=classes,
        baseline=np.zeros(len(tasks)),
    ).matrix
