"""Does a default CNN1D forecaster beat the naive forecasts on Elec2 demand?

The real Elec2 demand series (``nswdemand``, New South Wales, half-hourly,
48 points a day, from 7 May 1996). A :class:`CNN1D` with the estimator's
default training settings (``ContinualRegressor(module=CNN1D)``: 20 epochs
of Adam at 1e-3, batches of 32, standardised targets) learns from the
last 7 days (336 points) on windows of the first year, then forecasts,
never updated, every point of the 82 weeks that follow:

- one step ahead (half an hour), against persistence (the last value) and
  the same time yesterday;
- one day ahead (48 points, from each midnight), against the same day
  yesterday (seasonal naive) and persistence.

Three seeds of the default model, and one run with early stopping on the
last 10% of the training windows (:class:`TimeOrderedSplit`, at most 100
epochs). To run in a few minutes on two cores the first-year windows start
every 2nd point (8,700 windows). Torch runs on one thread.

Run: ``python benchmarks/bench_forecast_baselines.py [--data DIR]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _common import SHARED_DATA, print_table, write_results

from sklearn_cl import ContinualRegressor
from sklearn_cl.datasets import load_elec2
from sklearn_cl.modules import CNN1D
from sklearn_cl.timeseries import TimeOrderedSplit, make_windows

DAY = 48
LOOKBACK = 7 * DAY
FIRST_YEAR = 365 * DAY
STEP = 2
SEEDS = (0, 1, 2)

MODELS = {
    "CNN1D, defaults": {},
    "CNN1D, time-ordered early stopping": {
        "early_stopping": True,
        "train_split": TimeOrderedSplit(0.1),
        "max_epochs": 100,
    },
}


def naive(X_test: np.ndarray, horizon: int) -> dict[str, np.ndarray]:
    """The naive forecasts of each test window, shaped as its target."""
    last = np.repeat(X_test[:, -1:], horizon, axis=1)
    yesterday = X_test[:, -DAY : -DAY + horizon or None]
    return {"persistence (last value)": last, "same time yesterday": yesterday}


def evaluate(series: np.ndarray, horizon: int) -> list[dict]:
    X, y = make_windows(series[:FIRST_YEAR], LOOKBACK, horizon, step=STEP)
    test = series[FIRST_YEAR - LOOKBACK :]
    origin_step = 1 if horizon == 1 else DAY  # one-day forecasts from midnight
    X_test, y_test = make_windows(test, LOOKBACK, horizon, step=origin_step)
    y_test = y_test.reshape(len(y_test), horizon)
    rows = [
        {"horizon": horizon, "forecaster": name, "seed": "-", "MAE": mae, "fit s": 0.0}
        for name, forecast in naive(X_test, horizon).items()
        for mae in [float(np.abs(forecast - y_test).mean())]
    ]
    for name, params in MODELS.items():
        for seed in SEEDS if name == "CNN1D, defaults" else SEEDS[:1]:
            tic = time.perf_counter()
            model = ContinualRegressor(module=CNN1D, random_state=seed, **params)
            model.fit(X, y)
            fit_time = time.perf_counter() - tic
            forecast = model.predict(X_test).reshape(len(X_test), horizon)
            rows.append(
                {
                    "horizon": horizon,
                    "forecaster": name,
                    "seed": seed,
                    "MAE": float(np.abs(forecast - y_test).mean()),
                    "fit s": fit_time,
                    "epochs": model.n_iter_,
                }
            )
            print(rows[-1], flush=True)
    return rows


def main(data: Path) -> None:
    torch.set_num_threads(1)
    X, _ = load_elec2(data)
    series = X[:, 2].astype(np.float64)  # nswdemand
    rows = evaluate(series, 1) + evaluate(series, DAY)
    for row in rows:
        row.setdefault("epochs", "-")
    print_table(rows)
    path = write_results(
        "forecast_baselines",
        {
            "note": (
                "MAE on nswdemand scaled to [0, 1], models trained on the first "
                "year and never updated, evaluated on the 82 weeks after it. "
                "Fit times are from a shared 2-core machine."
            ),
            "config": {
                "lookback": LOOKBACK,
                "first_training_points": FIRST_YEAR,
                "first_training_window_step": STEP,
                "evaluation_points": len(series) - FIRST_YEAR,
                "one_day_forecast_origins": "every midnight",
                "models": {
                    name: {k: repr(v) for k, v in params.items()}
                    for name, params in MODELS.items()
                },
            },
            "results": rows,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=SHARED_DATA, help="folder of elec.csv"
    )
    main(parser.parse_args().data)
