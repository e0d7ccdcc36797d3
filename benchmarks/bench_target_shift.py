"""How far do real updates' targets stray from the scale of the first training?

``ContinualRegressor`` standardises its targets with the mean and standard
deviation of the first training and keeps them for every update; an update
whose targets, so standardised, have a root mean square above
``TARGET_SHIFT_LIMIT`` warns (``sklearn_cl/regressor.py``). This script
measures that root mean square on every update of real streams, to set the
limit above ordinary drift and below a change of units:

- Elec2 demand (``nswdemand``, half-hourly, May 1996 - Dec 1998): fitted on
  its first day, week, month or year, then updated every half-hour (one
  row), day (48 rows) or week (336 rows) over the rest of the series;
- diabetes (scikit-learn): fitted on the first 20, 50 or 100 patients of a
  shuffle, updated one or ten patients at a time (20 shuffles);
- the same updates after a change of units: every target times 10, 1000
  or 0.1 (for diabetes, 10 or 0.1).

The table gives the largest value on ordinary updates and, for each unit
change, the share of updates that warn. A smaller unit (times 0.1) brings
the targets nearer the mean, inside the range the network was scaled for:
it cannot be told from drift, and does not warn.

Only statistics are computed (no network is trained): the figure is the
scaler's. Run: ``python benchmarks/bench_target_shift.py [--data DIR]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _common import SHARED_DATA, print_table, write_results
from sklearn.datasets import load_diabetes

from sklearn_cl.datasets import load_elec2
from sklearn_cl.regressor import TARGET_SHIFT_LIMIT

DAY = 48


def shifts(y_fit: np.ndarray, y_rest: np.ndarray, size: int, unit=None) -> np.ndarray:
    """Root mean square of each update's standardised targets."""
    mean, std = y_fit.mean(), y_fit.std()
    n = len(y_rest) // size * size
    batches = y_rest[:n].reshape(-1, size)
    if unit is not None:
        batches = unit(batches)
    return np.sqrt(np.mean(((batches - mean) / std) ** 2, axis=1))


UNITS = {
    "x10": lambda y: y * 10,
    "x1000": lambda y: y * 1000,
    "x0.1": lambda y: y * 0.1,
}


def figures(values: list[np.ndarray]) -> tuple[float, float]:
    """The largest value and the share of updates above the limit (%)."""
    values = np.concatenate(values)
    return float(values.max()), float(100 * np.mean(values > TARGET_SHIFT_LIMIT))


def _row(data, fit, size, fit_and_rest, units) -> dict:
    """One table row: ``fit_and_rest`` is a list of (fit, rest) splits."""
    row = {"data": data, "fit": fit, "update": size}
    for name in ("same units", *UNITS):
        largest, warned = figures(
            [shifts(a, b, size, UNITS.get(name)) for a, b in fit_and_rest]
        )
        if name == "same units":
            row["largest"] = largest
        row[f"warn % {name}"] = warned if name in units else None
    row["updates"] = sum(len(b) // size for _, b in fit_and_rest)
    return row


def elec2_rows(data: Path) -> list[dict]:
    X, _ = load_elec2(data)
    demand = X[:, 2].astype(np.float64)
    return [
        _row(
            "elec2",
            f"{days} d",
            size,
            [(demand[: days * DAY], demand[days * DAY :])],
            ("same units", *UNITS),
        )
        for days in (1, 7, 30, 365)
        for size in (1, DAY, 7 * DAY)
    ]


def diabetes_rows() -> list[dict]:
    y = load_diabetes(return_X_y=True)[1].astype(np.float64)
    shuffles = [np.random.default_rng(seed).permutation(y) for seed in range(20)]
    return [
        _row(
            "diabetes x20",
            str(n_fit),
            size,
            [(s[:n_fit], s[n_fit:]) for s in shuffles],
            ("same units", "x10", "x0.1"),
        )
        for n_fit in (20, 50, 100)
        for size in (1, 10)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=SHARED_DATA)
    args = parser.parse_args()
    rows = elec2_rows(args.data) + diabetes_rows()
    print(
        "Root mean square of each update's targets, standardised with the "
        "first training's\nstatistics: the largest on ordinary updates, and "
        "the share of updates above the\nwarning limit "
        f"({TARGET_SHIFT_LIMIT:g}) with the same units and after a change of "
        "units.\n"
    )
    print_table(rows)
    largest = max(row["largest"] for row in rows)
    print(f"\nLargest on ordinary updates: {largest:.2f}.")
    path = write_results(
        "target_shift",
        {"limit": TARGET_SHIFT_LIMIT, "largest_ordinary": largest, "rows": rows},
    )
    print(f"written: {path}")


if __name__ == "__main__":
    main()
