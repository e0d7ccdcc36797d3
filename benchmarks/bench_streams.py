"""Day-by-day prequential accuracy on two real drifting streams, with river.

Each stream is read in time order one day at a time: the model predicts
the day, is scored, then learns it (test, then train;
:func:`sklearn_cl.evaluation.prequential_score`). The first day is
learned without being scored. Streams:

- Elec2 (New South Wales electricity market, 45,312 half-hours, 48 a day):
  did the price go up against its last-24-hours average?
- NOAA weather (Bellevue, Nebraska, 18,159 days, one record a day): did
  it rain?

Every learner sees the same raw features, standardised online (river's
``preprocessing.StandardScaler`` for its logistic regression; a
``StandardScaler`` updated by ``partial_fit`` in an
:class:`~sklearn_cl.IncrementalPipeline` for sklearn_cl's networks; river's
trees need no scaling). river's learners learn one sample at a time
(``learn_one``) after predicting the whole day.

sklearn_cl set-ups (the default MLP, one hidden layer of 100):

- fine-tune: one epoch over each day at the default learning rate;
- fine-tune with more epochs per day (Elec2 only, where a day is 48 samples);
- replay of recent data: every batch of new samples is extended with 32
  samples drawn from the last 1,000 seen (``Replay(buffer="window")``);
  on Elec2, 10 epochs per day; seeds 0, 1 and 2;
- the replay set-up under :class:`~sklearn_cl.MonitoredUpdater` (policy
  ``"drift"`` with an update every day, and three times the epochs on the
  days where Page-Hinkley detects a rise of the error).

Recorded: accuracy over the whole stream, seconds, and a figure of the
accuracy over a sliding window (30 days on Elec2, a year of weather) for
the best of each library
(the replay set-up compared by its mean over the three seeds).

Run: ``python benchmarks/bench_streams.py [--out DIR] [--data DIR]``
(``--data``: the folder of ``elec.csv`` and ``weather.csv``, by default
``../shared/data`` next to the repository).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import river
import torch
from _common import RESULTS, SHARED_DATA, print_table, save_figure, write_results
from river import forest, linear_model, preprocessing, tree
from sklearn.preprocessing import StandardScaler

from sklearn_cl import ContinualClassifier, IncrementalPipeline, MonitoredUpdater
from sklearn_cl.datasets import load_elec2, load_weather
from sklearn_cl.evaluation import prequential_score
from sklearn_cl.strategies import Replay

# name: (loader, samples per day, update epochs of the multi-epoch set-ups)
STREAMS = {"elec2": (load_elec2, 48, 10), "weather": (load_weather, 1, 1)}
# days in the sliding window of the accuracy curves
CURVE_DAYS = {"elec2": 30, "weather": 365}
REPLAY = "sklearn_cl replay recent"


def network(epochs: int = 1, replay: bool = False, seed: int = 0):
    """The default MLP behind an online scaler, optionally replaying recent data."""
    callbacks = (
        [Replay(buffer="window", buffer_size=1000, replay_batch_size=32)]
        if replay
        else None
    )
    return IncrementalPipeline(
        [
            ("scale", StandardScaler()),
            (
                "clf",
                ContinualClassifier(
                    update_epochs=epochs, callbacks=callbacks, random_state=seed
                ),
            ),
        ]
    )


def sklearn_cl_setups(epochs: int) -> dict:
    setups = {"sklearn_cl fine-tune": network()}
    if epochs > 1:
        setups[f"sklearn_cl fine-tune, {epochs} epochs"] = network(epochs)
    for seed in (0, 1, 2):
        setups[f"{REPLAY}, seed {seed}"] = network(epochs, replay=True, seed=seed)
    setups["sklearn_cl replay recent + MonitoredUpdater(drift)"] = MonitoredUpdater(
        network(epochs, replay=True),
        policy="drift",
        period=1,
        drift_params={"clf__update_epochs": 3 * epochs},
    )
    return setups


RIVER = {
    "river adaptive random forest": lambda: forest.ARFClassifier(seed=0),
    "river Hoeffding adaptive tree": lambda: tree.HoeffdingAdaptiveTreeClassifier(
        seed=0
    ),
    "river logistic regression + scaler": lambda: (
        preprocessing.StandardScaler() | linear_model.LogisticRegression()
    ),
}


def river_prequential(model, X: np.ndarray, y: np.ndarray, day: int) -> np.ndarray:
    """Per-sample correctness, day by day; the first day is learned only."""
    rows = [dict(enumerate(map(float, x))) for x in X]
    correct = []
    for start in range(0, len(rows), day):
        days_rows, days_y = rows[start : start + day], y[start : start + day]
        if start:
            correct += [model.predict_one(x) == t for x, t in zip(days_rows, days_y)]
        for x, t in zip(days_rows, days_y):
            model.learn_one(x, int(t))
    return np.asarray(correct, dtype=float)


def run_stream(name: str, data: Path, limit: int | None):
    loader, day, epochs = STREAMS[name]
    X, y = loader(data)
    X, y = X[:limit], y[:limit]
    per_sample, rows = {}, []
    learners = {**sklearn_cl_setups(epochs), **RIVER}
    for learner, model in learners.items():
        tic = time.perf_counter()
        if learner.startswith("river"):
            per_sample[learner] = river_prequential(model(), X, y, day)
        else:
            result = prequential_score(model, X, y, batch_size=day)
            per_sample[learner] = result.per_sample
        seconds = time.perf_counter() - tic
        rows.append(
            {
                "stream": name,
                "learner": learner,
                "accuracy": float(per_sample[learner].mean()),
                "seconds": seconds,
            }
        )
        print(rows[-1], flush=True)
    seeds = [r for r in rows if r["learner"].startswith(f"{REPLAY}, seed ")]
    rows.append(
        {
            "stream": name,
            "learner": f"{REPLAY}, mean of {len(seeds)} seeds",
            "accuracy": float(np.mean([r["accuracy"] for r in seeds])),
            "seconds": float(np.mean([r["seconds"] for r in seeds])),
        }
    )
    per_sample[rows[-1]["learner"]] = np.mean(
        [per_sample[r["learner"]] for r in seeds], axis=0
    )
    return rows, per_sample


def plot(curves: dict, out: Path) -> Path:
    fig, axes = plt.subplots(len(curves), 1, figsize=(11, 3.2 * len(curves)))
    for ax, (stream, series) in zip(np.atleast_1d(axes), curves.items()):
        day, days = STREAMS[stream][1], CURVE_DAYS[stream]
        window = days * day
        kernel = np.ones(window) / window
        for learner, values in series.items():
            smooth = np.convolve(values, kernel, mode="valid")
            ax.plot(np.arange(len(smooth)) / day, smooth, lw=1, label=learner)
        ax.set(
            title=f"{stream}: accuracy over the last {days} days",
            xlabel="days",
            ylabel="accuracy",
        )
        ax.legend(fontsize=8)
    return save_figure(fig, out / "streams.png", dpi=110)


def best(rows: list[dict], prefix: str) -> dict:
    """The most accurate set-up; a seeded one by its mean over seeds."""
    candidates = [
        r
        for r in rows
        if r["learner"].startswith(prefix) and ", seed " not in r["learner"]
    ]
    return max(candidates, key=_accuracy)


def _accuracy(row: dict) -> float:
    return row["accuracy"]


def main(out: Path, data: Path, limit: int | None = None) -> None:
    torch.set_num_threads(1)
    rows, curves, summary = [], {}, {}
    for name in STREAMS:
        stream_rows, per_sample = run_stream(name, data, limit)
        rows += stream_rows
        ours, theirs = best(stream_rows, "sklearn_cl"), best(stream_rows, "river")
        summary[name] = {
            "best sklearn_cl": ours["learner"],
            "best sklearn_cl accuracy": ours["accuracy"],
            "best river": theirs["learner"],
            "best river accuracy": theirs["accuracy"],
        }
        curves[name] = {r["learner"]: per_sample[r["learner"]] for r in (ours, theirs)}
    print_table(rows)
    for name, figures in summary.items():
        print(name, figures)
    out.mkdir(parents=True, exist_ok=True)
    figure = plot(curves, out)
    path = write_results(
        "streams",
        {
            "note": (
                "Prequential accuracy, day by day (predict a day, score it, "
                "learn it; the first day is learned only). Seconds from a "
                "shared 2-core machine, torch on one thread."
            ),
            "river": river.__version__,
            "config": {
                name: {"samples_per_day": day, "update_epochs": epochs}
                for name, (_, day, epochs) in STREAMS.items()
            },
            "results": rows,
            "summary": summary,
            "figure": figure.name,
        },
    )
    print(f"wrote {path} and {figure}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the PNG")
    parser.add_argument(
        "--data",
        type=Path,
        default=SHARED_DATA,
        help="folder of elec.csv and weather.csv",
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="first samples of each stream only"
    )
    args = parser.parse_args()
    main(args.out, args.data, args.limit)
