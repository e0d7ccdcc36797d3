"""The ``sklearn-cl`` command: compare update strategies on your data.

``sklearn-cl compare`` runs every named strategy through the same task
sequence and seeds (:func:`~sklearn_cl.evaluation.compare_strategies`),
prints a table of continual-learning metrics, says which strategy won and by
how much, and with ``--out DIR`` writes the table (CSV and JSON) and plots.
The data is a built-in benchmark, one CSV file with a target and a
task/period column, or an old and a new CSV file. ``sklearn-cl list`` shows
the benchmarks and strategies.

Errors in the arguments or the data print one line on stderr and exit with
status 2.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import check_scoring
from sklearn.utils.multiclass import type_of_target

from . import __version__
from ._atomic import atomic_write
from ._strategy_registry import (
    STRATEGIES,
    base_estimator,
    make_strategies,
    parse_strategy_names,
)
from .datasets import BENCHMARKS, load_benchmark, split_by_time, standardize_tasks
from .evaluation import JOINT, compare_strategies

__all__ = ["main", "build_parser"]

PROG = "sklearn-cl"
DEFAULT_BENCHMARK = "split-digits"


_BENCHMARK_NOTES = {
    "split-digits": "digits {0,1}, {2,3}, ... one task each (scikit-learn's digits)",
    "permuted-digits": "all digits, a fixed pixel permutation per task",
    "split-mnist": "Split MNIST on the 10k MNIST test images (IDX files)",
    "permuted-mnist": "Permuted MNIST on the 10k MNIST test images (IDX files)",
    "mnist1d": "Split MNIST-1D, generated offline (needs the mnist1d package)",
    "elec2": "Elec2 electricity prices in 10 consecutive periods (elec.csv)",
    "weather": "NOAA daily weather in 10 periods of 5 years (weather.csv)",
}


class UsageError(Exception):
    """Bad arguments or data: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``sklearn-cl``."""
    parser = _Parser(
        prog=PROG,
        description="Compare continual-learning update strategies for "
        "scikit-learn neural networks.",
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
    data.add_argument("--target", metavar="COL", help="target column of the CSVs")
    data.add_argument("--task", metavar="COL", help="task/period column of --data")
    data.add_argument(
        "--drop", metavar="COLS", default="", help="CSV columns to ignore (a,b)"
    )
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
        help="directory of the benchmark files (default: $SKLEARN_CL_DATA, "
        "../shared/data)",
    )
    model = compare.add_argument_group("strategies and training")
    model.add_argument(
        "--strategies",
        default=",".join(STRATEGIES),
        help="comma-separated strategy names (default: all); see `sklearn-cl list`",
    )
    model.add_argument("--seeds", type=int, default=3, help="seeds per strategy")
    model.add_argument("--epochs", type=int, default=20, help="epochs of the first fit")
    model.add_argument(
        "--update-epochs", type=int, default=20, help="epochs of each update"
    )
    model.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    model.add_argument(
        "--hidden", default="100", help="hidden layer sizes, e.g. 256,128"
    )
    model.add_argument("--batch-size", type=int, default=32)
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
    return parser


# ----------------------------------------------------------------------
# data
# ----------------------------------------------------------------------
def _read_csv(path: str) -> dict[str, np.ndarray]:
    """The columns of a CSV file as arrays of strings, by header name."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"{path} is not a readable CSV file: {exc}") from exc
    rows = [row for row in rows if row]
    if len(rows) < 2:
        raise UsageError(f"{path} needs a header line and at least one data row")
    header = [name.strip() for name in rows[0]]
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise UsageError(f"{path} repeats the columns {duplicates}")
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise UsageError(
                f"{path} line {number} has {len(row)} fields, the header has "
                f"{len(header)}"
            )
    values = np.array(rows[1:], dtype=str)
    return {name: np.char.strip(values[:, i]) for i, name in enumerate(header)}


def _column(columns: dict, name: str | None, option: str, path: str) -> np.ndarray:
    if name is None:
        raise UsageError(f"{option} COL is required with CSV data")
    if name not in columns:
        raise UsageError(
            f"{path} has no column {name!r} ({option}); its columns are "
            f"{', '.join(columns)}"
        )
    return columns[name]


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _numbers(values: np.ndarray, name: str, path: str) -> np.ndarray:
    """A column as finite floats, or one line that names the first bad cell."""
    for number, value in enumerate(values, start=2):
        if value == "":
            raise UsageError(
                f"{path} column {name!r} has a missing value on line {number}; "
                "fill or drop those rows"
            )
        if not _is_number(value):
            raise UsageError(
                f"{path} column {name!r} is not a finite number on line {number} "
                f"({value!r}); encode it or leave the column out with --drop {name}"
            )
    return values.astype(np.float64)


def _features_and_target(columns: dict, args, path: str, exclude: list[str]):
    y_raw = _column(columns, args.target, "--target", path)
    drop = [name.strip() for name in args.drop.split(",") if name.strip()]
    unknown = [name for name in drop if name not in columns]
    if unknown:
        raise UsageError(f"{path} has no columns {unknown} (--drop)")
    names = [n for n in columns if n not in [args.target, *exclude, *drop]]
    if not names:
        raise UsageError(f"{path} has no feature column left")
    X = np.column_stack([_numbers(columns[n], n, path) for n in names])
    return X.astype(np.float32), y_raw


def _target(y_raw: np.ndarray, name: str, task_type: str, path: str):
    """The target as numbers when it is numeric; ``(y, regression)``."""
    numeric = all(_is_number(value) for value in y_raw)
    y = y_raw.astype(np.float64) if numeric else y_raw
    if task_type == "auto":
        regression = type_of_target(y) == "continuous"
    else:
        regression = task_type == "regression"
    if regression:
        return _numbers(y_raw, name, path), True
    if y.dtype.kind == "f" and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    return y, False


def _csv_tasks(args):
    """Tasks and whether it is regression, from --data or --old/--new."""
    if not 0 < args.test_size < 1:
        raise UsageError(f"--test-size must be in (0, 1); got {args.test_size}")
    if args.data:
        columns = _read_csv(args.data)
        periods = _column(columns, args.task, "--task", args.data)
        X, y_raw = _features_and_target(columns, args, args.data, [args.task])
        source = args.data
    else:
        if not (args.old and args.new):
            raise UsageError("give both --old and --new")
        old, new = _read_csv(args.old), _read_csv(args.new)
        if list(old) != list(new):
            raise UsageError(
                f"{args.old} and {args.new} must have the same columns; "
                f"{list(old)} vs {list(new)}"
            )
        parts = [
            _features_and_target(c, args, p, [])
            for c, p in ((old, args.old), (new, args.new))
        ]
        X = np.concatenate([parts[0][0], parts[1][0]])
        y_raw = np.concatenate([parts[0][1], parts[1][1]])
        periods = np.array(["old"] * len(parts[0][1]) + ["new"] * len(parts[1][1]))
        source = f"{args.old} + {args.new}"
    y, regression = _target(y_raw, args.target, args.task_type, source)
    try:
        tasks = split_by_time(
            X, y, periods=periods, test_size=args.test_size, name=Path(source).stem
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if len(tasks) < 2:
        raise UsageError(
            f"the column {args.task!r} has a single value; a comparison needs at "
            "least two tasks"
        )
    if not args.no_scale:
        tasks = standardize_tasks(tasks)
    return tasks, regression


def _benchmark_tasks(args):
    name = args.benchmark or DEFAULT_BENCHMARK
    if name not in BENCHMARKS:
        raise UsageError(
            f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}"
        )
    kwargs = {}
    if args.n_tasks is not None:
        key = "n_periods" if name in ("elec2", "weather") else "n_tasks"
        kwargs[key] = args.n_tasks
    if args.data_dir is not None:
        if name in ("split-digits", "permuted-digits", "mnist1d"):
            raise UsageError(f"the benchmark {name!r} reads no file (--data-dir)")
        kwargs["path"] = args.data_dir
    try:
        return load_benchmark(name, **kwargs), False
    except (FileNotFoundError, ImportError, ValueError) as exc:
        raise UsageError(str(exc)) from exc


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


def _check_positive(args) -> None:
    for option in ("seeds", "epochs", "update_epochs", "batch_size", "threads"):
        if getattr(args, option) < 1:
            flag = "--" + option.replace("_", "-")
            raise UsageError(f"{flag} must be a positive integer")
    if args.lr <= 0:
        raise UsageError("--lr must be positive")


# ----------------------------------------------------------------------
# report
# ----------------------------------------------------------------------
def _records(table) -> list[dict]:
    return table.to_dict("records") if hasattr(table, "to_dict") else list(table)


def _fmt(value, digits: int = 3) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _size(n_bytes: float) -> str:
    if math.isnan(n_bytes):
        return "-"
    for unit in ("B", "KB", "MB"):
        if n_bytes < 1024 or unit == "MB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    return ""


def _ordered(records: list[dict]) -> list[dict]:
    """Strategies by mean score, best first; the joint bound last."""
    strategies = [r for r in records if r["strategy"] != JOINT]
    strategies.sort(
        key=lambda r: -np.nan_to_num(r["average_accuracy_mean"], nan=-1e300)
    )
    return strategies + [r for r in records if r["strategy"] == JOINT]


def format_table(records: list[dict], score_name: str) -> str:
    """The comparison table as aligned text, best strategy first."""
    header = [
        "strategy",
        f"{score_name} (mean ± sd)",
        "BWT",
        "FWT",
        "forgetting",
        "neg. flips",
        "fit s",
        "update s",
        "state",
    ]
    lines = [header]
    for r in _ordered(records):
        score = _fmt(r["average_accuracy_mean"])
        if not math.isnan(r["average_accuracy_std"]):
            score += f" ± {_fmt(r['average_accuracy_std'])}"
        name = "joint (upper bound)" if r["strategy"] == JOINT else r["strategy"]
        lines.append(
            [
                name,
                score,
                _fmt(r["backward_transfer_mean"]),
                _fmt(r["forward_transfer_mean"]),
                _fmt(r["forgetting_mean"]),
                _fmt(r["negative_flip_rate_mean"]),
                _fmt(r["fit_time_mean"], 2),
                _fmt(r["update_time_mean"], 2),
                _size(r["state_bytes_mean"]),
            ]
        )
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    text = []
    for row in lines:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])]
        text.append("  ".join(cells))
    text.insert(1, "-" * len(text[0]))
    return "\n".join(text)


def verdict(records: list[dict], score_name: str) -> str:
    """Which strategy won, by how much, and how far the upper bound is."""
    ranked = [r for r in _ordered(records) if r["strategy"] != JOINT]
    joint = [r for r in records if r["strategy"] == JOINT]

    def score(r):
        text = _fmt(r["average_accuracy_mean"])
        if not math.isnan(r["average_accuracy_std"]):
            text += f" ± {_fmt(r['average_accuracy_std'])}"
        return text

    if not ranked:
        return f"Joint training (upper bound): {score_name} {score(joint[0])}."
    best = ranked[0]
    text = f"Winner: {best['strategy']} with {score_name} {score(best)}"
    if len(ranked) > 1:
        second = ranked[1]
        gap = best["average_accuracy_mean"] - second["average_accuracy_mean"]
        text += f", {gap:.3f} above {second['strategy']} ({score(second)})"
        spreads = [
            r["average_accuracy_std"]
            for r in (best, second)
            if not math.isnan(r["average_accuracy_std"])
        ]
        if not spreads:
            text += "; one seed shows no spread to judge the gap by, run more seeds"
        elif gap <= max(spreads):
            text += "; the gap is within the spread over seeds, run more seeds"
    text += "."
    if joint:
        gap = joint[0]["average_accuracy_mean"] - best["average_accuracy_mean"]
        side = "above" if gap >= 0 else "below"
        text += (
            f" Joint training on all tasks at once (the usual upper bound): "
            f"{score(joint[0])}, {abs(gap):.3f} {side} the winner."
        )
    return text


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _write_outputs(out: Path, records, results, tasks, settings, quiet) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "results.csv", out / "results.json"]
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=list(records[0]))
    writer.writeheader()
    for record in records:
        writer.writerow(
            {
                k: "" if isinstance(v, float) and math.isnan(v) else v
                for k, v in record.items()
            }
        )
    # every output replaces the old one only once completely written
    atomic_write(written[0], table.getvalue().encode())
    matrices = {
        name: np.mean([r.matrix for r in runs], axis=0)
        for name, runs in results.items()
    }
    document = {
        "settings": settings,
        "tasks": [t.name for t in tasks],
        "table": records,
        "accuracy_matrices": matrices,
        "runs": {name: [r.metrics for r in runs] for name, runs in results.items()},
    }
    atomic_write(
        written[1], (json.dumps(_json_safe(document), indent=2) + "\n").encode()
    )
    try:
        written += _plots(out, matrices, [t.name for t in tasks])
    except ImportError:
        if not quiet:
            print("note: matplotlib is not installed, so no plots were written")
    return written


def _plots(out: Path, matrices: dict, task_names: list[str]) -> list[Path]:
    """One figure of heatmaps and one of per-task curves, on shared scales."""
    from matplotlib.figure import Figure

    from .evaluation import plot_accuracy_matrix, plot_task_curves

    if max(len(name) for name in task_names) > 8:
        task_names = None  # long names do not fit under the axes: use indices
    values = np.concatenate([m.ravel() for m in matrices.values()])
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    pad = 0.05 * (high - low) or 0.05
    sequences = [name for name in matrices if name != JOINT]
    paths = []
    for file, shown in (
        ("accuracy_matrices.png", list(matrices)),
        ("task_curves.png", sequences),
    ):
        n_cols = min(3, len(shown))
        n_rows = math.ceil(len(shown) / n_cols)
        fig = Figure(figsize=(5 * n_cols, 4 * n_rows), layout="constrained")
        axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
        for ax, name in zip(axes, shown):
            if file == "task_curves.png":
                plot_task_curves(matrices[name], ax=ax, task_names=task_names)
                ax.set_ylim(low - pad, high + pad)
            else:
                plot_accuracy_matrix(
                    matrices[name], ax=ax, task_names=task_names, vmin=low, vmax=high
                )
            ax.set_title(name)
        for ax in axes[len(shown) :]:
            ax.set_visible(False)
        atomic_write(
            out / file, lambda f, fig=fig: fig.savefig(f, format="png", dpi=80)
        )
        paths.append(out / file)
    return paths


# ----------------------------------------------------------------------
# commands
# ----------------------------------------------------------------------
def _list() -> int:
    print("benchmarks:")
    for name in BENCHMARKS:
        print(f"  {name:18} {_BENCHMARK_NOTES[name]}")
    print("strategies:")
    for name, spec in STRATEGIES.items():
        print(f"  {name:18} {spec.description}")
    return 0


def _prepare(args):
    """Everything a comparison needs, checked before anything is trained."""
    _check_positive(args)
    hidden = _hidden(args.hidden)
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
    base = base_estimator(
        regression=regression,
        hidden_layer_sizes=hidden,
        max_epochs=args.epochs,
        update_epochs=args.update_epochs,
        lr=args.lr,
        batch_size=args.batch_size,
    )
    scoring = args.scoring or ("r2" if regression else None)
    try:
        check_scoring(base, scoring=scoring)
    except ValueError as exc:
        raise UsageError(f"--scoring: {exc}") from exc
    estimators, joint = make_strategies(names, base)
    return names, tasks, scoring, estimators, joint


def _compare(args) -> int:
    names, tasks, scoring, estimators, joint = _prepare(args)
    score_name = scoring or "accuracy"
    if not args.quiet:
        print(
            f"{tasks.name}: {len(tasks)} tasks, {len(names)} strategies, "
            f"{args.seeds} seeds, scoring {score_name}",
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
    records = _records(table)
    print(format_table(records, score_name))
    print()
    print(verdict(records, score_name))
    if args.out:
        settings = {k: v for k, v in vars(args).items() if k != "command"}
        settings.update(strategies=names, scoring=score_name)
        written = _write_outputs(
            Path(args.out), records, results, tasks, settings, args.quiet
        )
        if not args.quiet:
            print("wrote " + ", ".join(str(p) for p in written))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``sklearn-cl`` with ``argv`` (default: the command line).

    Returns the exit status: 0 on success, 2 for bad arguments or data.

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
        return 2
    if args.command == "list":
        return _list()
    try:
        return _compare(args)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
