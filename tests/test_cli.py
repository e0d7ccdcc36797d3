"""The ``sklearn-cl`` command, in-process through ``main`` and as a subprocess."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sklearn_cl._strategy_registry import (
    STRATEGIES,
    base_estimator,
    make_strategies,
    parse_strategy_names,
)
from sklearn_cl.cli import main
from sklearn_cl.datasets import load_benchmark
from sklearn_cl.evaluation import compare_strategies, comparison_verdict

REPO = Path(__file__).resolve().parent.parent
# a bare environment, but the test runner's own PYTHONPATH kept (where the
# dependencies may be installed)
BARE_ENV = {
    "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")])
    ),
    "PATH": "",
}

# tiny settings: two tasks, one-epoch networks
TINY = ["--n-tasks", "2", "--epochs", "2", "--update-epochs", "1", "--hidden", "16"]


def run(argv, capsys):
    """Exit status, stdout and stderr of ``sklearn-cl argv``."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def read_csv(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_list_names_every_benchmark_and_strategy(capsys):
    code, out, _ = run(["list"], capsys)
    assert code == 0
    for name in [*STRATEGIES, "split-digits", "permuted-mnist", "elec2", "weather"]:
        assert f"  {name} " in out


def test_compare_writes_the_table_of_compare_strategies(tmp_path, capsys):
    argv = ["compare", *TINY, "--strategies", "finetune,replay,joint", "--seeds", "2"]
    code, out, err = run([*argv, "--out", str(tmp_path)], capsys)
    assert code == 0, err
    assert "Winner: " in out and "joint (upper bound)" in out
    assert "compare" in err  # the progress bar
    rows = read_csv(tmp_path / "results.csv")
    assert [r["strategy"] for r in rows] == ["finetune", "replay", "joint"]

    # the same comparison through the library gives the same numbers
    estimators, joint = make_strategies(
        ["finetune", "replay", "joint"],
        base_estimator(hidden_layer_sizes=(16,), max_epochs=2, update_epochs=1),
    )
    table = compare_strategies(
        estimators, load_benchmark("split-digits", n_tasks=2), n_seeds=2, joint=joint
    )
    for row, (_, expected) in zip(rows, table.iterrows()):
        for column in ("average_score", "backward_transfer", "forgetting"):
            for stat in ("mean", "std"):
                key = f"{column}_{stat}"
                if math.isnan(expected[key]):
                    assert row[key] == ""
                else:
                    assert float(row[key]) == pytest.approx(expected[key])
        assert float(row["state_bytes_mean"]) == pytest.approx(
            expected["state_bytes_mean"], rel=0.05
        )
    # the printed table shows the same scores
    best = max(rows[:2], key=lambda r: float(r["average_score_mean"]))
    assert f"Winner: {best['strategy']} with accuracy " in out
    assert f"{float(best['average_score_mean']):.3f}" in out

    document = json.loads((tmp_path / "results.json").read_text())
    assert document["tasks"] == ["classes 0-1-2-3-4", "classes 5-6-7-8-9"]
    assert np.array(document["accuracy_matrices"]["replay"]).shape == (2, 2)
    assert np.array(document["accuracy_matrices"]["joint"]).shape == (1, 2)
    assert document["table"][2]["backward_transfer_mean"] is None
    assert document["settings"]["seeds"] == 2
    for png in ("accuracy_matrices.png", "task_curves.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow  # starts worker processes
def test_n_jobs_gives_the_table_of_one_job(tmp_path, capsys):
    argv = ["compare", *TINY, "--strategies", "finetune,ewc,ensemble-new,joint"]
    tables = []
    for n_jobs in ("1", "2"):
        out = tmp_path / n_jobs
        code, _, err = run([*argv, "--n-jobs", n_jobs, "--out", str(out)], capsys)
        assert code == 0, err
        tables.append(
            [
                {k: v for k, v in row.items() if "time" not in k}
                for row in read_csv(out / "results.csv")
            ]
        )
    assert tables[0] == tables[1]
    assert [row["strategy"] for row in tables[0]] == [
        "finetune",
        "ewc",
        "ensemble-new",
        "joint",
    ]


def test_python_dash_m_runs_the_command(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sklearn_cl",
            "compare",
            *TINY,
            "--seeds",
            "1",
            "--strategies",
            "finetune,finetune-small-lr",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=BARE_ENV,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # --quiet: no progress bar
    assert "Winner: finetune" in result.stdout
    assert result.stdout.count("\n") == 6  # header, rule, 2 rows, blank, verdict


def test_the_command_imports_the_model_file_format_only_for_fit_and_update():
    # skops (which imports much of scikit-learn, pytest and dask) took 0.6 s
    # of every comparison's start-up; only fit and update read model files
    code = (
        "import sys, sklearn_cl.__main__; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'skops', 'dask'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=BARE_ENV,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _digits_csv(path: Path, *, regression=False) -> None:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X, y = X[:300, ::4], y[:300]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([f"p{i}" for i in range(X.shape[1])] + ["id", "digit", "week"])
        for i, (row, label) in enumerate(zip(X, y)):
            target = row.sum() / 10 + 0.01 * i if regression else f"d{label}"
            writer.writerow([*row, f"row{i}", target, f"w{i // 100 + 1}"])


def test_compare_on_a_csv_with_a_task_column(tmp_path, capsys):
    _digits_csv(tmp_path / "data.csv")
    argv = ["compare", "--data", str(tmp_path / "data.csv"), "--target", "digit",
            "--task", "week", "--drop", "id", "--strategies", "finetune,replay",
            "--seeds", "1", "--epochs", "2", "--update-epochs", "1", "--quiet",
            "--threads", "2", "--out", str(tmp_path / "out")]  # fmt: skip
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert torch.get_num_threads() == 1  # main restores the threads it changes
    assert "accuracy" in out
    document = json.loads((tmp_path / "out" / "results.json").read_text())
    assert document["tasks"] == ["w1", "w2", "w3"]


def test_compare_on_old_and_new_csv_files_detects_regression(tmp_path, capsys):
    _digits_csv(tmp_path / "all.csv", regression=True)
    lines = (tmp_path / "all.csv").read_text().splitlines()
    (tmp_path / "old.csv").write_text("\n".join(lines[:151]) + "\n")
    (tmp_path / "new.csv").write_text("\n".join([lines[0], *lines[151:]]) + "\n")
    argv = ["compare", "--old", str(tmp_path / "old.csv"), "--new",
            str(tmp_path / "new.csv"), "--target", "digit", "--drop", "id,week",
            "--strategies", "finetune,ensemble-new", "--seeds", "1",
            "--epochs", "2", "--update-epochs", "1", "--quiet",
            "--out", str(tmp_path / "o")]  # fmt: skip
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert "r2 (mean ± sd)" in out and "Winner: " in out
    rows = read_csv(tmp_path / "o" / "results.csv")
    assert rows[0]["negative_flip_rate_mean"] == ""  # no flips for regressors
    document = json.loads((tmp_path / "o" / "results.json").read_text())
    assert document["tasks"] == ["old", "new"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--strategies", "finetune,magic"], "Unknown strategies ['magic']"),
        (["--strategies", "joint"], "joint is the upper bound"),
        (["mnist"], "unknown benchmark 'mnist'"),
        (["--seeds", "0"], "--seeds must be a positive integer"),
        (["--hidden", "10,x"], "--hidden takes positive integers"),
        (["--scoring", "nope"], "--scoring"),
        (["--data", "missing.csv", "--target", "y", "--task", "t"], "cannot read"),
        (["split-digits", "--data", "x.csv"], "not both"),
        (["--old", "x.csv"], "give both --old and --new"),
        (["elec2", "--data-dir", "/nonexistent"], "no 'elec.csv' in /nonexistent"),
        (["split-digits", "--data-dir", "/tmp"], "reads no file"),
        (["--seeds", "two"], "invalid int value: 'two'"),
        (["--scoring", "nope"], "--scoring: unknown scorer 'nope'; use a name of"),
        (["--n-jobs", "0"], "--n-jobs must be a positive number of processes"),
        (["--out", "/dev/null/o"], "--out /dev/null/o: /dev/null is a file"),
    ],
)
def test_bad_arguments_print_one_line_and_exit_2(argv, message, capsys):
    code, _, err = run(["compare", *argv], capsys)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and err.startswith("sklearn-cl")


def test_a_benchmark_not_in_the_data_home_is_downloaded(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SKLEARN_CL_DATA", str(tmp_path / "home"))
    code, _, err = run(["compare", "weather", *TINY], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "Could not download weather.csv" in err
    assert "tests never touch the network" in err  # conftest's guard


@pytest.mark.parametrize(
    "content, options, message",
    [
        ("a,b\n1,2\n1\n", ["--target", "b", "--task", "a"], "line 3 has 1 fields"),
        ("a,b\n1,2\n3,4\n", ["--target", "c", "--task", "a"], "no column 'c'"),
        ("a,b,t\nx,1,1\ny,0,2\n", ["--target", "b", "--task", "t"], "'a' is not a"),
        ("a,b,t\n1,1,1\nnan,0,2\n", ["--target", "b", "--task", "t"], "line 3"),
        (
            "a,b,t\n1,1,1\n1,0,2\n",
            [
                "--target",
                "b",
                "--task",
                "t",
                "--task-type",
                "regression",
                "--test-size",
                "2",
            ],
            "--test-size must be in (0, 1)",
        ),
        ("a,b,t\n,1,1\n2,0,2\n", ["--target", "b", "--task", "t"], "missing value"),
        ("a,b,t\n1,1,1\n2,0,1\n", ["--target", "b", "--task", "t"], "single value"),
        ("a,b,t\n1,1,1\n2,0,1\n", ["--target", "b"], "--task COL is required"),
        ("a,a,t\n1,1,1\n", ["--target", "a", "--task", "t"], "repeats the columns"),
        ("a,b,t\n1,1,1\n", ["--target", "b", "--task", "t", "--drop", "z"], "'z'"),
    ],
)
def test_bad_csv_files_print_one_line_and_exit_2(
    content, options, message, tmp_path, capsys
):
    (tmp_path / "d.csv").write_text(content)
    code, _, err = run(["compare", "--data", str(tmp_path / "d.csv"), *options], capsys)
    assert code == 2
    assert message in err and err.count("\n") == 1


def test_verdict_names_the_winner_and_the_margin():
    def record(name, mean, std, scoring="accuracy"):
        return {"strategy": name, "scoring": scoring, "average_score_mean": mean,
                "average_score_std": std}  # fmt: skip

    records = [record("a", 0.70, 0.01), record("b", 0.80, 0.02),
               record("joint", 0.90, 0.01)]  # fmt: skip
    text = comparison_verdict(records)
    assert text.startswith("Winner: b with accuracy 0.800 ± 0.020, 0.100 above a")
    assert "upper bound): 0.900 ± 0.010, 0.100 above the winner" in text
    close = comparison_verdict([record("a", 0.80, 0.05), record("b", 0.79, 0.05)])
    assert "within the spread over seeds" in close
    single = comparison_verdict(
        [record("a", 0.80, np.nan, "r2"), record("b", 0.70, np.nan, "r2")]
    )
    assert single.startswith("Winner: a with r2 0.800, 0.100 above b (0.700)")
    assert "one seed" in single


def test_registry_builds_every_strategy():
    names = parse_strategy_names(",".join(STRATEGIES))
    estimators, joint = make_strategies(names, base_estimator())
    assert list(estimators) == [n for n in STRATEGIES if n != "joint"]
    assert joint is not None and not joint.callbacks
    assert estimators["finetune-small-lr"].update_lr == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="Unknown strategies"):
        parse_strategy_names("finetune,nope")


def test_a_new_benchmark_is_listed_and_run_from_its_builder(
    tmp_path, monkeypatch, capsys
):
    from sklearn_cl import datasets

    calls = []

    def toy_periods(n_periods=4, *, path=None):
        """A toy stream in periods, for this test.

        More text that the list does not show.
        """
        calls.append((n_periods, path))
        rng = np.random.default_rng(0)
        X = rng.normal(size=(80, 3))
        return datasets.split_by_time(X, (X[:, 0] > 0).astype(int), n_periods=n_periods)

    monkeypatch.setitem(datasets.BENCHMARKS, "toy", toy_periods)
    code, out, _ = run(["list"], capsys)
    assert code == 0
    assert "  toy                A toy stream in periods, for this test.\n" in out
    argv = ["compare", "toy", *TINY, "--strategies", "finetune", "--seeds", "1"]
    code, out, err = run([*argv, "--data-dir", str(tmp_path), "--quiet"], capsys)
    assert code == 0, err
    assert calls == [(2, str(tmp_path))]  # --n-tasks named by the builder
