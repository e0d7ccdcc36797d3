"""Daily updates of an electricity-demand forecaster: strategies side by side.

The real Elec2 demand series (``nswdemand``, New South Wales, half-hourly,
48 points a day, from 7 May 1996). A small 1-D CNN (:class:`CNN1D`) learns
to forecast the next day's 48 points from the last 7 days (336 points),
trained on the first year. Then, each day of the evaluation span, it
forecasts the next day, the day is observed and measured, and the model
learns from that day's 48 new windows, with each strategy:

- never update (the first-year model, kept);
- fine-tune (Adam, small update learning rate);
- fine-tune with a decaying learning rate (SGD, ``update_lr_decay``), next
  to the same SGD model never updated;
- experience replay of past windows; EWC;
- an ensemble of recent members (``UpdateEnsemble``, a new member each
  week on remembered + new windows, at most 4 members);
- full retraining from scratch on all data every week (the costly
  reference).

Reported: MAE per month and overall (the data are scaled to [0, 1]), the
seasonal-naive forecasts (same day last week, yesterday) as yardsticks,
first-training time and total update time. Figures: forecast against actual
for the last week of the span, and the 7-day mean of the daily MAE.

To run in a few minutes on two cores: windows of the first training (and of
the weekly refits) start every 8th point (2,150 windows for the first year),
the daily updates use every one of the day's windows, and the evaluation
span is 16 weeks (``--weeks`` changes it; the series holds 82 weeks after
the first year). Torch runs on one thread.

Run: ``python benchmarks/bench_elec2_forecast.py [--weeks 16] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import datetime
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from _common import RESULTS, data_home, print_table, save_figure, write_results

from sklearn_cl import ContinualRegressor, UpdateEnsemble
from sklearn_cl.datasets import fetch_elec2
from sklearn_cl.modules import CNN1D
from sklearn_cl.strategies import EWC, Replay
from sklearn_cl.timeseries import backtest

DAY = 48
LOOKBACK = 7 * DAY
INITIAL = 365 * DAY
START = datetime.date(1996, 5, 7)  # first row of elec.csv


def cnn(**params) -> ContinualRegressor:
    """The forecaster every strategy starts from."""
    base = dict(
        module=CNN1D,
        module__channels=(8, 16),
        module__pool_size=4,
        max_epochs=20,
        lr=3e-3,
        batch_size=128,
        update_lr=1e-4,
        random_state=0,
    )
    return ContinualRegressor(**{**base, **params})


SGD = dict(
    optimizer=torch.optim.SGD,
    optimizer__momentum=0.9,
    lr=0.1,
    batch_size=32,
    update_lr=0.01,
)

# name: (estimator, backtest arguments)
STRATEGIES = {
    "never update": (cnn(), {"update_every": None}),
    "fine-tune": (cnn(), {}),
    "never update (SGD)": (cnn(**SGD), {"update_every": None}),
    "fine-tune, lr decay (SGD)": (cnn(**SGD, update_lr_decay=0.97), {}),
    "replay": (cnn(callbacks=[("replay", Replay(buffer_size=2000))]), {}),
    # separate, not online: online EWC anchors at the latest weights, so with
    # one optimizer step per update its penalty is zero and it is fine-tuning
    "EWC": (cnn(callbacks=[("ewc", EWC(lambda_=1e6))]), {}),
    "ensemble, weekly member": (
        UpdateEnsemble(
            cnn(), data="old_and_new", memory_size=1000, max_members=4, random_state=0
        ),
        {"update_every": 7},
    ),
    "weekly full retrain": (cnn(), {"update_every": None, "refit_every": 7}),
}


def settings(estimator) -> dict:
    """The estimator's parameters that are plain values (JSON-friendly)."""
    plain = (int, float, str, bool, tuple, type(None))
    return {
        key: value.__name__ if isinstance(value, type) else value
        for key, value in estimator.get_params().items()
        if isinstance(value, plain) or isinstance(value, type)
    }


def month_of(day_index: np.ndarray) -> list[str]:
    return [
        (START + datetime.timedelta(days=int(d))).strftime("%Y-%m") for d in day_index
    ]


def monthly_mae(daily: np.ndarray, months: list[str]) -> dict[str, float]:
    return {
        m: float(daily[[x == m for x in months]].mean()) for m in dict.fromkeys(months)
    }


def plot_week(series, results, origins, out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(11, 4))
    last = slice(len(origins) - 7, len(origins))
    t = np.arange(7 * DAY) / DAY
    actual = series[origins[last][0] : origins[last][0] + 7 * DAY]
    ax.plot(t, actual, color="black", lw=2, label="actual")
    for name in ("never update", "fine-tune", "replay", "weekly full retrain"):
        ax.plot(t, results[name].predictions[last].ravel(), lw=1, label=name)
    first_day = START + datetime.timedelta(days=int(origins[last][0] // DAY))
    ax.set(
        xlabel=f"days from {first_day}",
        ylabel="NSW demand (scaled)",
        title="Day-ahead forecasts, last week of the span",
    )
    ax.legend(fontsize=8)
    return save_figure(fig, out / "elec2_forecast_week.png")


def plot_errors(daily: dict[str, np.ndarray], days: np.ndarray, out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(11, 4))
    dates = [START + datetime.timedelta(days=int(d)) for d in days]
    kernel = np.ones(7) / 7
    for name, errors in daily.items():
        ax.plot(dates[6:], np.convolve(errors, kernel, mode="valid"), label=name)
    ax.set(ylabel="daily MAE, 7-day mean", title="Forecast error over time")
    ax.legend(fontsize=7, ncol=2)
    fig.autofmt_xdate()
    return save_figure(fig, out / "elec2_forecast_errors.png")


def main(weeks: int = 16, out: Path = RESULTS) -> None:
    torch.set_num_threads(1)
    X, _ = fetch_elec2(data_home=data_home())
    series = X[: INITIAL + weeks * 7 * DAY, 2].astype(np.float64)
    common = dict(lookback=LOOKBACK, horizon=DAY, initial=INITIAL, step=8)
    results = {}
    for name, (estimator, params) in STRATEGIES.items():
        results[name] = backtest(estimator, series, **common, update_step=1, **params)
        print(f"{name}: MAE {results[name].mae:.4f}", flush=True)
    origins = results["never update"].origins
    days = origins // DAY
    months = month_of(days)
    truth = results["never update"].actual
    last_week = np.stack([series[o - 7 * DAY : o - 6 * DAY] for o in origins])
    yesterday = np.stack([series[o - DAY : o] for o in origins])
    daily = {name: r.abs_errors.mean(axis=1) for name, r in results.items()}
    naive = {
        "seasonal naive: last week": np.abs(last_week - truth).mean(axis=1),
        "seasonal naive: yesterday": np.abs(yesterday - truth).mean(axis=1),
    }
    rows = []
    for name, errors in {**daily, **naive}.items():
        r = results.get(name)
        rows.append(
            {
                "strategy": name,
                "MAE": float(errors.mean()),
                **monthly_mae(errors, months),
                "first fit s": r.fit_time if r else 0.0,
                "updates s": float(r.update_times.sum()) if r else 0.0,
                "updates": r.n_updates + r.n_refits if r else 0,
            }
        )
    print_table(rows)
    out.mkdir(parents=True, exist_ok=True)
    figures = [plot_week(series, results, origins, out), plot_errors(daily, days, out)]
    path = write_results(
        "elec2_forecast",
        {
            "note": (
                "Run on a shared 2-core machine with other processes running: "
                "times are noisy; compare them within this run. MAE on "
                "nswdemand scaled to [0, 1]."
            ),
            "config": {
                "lookback": LOOKBACK,
                "horizon": DAY,
                "first_training_points": INITIAL,
                "first_training_window_step": 8,
                "update_window_step": 1,
                "evaluation_days": len(origins),
                "first_forecast": str(START + datetime.timedelta(days=int(days[0]))),
                "module": "CNN1D(channels=(8, 16), kernel_size=5, pool_size=4)",
                "strategies": {
                    name: {**settings(est), **params}
                    for name, (est, params) in STRATEGIES.items()
                },
            },
            "results": rows,
            "figures": [f.name for f in figures],  # in --out
        },
    )
    print(f"wrote {path} and {', '.join(str(f) for f in figures)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=16, help="evaluation weeks")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for PNGs")
    args = parser.parse_args()
    main(args.weeks, args.out)
