"""Run several estimators on the same task sequence and seeds; tabulate them.

The (estimator, seed) runs are independent, so they run in parallel with
``n_jobs``. With joblib's default process backend (loky) on a platform that
forks, and where torch sees no GPU, they go to forked worker processes (the
standard library's ``ProcessPoolExecutor``): loky's workers are fresh
interpreters that import torch and scikit-learn again, which took 2-9
seconds on a 2-core machine, as long as the whole default comparison's runs
on one core, so two workers were no faster than one. Where torch sees a
GPU, a forked child cannot train once its parent has (autograd keeps a
thread per GPU after its first backward pass), so there the runs go to
loky's workers. joblib's own fork backend ("multiprocessing") cannot hand
back results as they finish, which the progress bar needs. Any other joblib
backend the caller activates (``joblib.parallel_config(backend="dask")``
for a dask cluster, threads, ...) is used as it is. Every run trains on one
torch thread (and one BLAS thread) in its worker, so workers do not compete
for the cores, and the numbers are those of the serial run.

Forked workers inherit the runs (estimators and tasks, half a megabyte for
the digits) when they start, so only a run's index goes down the pipe and
only its result comes back. The runs are handed out one at a time as
workers free up: first one run of each estimator, in order, then the rest
longest first by how long that estimator's first run took, so that the
shortest runs fill the end and no worker is left with a long run while the
other idles (longest-processing-time-first scheduling).
"""

from __future__ import annotations

import multiprocessing
import numbers
import pickle
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np
import torch
from joblib import Parallel, delayed, effective_n_jobs
from joblib.parallel import BACKENDS, get_active_backend
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.exceptions import FitFailedWarning
from sklearn.metrics import check_scoring
from threadpoolctl import threadpool_limits

from ._sequence import (
    SequenceResult,
    _train_step,
    baseline_scores,
    evaluate_sequence,
    set_random_state,
    state_size,
)

__all__ = ["compare_strategies", "JOINT", "METRICS"]

#: Name of the joint-training upper bound's row.
JOINT = "joint"
#: The columns of the comparison table, each with ``_mean`` and ``_std``.
METRICS = (
    "average_score",
    "backward_transfer",
    "forward_transfer",
    "forgetting",
    "negative_flip_rate",
    "fit_time",
    "update_time",
    "state_bytes",
)
# the metrics of one run, as evaluate_sequence measures them
_SEQUENCE_METRICS = METRICS[:5]


def _guarded(function, error_score, name, estimator, seed, tasks, *args):
    """``function(name, estimator, seed, tasks, *args)``; if it raises, the
    error names the run (``error_score="raise"``), or the run's result is a
    failed one that holds the error (``error_score=np.nan``)."""
    try:
        return function(name, estimator, seed, tasks, *args)
    except Exception as error:
        if isinstance(error_score, str):
            error.add_note(f"In compare_strategies: the run of {name!r}, seed {seed}.")
            raise
        nan = float("nan")
        failed = SequenceResult(
            matrix=np.full((len(tasks), len(tasks)), nan),
            baseline=np.full(len(tasks), nan),
            metrics=dict.fromkeys(_SEQUENCE_METRICS, nan),
            fit_time=nan,
            state_bytes=nan,
            error=f"{type(error).__name__}: {error}",
        )
        return name, seed, failed


def _run_sequence(name, estimator, seed, tasks, scoring, classes, baseline):
    estimator = set_random_state(clone(estimator), seed)
    result = evaluate_sequence(
        estimator, tasks, scoring=scoring, classes=classes, baseline=baseline
    )
    return name, seed, result


def _run_joint(name, estimator, seed, tasks, scoring):
    """The upper bound: one model fitted on all tasks' training data at once."""
    estimator = set_random_state(clone(estimator), seed)
    X, y, _ = tasks.train_arrays()
    start = time.perf_counter()
    estimator.fit(X, y)
    fit_time = time.perf_counter() - start
    scorer = check_scoring(estimator, scoring=scoring)
    row = np.array([[scorer(estimator, t.X_test, t.y_test) for t in tasks]])
    nan = float("nan")
    metrics = {
        "average_score": float(row.mean()),
        "backward_transfer": nan,
        "forward_transfer": nan,
        "forgetting": nan,
        "negative_flip_rate": nan,
    }
    result = SequenceResult(
        matrix=row,
        baseline=np.full(len(tasks), nan),
        metrics=metrics,
        fit_time=fit_time,
        state_bytes=state_size(estimator),
    )
    return name, seed, result


def _on_one_thread(function, *args):
    """``function(*args)`` on one torch thread (in a worker of a parallel run:
    workers must not each start as many threads as there are cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return function(*args)
    finally:
        torch.set_num_threads(threads)


def _n_workers(jobs: list, n_jobs) -> int:
    return min(effective_n_jobs(n_jobs), len(jobs))


def _has_accelerator() -> bool:
    """Whether torch sees a GPU (CUDA, ROCm, MPS, XPU, ...)."""
    accelerator = getattr(torch, "accelerator", None)  # torch >= 2.6
    if accelerator is not None:
        return accelerator.is_available()
    return torch.cuda.is_available() or torch.backends.mps.is_available()


def _forks() -> bool:
    """Whether parallel runs go to forked workers: under joblib's default
    process backend, where the platform can fork and torch sees no GPU
    (once a backward pass has run, torch's autograd keeps a thread per GPU,
    and a forked child's backward fails: "Unable to handle autograd's
    threading in combination with fork-based multiprocessing")."""
    loky = isinstance(get_active_backend()[0], BACKENDS["loky"])
    can_fork = "fork" in multiprocessing.get_all_start_methods()
    return loky and can_fork and not _has_accelerator()


def _runs_here_or_forked(jobs: list, n_jobs) -> bool:
    """Whether the runs use this process's state: run in it, or forked."""
    return _n_workers(jobs, n_jobs) == 1 or _forks()


def _execute(jobs: list, n_jobs):
    """Yield the results of ``jobs`` (``(name, function, args)``, the name
    shared by an estimator's seeds) as they finish: in this process when one
    worker is asked for, else in parallel (see the module docstring)."""
    n_workers = _n_workers(jobs, n_jobs)
    if n_workers == 1:
        # unpickled copies, as a worker gets: the pickled size of a model
        # (``state_bytes``) depends on which equal strings are one object
        for _, function, args in jobs:
            yield function(*pickle.loads(pickle.dumps(args)))
        return
    if _forks():
        yield from _forked(jobs, n_workers)
        return
    parallel = Parallel(n_jobs=n_jobs, batch_size=1, return_as="generator_unordered")
    yield from parallel(
        delayed(_on_one_thread)(function, *args) for _, function, args in jobs
    )


# the runs of a forked worker, inherited from the parent when it starts
_worker_jobs: list = []


def _start_worker(jobs: list) -> None:
    global _worker_jobs
    _worker_jobs = jobs
    torch.set_num_threads(1)
    threadpool_limits(1)


def _run_job(index: int):
    """Run job ``index`` of this worker on unpickled copies of its arguments
    (as the serial run does); return the result and the seconds it took."""
    _, function, args = _worker_jobs[index]
    tic = time.perf_counter()
    result = function(*pickle.loads(pickle.dumps(args)))
    return result, time.perf_counter() - tic


def _forked(jobs: list, n_workers: int):
    """Yield the results of ``jobs`` from ``n_workers`` forked workers, one
    run per free worker, longest first (see the module docstring)."""
    groups = [group for group, _, _ in jobs]
    # one run per estimator first, then the others
    pending = sorted(range(len(jobs)), key=lambda i: (groups[:i].count(groups[i]), i))
    seconds: dict[int, float] = {}

    def next_job() -> int:
        # unknown durations first, in order; then the longest known
        best = min(pending, key=lambda i: -seconds.get(groups[i], float("inf")))
        pending.remove(best)
        return best

    with ProcessPoolExecutor(
        n_workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_start_worker,
        initargs=(jobs,),
    ) as pool:
        running = {}
        try:
            while pending or running:
                while pending and len(running) < n_workers:
                    index = next_job()
                    running[pool.submit(_run_job, index)] = index
                future = next(as_completed(running))
                result, took = future.result()
                seconds.setdefault(groups[running.pop(future)], took)
                yield result
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise


def _record(result: SequenceResult) -> dict[str, float]:
    record = dict(result.metrics)
    record["fit_time"] = result.fit_time
    record["update_time"] = (
        float(np.mean(result.update_times)) if result.update_times else np.nan
    )
    record["state_bytes"] = float(result.state_bytes)
    return record


def _scoring_name(scoring, estimator) -> str:
    """The name of what a scorer measures: ``scoring`` itself when it is a
    name, else the estimator's ``score`` (accuracy for classifiers, R² for
    regressors), else the callable's name."""
    if isinstance(scoring, str):
        return scoring
    if scoring is None:
        if is_classifier(estimator):
            return "accuracy"
        return "r2" if is_regressor(estimator) else "score"
    return getattr(scoring, "__name__", None) or repr(scoring)


def _summary(name: str, results: list[SequenceResult], scoring: str) -> dict:
    row = {
        "strategy": name,
        "n_seeds": len(results),
        "n_failed": sum(r.error is not None for r in results),
        "scoring": scoring,
    }
    records = [_record(r) for r in results]
    for metric in METRICS:
        values = np.array([r[metric] for r in records], dtype=float)
        finite = ~np.isnan(values)
        row[f"{metric}_mean"] = float(values.mean()) if finite.all() else np.nan
        row[f"{metric}_std"] = (
            float(values.std(ddof=1)) if finite.all() and len(values) > 1 else np.nan
        )
    return row


def _table(rows: list[dict]):
    try:
        import pandas as pd
    except ImportError:
        return rows
    return pd.DataFrame(rows)


def compare_strategies(
    estimators: dict,
    tasks,
    *,
    n_seeds: int = 3,
    scoring=None,
    classes=None,
    joint=True,
    n_jobs: int | None = None,
    progress: bool = False,
    return_results: bool = False,
    error_score="raise",
):
    """Compare estimators (update strategies) on the same task sequence and seeds.

    Every estimator runs the protocol of
    :func:`~sklearn_cl.evaluation.evaluate_sequence` (``fit`` on the first
    task, ``partial_fit`` on each later one) once per seed ``0 .. n_seeds-1``;
    a seed sets every ``random_state`` in the estimator's
    ``get_params(deep=True)`` (:func:`set_random_state`), nested strategies
    and ensemble members included. The task sequence is the same for all.

    Parameters
    ----------
    estimators : dict of str to estimator
        The candidates by name; each is cloned, never changed.
    tasks : TaskSequence
    n_seeds : int, default=3
    scoring : str or callable, default=None
        Scorer for the accuracy matrix (see ``evaluate_sequence``); use
        ``"r2"`` or ``"neg_mean_absolute_error"`` for regressors.
    classes : array-like, default=None
        See ``evaluate_sequence``.
    joint : bool or estimator, default=True
        Add the joint-training upper bound, a row named ``"joint"``: a model
        fitted on the training data of all tasks at once and scored on each
        task. ``True`` uses the first estimator (give the plain model, without
        strategies, for a clean bound); ``False`` leaves the row out.
    n_jobs : int, default=None
        Number of (estimator, seed) runs at once, as in joblib (``-1``: all
        cores; None: one, unless a ``joblib.parallel_config`` says
        otherwise). Each parallel run trains on one torch thread, and the
        table is the same as that of the serial run. Inside ``with
        joblib.parallel_config(backend="dask")`` the runs go to the
        workers of a dask cluster.
    progress : bool, default=False
        Show a progress bar over the runs (tqdm).
    return_results : bool, default=False
        Also return the :class:`SequenceResult` of every run.
    error_score : "raise" or np.nan, default="raise"
        What a run that raises does: ``"raise"`` stops the comparison with
        that error (a note names the estimator and the seed); ``np.nan``, as
        in :func:`~sklearn.model_selection.cross_validate`, keeps the other
        runs, warns (:class:`~sklearn.exceptions.FitFailedWarning`, with the
        error) and leaves NaN in the failed estimator's row, whose
        ``n_failed`` column counts its failed runs (the run's
        :class:`SequenceResult` holds the error in ``error``).

    Returns
    -------
    table : pandas.DataFrame or list of dict
        One row per estimator (then ``"joint"``), with ``strategy``,
        ``n_seeds``, ``n_failed`` (runs that raised, see ``error_score``),
        ``scoring`` (what the scores are: ``"accuracy"``,
        ``"r2"``, the scorer's name) and, for each of ``average_score``
        (the mean score over all tasks after the last one, ACC),
        ``backward_transfer``, ``forward_transfer``, ``forgetting``,
        ``negative_flip_rate`` (classifiers), ``fit_time`` (seconds of the
        first training; run serially, the first estimator is trained once on
        the first task beforehand so that one-off start-up costs do not count
        against it), ``update_time`` (mean seconds per update) and
        ``state_bytes`` (peak pickled size of the fitted estimator over the
        sequence), its mean over seeds (``_mean``) and sample standard
        deviation (``_std``, NaN for one seed). Metrics that do not apply are
        NaN. A DataFrame when pandas is installed, else a list of records.
    results : dict of str to list of SequenceResult
        Only with ``return_results=True``: per name, one result per seed.

    Examples
    --------
    >>> from sklearn.linear_model import Perceptron, SGDClassifier
    >>> from sklearn_cl.datasets import permuted_digits
    >>> table = compare_strategies(
    ...     {"sgd": SGDClassifier(), "perceptron": Perceptron()},
    ...     permuted_digits(n_tasks=3),
    ...     n_seeds=2,
    ... )
    >>> table["strategy"].tolist()
    ['sgd', 'perceptron', 'joint']
    >>> acc = table.set_index("strategy")["average_score_mean"]
    >>> bool(acc["joint"] > acc["sgd"] + 0.1)  # forgetting: joint training wins
    True
    """
    if not isinstance(estimators, dict) or not estimators:
        raise TypeError(
            "estimators must be a non-empty dict of name -> estimator; got "
            f"{type(estimators).__name__}."
        )
    if JOINT in estimators and joint is not False:
        raise ValueError(
            f"The name {JOINT!r} is taken by the joint-training upper bound; rename "
            "that estimator or pass joint=False."
        )
    if not isinstance(n_seeds, int) or n_seeds < 1:
        raise ValueError(f"n_seeds must be a positive integer; got {n_seeds!r}.")
    if not (
        (isinstance(error_score, str) and error_score == "raise")
        or (isinstance(error_score, numbers.Real) and np.isnan(error_score))
    ):
        raise ValueError(
            "error_score must be 'raise' (stop at the first failed run) or np.nan "
            f"(keep the other runs, NaN for the failed ones); got {error_score!r}."
        )
    first = next(iter(estimators.values()))
    baseline = baseline_scores(tasks, classifier=is_classifier(first), scoring=scoring)
    plan = [
        (_run_sequence, name, est, seed, tasks, scoring, classes, baseline)
        for name, est in estimators.items()
        for seed in range(n_seeds)
    ]
    if joint is not False:
        bound = first if joint is True else joint
        plan += [
            (_run_joint, JOINT, bound, seed, tasks, scoring) for seed in range(n_seeds)
        ]
    jobs = [
        (name, _guarded, (function, error_score, name, *args))
        for function, name, *args in plan
    ]
    if _runs_here_or_forked(jobs, n_jobs):
        # one-off start-up costs (lazy imports, first kernel calls) would
        # otherwise be charged to the first run's fit_time, or be paid again
        # by every forked worker
        try:
            _train_step(
                clone(first),
                tasks[0].X_train,
                tasks[0].y_train,
                first=True,
                classes=classes,
            )
        except Exception:
            pass  # the estimator's own runs fail the same way, and say so
    runs = _execute(jobs, n_jobs)
    if progress:
        from tqdm.auto import tqdm

        runs = tqdm(runs, total=len(jobs), desc="compare", unit="run")
    names = [*estimators, *([JOINT] if joint is not False else [])]
    results: dict[str, list[SequenceResult]] = {
        name: [None] * n_seeds for name in names
    }
    for name, seed, result in runs:  # in any order: put back in seed order
        results[name][seed] = result
    for name, rs in results.items():
        errors = [(seed, r.error) for seed, r in enumerate(rs) if r.error is not None]
        if errors:
            warnings.warn(
                f"{len(errors)} of {n_seeds} runs of {name!r} failed, so its row is "
                f"NaN (error_score=nan); seed {errors[0][0]} raised {errors[0][1]}",
                FitFailedWarning,
                stacklevel=2,
            )
    scored = _scoring_name(scoring, first)
    table = _table([_summary(name, rs, scored) for name, rs in results.items()])
    return (table, results) if return_results else table
