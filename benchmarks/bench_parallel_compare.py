"""Speed-up of a parallel strategy comparison against the number of workers.

The default comparison of ``sklearn-cl compare``: split digits (5 tasks),
every strategy of the registry and the joint bound, 3 seeds (51 independent
(strategy, seed) runs: 16 strategies and the bound). Timed two
ways, for 1 and 2 workers, alternating, several times:

- ``compare_strategies(..., n_jobs=N)`` in this process (wall seconds of the
  call; CPU seconds of this process and its workers);
- the command ``python -m sklearn_cl compare --quiet --n-jobs N``, start-up
  included (wall seconds);
- the command's start-up alone, ``startup_s``: the same command on one
  strategy, one seed, two tasks and one epoch (its runs take milliseconds),
  from the interpreter's start to its end: imports (torch, scikit-learn,
  skorch, and ``torch._dynamo``, which ``torch.optim`` imports at the first
  optimizer), data, the warm-up, the interpreter's shutdown. It is paid
  once either way, so it bounds the command's speed-up at
  ``(startup_s + call_s[1]) / (startup_s + call_s[2])``.

The tables of the runs must be the same for every N (the times aside).
Target (issue 15): the default comparison at least 1.7x faster with 2
workers than serially on a 2-core machine.

Run: ``python benchmarks/bench_parallel_compare.py``.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

import torch
from _common import print_table, write_results

from sklearn_cl._strategy_registry import STRATEGIES, base_estimator, make_strategies
from sklearn_cl.datasets import load_benchmark
from sklearn_cl.evaluation import compare_strategies

WORKERS = [1, 2]
ROUNDS = 3
TARGET = 1.7


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def in_process(n_jobs: int):
    estimators, joint = make_strategies(list(STRATEGIES), base_estimator())
    tasks = load_benchmark("split-digits")
    cpu, tic = cpu_seconds(), time.perf_counter()
    table = compare_strategies(estimators, tasks, n_seeds=3, joint=joint, n_jobs=n_jobs)
    wall = time.perf_counter() - tic
    return wall, cpu_seconds() - cpu, table


def autogroup() -> str:
    """Linux's autogroup setting: when on, the scheduler shares the CPU
    between sessions (terminals, jobs), not processes, so a second worker
    gets no more CPU while another session keeps the cores busy."""
    try:
        with open("/proc/sys/kernel/sched_autogroup_enabled") as file:
            return "on" if file.read().strip() == "1" else "off"
    except OSError:
        return "unknown"


def command(n_jobs: int) -> float:
    argv = [sys.executable, "-m", "sklearn_cl", "compare", "--quiet"]
    tic = time.perf_counter()
    subprocess.run([*argv, "--n-jobs", str(n_jobs)], check=True, capture_output=True)
    return time.perf_counter() - tic


def startup() -> float:
    """Wall seconds of the command with (almost) nothing to run."""
    argv = [sys.executable, "-m", "sklearn_cl", "compare", "--quiet"]
    tiny = ["--strategies", "finetune", "--seeds", "1", "--n-tasks", "2"]
    tiny += ["--epochs", "1", "--update-epochs", "1"]
    tic = time.perf_counter()
    subprocess.run([*argv, *tiny], check=True, capture_output=True)
    return time.perf_counter() - tic


def main() -> None:
    torch.set_num_threads(1)  # as the command runs serially (--threads 1)
    rows, tables = [], {}
    for round_ in range(ROUNDS):
        startup_s = startup()
        for n_jobs in WORKERS:
            wall, cpu, table = in_process(n_jobs)
            tables[n_jobs] = table[[c for c in table.columns if "time" not in c]]
            rows.append(
                {
                    "round": round_,
                    "workers": n_jobs,
                    "call_s": wall,
                    "call_cpu_s": cpu,
                    "call_cores_used": cpu / wall,
                    "command_s": command(n_jobs),
                    "startup_s": startup_s,
                    "load_1min": os.getloadavg()[0],
                }
            )
            print_table(rows[-1:])
    same = all(tables[n].equals(tables[1]) for n in WORKERS)
    speedups = []
    for round_ in range(ROUNDS):
        serial = next(r for r in rows if r["round"] == round_ and r["workers"] == 1)
        for r in rows:
            if r["round"] == round_ and r["workers"] > 1:
                speedups.append(
                    {
                        "round": round_,
                        "workers": r["workers"],
                        "call_speedup": serial["call_s"] / r["call_s"],
                        "command_speedup": serial["command_s"] / r["command_s"],
                        "command_bound": (r["startup_s"] + serial["call_s"])
                        / (r["startup_s"] + r["call_s"]),
                    }
                )
    print()
    print_table(rows)
    print()
    print_table(speedups)
    print(f"\nsame table for every number of workers: {same}")
    path = write_results(
        "parallel_compare",
        {
            "comparison": (
                f"split-digits, {len(tables[1]) - 1} strategies + joint, 3 seeds: "
                f"{3 * len(tables[1])} runs"
            ),
            "note": (
                "measured on a shared 2-core machine while other engineers ran "
                "tests (see load_1min); serial and parallel alternate, round by "
                "round. call_cores_used is the call's CPU seconds (its workers "
                "included) per wall second: the CPU it got"
            ),
            "sched_autogroup": autogroup(),
            "target": f"call and command >= {TARGET}x faster with 2 workers",
            "same_table": same,
            "rows": rows,
            "speedups": speedups,
        },
    )
    print(f"written to {path}")


if __name__ == "__main__":
    main()
