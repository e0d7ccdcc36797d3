"""Scorers for continual learning, usable as ``scoring=`` in a search.

``GridSearchCV(clf, grid, scoring=make_task_scorer("average"))`` fitted with
``fit(X, y, tasks=t)`` trains every candidate on the tasks of the training
folds in order and scores it on the held-out fold, task by task. The scorer
needs the task id of each held-out sample:

- with metadata routing on (``sklearn.set_config(enable_metadata_routing=True)``)
  the search passes ``tasks`` of the held-out fold to the scorer, which
  requests it by default (``set_score_request(tasks=...)`` changes that);
- with routing off, scikit-learn calls a scorer with ``(estimator, X, y)``
  only, so the scorer must derive the tasks from those: pass
  ``task_of=callable(X, y) -> tasks``, for instance a mapping from labels to
  tasks on a class-incremental split. Without either, the scorer raises.

Two metrics need the model as it was after each task, which
``fit(X, y, tasks=t)`` does not keep: add a :class:`Snapshots` callback to
the estimator for them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from sklearn.base import is_classifier
from sklearn.metrics import accuracy_score, r2_score
from sklearn.pipeline import Pipeline
from sklearn.utils.metadata_routing import MetadataRequest

from .base import ContinualEstimator
from .evaluation import backward_transfer, forgetting
from .monitoring import MonitoredUpdater
from .strategies.snapshots import Snapshots

__all__ = ["Snapshots", "TaskScorer", "make_task_scorer"]

_FINAL_MODEL_METRICS = ("average", "worst")
_SNAPSHOT_METRICS = ("neg_forgetting", "backward_transfer")
METRICS = _FINAL_MODEL_METRICS + _SNAPSHOT_METRICS


class TaskScorer:
    """A continual-learning score of a fitted estimator on held-out tasks.

    Build it with :func:`make_task_scorer`. Called as ``scorer(estimator, X,
    y, tasks=None)``, like any scikit-learn scorer.

    Parameters
    ----------
    metric : {"average", "worst", "neg_forgetting", "backward_transfer"}
        See :func:`make_task_scorer`.
    score_func : callable or None
        ``score_func(y_true, y_pred)`` on the samples of one task; None means
        accuracy for classifiers and R^2 for regressors.
    task_of : callable or None
        ``task_of(X, y)`` returns the task id of each sample; used when no
        ``tasks`` arrive (metadata routing off).
    """

    def __init__(
        self,
        metric: str,
        score_func: Callable | None = None,
        task_of: Callable | None = None,
    ):
        self.metric = metric
        self.score_func = score_func
        self.task_of = task_of
        self._tasks_request = True

    def __repr__(self) -> str:
        return f"make_task_scorer({self.metric!r})"

    def __call__(self, estimator, X, y, tasks=None) -> float:
        tasks = self._tasks(X, y, tasks)
        score_func = self.score_func or (
            accuracy_score if is_classifier(estimator) else r2_score
        )
        y = np.asarray(y)
        order = _in_order_of_appearance(tasks)
        if self.metric in _FINAL_MODEL_METRICS:
            y_pred = estimator.predict(X)
            scores = [score_func(y[tasks == t], y_pred[tasks == t]) for t in order]
            return float(np.mean(scores) if self.metric == "average" else min(scores))
        final_model, X = _final_step(estimator, X)
        matrix = _snapshot_matrix(final_model, X, y, tasks, order, score_func)
        if self.metric == "neg_forgetting":
            return -forgetting(matrix)
        return backward_transfer(matrix)

    def _tasks(self, X, y, tasks) -> np.ndarray:
        if tasks is None and self.task_of is not None:
            tasks = self.task_of(X, y)
        if tasks is None:
            raise ValueError(
                f"The {self!r} scorer needs the task id of each held-out sample "
                "and got none. Turn on metadata routing "
                "(sklearn.set_config(enable_metadata_routing=True)) and pass "
                "`tasks` to the search's fit, or build the scorer with "
                "task_of=callable(X, y) returning the tasks."
            )
        tasks = np.asarray(tasks)
        if tasks.shape != (len(y),):
            raise ValueError(
                f"`tasks` must hold one task id per held-out sample: expected "
                f"shape ({len(y)},), got {tasks.shape}."
            )
        return tasks

    def set_score_request(self, *, tasks: bool | str | None = True) -> TaskScorer:
        """Say whether the scorer receives ``tasks`` from metadata routing.

        The scorer requests ``tasks`` by default, since it needs it.

        Parameters
        ----------
        tasks : bool, str or None, default=True
            True to receive ``tasks``, False not to (then ``task_of`` must
            give them), or an alias: the name the caller passes them under.

        Returns
        -------
        self
        """
        self._tasks_request = tasks
        return self

    def get_metadata_routing(self) -> MetadataRequest:
        """The scorer's metadata request: ``tasks`` for ``score``."""
        request = MetadataRequest(owner=self)
        request.score.add_request(param="tasks", alias=self._tasks_request)
        return request


def make_task_scorer(
    metric: str = "average",
    *,
    score_func: Callable | None = None,
    task_of: Callable | None = None,
) -> TaskScorer:
    """A scorer that scores every task of the held-out fold separately.

    Scores per task (``score_func``, accuracy for classifiers, R^2 for
    regressors) are combined as ``metric``:

    - ``"average"``: mean over tasks of the final model's score, the average
      accuracy ``A_T`` of the continual-learning literature. Every task
      weighs the same whatever its size, so forgetting a small old task
      costs as much as forgetting a large one.
    - ``"worst"``: the score of the worst task.
    - ``"neg_forgetting"``: minus the forgetting of Chaudhry et al. (2018,
      "Riemannian Walk"): for every task but the last, the best score it had
      after any earlier training call minus its final score, averaged. 0 is
      no forgetting; higher (closer to 0) is better, as sklearn's ``neg_*``
      scorers.
    - ``"backward_transfer"``: BWT of Lopez-Paz & Ranzato (2017), the mean
      over tasks but the last of the final score minus the score right after
      training on that task (negative when the model forgets).

    The last two need a :class:`Snapshots` callback on the continual
    estimator (alone, last in a pipeline, or in a
    :class:`~sklearn_cl.MonitoredUpdater`; not in an ensemble). Task
    ``k`` of the held-out fold (in order of first appearance) is matched with
    the ``k``-th training call, which holds for ``fit(X, y, tasks=t)`` under
    scikit-learn's splitters (they keep sample order).

    Every fold must hold every task. When tasks share classes and the data
    is sorted by task, the default ``StratifiedKFold`` without shuffling
    puts whole tasks in one fold: pass ``cv=KFold(n, shuffle=True)``.

    Parameters
    ----------
    metric : {"average", "worst", "neg_forgetting", "backward_transfer"}, \
            default="average"
    score_func : callable, default=None
        ``score_func(y_true, y_pred) -> float``, higher is better.
    task_of : callable, default=None
        ``task_of(X, y) -> tasks``: how to find the tasks of the held-out
        samples when metadata routing is off (for example the task of each
        label on a class-incremental split). Picklable (a module-level
        function) when the search runs with ``n_jobs > 1``.

    Returns
    -------
    scorer : TaskScorer

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn_cl import ContinualClassifier
    >>> from sklearn_cl.datasets import split_digits
    >>> from sklearn_cl.scoring import make_task_scorer
    >>> sequence = split_digits(2)  # digits 0-4, then 5-9
    >>> X, y, tasks = sequence.train_arrays()
    >>> X_test, y_test, tasks_test = sequence.test_arrays()
    >>> clf = ContinualClassifier(
    ...     hidden_layer_sizes=(32,), lr=1e-2, max_epochs=5, update_epochs=5,
    ...     random_state=0,
    ... ).fit(X, y, tasks=tasks)

    Without a strategy, the first digits are forgotten:

    >>> worst = make_task_scorer("worst")(clf, X_test, y_test, tasks=tasks_test)
    >>> average = make_task_scorer("average")(clf, X_test, y_test, tasks=tasks_test)
    >>> bool(worst < 0.2 < average)
    True

    In a search, without metadata routing:

    >>> scorer = make_task_scorer("average", task_of=lambda X, y: y // 5)
    >>> search = GridSearchCV(clf, {"update_lr": [1e-3, 1e-2]}, scoring=scorer)
    """
    if metric not in METRICS:
        raise ValueError(f"`metric` must be one of {list(METRICS)}; got {metric!r}.")
    if score_func is not None and not callable(score_func):
        # a scorer name would only fail when called: inside a search, which
        # turns the error into NaN scores and a warning
        raise TypeError(
            "`score_func` must be a callable score_func(y_true, y_pred) -> float, "
            f"not a scorer name; got {score_func!r}. For instance pass "
            "functools.partial(sklearn.metrics.f1_score, average='macro') for "
            "'f1_macro'."
        )
    if task_of is not None and not callable(task_of):
        raise TypeError(
            f"`task_of` must be a callable task_of(X, y) -> tasks; got {task_of!r}."
        )
    return TaskScorer(metric, score_func, task_of)


def _final_step(estimator, X):
    """The continual estimator and ``X`` as it sees it (through pipelines and
    the model a :class:`~sklearn_cl.MonitoredUpdater` updates)."""
    while True:
        if isinstance(estimator, Pipeline):
            X = estimator[:-1].transform(X)
            estimator = estimator.steps[-1][1]
        elif isinstance(estimator, MonitoredUpdater) and hasattr(
            estimator, "estimator_"
        ):
            estimator = estimator.estimator_
        else:
            return estimator, X


def _in_order_of_appearance(tasks: np.ndarray) -> np.ndarray:
    _, first = np.unique(tasks, return_index=True)
    return tasks[np.sort(first)]


def _snapshot_matrix(estimator, X, y, tasks, order, score_func) -> np.ndarray:
    """Scores of every snapshot (rows) on every held-out task (columns)."""
    snapshots = _find_snapshots(estimator)
    if len(snapshots.weights_) != len(order):
        raise ValueError(
            f"The model was trained in {len(snapshots.weights_)} calls, but the "
            f"held-out fold has {len(order)} tasks; the two must match, one call "
            "per task as in fit(X, y, tasks=...). Check that every task has "
            "samples in every fold."
        )
    X = torch.as_tensor(estimator._validate_X(X))
    matrix = np.empty((len(order), len(order)))
    for k, module in enumerate(snapshots.modules(estimator.net_.module_)):
        y_pred = _predict_with(estimator, module, X)
        for i, t in enumerate(order):
            matrix[k, i] = score_func(y[tasks == t], y_pred[tasks == t])
    return matrix


def _find_snapshots(estimator) -> Snapshots:
    if not isinstance(estimator, ContinualEstimator):
        raise ValueError(
            "This metric reads the Snapshots callback of a ContinualClassifier "
            "or ContinualRegressor (alone, last in a pipeline, or inside a "
            f"MonitoredUpdater); got {type(estimator).__name__}, which is none of "
            "these (an UpdateEnsemble has several models, not one per task). "
            "Use 'average' or 'worst', or sklearn_cl.evaluation.evaluate_sequence, "
            "which measures the forgetting of any estimator."
        )
    if hasattr(estimator, "net_"):
        for _, callback in estimator.net_.callbacks_:
            if isinstance(callback, Snapshots):
                return callback
    raise ValueError(
        "This metric needs the model after each task: add "
        "('snapshots', sklearn_cl.scoring.Snapshots()) to the `callbacks` of "
        f"the continual estimator; got {type(estimator).__name__} without it."
    )


def _predict_with(estimator, module, X: torch.Tensor) -> np.ndarray:
    """Predictions of ``estimator`` had its network been ``module``."""
    with torch.inference_mode():
        out = module(X).numpy()
    if is_classifier(estimator):
        # classes added by later updates come last, so an older, narrower
        # output layer scores the first columns of classes_
        return estimator.classes_[: out.shape[1]][out.argmax(axis=1)]
    return out.ravel() if estimator._y_1d else out
