"""Plots of accuracy matrices (matplotlib, imported only when called)."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_accuracy_matrix", "plot_task_curves"]


def _axes(ax):
    if ax is not None:
        return ax
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "Plotting needs matplotlib: pip install 'sklearn_cl[plot]'."
        ) from exc
    return plt.subplots()[1]


def _task_names(task_names, n: int) -> list[str]:
    if task_names is None:
        return [str(j) for j in range(n)]
    if len(task_names) != n:
        raise ValueError(f"Give {n} task names; got {len(task_names)}.")
    return [str(name) for name in task_names]


def plot_accuracy_matrix(
    matrix,
    *,
    ax=None,
    task_names=None,
    title=None,
    cmap="viridis",
    fmt=".2f",
    vmin=None,
    vmax=None,
):
    """Heatmap of an accuracy matrix, each cell annotated with its score.

    Rows are training steps ("after task i"), columns the evaluated tasks.
    A single row (the joint-training bound) is drawn as one row.

    Parameters
    ----------
    matrix : array-like of shape (n_steps, T)
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    task_names : list of str, default=None
    title : str, default=None
    cmap : str, default="viridis"
    fmt : str, default=".2f"
        Format of the annotations.
    vmin, vmax : float, default=None
        Range of the colour scale (the matrix's range when None); give the
        same range to heatmaps that are compared side by side.

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> ax = plot_accuracy_matrix([[0.9, 0.1], [0.6, 0.8]], title="finetune")
    >>> ax.get_title()
    'finetune'
    """
    R = np.atleast_2d(np.asarray(matrix, dtype=float))
    ax = _axes(ax)
    names = _task_names(task_names, R.shape[1])
    image = ax.imshow(R, cmap=cmap, aspect="auto", vmin=vmin, vmax=vmax)
    ax.figure.colorbar(image, ax=ax)
    low, high = image.get_clim()
    threshold = (low + high) / 2
    for (i, j), value in np.ndenumerate(R):
        if not np.isnan(value):
            color = "black" if value > threshold else "white"
            ax.text(j, i, format(value, fmt), ha="center", va="center", color=color)
    ax.set_xticks(range(R.shape[1]), names)
    ax.set_yticks(range(R.shape[0]), names[: R.shape[0]] if len(R) > 1 else ["all"])
    ax.set_xlabel("score on task")
    ax.set_ylabel("after training on task")
    if title is not None:
        ax.set_title(title)
    return ax


def plot_task_curves(matrix, *, ax=None, task_names=None, title=None):
    """Score on each task over the training steps, from when it was learned.

    One line per task ``j``: ``R[i, j]`` for steps ``i >= j``, so the drop of
    each line is that task's forgetting.

    Parameters
    ----------
    matrix : array-like of shape (T, T)
    ax : matplotlib Axes, default=None
    task_names : list of str, default=None
    title : str, default=None

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> ax = plot_task_curves([[0.9, 0.1], [0.6, 0.8]])
    >>> len(ax.get_lines())
    2
    """
    R = np.asarray(matrix, dtype=float)
    if R.ndim != 2 or R.shape[0] != R.shape[1]:
        raise ValueError(f"plot_task_curves needs a square matrix; got {R.shape}.")
    ax = _axes(ax)
    names = _task_names(task_names, R.shape[1])
    steps = np.arange(len(R))
    for j, name in enumerate(names):
        ax.plot(steps[j:], R[j:, j], marker="o", label=f"task {name}")
    ax.set_xticks(steps, names)
    ax.set_xlabel("after training on task")
    ax.set_ylabel("score")
    ax.legend(fontsize="small")
    if title is not None:
        ax.set_title(title)
    return ax
