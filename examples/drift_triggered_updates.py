"""Update a classifier on a drifting stream: always, never, periodically, or on drift
==================================================================================

Two real streams, read in time order, one labelled batch at a time:

- Elec2 (Harries 1999): will the New South Wales electricity price go up?
  Six features, one batch per day (48 half-hours), 944 days;
- NOAA weather (Elwell & Polikar 2011): will it rain tomorrow in Bellevue,
  Nebraska? Eight features, one batch per 30 days, 50 years.

A small MLP (:class:`~sklearn_cl.ContinualClassifier` behind a
``StandardScaler`` in an :class:`~sklearn_cl.IncrementalPipeline`) is
trained on the first batches. Then every batch is first predicted (test)
and then, depending on the policy of the :class:`~sklearn_cl.MonitoredUpdater`,
learned (train):

- never: the first model is kept;
- always: one update per batch;
- periodic: one update every 10 batches, on those 10 batches;
- drift: an update only when the Page-Hinkley detector (Page 1954) sees the
  error rate go up, a stronger one (10 epochs instead of 2); with river
  installed, the same with river's ADWIN (Bifet & Gavaldà 2007);
- drift + periodic: both, the periodic updates on the batches gathered
  since the last update.

Printed: prequential accuracy (the mean test-then-train accuracy over the
stream) and the number of updates of each policy. Plotted (PNG in
``--out``): the accuracy over time, with the drift-triggered updates marked.

Run: ``python examples/drift_triggered_updates.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.preprocessing import StandardScaler

from sklearn_cl import ContinualClassifier, IncrementalPipeline, MonitoredUpdater
from sklearn_cl.datasets import load_elec2, load_weather
from sklearn_cl.drift import PageHinkley

# name: (loader, batch size, batches of the first training)
STREAMS = {"Elec2": (load_elec2, 48, 30), "weather": (load_weather, 30, 24)}


def model() -> IncrementalPipeline:
    return IncrementalPipeline(
        [
            ("scale", StandardScaler()),
            (
                "mlp",
                ContinualClassifier(
                    hidden_layer_sizes=(32,),
                    max_epochs=30,
                    update_epochs=2,
                    update_lr=3e-4,
                    random_state=0,
                ),
            ),
        ]
    )


def policies() -> dict[str, dict]:
    stronger = {"mlp__update_epochs": 10}
    found = {
        "never": {"policy": "never"},
        "always": {"policy": "always"},
        "periodic (10 batches)": {"policy": "periodic", "period": 10},
        "drift (Page-Hinkley)": {
            "policy": "drift",
            "detector": PageHinkley(threshold=10.0),
            "drift_params": stronger,
        },
        "drift + periodic": {
            "policy": "drift",
            "period": 10,
            "detector": PageHinkley(threshold=10.0),
            "drift_params": stronger,
        },
    }
    if importlib.util.find_spec("river") is not None:
        from river.drift import ADWIN

        found["drift (river ADWIN)"] = {
            "policy": "drift",
            "detector": ADWIN(),
            "drift_params": stronger,
        }
    return found


def run(X, y, batch: int, n_first: int, params: dict) -> MonitoredUpdater:
    """Fit on the first batches, then test-then-train on the rest."""
    start = batch * n_first
    updater = MonitoredUpdater(model(), **params).fit(X[:start], y[:start])
    for low in range(start, len(y), batch):
        updater.partial_fit(X[low : low + batch], y[low : low + batch])
    return updater


def accuracy(updater: MonitoredUpdater) -> float:
    n = np.array([h["n_samples"] for h in updater.history_])
    errors = np.array([h["error"] for h in updater.history_])
    return float(1 - (errors * n).sum() / n.sum())


def plot(name: str, runs: dict[str, MonitoredUpdater], out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(11, 4))
    window = 20
    for k, (label, updater) in enumerate(runs.items()):
        errors = np.array([h["error"] for h in updater.history_])
        curve = 1 - np.convolve(errors, np.ones(window) / window, mode="valid")
        (line,) = ax.plot(np.arange(window - 1, len(errors)), curve, label=label)
        drifts = [u["batch"] for u in updater.updates_ if u["reason"] == "drift"]
        level = np.full(len(drifts), 0.4 - 0.03 * k)
        ax.plot(drifts, level, "|", color=line.get_color(), ms=8)
    ax.set(
        xlabel="batch",
        ylabel=f"accuracy, mean of {window} batches",
        title=f"{name}: test-then-train accuracy (ticks: drift-triggered updates)",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / f"drift_{name.lower()}.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(out: Path) -> None:
    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    for name, (load, batch, n_first) in STREAMS.items():
        X, y = load()
        runs = {
            label: run(X, y, batch, n_first, params)
            for label, params in policies().items()
        }
        print(f"\n{name}: {len(y)} samples, batches of {batch}")
        print(f"{'policy':24s} {'accuracy':>8s} {'updates':>8s}")
        for label, updater in runs.items():
            print(f"{label:24s} {accuracy(updater):8.3f} {len(updater.updates_):8d}")
        print(f"wrote {plot(name, runs, out)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for PNGs")
    main(parser.parse_args().out)
