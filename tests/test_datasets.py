"""Task builders, built-in benchmarks and file loaders."""

from __future__ import annotations

import gzip
import random
import struct

import numpy as np
import pytest

from sklearn_cl import datasets
from sklearn_cl.datasets import (
    BENCHMARKS,
    TaskSequence,
    fetch_elec2,
    load_benchmark,
    load_csv,
    load_elec2,
    load_mnist1d,
    load_mnist_idx,
    load_weather,
    permute_features,
    shift_signals,
    split_by_class,
    split_by_time,
    split_digits,
    standardize_tasks,
)


# ----------------------------------------------------------------------
# builders
# ----------------------------------------------------------------------
def test_split_by_class_gives_disjoint_classes(digits):
    X, y = digits
    tasks = split_by_class(X, y, n_tasks=5)
    groups = [set(np.unique(np.r_[t.y_train, t.y_test])) for t in tasks]
    assert groups == [{0, 1}, {2, 3}, {4, 5}, {6, 7}, {8, 9}]
    assert sum(len(t.y_train) + len(t.y_test) for t in tasks) == len(y)
    X_all, y_all, ids = tasks.train_arrays()
    assert len(X_all) == len(y_all) == len(ids) == sum(len(t.y_train) for t in tasks)
    np.testing.assert_array_equal(tasks.classes, np.arange(10))


def test_split_by_class_rejects_bad_groups(digits):
    X, y = digits
    with pytest.raises(ValueError, match="n_tasks between 1"):
        split_by_class(X, y, n_tasks=11)
    with pytest.raises(ValueError, match="No sample has a label"):
        split_by_class(X, y, classes_per_task=[[0], [42]])


def test_permute_features_permutes_train_and_test_alike():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 6)), np.arange(40) % 2
    tasks = permute_features(X, y, n_tasks=3, random_state=1)
    base = tasks[0]
    for task in tasks[1:]:
        order = [
            np.flatnonzero(np.all(base.X_train == column[:, None], axis=0))[0]
            for column in task.X_train.T
        ]
        assert sorted(order) == list(range(6)) and order != list(range(6))
        np.testing.assert_array_equal(task.X_test, base.X_test[:, order])
        np.testing.assert_array_equal(task.y_train, base.y_train)


def test_shift_signals_rotates_or_pads():
    X = np.tile(np.arange(1.0, 7.0), (6, 1))
    y = np.array([0, 1] * 3)
    rotated = shift_signals(X, y, shifts=[0, 2, -1], test_size=0.5)
    assert [t.name for t in rotated] == ["shift 0", "shift 2", "shift -1"]
    np.testing.assert_array_equal(rotated[1].X_train[0], [5, 6, 1, 2, 3, 4])
    np.testing.assert_array_equal(rotated[2].X_test[0], [2, 3, 4, 5, 6, 1])
    padded = shift_signals(X, y, shifts=[2, -1], circular=False, test_size=0.5)
    np.testing.assert_array_equal(padded[0].X_train[0], [0, 0, 1, 2, 3, 4])
    np.testing.assert_array_equal(padded[1].X_train[0], [2, 3, 4, 5, 6, 0])
    # one split shared by all tasks
    np.testing.assert_array_equal(rotated[0].y_train, rotated[2].y_train)


def test_shift_signals_default_shifts_and_channels():
    X = np.random.default_rng(0).normal(size=(20, 2, 40))
    tasks = shift_signals(X, np.arange(20) % 2, n_tasks=4)
    assert [t.name for t in tasks] == ["shift 0", "shift 10", "shift 20", "shift 30"]
    np.testing.assert_array_equal(
        tasks[1].X_train, np.roll(tasks[0].X_train, 10, axis=-1)
    )
    with pytest.raises(ValueError, match="signals of shape"):
        shift_signals(np.arange(5.0), np.arange(5))


def test_split_by_time_takes_the_last_part_of_each_period_without_shuffling():
    X = np.arange(20.0).reshape(-1, 1)
    y = np.arange(20) % 2
    tasks = split_by_time(X, y, n_periods=4, test_size=0.4)
    assert len(tasks) == 4
    for k, task in enumerate(tasks):
        np.testing.assert_array_equal(task.X_train.ravel(), np.arange(5 * k, 5 * k + 3))
        np.testing.assert_array_equal(task.X_test.ravel(), [5 * k + 3, 5 * k + 4])
        np.testing.assert_array_equal(task.y_test, task.X_test.ravel() % 2)


def test_split_by_time_groups_by_period_column_in_order_of_appearance():
    X = np.arange(12.0).reshape(-1, 1)
    y = np.zeros((12, 2))  # multi-output targets pass through
    periods = np.array(["1998-02"] * 4 + ["1997-12"] * 4 + ["1998-02"] * 4)
    tasks = split_by_time(X, y, periods=periods, test_size=0.25)
    assert [t.name for t in tasks] == ["1998-02", "1997-12"]
    np.testing.assert_array_equal(tasks[0].X_train.ravel(), [0, 1, 2, 3, 8, 9])
    np.testing.assert_array_equal(tasks[0].X_test.ravel(), [10, 11])
    assert tasks[1].y_train.shape == (3, 2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({}, "exactly one of n_periods and periods"),
        ({"n_periods": 2, "periods": np.zeros(10)}, "exactly one"),
        ({"n_periods": 6}, "n_periods must be between 1 and"),
        ({"n_periods": 2, "test_size": 1.0}, r"test_size must be in \(0, 1\)"),
        ({"periods": np.zeros(9)}, "one value per row"),
        ({"periods": np.r_[np.zeros(9), 1]}, "Period '1.0' has 1 row"),
    ],
)
def test_split_by_time_rejects_bad_arguments(kwargs, match):
    X, y = np.zeros((10, 1)), np.zeros(10)
    with pytest.raises(ValueError, match=match):
        split_by_time(X, y, **kwargs)


def test_standardize_tasks_uses_only_the_first_tasks_training_statistics():
    rng = np.random.default_rng(0)
    X = np.c_[rng.normal(5, 2, 100), np.ones(100)]
    X[50:, 0] += 100  # the second period drifts
    tasks = standardize_tasks(split_by_time(X, np.zeros(100), n_periods=2))
    first = tasks[0].X_train
    np.testing.assert_allclose(first[:, 0].mean(), 0, atol=1e-5)
    np.testing.assert_allclose(first[:, 0].std(), 1, atol=1e-5)
    assert tasks[1].X_train[:, 0].mean() > 10  # not rescaled with its own stats
    np.testing.assert_array_equal(tasks[1].X_test[:, 1], 0)  # constant: centred only
    assert tasks[0].X_train.dtype == np.float32


# ----------------------------------------------------------------------
# file loaders (downloads: see test_fetch.py)
# ----------------------------------------------------------------------
ELEC_HEADER = "period,nswprice,nswdemand,vicprice,vicdemand,transfer,class\n"


def _write_elec(directory, n_rows=4):
    rows = "".join(f"{i / 48},0.1,0.2,0.3,0.4,0.5,{i % 2}\n" for i in range(n_rows))
    (directory / "elec.csv").write_text(ELEC_HEADER + rows)


def test_loaders_without_a_path_read_the_data_home(tmp_path, monkeypatch):
    _write_elec(tmp_path, n_rows=4)
    monkeypatch.setenv(datasets.DATA_ENV, str(tmp_path))
    # cached already: nothing is downloaded; read as it is, with a warning
    # that it is not the published file
    with pytest.warns(UserWarning, match="elec.csv is not the published"):
        X, y = load_elec2()
    assert X.shape == (4, 6) and X.dtype == np.float32
    np.testing.assert_array_equal(y, [0, 1, 0, 1])
    with pytest.warns(UserWarning, match="elec.csv is not the published"):
        assert fetch_elec2(download_if_missing=False)[0].shape == (4, 6)


def test_loaders_accept_a_file_or_a_directory(tmp_path):
    _write_elec(tmp_path, n_rows=3)
    assert load_elec2(tmp_path)[0].shape == (3, 6)
    assert load_elec2(tmp_path / "elec.csv")[0].shape == (3, 6)


def test_as_frame_returns_the_whole_table(tmp_path):
    pd = pytest.importorskip("pandas")
    _write_elec(tmp_path)
    frame = load_elec2(tmp_path, as_frame=True)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ELEC_HEADER.strip().split(",")


@pytest.mark.parametrize(
    "loader, name", [(load_elec2, "elec.csv"), (load_weather, "weather.csv")]
)
def test_missing_file_says_where_to_put_it(tmp_path, loader, name):
    with pytest.raises(FileNotFoundError, match=f"no '{name}' in {tmp_path}") as info:
        loader(tmp_path)
    assert "fetch_" in str(info.value)


def test_csv_with_other_columns_is_rejected(tmp_path):
    (tmp_path / "weather.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="should have the columns"):
        load_weather(tmp_path)


def _write_idx(path, array, gz=True):
    header = struct.pack(">HBB", 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def _fake_mnist(directory, n=20, gz=True):
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28))
    labels = np.arange(n) % 10
    suffix = ".gz" if gz else ""
    _write_idx(directory / f"t10k-images-idx3-ubyte{suffix}", images, gz)
    _write_idx(directory / f"t10k-labels-idx1-ubyte{suffix}", labels, gz)
    return images, labels


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_idx_reads_idx_files(tmp_path, gz):
    images, labels = _fake_mnist(tmp_path / "mnist-t10k", gz=gz)
    X, y = load_mnist_idx(tmp_path)  # finds the mnist-t10k directory
    assert X.shape == (20, 784) and X.dtype == np.float32
    np.testing.assert_allclose(X.reshape(-1, 28, 28) * 255, images, atol=1e-3)
    np.testing.assert_array_equal(y, labels)
    X2, _ = load_mnist_idx(tmp_path / "mnist-t10k")
    np.testing.assert_array_equal(X, X2)


def test_load_mnist_idx_rejects_other_files(tmp_path):
    _fake_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"\x01" * 16))
    with pytest.raises(ValueError, match="not an IDX file"):
        load_mnist_idx(tmp_path)
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        load_mnist_idx(tmp_path / "nowhere")


def test_split_and_permuted_mnist_on_given_files(tmp_path):
    _fake_mnist(tmp_path, n=200)
    split = load_benchmark("split-mnist", path=tmp_path)
    assert len(split) == 5 and split.name == "split-mnist"
    assert set(np.unique(split[1].y_train)) == {2, 3}
    permuted = load_benchmark("permuted-mnist", path=tmp_path, n_tasks=3)
    assert len(permuted) == 3 and permuted[2].X_train.shape[1] == 784


def test_real_files(shared_data):
    X, y = load_elec2(shared_data)
    assert X.shape == (45312, 6) and np.bincount(y).tolist() == [26075, 19237]
    X, y = load_weather(shared_data / "weather.csv")
    assert X.shape == (18159, 8) and np.bincount(y).tolist() == [12461, 5698]
    X, y = load_mnist_idx(shared_data)
    assert X.shape == (10000, 784) and float(X.max()) == 1.0
    assert np.bincount(y).tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]


def test_stream_benchmarks_from_a_path_or_a_data_home(shared_data):
    elec = load_benchmark("elec2", path=shared_data)
    assert len(elec) == 10 and elec.name == "elec2"
    # the reference directory has the layout of the data home: no download
    weather = load_benchmark("weather", data_home=shared_data, n_periods=4)
    assert len(weather) == 4
    np.testing.assert_allclose(weather[0].X_train.mean(axis=0), 0, atol=1e-4)


# ----------------------------------------------------------------------
# load_csv: the reader of the loaders and of the command line
# ----------------------------------------------------------------------
def test_load_csv_reads_features_target_and_periods(tmp_path):
    (tmp_path / "a.csv").write_text("t,x1,id,x2,y\nm1,1,7,2.5,0\nm1,2,8,3,1\n")
    (tmp_path / "b.csv").write_text("t,x1,id,x2,y\nm2,3,9,1,1.0\n")
    data = load_csv([tmp_path / "a.csv", tmp_path / "b.csv"], target="y", task="t",
                    drop=["id"])  # fmt: skip
    np.testing.assert_array_equal(data.data, [[1, 2.5], [2, 3], [3, 1]])
    assert data.data.dtype == np.float32 and data.feature_names == ["x1", "x2"]
    assert data.target.tolist() == [0, 1, 1] and data.target.dtype == np.int64
    assert data.periods.tolist() == ["m1", "m1", "m2"]
    assert data.source.tolist() == [0, 0, 1] and not data.regression
    regression = load_csv(tmp_path / "a.csv", target="x2", drop=["t"])
    assert regression.regression and regression.target.tolist() == [2.5, 3.0]
    # the expected features, in the expected order
    data = load_csv(tmp_path / "a.csv", target="y", drop=["t"],
                    features=["x2", "id", "x1"])  # fmt: skip
    np.testing.assert_array_equal(data.data[0], [2.5, 7, 1])


@pytest.mark.parametrize(
    "content, kwargs, match",
    [
        ("a,b\n1\n", {}, "line 2 has 1 fields"),
        ("a,b\n", {}, "a header line and at least one data row"),
        ("a,a\n1,2\n", {}, r"repeats the columns \['a'\]"),
        ("a,b\n1,2\n", {"target": "c"}, "no column 'c' \\(the target\\)"),
        ("a,b\nx,2\n", {}, "column 'a' is not a finite number on line 2"),
        ("a,b\ninf,2\n", {}, "column 'a' is not a finite number"),
        ("a,b\n,2\n", {}, "column 'a' has a missing value on line 2"),
        ("a,b\n1,2\n", {"drop": ["z"]}, r"no columns \['z'\]"),
        ("a,b\n1,2\n", {"drop": ["a"]}, "no feature column left"),
        ("a,b\n1,2\n", {"features": ["a", "c"]}, r"missing \['c'\]"),
        ("a,c,b\n1,2,3\n", {"features": ["a"]}, r"not expected \['c'\]"),
        ("a,b\n1,2\n", {"task_type": "ordinal"}, "task_type must be"),
        ("a,b\nx,2\n", {}, r"on line 2 \('x'\); encode it"),
        ("a,b\n1,0\n2,\n3,\n", {}, r"'b' has a missing value on line 3 \(2 in"),
        ("a,b\n1,u\n2,\n", {}, "column 'b' has a missing value on line 3"),
        ("t,a,b\n,1,0\n", {"task": "t"}, "column 't' has a missing value"),
        ("a,b\n1e300,0\n", {}, "column 'a' holds 1e300 on line 2, beyond float32"),
        ("a,b\n1,-1e39\n", {}, "column 'b' holds -1e39 on line 2, beyond float32"),
        ("a;b\n1;2\n", {}, "seems to separate its columns with ';'"),
        (",a,b\n0,1,2\n", {}, "column 1 has no name .*index=False"),
        ("a,b\n1,0\n2,nan\n", {}, r"'b' is not a finite number on line 3 \(nan\)"),
        ("a,b\n1,0\n2,-inf\n", {}, r"'b' is not a finite number on line 3 \(-inf"),
        ("a,b\n1,0\n2,NA\n3,N/A\n", {}, r"missing value on line 3 \(NA\)"),
        ("a,b\n1,0\n2,nan\n", {"task_type": "classification"}, "line 3 \\(nan"),
        ("a\tb\n1\t2\n", {}, r"seems to separate its columns with '\\t'"),
    ],
)
def test_load_csv_names_what_is_wrong(tmp_path, content, kwargs, match):
    (tmp_path / "d.csv").write_text(content)
    with pytest.raises(ValueError, match=match):
        load_csv(tmp_path / "d.csv", **{"target": "b", **kwargs})


def test_load_csv_reads_a_byte_order_mark_and_quoted_fields(tmp_path):
    # Excel's "CSV UTF-8" starts with a BOM: it is not part of the first name
    (tmp_path / "d.csv").write_bytes('\ufeff"a","b"\r\n"1.5","x"\r\n'.encode())
    data = load_csv(tmp_path / "d.csv", target="b")
    assert data.feature_names == ["a"] and data.target.tolist() == ["x"]
    # "NA" among text labels may be a class (North America)
    (tmp_path / "t.csv").write_text("a,b\n1,EU\n2,NA\n")
    assert load_csv(tmp_path / "t.csv", target="b").target.tolist() == ["EU", "NA"]
    with pytest.raises(ValueError, match="not UTF-8 text .*save it as UTF-8"):
        (tmp_path / "l.csv").write_bytes("a,é\n1,2\n".encode("latin-1"))
        load_csv(tmp_path / "l.csv", target="a")


def test_load_csv_needs_the_same_columns_in_every_file(tmp_path):
    (tmp_path / "a.csv").write_text("a,b\n1,2\n")
    (tmp_path / "b.csv").write_text("b,c\n1,2\n")
    with pytest.raises(ValueError, match="must have the same columns"):
        load_csv([tmp_path / "a.csv", tmp_path / "b.csv"], target="b")
    # matched by name, in any order
    (tmp_path / "c.csv").write_text("b,a\n0,3\n")
    data = load_csv([tmp_path / "a.csv", tmp_path / "c.csv"], target="b")
    assert data.data.ravel().tolist() == [1, 3] and data.target.tolist() == [2, 0]
    with pytest.raises(ValueError, match="target and the task column are both 'b'"):
        load_csv(tmp_path / "a.csv", target="b", task="b")


def test_load_mnist1d_generates_offline_and_keeps_global_random_state():
    pytest.importorskip("mnist1d")
    np.random.seed(123)
    random.seed(123)
    expected = np.random.random(), random.random()
    np.random.seed(123)
    random.seed(123)
    X, y = load_mnist1d()
    assert (np.random.random(), random.random()) == expected
    assert X.shape == (5000, 40) and X.dtype == np.float32
    assert np.bincount(y[:4000]).min() > 350  # the package's balanced train split
    X[0] = 0  # a copy: the cache is not changed
    np.testing.assert_array_equal(load_mnist1d()[1], y)
    assert not np.array_equal(load_mnist1d()[0][0], X[0])
    tasks = load_benchmark("mnist1d")
    assert len(tasks) == 5 and tasks[0].X_train.shape[1] == 40


def test_load_mnist1d_without_the_package_says_how_to_install(monkeypatch):
    import sys

    datasets._mnist1d.cache_clear()
    monkeypatch.setitem(sys.modules, "mnist1d", None)
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    with pytest.raises(ImportError, match=r"pip install 'sklearn_cl\[datasets\]'"):
        load_mnist1d()


def test_load_benchmark_builds_by_name():
    assert set(BENCHMARKS) == {
        "split-digits",
        "permuted-digits",
        "split-mnist",
        "permuted-mnist",
        "mnist1d",
        "elec2",
        "weather",
    }
    tasks = load_benchmark("split-digits", n_tasks=2, random_state=3)
    assert isinstance(tasks, TaskSequence) and len(tasks) == 2
    np.testing.assert_array_equal(
        tasks[0].X_test, split_digits(2, random_state=3)[0].X_test
    )
    with pytest.raises(ValueError, match="Unknown benchmark 'mnist'"):
        load_benchmark("mnist")
