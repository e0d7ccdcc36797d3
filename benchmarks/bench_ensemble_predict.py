"""Prediction cost of an UpdateEnsemble against the number of members.

Members that share one MLP shape predict in one batched forward pass (their
weights stacked, one matrix product per layer for all of them), so a small
call pays the per-call costs (checking X, the tensor conversions, Python
dispatch) once instead of once per member; a large call is bound by the
arithmetic, which grows with the members whatever is done. Members are
ContinualClassifier MLPs (20 inputs, 100 hidden units, 2 classes). Times
of ``predict`` (soft voting), of ``predict`` with ``voting="hard"`` and of
``predict_proba``, for 1, 2, 5 and 10 members,
on a small call (100 rows) and a large one (10,000 rows), against one bare
ContinualClassifier. Times are CPU times of this process (one torch
thread), so that waiting for a core on a shared machine does not count;
every contender is timed once per round, round after round, and keeps its
best time, so what load remains hits all of them alike.

Target (issue 15): ``predict`` with 10 members within 2.5x one member (the
one-member ensemble; the ratio to the bare model is reported too). Before
the batched pass (issue 4) it was 7-11x, against a target of 12x.

Run: ``python benchmarks/bench_ensemble_predict.py``.
"""

from __future__ import annotations

import time

import torch
from _common import print_table, write_results
from sklearn.datasets import make_classification

from sklearn_cl import ContinualClassifier, UpdateEnsemble

MEMBERS = [1, 2, 5, 10]
ROWS = {100: 300, 10_000: 60}  # rows per call: rounds
TARGET = 2.5


def best_times(contenders: dict, X, rounds: int) -> dict[str, float]:
    """Best CPU time of each ``contenders[name](X)`` over ``rounds`` rounds, in ms."""
    best = dict.fromkeys(contenders, float("inf"))
    for function in contenders.values():
        function(X)  # warm up
    for _ in range(rounds):
        for name, function in contenders.items():
            tic = time.process_time()
            function(X)
            best[name] = min(best[name], 1000 * (time.process_time() - tic))
    return best


def main() -> None:
    torch.set_num_threads(1)  # one core per process, as on a shared machine
    X, y = make_classification(n_samples=11_000, n_features=20, random_state=0)
    X_fit, y_fit = X[:1000], y[:1000]
    mlp = ContinualClassifier(hidden_layer_sizes=(100,), max_epochs=2, random_state=0)
    single = mlp.fit(X_fit, y_fit)

    def ensemble_of(n: int, **params) -> UpdateEnsemble:
        ensemble = UpdateEnsemble(mlp, random_state=0, **params).fit(X_fit, y_fit)
        for _ in range(n - 1):
            ensemble.partial_fit(X_fit, y_fit)
        return ensemble

    contenders = {"bare model: predict": single.predict}
    contenders["bare model: predict_proba"] = single.predict_proba
    for n in MEMBERS:
        soft, hard = ensemble_of(n), ensemble_of(n, voting="hard")
        contenders[f"{n} members: predict"] = soft.predict
        contenders[f"{n} members: predict, hard voting"] = hard.predict
        contenders[f"{n} members: predict_proba"] = soft.predict_proba

    rows = []
    for n_rows, rounds in ROWS.items():
        times = best_times(contenders, X[1000 : 1000 + n_rows], rounds)
        for name, ms in times.items():
            method = name.split(": ")[1]
            one = times[f"1 members: {method}"] if "members" in name else ms
            bare = times["bare model: " + method.split(",")[0]]
            rows.append(
                {
                    "rows": n_rows,
                    "contender": name,
                    "ms": ms,
                    "ratio_to_1_member": ms / one,
                    "ratio_to_bare_model": ms / bare,
                    "target": TARGET if name == "10 members: predict" else "",
                }
            )
    print_table(rows)
    checked = [r for r in rows if r["target"]]
    met = {r["rows"]: r["ratio_to_1_member"] <= r["target"] for r in checked}
    print(f"\npredict with 10 members within {TARGET:g}x one member: {met}")
    path = write_results(
        "ensemble_predict",
        {
            "torch_num_threads": torch.get_num_threads(),
            "note": (
                "Best CPU time (time.process_time, one torch thread) per contender "
                "over interleaved rounds. Measured on a "
                "shared 2-core machine with other processes running; ratios are "
                "measured in the same run and are what the target compares. "
                "Members of one MLP shape predict in one batched forward pass. "
                "On 10,000 rows the forward pass is arithmetic-bound: 10 "
                "members do 10 times the multiply-adds of one, so the 2.5x "
                "target can hold only where per-call costs dominate (100 rows)."
            ),
            "target": f"predict with 10 members <= {TARGET:g}x one member",
            "target_met_by_rows": met,
            "rows": rows,
        },
    )
    print(f"written to {path}")


if __name__ == "__main__":
    main()
