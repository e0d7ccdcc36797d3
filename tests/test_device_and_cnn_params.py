"""A ``device`` the machine lacks and bad ``CNN1D`` sizes: a clear
``ValueError`` at ``fit`` that leaves a fitted model as it was (torch failed
with an ``AssertionError``, a ``RuntimeError`` or a ``KeyError``, or built a
network that could not learn)."""

import numpy as np
import pytest
import torch

from sklearn_cl import ContinualClassifier, ContinualRegressor
from sklearn_cl.modules import CNN1D
from sklearn_cl.persistence import load, save
from tests.helpers import assert_same_state, model_state

_NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs no CUDA")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 8)).astype(np.float32)
    return X, X @ rng.normal(size=8)


@pytest.mark.parametrize(
    "device",
    [
        pytest.param("cuda", marks=_NO_CUDA),
        pytest.param("cuda:0", marks=_NO_CUDA),
        pytest.param(torch.device("cuda"), marks=_NO_CUDA),
        "meta",
    ],
)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_an_unavailable_device_is_a_clear_error(data, device, method):
    X, y = data
    reg = ContinualRegressor(hidden_layer_sizes=(4,), max_epochs=1, device=device)
    with pytest.raises(ValueError, match=r"device=.* is not available on this machine"):
        getattr(reg, method)(X, y)
    assert not hasattr(reg, "net_")


@pytest.mark.parametrize("device", ["gpu", "", "cuda:x"])
def test_a_device_torch_does_not_know_is_a_clear_error(data, device):
    X, y = data
    with pytest.raises(ValueError, match=r"is not a torch device.*Use e.g. \"cpu\""):
        ContinualRegressor(max_epochs=1, device=device).fit(X, y)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs no CUDA")
def test_refitting_on_a_missing_device_leaves_the_model_as_it_was(data):
    X, y = data
    clf = ContinualClassifier(hidden_layer_sizes=(4,), max_epochs=1, random_state=0)
    clf.fit(X, y > 0)
    before = model_state(clf)
    with pytest.raises(ValueError, match="torch finds no CUDA GPU"):
        clf.set_params(device="cuda").fit(X, y > 0)
    assert_same_state(before, model_state(clf))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kernel_size": 0}, "kernel_size must be a positive integer; got 0"),
        ({"kernel_size": 2.5}, "kernel_size must be a positive integer"),
        ({"pool_size": -2}, "pool_size must be a positive integer"),
        ({"in_channels": 0}, "in_channels must be a positive integer"),
        ({"channels": 8}, r"channels must be a sequence .* got 8"),
        ({"channels": (8, 0)}, "channels must be a sequence of positive integers"),
        ({"head_layer_sizes": (0,)}, "head_layer_sizes must be a sequence"),
        ({"activation": "swish"}, "activation must be one of"),
    ],
)
def test_bad_sizes_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CNN1D(n_features=16, n_outputs=2, **kwargs)


def test_a_bad_module_parameter_leaves_a_fitted_model_as_it_was():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 16)).astype(np.float32)
    reg = ContinualRegressor(CNN1D, module__channels=(4,), max_epochs=1).fit(X, X[:, 0])
    before = model_state(reg)
    with pytest.raises(ValueError, match="pool_size must be a positive integer"):
        reg.set_params(module__pool_size=0).fit(X, X[:, 0])
    assert_same_state(before, model_state(reg))


@pytest.mark.parametrize("estimator", [ContinualRegressor, ContinualClassifier])
def test_3d_windows_need_no_in_channels(estimator):
    # the estimators pass input_shape; in_channels defaulted to 1, and the
    # documented (n, channels, length) input failed without module__in_channels
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3, 16)).astype(np.float32)
    y = X[:, 2].sum(axis=1) > 0
    est = estimator(CNN1D, module__channels=(4,), max_epochs=1, random_state=0)
    assert est.fit(X, y).predict(X[:5]).shape == (5,)
    assert est.net_.module_.in_channels == 3
    assert est.partial_fit(X, y).predict(X[:5]).shape == (5,)


def test_4d_input_names_the_shapes_cnn1d_takes():
    with pytest.raises(ValueError, match=r"takes input of shape.*got \(2, 3, 4, 4\)"):
        CNN1D(n_features=48, n_outputs=2, in_channels=3)(torch.zeros(2, 3, 4, 4))


def test_a_torch_device_parameter_saves_and_loads(data, tmp_path):
    # the file named torch.device, which load refused as untrusted
    X, y = data
    reg = ContinualRegressor(max_epochs=1, device=torch.device("cpu")).fit(X, y)
    save(reg, tmp_path / "model.skops")
    loaded = load(tmp_path / "model.skops")
    assert loaded.device == torch.device("cpu")
    np.testing.assert_array_equal(loaded.predict(X), reg.predict(X))
    loaded.partial_fit(X, y)


def test_a_gpu_index_beyond_the_machines_gpus_is_a_clear_error(data, monkeypatch):
    # torch failed with "invalid device ordinal" (or worse) mid-build
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    reg = ContinualRegressor(max_epochs=1, device="cuda:3")
    with pytest.raises(
        ValueError, match=r"'cuda:3' is not available.*finds 1 CUDA GPU\)"
    ):
        reg.fit(*data)
    assert not hasattr(reg, "net_")
