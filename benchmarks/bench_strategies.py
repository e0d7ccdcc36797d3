"""Learning quality and cost of the rehearsal and regularisation strategies.

Tables (each strategy: mean and per-seed accuracy after the last task, the
seconds of one update, and the size of the strategy's state):

- ``split_digits_avalanche``: split digits, 5 class-incremental tasks, with
  the settings of the Avalanche 0.6 runs quoted in issue 13 (MLP 64-100-10,
  Adam 1e-3, 20 epochs per task, batch 32, memory 200, seeds 0-2) and its
  75/25 train/test split, beside Avalanche's figures;
- ``split_digits``: the same with ``split_digits``'s own 50/50 split;
- ``split_digits_growing_head``: that split trained as ``sklearn-cl
  compare`` does, ``partial_fit`` on each task with the output layer
  growing with the new classes (the protocol of issue 13's "replay 0.918");
- ``permuted_digits_avalanche``: permuted digits with the Avalanche settings;
- ``permuted_derpp_selected``: DER++ on permuted digits with ``alpha`` and
  ``beta`` chosen for that data, as a user would choose them: the grid
  ``alpha`` in {0.3, 0.5, 1}, ``beta`` in {0.5, 1} (the range Buzzega et
  al. search) run on seeds 3-5 only, and the best setting (of settings
  level at three decimals, the first in grid order; all are recorded)
  reported beside the defaults and DER on nine other seeds (0-2, 6-11), on
  which nothing was chosen;
- ``compare_protocol``: the memory strategies as ``sklearn-cl compare`` runs
  them, 6 seeds;
- ``split_mnist1d_mlp``, ``split_mnist1d_cnn``: split MNIST-1D (MLP and
  CNN1D), the same settings;
- ``regularisers``: permuted digits with the protocol of
  ``tests/strategies/test_quality_permuted.py`` (40 epochs, then 10 per
  update, batch 16, 50/50 split, seeds 0-4): EWC, SI, MAS at their best
  strength (SI and MAS with their default squared importance and with the
  papers' ``power=1``), and the lowest accuracy over the strength grid
  1 ... 10000;
- ``update_cost``: one update of 10 epochs on permuted digits, each
  strategy's ``partial_fit`` time over a plain one (best of interleaved
  repeats, in CPU seconds of this process: ``time.process_time``, so that
  waiting for a core taken by another job does not count).

The memory tables also run DER and DER++ with ``refresh=False`` (the
outputs kept from the call that stored each sample, as the authors do) and
with their former defaults, the raw outputs matched (``center=False``;
DER++ with ``alpha=0.3``); the permuted table also runs DER++ with the
paper's permuted-MNIST ``alpha=1``. Centred matching (DER's and DER++'s
``center=True``) was chosen on runs with seeds 3-5, not those reported
here (0-2; ``compare_protocol`` seeds the models 0-5 on one data split).

The machine is shared with other jobs; timings are best-of-repeats ratios.
Run: ``python benchmarks/bench_strategies.py [PART ...]`` (all parts by
default, or e.g. ``update_cost`` alone, keeping the others' figures).
"""

from __future__ import annotations

import json
import pickle
import sys
import time

import numpy as np
import torch
from _common import RESULTS, print_table, write_results

from sklearn_cl import ContinualClassifier
from sklearn_cl.datasets import permuted_digits, split_digits, split_mnist1d
from sklearn_cl.modules import CNN1D
from sklearn_cl.strategies import (
    AGEM,
    DER,
    ERACE,
    EWC,
    MAS,
    SI,
    DERPlusPlus,
    Replay,
)

SEEDS = [0, 1, 2]
AVALANCHE = dict(max_epochs=20, update_epochs=20, batch_size=32, lr=1e-3)
MEMORY = {
    "naive": lambda: [],
    "Replay(200)": lambda: [Replay(200)],
    "DER(200)": lambda: [DER(buffer_size=200)],
    "DER++(200)": lambda: [DERPlusPlus(buffer_size=200)],
    # the authors' choice: outputs kept from the call that stored each sample
    "DER(200, refresh=False)": lambda: [DER(buffer_size=200, refresh=False)],
    "DER++(200, alpha=0.5, refresh=False)": lambda: [
        DERPlusPlus(alpha=0.5, buffer_size=200, refresh=False)
    ],
    # the former defaults: raw outputs matched (the authors' distance)
    "DER(200, center=False)": lambda: [DER(buffer_size=200, center=False)],
    "DER++(200, alpha=0.3, center=False)": lambda: [
        DERPlusPlus(alpha=0.3, buffer_size=200, center=False)
    ],
    "ER-ACE(200)": lambda: [ERACE(200)],
    "A-GEM(200)": lambda: [AGEM(200)],
}
# the DER paper's best DER++ for permuted MNIST with 200 samples (alpha=beta=1;
# Buzzega et al. 2020, appendix; Mammoth's utils/best_args.py)
PERMUTED_EXTRA = {
    "DER++(200, alpha=1)": lambda: [DERPlusPlus(alpha=1.0, buffer_size=200)],
}
# Avalanche 0.6, same settings, 75/25 split (issue 13)
AVALANCHE_SPLIT = {
    "naive": 0.19,
    "Replay(200)": 0.913,
    "DER(200)": 0.927,
    "ER-ACE(200)": 0.926,
    "A-GEM(200)": 0.53,
    "joint": 0.964,
}
AVALANCHE_PERMUTED = {
    "naive": 0.53,
    "Replay(200)": 0.880,
    "DER(200)": 0.940,
    "A-GEM(200)": 0.81,
    "joint": 0.954,
}
REGULARISERS = {
    "naive": (lambda lam: [], None),
    "EWC": (lambda lam: [EWC(lambda_=lam)], 30.0),
    "SI": (lambda lam: [SI(lambda_=lam)], 50.0),
    "MAS": (lambda lam: [MAS(lambda_=lam)], 0.003),
    # the papers' importance, not squared
    "SI(power=1)": (lambda lam: [SI(lambda_=lam, power=1.0)], 1.0),
    "MAS(power=1)": (lambda lam: [MAS(lambda_=lam, power=1.0)], 0.005),
}
GRID = [1.0, 10.0, 100.0, 1000.0, 10000.0]


def run(sequence, seed, callbacks, joint=False, grow=False, **params):
    """Accuracy after the last task (mean over the tasks' test sets), mean
    seconds per training call (the first training and each update), and the
    pickled size of the strategies after the last task.

    ``grow=True`` trains as ``sklearn-cl compare`` does: ``fit`` on the
    first task, then ``partial_fit`` on each later one, the output layer
    growing with each task's new classes.
    """
    clf = ContinualClassifier(
        callbacks=callbacks, random_state=seed, allow_new_classes=grow, **params
    )
    X, y, tasks = sequence.train_arrays()
    tic = time.perf_counter()
    calls = 1 if joint else len(np.unique(tasks))
    if joint:
        clf.fit(X, y)
    elif grow:
        clf.fit(sequence[0].X_train, sequence[0].y_train)
        for task in sequence[1:]:
            clf.partial_fit(task.X_train, task.y_train)
    else:
        clf.fit(X, y, tasks=tasks)
    seconds = (time.perf_counter() - tic) / calls
    accuracy = float(np.mean([clf.score(t.X_test, t.y_test) for t in sequence]))
    state = sum(len(pickle.dumps(cb)) for _, cb in clf.net_.callbacks_)
    return accuracy, seconds, state


def table(
    name,
    make_sequence,
    strategies,
    reference=None,
    grow=False,
    joint=True,
    seeds=SEEDS,
    **params,
):
    rows = []
    upper = [("joint", lambda: [])] if joint else []
    for label, make in [*strategies.items(), *upper]:
        results = [
            run(
                make_sequence(seed),
                seed,
                make(),
                joint=label == "joint",
                grow=grow,
                **params,
            )
            for seed in seeds
        ]
        accs = [r[0] for r in results]
        row = {
            "strategy": label,
            "accuracy": round(float(np.mean(accs)), 3),
            "per_seed": [round(a, 3) for a in accs],
            "s_per_training_call": round(float(np.mean([r[1] for r in results])), 3),
            "state_bytes": int(results[0][2]),
        }
        if reference is not None:
            row["avalanche"] = reference.get(label)
        rows.append(row)
    print(f"\n{name}")
    print_table(rows)
    return rows


SELECTION_SEEDS = (3, 4, 5)
HELD_OUT_SEEDS = (0, 1, 2, 6, 7, 8, 9, 10, 11)


def permuted_derpp_selected():
    """DER++'s ``alpha`` and ``beta`` chosen on permuted digits with seeds
    3-5, then reported with nine other seeds beside the defaults and DER."""

    def permuted(seed):
        return permuted_digits(5, test_size=0.25, random_state=seed)

    grid = {
        f"DER++(200, alpha={alpha}, beta={beta})": (
            lambda alpha=alpha, beta=beta: [
                DERPlusPlus(alpha=alpha, beta=beta, buffer_size=200)
            ]
        )
        for alpha in (0.3, 0.5, 1.0)
        for beta in (0.5, 1.0)
    }
    selection = table(
        "permuted digits, DER++ grid on seeds 3-5 (selection)",
        permuted,
        grid,
        joint=False,
        seeds=SELECTION_SEEDS,
        **AVALANCHE,
    )
    # settings level with the best are all recorded; the first of them in
    # grid order is reported (alpha=1 ties with beta 0.5 and 1: 0.943 both)
    top = max(row["accuracy"] for row in selection)
    tied = [row["strategy"] for row in selection if row["accuracy"] == top]
    best = tied[0]
    held_out = table(
        "permuted digits, held-out seeds 0-2 and 6-11",
        permuted,
        {
            "DER++(200)": lambda: [DERPlusPlus(buffer_size=200)],
            f"selected: {best}": grid[best],
            "DER(200)": lambda: [DER(buffer_size=200)],
        },
        AVALANCHE_PERMUTED,
        joint=False,
        seeds=HELD_OUT_SEEDS,
        **AVALANCHE,
    )
    return {
        "selection": selection,
        "selected": best,
        "tied": tied,
        "held_out": held_out,
    }


def regularisers():
    settings = dict(max_epochs=40, update_epochs=10, batch_size=16)
    rows = []
    for label, (make, best) in REGULARISERS.items():
        accs = [
            run(permuted_digits(5, random_state=seed), seed, make(best), **settings)[0]
            for seed in range(5)
        ]
        row = {
            "strategy": label,
            "strength": best,
            "accuracy": round(float(np.mean(accs)), 3),
            "per_seed": [round(a, 3) for a in accs],
        }
        if best is not None:
            grid = {
                lam: run(permuted_digits(5, random_state=0), 0, make(lam), **settings)[
                    0
                ]
                for lam in GRID
            }
            row["grid_seed0"] = {str(k): round(v, 3) for k, v in grid.items()}
            row["grid_min"] = round(min(grid.values()), 3)
        rows.append(row)
    print("\nregularisers (permuted digits, test_quality_permuted protocol)")
    print_table(rows)
    return rows


def update_cost(repeats=11):
    sequence = permuted_digits(2, random_state=0)
    X0, y0 = sequence[0].X_train, sequence[0].y_train
    X1, y1 = sequence[1].X_train, sequence[1].y_train
    variants = {
        "plain": lambda: [],
        "EWC(30)": lambda: [EWC(lambda_=30.0)],
        "SI(50)": lambda: [SI(lambda_=50.0)],
        "MAS(0.003)": lambda: [MAS(lambda_=0.003)],
        "Replay(200)": lambda: [Replay(200)],
        "DER(200)": lambda: [DER()],
        "DER++(200)": lambda: [DERPlusPlus()],
        "ER-ACE(200)": lambda: [ERACE()],
        "A-GEM(200)": lambda: [AGEM()],
    }
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(repeats):
        for label, make in variants.items():
            clf = ContinualClassifier(
                max_epochs=5,
                update_epochs=10,
                batch_size=16,
                callbacks=make(),
                random_state=0,
            ).fit(X0, y0)
            tic = time.process_time()
            clf.partial_fit(X1, y1)
            best[label] = min(best[label], time.process_time() - tic)
    rows = [
        {
            "strategy": label,
            "update_ms": round(1000 * s, 1),
            "ratio_to_plain": round(s / best["plain"], 2),
        }
        for label, s in best.items()
    ]
    print("\nupdate cost (10 epochs on 898 permuted digits, batch 16)")
    print_table(rows)
    return rows


def compare_protocol(n_seeds=6):
    """The memory strategies as ``sklearn-cl compare`` runs them (its base
    model and seeding, split digits 50/50, growing head), more seeds."""
    from sklearn.base import clone

    from sklearn_cl._strategy_registry import base_estimator
    from sklearn_cl.evaluation import compare_strategies

    base = base_estimator()
    candidates = {
        name: clone(base).set_params(callbacks=[("strategy", make())])
        for name, make in {
            "Replay(200)": lambda: Replay(200),
            "DER(200)": lambda: DER(buffer_size=200),
            "DER(200, refresh=False)": lambda: DER(buffer_size=200, refresh=False),
            "DER(200, center=False)": lambda: DER(buffer_size=200, center=False),
            "DER++(200)": lambda: DERPlusPlus(buffer_size=200),
            "DER++(200, alpha=0.3, center=False)": lambda: DERPlusPlus(
                alpha=0.3, buffer_size=200, center=False
            ),
            "ER-ACE(200)": lambda: ERACE(200),
        }.items()
    }
    table = compare_strategies(candidates, split_digits(), n_seeds=n_seeds, n_jobs=2)
    rows = [
        {
            "strategy": row.strategy,
            "accuracy": round(row.average_score_mean, 3),
            "sd": round(row.average_score_std, 3),
            "n_seeds": n_seeds,
        }
        for row in table.itertuples()
    ]
    print(f"\nsplit digits as sklearn-cl compare runs it, {n_seeds} seeds")
    print_table(rows)
    return rows


PARTS = {
    "split_digits_avalanche": lambda: table(
        "split digits, Avalanche settings and 75/25 split",
        lambda seed: split_digits(5, test_size=0.25, random_state=seed),
        MEMORY,
        AVALANCHE_SPLIT,
        **AVALANCHE,
    ),
    "split_digits": lambda: table(
        "split digits, 50/50 split, one 10-way head",
        lambda seed: split_digits(5, random_state=seed),
        MEMORY,
        **AVALANCHE,
    ),
    "split_digits_growing_head": lambda: table(
        "split digits, 50/50 split, growing head (sklearn-cl compare)",
        lambda seed: split_digits(5, random_state=seed),
        MEMORY,
        grow=True,
        **AVALANCHE,
    ),
    "permuted_digits_avalanche": lambda: table(
        "permuted digits, Avalanche settings and 75/25 split",
        lambda seed: permuted_digits(5, test_size=0.25, random_state=seed),
        {**MEMORY, **PERMUTED_EXTRA},
        AVALANCHE_PERMUTED,
        **AVALANCHE,
    ),
    "split_mnist1d_mlp": lambda: table(
        "split MNIST-1D, MLP",
        lambda seed: split_mnist1d(5, random_state=seed),
        MEMORY,
        **AVALANCHE,
    ),
    "split_mnist1d_cnn": lambda: table(
        "split MNIST-1D, CNN1D",
        lambda seed: split_mnist1d(5, random_state=seed),
        MEMORY,
        module=CNN1D,
        module__head_layer_sizes=(64,),
        **AVALANCHE,
    ),
    "permuted_derpp_selected": lambda: permuted_derpp_selected(),
    "compare_protocol": lambda: compare_protocol(),
    "regularisers": regularisers,
    "update_cost": update_cost,
}


def main(parts):
    """Run the named parts (all by default); a partial run keeps the other
    parts' figures of the last full run."""
    torch.set_num_threads(1)
    path = RESULTS / "strategies.json"
    figures = {}
    if parts and path.exists():
        figures = json.loads(path.read_text())
        figures.pop("machine", None)
    for part in parts or PARTS:
        figures[part] = PARTS[part]()
    figures["note"] = "2-core machine shared with other jobs while this ran"
    write_results("strategies", figures)


if __name__ == "__main__":
    main(sys.argv[1:])
