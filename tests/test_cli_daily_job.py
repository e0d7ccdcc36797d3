"""``sklearn-cl fit`` and ``sklearn-cl update``: the daily job from CSV files.

End to end through ``main`` (and once as a process): a tiny synthetic CSV
that always runs, then slices of the Elec2 and weather streams when the
reference copies are there.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sklearn_cl.cli import main
from sklearn_cl.persistence import load

pytest.importorskip("pandas")  # the model records its feature names

REPO = Path(__file__).resolve().parent.parent
TINY = ["--epochs", "20", "--update-epochs", "2", "--hidden", "8", "--lr", "0.01"]


def run(argv, capsys):
    """Exit status, stdout and stderr of ``sklearn-cl argv``."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def write_csv(path, X, y, names=("x1", "x2", "x3"), target="label"):
    lines = [",".join([*names, target])]
    lines += [",".join([*(f"{v:.4f}" for v in row), str(t)]) for row, t in zip(X, y)]
    path.write_text("\n".join(lines) + "\n")
    return path


def blobs(seed, n=120, shift=0.0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    X = rng.normal(size=(n, 3)) + 2.0 * y[:, None] + shift
    return X, y


@pytest.fixture
def fitted(tmp_path, capsys):
    """A model fitted on a synthetic CSV: its path."""
    data = write_csv(tmp_path / "day0.csv", *blobs(0))
    model = tmp_path / "model.skops"
    code, out, err = run(
        ["fit", data, "--target", "label", "--out", model, *TINY], capsys
    )
    assert code == 0, err
    assert out.startswith("fitted: finetune on 96 rows, accuracy ")
    assert "on the last 24 rows held out" in out and out.count("\n") == 1
    return model


def test_fit_saves_a_pipeline_that_knows_its_features(fitted, tmp_path):
    model = load(fitted)
    assert list(model.feature_names_in_) == ["x1", "x2", "x3"]
    assert model.steps[0][0] == "scale" and model[-1].n_updates_ == 0
    X, y = blobs(1)
    import pandas as pd

    frame = pd.DataFrame(X, columns=["x1", "x2", "x3"])
    assert model.score(frame, y) > 0.8  # the blobs are easy
    assert not fitted.with_name("model.skops.prev").exists()


def test_an_accepted_update_replaces_the_model_and_keeps_the_previous(
    fitted, tmp_path, capsys
):
    old_bytes = fitted.read_bytes()
    new = write_csv(tmp_path / "day1.csv", *blobs(1, n=50))
    code, out, err = run(
        ["update", fitted, new, "--target", "label", "--tolerance", "1"], capsys
    )
    assert code == 0, err
    assert out.startswith("accepted: accuracy ") and out.count("\n") == 1
    assert "on 10 validation rows; trained on 40 new rows in " in out
    assert f"previous model kept as {fitted}.prev" in out
    assert Path(f"{fitted}.prev").read_bytes() == old_bytes
    assert load(fitted)[-1].n_updates_ == 1
    assert load(f"{fitted}.prev")[-1].n_updates_ == 0


def test_a_rejected_update_leaves_the_model_file_as_it_was(fitted, tmp_path, capsys):
    old_bytes = fitted.read_bytes()
    new = write_csv(tmp_path / "day1.csv", *blobs(1, n=50))
    code, out, err = run(
        ["update", fitted, new, "--target", "label", "--min-score", "1.5"], capsys
    )
    assert code == 1, err
    assert out.startswith("rejected (") and f"{fitted} unchanged" in out
    assert fitted.read_bytes() == old_bytes
    assert not Path(f"{fitted}.prev").exists()


def test_a_validation_file_checks_an_update_on_all_the_new_rows(
    fitted, tmp_path, capsys
):
    new = write_csv(tmp_path / "day1.csv", *blobs(1, n=50))
    check = write_csv(tmp_path / "check.csv", *blobs(2, n=30))
    code, out, _ = run(
        ["update", fitted, new, "--target", "label", "--validation", check,
         "--tolerance", "1"],
        capsys,
    )  # fmt: skip
    assert code == 0
    assert "on 30 validation rows; trained on 50 new rows" in out


def test_the_new_data_is_checked_against_the_models_features(fitted, tmp_path, capsys):
    X, y = blobs(1, n=20)
    wrong = [
        (write_csv(tmp_path / "a.csv", X, y, names=("x1", "x2", "z")), "missing"),
        (write_csv(tmp_path / "b.csv", X, y, names=("x3", "x1", "x2")), None),
        (write_csv(tmp_path / "c.csv", X[:, :2], y, names=("x1", "x2")), "x3"),
    ]
    for path, message in wrong:
        code, out, err = run(["update", fitted, path, "--target", "label"], capsys)
        if message is None:  # the same columns in another order are fine
            assert code in (0, 1), err
            continue
        assert code == 2 and out == "" and err.count("\n") == 1
        assert message in err
    # another column is refused unless dropped
    extra = tmp_path / "d.csv"
    lines = (tmp_path / "day0.csv").read_text().splitlines()
    extra.write_text("\n".join([lines[0] + ",id"] + [f"{r},7" for r in lines[1:]]))
    code, _, err = run(["update", fitted, extra, "--target", "label"], capsys)
    assert code == 2 and "not expected ['id']" in err
    before = fitted.read_bytes()
    code, _, err = run(
        ["update", fitted, extra, "--target", "label", "--drop", "id",
         "--tolerance", "1"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert Path(f"{fitted}.prev").read_bytes() == before


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--target", "nope"], "no column 'nope' (the target)"),
        (["--target", "label", "--validation-fraction", "0"], "must be in (0, 1)"),
        (["--target", "label", "--validation-fraction", "0.999"], "cannot be split"),
        (["--target", "label", "--tolerance", "-1"], "tolerance must be"),
        (["--target", "label", "--validation", "missing.csv"], "cannot read"),
        (["--validation-fraction", "0.1"], "--target COL is required"),
        (["--target", "label", "--tolerance", "nan"], "--tolerance must be a number"),
        (["--target", "label", "--min-score", "nan"], "--min-score must be a number"),
        (["--target", "label", "--scoring", "acc"], "unknown scorer 'acc'; use"),
        (["--target", "label", "--validation", "day1.csv"], "is the new data file"),
    ],
)
def test_bad_update_input_exits_2(fitted, tmp_path, argv, message, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    new = write_csv(tmp_path / "day1.csv", *blobs(1, n=50))
    code, out, err = run(["update", fitted, new, *argv], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert message in err


def test_a_model_file_that_is_not_a_model_exits_2(tmp_path, capsys):
    new = write_csv(tmp_path / "day1.csv", *blobs(1, n=50))
    (tmp_path / "model.skops").write_bytes(b"not a zip file")
    code, _, err = run(["update", tmp_path / "model.skops", new, "--target",
                        "label"], capsys)  # fmt: skip
    assert code == 2 and "not a readable model file" in err
    code, _, err = run(["update", tmp_path / "none.skops", new, "--target",
                        "label"], capsys)  # fmt: skip
    assert code == 2 and "cannot read" in err
    code, _, err = run(["update", tmp_path, new, "--target", "label"], capsys)
    assert code == 2 and f"{tmp_path} is not a model file" in err


def test_fit_a_regressor_with_a_strategy(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    data = write_csv(tmp_path / "r.csv", X, X @ [1.0, 2.0, 0.5])
    model = tmp_path / "r.skops"
    code, out, err = run(
        ["fit", data, "--target", "label", "--out", model, "--strategy", "ewc",
         "--validation-fraction", "0", *TINY],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "fitted: ewc on 80 rows, no rows held out" in out
    regressor = load(model)[-1]
    assert type(regressor).__name__ == "ContinualRegressor"
    assert [name for name, _ in regressor.callbacks] == ["ewc"]
    code, out, _ = run(["update", model, data, "--target", "label", "--tolerance",
                        "100"], capsys)  # fmt: skip
    assert code == 0 and out.startswith("accepted: r2 ")
    # fitting again keeps the first model beside the new one
    code, out, _ = run(["fit", data, "--target", "label", "--out", model, *TINY],
                       capsys)  # fmt: skip
    assert code == 0 and f"previous model kept as {model}.prev" in out
    code, _, err = run(["fit", data, "--target", "label", "--out", data], capsys)
    assert code == 2 and f"the model file {data} is the data file" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--strategy", "joint"], "unknown strategy 'joint'"),
        (["--strategy", "magic"], "unknown strategy 'magic'"),
        (["--validation-fraction", "1"], "must be in [0, 1)"),
        (["--hidden", "0"], "--hidden takes positive integers"),
        (["--epochs", "0"], "--epochs must be a positive integer"),
        (["--model", "regressor", "--target", "name"], "'name' is not a finite"),
        (["--scoring", "acc"], "--scoring: unknown scorer 'acc'; use a name of"),
    ],
)
def test_bad_fit_input_exits_2_and_writes_nothing(tmp_path, argv, message, capsys):
    data = tmp_path / "d.csv"
    data.write_text("x,name,label\n1,a,0\n2,b,1\n3,c,0\n4,d,1\n5,e,0\n")
    if "--target" not in argv:
        argv = [*argv, "--target", "label", "--drop", "name"]
    code, out, err = run(
        ["fit", data, "--out", tmp_path / "m.skops", *TINY, *argv], capsys
    )
    assert code == 2 and out == "" and err.count("\n") == 1
    assert message in err
    assert not (tmp_path / "m.skops").exists()


def test_the_exit_status_of_the_process_says_rejected(fitted, tmp_path):
    new = write_csv(tmp_path / "day1.csv", *blobs(1, n=50))
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_cl", "update", str(fitted), str(new),
         "--target", "label", "--min-score", "1.5"],
        capture_output=True, text=True, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("rejected (") and result.stderr == ""


# ----------------------------------------------------------------------
# the real streams: a first model, then one update a day
# ----------------------------------------------------------------------
def _slices(source: Path, tmp_path, first: int, day: int, n_days: int):
    lines = source.read_text().splitlines()
    header, rows = lines[0], lines[1:]
    paths = []
    for i, (low, high) in enumerate(
        [(0, first)] + [(first + d * day, first + (d + 1) * day) for d in range(n_days)]
    ):
        path = tmp_path / f"{source.stem}-{i}.csv"
        path.write_text("\n".join([header, *rows[low:high]]) + "\n")
        paths.append(path)
    return paths


@pytest.mark.parametrize(
    "name, target, first, day",
    [("elec", "class", 14 * 48, 48), ("weather", "target", 365, 30)],
)
def test_daily_updates_on_a_real_stream(
    shared_data, tmp_path, capsys, name, target, first, day
):
    first_file, *days = _slices(shared_data / f"{name}.csv", tmp_path, first, day, 3)
    model = tmp_path / "model.skops"
    code, out, err = run(
        ["fit", first_file, "--target", target, "--out", model, "--strategy",
         "replay", *TINY],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert f"fitted: replay on {round(0.8 * first)} rows, accuracy " in out
    n_updates = 0
    for new in days:
        before = model.read_bytes()
        code, out, err = run(["update", model, new, "--target", target], capsys)
        assert code in (0, 1), err
        assert out.startswith("accepted: " if code == 0 else "rejected (")
        assert f"on {round(0.2 * day)} validation rows" in out
        n_updates += code == 0
        if code == 0:
            assert Path(f"{model}.prev").read_bytes() == before
        else:
            assert model.read_bytes() == before
    # a forced acceptance, then the model serves predictions
    code, _, _ = run(
        ["update", model, days[0], "--target", target, "--tolerance", "1"], capsys
    )
    assert code == 0
    pipeline = load(model)
    assert pipeline[-1].n_updates_ == n_updates + 1
    assert pipeline[-1].classes_.tolist() == [0, 1]


def test_a_model_saved_from_python_without_feature_names(tmp_path, capsys):
    import warnings

    from sklearn_cl import ContinualClassifier
    from sklearn_cl.persistence import save

    X, y = blobs(0)
    model = tmp_path / "python.skops"
    save(ContinualClassifier(max_epochs=5, random_state=0).fit(X, y), model)
    new = write_csv(tmp_path / "day1.csv", *blobs(1, n=50))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "fitted without feature names"
        code, out, err = run(
            ["update", model, new, "--target", "label", "--tolerance", "1"], capsys
        )
    assert code == 0, err
    assert load(model).n_updates_ == 1
    narrow = write_csv(tmp_path / "day2.csv", X[:, :2], y, names=("x1", "x2"))
    code, _, err = run(["update", model, narrow, "--target", "label"], capsys)
    assert code == 2 and "has 2 feature columns; the model was trained on 3" in err


@pytest.mark.parametrize(
    "name, labels, message",
    [
        ("regression", lambda y: y + 0.5, "holds non-integer numbers such as 0.5, but"),
        ("text", lambda y: np.array(["no", "yes"])[y], "holds text such as 'no',"),
    ],
)
def test_an_update_with_labels_the_classifier_cannot_have_exits_2(
    fitted, tmp_path, name, labels, message, capsys
):
    X, y = blobs(1, n=50)
    new = write_csv(tmp_path / f"{name}.csv", X, labels(y))
    before = fitted.read_bytes()
    code, out, err = run(["update", fitted, new, "--target", "label"], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"{new} column 'label' {message}" in err
    assert fitted.read_bytes() == before


def test_concurrent_updates_of_one_model_file_run_one_after_the_other(
    fitted, tmp_path, monkeypatch, capsys
):
    import threading
    import time

    from sklearn_cl import _daily_job

    loaded = []

    def slow_load(path):  # both updates would load the model before either saves
        loaded.append(path)
        time.sleep(0.5)
        return load(path)

    monkeypatch.setattr(_daily_job.persistence, "load", slow_load)
    new = write_csv(tmp_path / "day1.csv", *blobs(1, n=50))
    outcomes = []

    def update():
        outcomes.append(
            _daily_job.update_csv(fitted, new, target="label", tolerance=1.0)
        )

    threads = [threading.Thread(target=update) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [outcome.accepted for outcome in outcomes] == [True, True]
    assert load(fitted)[-1].n_updates_ == 2  # neither update was lost
    assert load(Path(f"{fitted}.prev"))[-1].n_updates_ == 1


def test_a_full_disk_at_save_exits_2_and_keeps_the_model(
    fitted, tmp_path, monkeypatch, capsys
):
    import errno
    import os

    from sklearn_cl import _atomic

    before = fitted.read_bytes()
    new = write_csv(tmp_path / "day1.csv", *blobs(1, n=50))

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(_atomic.os, "fsync", full)
    code, out, err = run(
        ["update", fitted, new, "--target", "label", "--tolerance", "1"], capsys
    )
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"cannot write {fitted}.prev: No space left on device" in err
    assert fitted.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["day0.csv", "day1.csv",
                                                          "model.skops"]  # fmt: skip


def test_fit_saves_over_a_model_only_once_a_running_update_saved(
    fitted, tmp_path, monkeypatch, capsys
):
    import threading
    import time

    from sklearn_cl import _daily_job

    def slow_load(path):
        time.sleep(1.0)  # fit saves meanwhile, unless it waits for the lock
        return load(path)

    monkeypatch.setattr(_daily_job.persistence, "load", slow_load)
    new = write_csv(tmp_path / "day1.csv", *blobs(1, n=50))
    update = threading.Thread(
        target=_daily_job.update_csv,
        args=(fitted, new),
        kwargs=dict(target="label", tolerance=1.0),
    )
    update.start()
    time.sleep(0.2)
    code, _, err = run(
        ["fit", new, "--target", "label", "--out", fitted, "--epochs", "1"], capsys
    )
    update.join()
    assert code == 0, err
    assert load(fitted)[-1].n_updates_ == 0  # the new fit, not the update over it
    assert load(Path(f"{fitted}.prev"))[-1].n_updates_ == 1


def test_a_file_system_without_locks_still_updates_with_a_warning(
    fitted, tmp_path, monkeypatch
):
    # NFS without lockd raises ENOLCK: the command failed where it used to run
    import errno
    import os

    from sklearn_cl import _daily_job

    def no_locks(file, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(_daily_job.fcntl, "flock", no_locks)
    new = write_csv(tmp_path / "day1.csv", *blobs(1, n=50))
    with pytest.warns(UserWarning, match="could not lock .*not run one after"):
        outcome = _daily_job.update_csv(fitted, new, target="label", tolerance=1.0)
    assert outcome.accepted and load(fitted)[-1].n_updates_ == 1
