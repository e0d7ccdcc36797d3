"""The report of a comparison: an aligned text table, a verdict, and files.

Everything here reads the table of
:func:`~sklearn_cl.evaluation.compare_strategies` (a DataFrame or a list of
records) by its column names, which come from
:data:`~sklearn_cl.evaluation.METRICS`; the score's name (accuracy, r2 ...)
is the table's own ``scoring`` column.
"""

from __future__ import annotations

import csv
import io
import json
import math
from os import PathLike
from pathlib import Path

import numpy as np

from .._atomic import atomic_write
from ._compare import JOINT

__all__ = ["format_comparison", "comparison_verdict", "save_comparison"]

_SCORE = "average_score"


def _records(table) -> list[dict]:
    return table.to_dict("records") if hasattr(table, "to_dict") else list(table)


def _score_name(records: list[dict]) -> str:
    return str(records[0].get("scoring", "score")) if records else "score"


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


def _score(record: dict) -> str:
    """The mean score, ``± sd`` when there is a spread."""
    text = _fmt(record[f"{_SCORE}_mean"])
    if not math.isnan(record[f"{_SCORE}_std"]):
        text += f" ± {_fmt(record[f'{_SCORE}_std'])}"
    return text


def _ordered(records: list[dict]) -> list[dict]:
    """Strategies by mean score, best first; the joint bound last."""
    strategies = [r for r in records if r["strategy"] != JOINT]
    strategies.sort(key=lambda r: -np.nan_to_num(r[f"{_SCORE}_mean"], nan=-1e300))
    return strategies + [r for r in records if r["strategy"] == JOINT]


def format_comparison(table) -> str:
    """The comparison table as aligned text, best strategy first.

    Parameters
    ----------
    table : DataFrame or list of dict
        The table of :func:`compare_strategies`.

    Returns
    -------
    str

    Examples
    --------
    >>> record = {"strategy": "replay", "scoring": "accuracy",
    ...           "average_score_mean": 0.9, "average_score_std": 0.01,
    ...           "backward_transfer_mean": -0.05, "forward_transfer_mean": 0.0,
    ...           "forgetting_mean": 0.06, "negative_flip_rate_mean": 0.02,
    ...           "fit_time_mean": 1.5, "update_time_mean": 0.5,
    ...           "state_bytes_mean": 2048.0}
    >>> print(format_comparison([record]))
    strategy  accuracy (mean ± sd)     BWT    FWT  forgetting  neg. flips  fit s  update s   state
    ----------------------------------------------------------------------------------------------
    replay           0.900 ± 0.010  -0.050  0.000       0.060       0.020   1.50      0.50  2.0 KB
    """  # noqa: E501
    records = _records(table)
    header = [
        "strategy",
        f"{_score_name(records)} (mean ± sd)",
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
        name = "joint (upper bound)" if r["strategy"] == JOINT else r["strategy"]
        if r.get("n_failed"):
            name += f" ({r['n_failed']} of {r['n_seeds']} runs failed)"
        lines.append(
            [
                name,
                _score(r),
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


def comparison_verdict(table) -> str:
    """Which strategy won, by how much, and how far the upper bound is.

    The gap to the second strategy is judged against the spread over seeds.

    Parameters
    ----------
    table : DataFrame or list of dict
        The table of :func:`compare_strategies`.

    Returns
    -------
    str

    Examples
    --------
    >>> def row(name, mean, std):
    ...     return {"strategy": name, "scoring": "r2",
    ...             "average_score_mean": mean, "average_score_std": std}
    >>> comparison_verdict([row("ewc", 0.7, 0.01), row("replay", 0.8, 0.02)])
    'Winner: replay with r2 0.800 ± 0.020, 0.100 above ewc (0.700 ± 0.010).'
    """
    records = _records(table)
    score_name = _score_name(records)
    strategies = [r for r in _ordered(records) if r["strategy"] != JOINT]
    # a strategy without a score (its runs failed) is named, not ranked
    ranked = [r for r in strategies if not math.isnan(r[f"{_SCORE}_mean"])]
    unscored = [r["strategy"] for r in strategies if r not in ranked]
    note = f" No score for {', '.join(unscored)}." if unscored else ""
    joint = [r for r in records if r["strategy"] == JOINT]
    if not ranked:
        bound = (
            f"Joint training (upper bound): {score_name} {_score(joint[0])}."
            if joint
            else ""
        )
        return (bound + note).strip()
    best = ranked[0]
    text = f"Winner: {best['strategy']} with {score_name} {_score(best)}"
    if len(ranked) > 1:
        second = ranked[1]
        gap = best[f"{_SCORE}_mean"] - second[f"{_SCORE}_mean"]
        text += f", {gap:.3f} above {second['strategy']} ({_score(second)})"
        spreads = [
            r[f"{_SCORE}_std"]
            for r in (best, second)
            if not math.isnan(r[f"{_SCORE}_std"])
        ]
        if not spreads:
            text += "; one seed shows no spread to judge the gap by, run more seeds"
        elif gap <= max(spreads):
            text += "; the gap is within the spread over seeds, run more seeds"
    text += "."
    if joint:
        gap = joint[0][f"{_SCORE}_mean"] - best[f"{_SCORE}_mean"]
        side = "above" if gap >= 0 else "below"
        text += (
            f" Joint training on all tasks at once (the usual upper bound): "
            f"{_score(joint[0])}, {abs(gap):.3f} {side} the winner."
        )
    return text + note


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


def save_comparison(
    out: str | PathLike,
    table,
    results: dict,
    tasks,
    settings: dict | None = None,
) -> list[Path]:
    """Write a comparison into a directory: ``results.csv``, ``results.json``
    and, when matplotlib is installed, two plots.

    ``results.json`` holds the settings, the task names, the table, the
    accuracy matrix of each strategy (mean over seeds) and each run's
    metrics; the plots are the heatmaps of those matrices
    (``accuracy_matrices.png``) and each task's score over the training steps
    (``task_curves.png``), on shared scales. Every file replaces the old one
    only once completely written.

    Parameters
    ----------
    out : str or path-like
        The directory, created if needed.
    table : DataFrame or list of dict
        The table of :func:`compare_strategies`.
    results : dict of str to list of SequenceResult
        Its results (``return_results=True``).
    tasks : TaskSequence
        The tasks compared.
    settings : dict, default=None
        Recorded as they are in ``results.json``.

    Returns
    -------
    list of Path
        The files written.
    """
    out = Path(out)
    records = _records(table)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "results.csv", out / "results.json"]
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(records[0]))
    writer.writeheader()
    for record in records:
        writer.writerow(
            {
                k: "" if isinstance(v, float) and math.isnan(v) else v
                for k, v in record.items()
            }
        )
    atomic_write(written[0], text.getvalue().encode())
    matrices = {
        name: np.mean([r.matrix for r in runs], axis=0)
        for name, runs in results.items()
    }
    document = {
        "settings": settings or {},
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
        pass  # matplotlib is optional: the caller sees which files were written
    return written


def _plots(out: Path, matrices: dict, task_names: list[str]) -> list[Path]:
    """One figure of heatmaps and one of per-task curves, on shared scales."""
    from matplotlib.figure import Figure

    from ._plots import plot_accuracy_matrix, plot_task_curves

    if max(len(name) for name in task_names) > 8:
        task_names = None  # long names do not fit under the axes: use indices
    values = np.concatenate([m.ravel() for m in matrices.values()])
    values = values[np.isfinite(values)]  # failed runs have no scores
    low, high = (values.min(), values.max()) if values.size else (0.0, 1.0)
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
