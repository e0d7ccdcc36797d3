"""The ``sklearn-cl`` command: compare update strategies, and run the daily job.

``sklearn-cl compare`` runs every named strategy through the same task
sequence and seeds (:func:`~sklearn_cl.evaluation.compare_strategies`),
prints a table of continual-learning metrics, says which strategy won and by
how much, and with ``--out DIR`` writes the table (CSV and JSON) and plots.
The data is a built-in benchmark, one CSV file with a target and a
task/period column, or an old and a new CSV file. ``sklearn-cl list`` shows
the benchmarks and strategies.

``sklearn-cl fit`` creates a model from a CSV file and saves it (skops);
``sklearn-cl update`` updates a saved model with a CSV file of new data,
keeps the update only if a held-out check accepts it, and prints one line.
Its exit status is 0 when the update was accepted, 1 when it was rejected.

This module parses arguments and prints; the data is read by
:mod:`sklearn_cl.datasets`, the report written by
:mod:`sklearn_cl.evaluation`. Errors in the arguments or the data print one
line on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import inspect
import math
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import get_scorer_names

from . import __version__
from ._strategy_registry import (
    STRATEGIES,
    base_estimator,
    make_strategies,
    parse_strategy_names,
)
from .datasets import (
    BENCHMARKS,
    load_benchmark,
    load_csv,
    split_by_time,
    standardize_tasks,
)
from .evaluation import (
    JOINT,
    compare_strategies,
    comparison_verdict,
    format_comparison,
    save_comparison,
)

__all__ = ["main", "build_parser"]

PROG = "sklearn-cl"
DEFAULT_BENCHMARK = "split-digits"
EXIT_REJECTED = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad arguments or data: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(
            EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n"
        )


def _benchmark_note(name: str) -> str:
    """The first line of the benchmark builder's docstring."""
    doc = inspect.getdoc(BENCHMARKS[name]) or ""
    return doc.splitlines()[0] if doc else ""


def _add_training_options(group, *, epochs: int, update_epochs: int) -> None:
    group.add_argument(
        "--epochs", type=int, default=epochs, help="epochs of the first fit"
    )
    group.add_argument(
        "--update-epochs", type=int, default=update_epochs, help="epochs of each update"
    )
    group.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    group.add_argument(
        "--hidden", default="100", help="hidden layer sizes, e.g. 256,128"
    )
    group.add_argument("--batch-size", type=int, default=32)


def _add_csv_options(group) -> None:
    group.add_argument("--target", metavar="COL", help="target column of the CSVs")
    group.add_argument(
        "--drop", metavar="COLS", default="", help="CSV columns to ignore (a,b)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sklearn-cl``."""
    parser = _Parser(
        prog=PROG,
        description="Compare continual-learning update strategies for "
        "scikit-learn neural networks, and update a saved model from CSV files.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("list", help="list the benchmarks and strategies")
    compare = commands.add_parser(
        "compare",
        help="compare strategies on a benchmark or CSV data",
        description="Train every strategy through the same tasks and seeds, "
        "print the metrics and the winner.",
    )
    data = compare.add_argument_group("data (a benchmark, --data, or --old/--new)")
    data.add_argument(
        "benchmark",
        nargs="?",
        help=f"built-in benchmark (default {DEFAULT_BENCHMARK}): "
        + ", ".join(BENCHMARKS),
    )
    data.add_argument("--data", metavar="CSV", help="one CSV with all tasks")
    data.add_argument("--old", metavar="CSV", help="CSV of the old data")
    data.add_argument("--new", metavar="CSV", help="CSV of the new data")
    _add_csv_options(data)
    data.add_argument("--task", metavar="COL", help="task/period column of --data")
    data.add_argument(
        "--task-type",
        choices=["auto", "classification", "regression"],
        default="auto",
        help="what the target is (default auto: regression when the target has "
        "non-integer numbers)",
    )
    data.add_argument(
        "--test-size",
        type=float,
        default=0.2,
        help="last fraction of each CSV task held out for testing (default 0.2)",
    )
    data.add_argument(
        "--no-scale",
        action="store_true",
        help="do not standardise CSV features with the first task's statistics",
    )
    data.add_argument(
        "--n-tasks", type=int, help="number of tasks or periods of a benchmark"
    )
    data.add_argument(
        "--data-dir",
        metavar="DIR",
        help="read the benchmark's files from DIR, with no download (default: "
        "the data home, $SKLEARN_CL_DATA or ~/scikit_learn_data/sklearn_cl, "
        "downloading them on first use)",
    )
    model = compare.add_argument_group("strategies and training")
    model.add_argument(
        "--strategies",
        default=",".join(STRATEGIES),
        help="comma-separated strategy names (default: all); see `sklearn-cl list`",
    )
    model.add_argument("--seeds", type=int, default=3, help="seeds per strategy")
    _add_training_options(model, epochs=20, update_epochs=20)
    model.add_argument(
        "--scoring",
        help="scikit-learn scorer name (default: accuracy, or r2 for regression)",
    )
    model.add_argument(
        "--n-jobs",
        type=int,
        default=1,
        help="(strategy, seed) runs at once, in worker processes of one torch "
        "thread each (-1: all cores); the table is that of --n-jobs 1",
    )
    model.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads of the runs with --n-jobs 1 (default 1: small "
        "networks run fastest on one thread; use --n-jobs for more cores)",
    )
    output = compare.add_argument_group("output")
    output.add_argument(
        "--out", metavar="DIR", help="write results.csv, results.json and plots"
    )
    output.add_argument("--quiet", action="store_true", help="no progress bar or notes")
    _build_fit_parser(commands)
    _build_update_parser(commands)
    return parser


def _build_fit_parser(commands) -> None:
    fit = commands.add_parser(
        "fit",
        help="create a model from a CSV file and save it",
        description="Train a model on a CSV file (its last rows held out to "
        "score it) and save it as a skops file, for `sklearn-cl update`.",
    )
    fit.add_argument("data", metavar="DATA.csv", help="the training data")
    _add_csv_options(fit)
    fit.add_argument("--out", metavar="MODEL", required=True, help="the model file")
    fit.add_argument(
        "--model",
        choices=["auto", "classifier", "regressor"],
        default="auto",
        help="what to fit (default auto: a regressor when the target has "
        "non-integer numbers)",
    )
    fit.add_argument(
        "--strategy",
        default="finetune",
        help="how updates will train (default finetune); see `sklearn-cl list`",
    )
    fit.add_argument(
        "--validation-fraction",
        type=float,
        default=0.2,
        help="last fraction of the rows held out to score the model "
        "(default 0.2; 0 trains on all rows)",
    )
    fit.add_argument("--scoring", help="scikit-learn scorer name of that score")
    fit.add_argument(
        "--no-scale",
        action="store_true",
        help="do not standardise the features with the training data's statistics",
    )
    fit.add_argument("--seed", type=int, default=0, help="random seed")
    _add_training_options(fit, epochs=20, update_epochs=5)


def _build_update_parser(commands) -> None:
    update = commands.add_parser(
        "update",
        help="update a saved model with new data, if a check accepts it",
        description="Update MODEL with NEW_DATA.csv; keep the update only if "
        "the validation score does not drop (by more than --tolerance). "
        "Prints one line; exit status 0 accepted, 1 rejected, 2 bad input. "
        "The previous model file is kept as MODEL.prev.",
    )
    update.add_argument("model", metavar="MODEL", help="model file (skops)")
    update.add_argument("data", metavar="NEW_DATA.csv", help="the new data")
    _add_csv_options(update)
    check = update.add_mutually_exclusive_group()
    check.add_argument(
        "--validation",
        metavar="CSV",
        help="validation data; the update then trains on all of NEW_DATA.csv",
    )
    check.add_argument(
        "--validation-fraction",
        type=float,
        default=0.2,
        help="last fraction of NEW_DATA.csv held out for the check (default 0.2)",
    )
    update.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        help="largest accepted drop of the validation score (default 0)",
    )
    update.add_argument(
        "--min-score", type=float, help="reject updates scoring below this"
    )
    update.add_argument("--scoring", help="scikit-learn scorer name of the check")


# ----------------------------------------------------------------------
# data
# ----------------------------------------------------------------------
@contextmanager
def _input_errors(*more: type[Exception]):
    """Raise the errors of the input (data, files, downloads, missing
    packages, and the types ``more``) as one-line :class:`UsageError`."""
    try:
        yield
    except (ValueError, OSError, ImportError, *more) as exc:
        message = str(exc)
        if isinstance(exc, OSError) and exc.strerror and exc.filename:
            message = f"cannot read {exc.filename}: {exc.strerror}"
        raise UsageError(message) from exc


def _drop(args) -> list[str]:
    return [name.strip() for name in args.drop.split(",") if name.strip()]


def _csv_tasks(args):
    """Tasks and whether it is regression, from --data or --old/--new."""
    if not 0 < args.test_size < 1:
        raise UsageError(f"--test-size must be in (0, 1); got {args.test_size}")
    if not (args.data or (args.old and args.new)):
        raise UsageError("give both --old and --new")
    if args.target is None:
        raise UsageError("--target COL is required with CSV data")
    if args.data:
        if args.task is None:
            raise UsageError("--task COL is required with CSV data")
        paths, source = args.data, args.data
    else:
        paths, source = [args.old, args.new], f"{args.old} + {args.new}"
    with _input_errors():
        data = load_csv(
            paths,
            target=args.target,
            task=args.task if args.data else None,
            drop=_drop(args),
            task_type=args.task_type,
        )
    periods = data.periods
    if periods is None:
        periods = np.array(["old", "new"])[data.source]
    with _input_errors():
        tasks = split_by_time(
            data.data,
            data.target,
            periods=periods,
            test_size=args.test_size,
            name=Path(source).stem,
        )
    if len(tasks) < 2:
        raise UsageError(
            f"the column {args.task!r} has a single value; a comparison needs at "
            "least two tasks"
        )
    if not args.no_scale:
        tasks = standardize_tasks(tasks)
    return tasks, data.regression


def _benchmark_tasks(args):
    name = args.benchmark or DEFAULT_BENCHMARK
    if name not in BENCHMARKS:
        raise UsageError(
            f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}"
        )
    parameters = inspect.signature(BENCHMARKS[name]).parameters
    kwargs = {}
    if args.n_tasks is not None:
        key = "n_periods" if "n_periods" in parameters else "n_tasks"
        kwargs[key] = args.n_tasks
    if args.data_dir is not None:
        if "path" not in parameters:
            raise UsageError(f"the benchmark {name!r} reads no file (--data-dir)")
        kwargs["path"] = args.data_dir
    with _input_errors():
        return load_benchmark(name, **kwargs), False


def _tasks(args):
    csv_given = bool(args.data or args.old or args.new)
    if csv_given and args.benchmark:
        raise UsageError("give a benchmark or CSV data (--data, --old/--new), not both")
    if args.data and (args.old or args.new):
        raise UsageError("give --data or --old/--new, not both")
    return _csv_tasks(args) if csv_given else _benchmark_tasks(args)


def _hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(size) for size in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise UsageError(f"--hidden takes positive integers like 256,128; got {text!r}")
    return sizes


def _check_positive(args, options) -> None:
    for option in options:
        if getattr(args, option) < 1:
            flag = "--" + option.replace("_", "-")
            raise UsageError(f"{flag} must be a positive integer")
    if args.lr <= 0:
        raise UsageError("--lr must be positive")


def _scoring(args):
    """``--scoring``, a name scikit-learn knows (its own error lists all
    sixty names in one line)."""
    if args.scoring is not None and args.scoring not in get_scorer_names():
        raise UsageError(
            f"--scoring: unknown scorer {args.scoring!r}; use a name of "
            "sklearn.metrics.get_scorer_names(), such as accuracy, "
            "balanced_accuracy, f1_macro, r2 or neg_mean_absolute_error"
        )
    return args.scoring


def _check_out_folder(out: str) -> None:
    """Refuse an ``--out`` that cannot become the output folder before the
    comparison runs, rather than after."""
    path = Path(out)
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise UsageError(f"--out {out}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: cannot write in {existing}")


def _training(args) -> dict:
    """The training budget of the options shared by compare and fit."""
    _check_positive(args, ("epochs", "update_epochs", "batch_size"))
    return dict(
        hidden_layer_sizes=_hidden(args.hidden),
        max_epochs=args.epochs,
        update_epochs=args.update_epochs,
        lr=args.lr,
        batch_size=args.batch_size,
    )


# ----------------------------------------------------------------------
# commands
# ----------------------------------------------------------------------
def _list(args) -> int:
    print("benchmarks:")
    for name in BENCHMARKS:
        print(f"  {name:18} {_benchmark_note(name)}")
    print("strategies:")
    for name, spec in STRATEGIES.items():
        print(f"  {name:18} {spec.description}")
    return 0


def _prepare(args):
    """Everything a comparison needs, checked before anything is trained."""
    _check_positive(args, ("seeds", "threads"))
    if args.n_jobs == 0:
        raise UsageError(
            "--n-jobs must be a positive number of processes, or -1 for all cores"
        )
    training = _training(args)
    if args.out:
        _check_out_folder(args.out)
    try:
        names = parse_strategy_names(args.strategies)
    except ValueError as exc:
        raise UsageError(f"--strategies: {exc}") from exc
    if names == [JOINT]:
        raise UsageError(
            "joint is the upper bound, not an update strategy; name at least one "
            "strategy to compare with it"
        )
    tasks, regression = _tasks(args)
    base = base_estimator(regression=regression, **training)
    scoring = _scoring(args) or ("r2" if regression else None)
    estimators, joint = make_strategies(names, base)
    return names, tasks, scoring, estimators, joint


def _compare(args) -> int:
    names, tasks, scoring, estimators, joint = _prepare(args)
    if not args.quiet:
        print(
            f"{tasks.name}: {len(tasks)} tasks, {len(names)} strategies, "
            f"{args.seeds} seeds, scoring {scoring or 'accuracy'}",
            flush=True,
        )
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        table, results = compare_strategies(
            estimators,
            tasks,
            n_seeds=args.seeds,
            scoring=scoring,
            joint=False if joint is None else joint,
            n_jobs=args.n_jobs,
            progress=not args.quiet,
            return_results=True,
        )
    finally:
        torch.set_num_threads(threads)
    print(format_comparison(table))
    print()
    print(comparison_verdict(table))
    if args.out:
        settings = {k: v for k, v in vars(args).items() if k != "command"}
        settings.update(strategies=names, scoring=scoring or "accuracy")
        written = save_comparison(args.out, table, results, tasks, settings)
        if not args.quiet:
            if not any(path.suffix == ".png" for path in written):
                print("note: matplotlib is not installed, so no plots were written")
            print("wrote " + ", ".join(str(p) for p in written))
    return 0


def _fit(args) -> int:
    if args.target is None:
        raise UsageError("--target COL is required")
    task_type = {"auto": "auto", "classifier": "classification"}.get(
        args.model, "regression"
    )
    # model files are skops files: skops is imported only by fit and update
    from ._daily_job import fit_csv
    from .persistence import UntrustedTypeError

    with _input_errors(UntrustedTypeError):
        outcome = fit_csv(
            args.data,
            args.out,
            target=args.target,
            drop=_drop(args),
            task_type=task_type,
            strategy=args.strategy,
            validation_fraction=args.validation_fraction,
            scoring=_scoring(args),
            scale=not args.no_scale,
            seed=args.seed,
            **_training(args),
        )
    score = (
        f"{outcome.scoring} {outcome.after:.3f} on the last {outcome.n_validation} "
        "rows held out"
        if outcome.after is not None
        else "no rows held out"
    )
    print(
        f"fitted: {args.strategy} on {outcome.n_train} rows, {score}, "
        f"{outcome.seconds:.1f} s; wrote {outcome.path}{_kept(outcome)}"
    )
    return 0


def _kept(outcome) -> str:
    if outcome.previous is None:
        return ""
    return f" (previous model kept as {outcome.previous})"


def _update(args) -> int:
    if args.target is None:
        raise UsageError("--target COL is required")
    for flag, value in (
        ("--tolerance", args.tolerance),
        ("--min-score", args.min_score),
    ):
        if value is not None and math.isnan(value):
            raise UsageError(f"{flag} must be a number; got nan")
    from ._daily_job import update_csv
    from .persistence import UntrustedTypeError

    with _input_errors(UntrustedTypeError):
        outcome = update_csv(
            args.model,
            args.data,
            target=args.target,
            drop=_drop(args),
            validation=args.validation,
            validation_fraction=args.validation_fraction,
            tolerance=args.tolerance,
            min_score=args.min_score,
            scoring=_scoring(args),
        )
    after = "-" if outcome.after is None else f"{outcome.after:.3f}"
    scores = (
        f"{outcome.scoring} {outcome.before:.3f} -> {after} on "
        f"{outcome.n_validation} validation rows"
    )
    trained = f"trained on {outcome.n_train} new rows in {outcome.seconds:.1f} s"
    if outcome.accepted:
        print(f"accepted: {scores}; {trained}; wrote {outcome.path}{_kept(outcome)}")
        return 0
    print(f"rejected ({outcome.reason}): {scores}; {trained}; {outcome.path} unchanged")
    return EXIT_REJECTED


_COMMANDS = {"list": _list, "compare": _compare, "fit": _fit, "update": _update}


def main(argv: list[str] | None = None) -> int:
    """Run ``sklearn-cl`` with ``argv`` (default: the command line).

    Returns the exit status: 0 on success (an accepted update), 1 for a
    rejected update, 2 for bad arguments or data.

    Examples
    --------
    >>> main(["list"])  # doctest: +ELLIPSIS
    benchmarks:
      split-digits ...
    0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return _COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
