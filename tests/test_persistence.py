"""Pickle keeps working; the safe format round-trips and runs no code on load."""

import copy
import io
import json
import pickle
import zipfile

import joblib
import numpy as np
import pytest
import torch
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import sklearn_cl.strategies as strategies
from sklearn_cl import (
    ContinualClassifier,
    ContinualRegressor,
    UpdateEnsemble,
    make_incremental_pipeline,
)
from sklearn_cl.persistence import (
    InconsistentVersionWarning,
    UntrustedTypeError,
    load,
    save,
    untrusted_types,
)
from sklearn_cl.strategies import EWC, Replay, Strategy


class TinyNet(torch.nn.Module):
    """A user module: not trusted by default."""

    def __init__(self, n_features=64, n_outputs=10):
        super().__init__()
        self.layer = torch.nn.Linear(n_features, n_outputs)

    def forward(self, X):
        return self.layer(X)


@pytest.fixture(scope="module")
def updated(digits):
    """A classifier with EWC and replay state, after two updates."""
    X, y = digits
    clf = ContinualClassifier(
        hidden_layer_sizes=(16,),
        max_epochs=2,
        callbacks=[("ewc", EWC(lambda_=10.0)), ("replay", Replay(buffer_size=50))],
        random_state=0,
    )
    clf.fit(X[:300], y[:300]).partial_fit(X[300:500], y[300:500])
    return clf.partial_fit(X[500:700], y[500:700])


def continue_and_predict(model, X, y):
    model.partial_fit(X[700:800], y[700:800])
    return model.predict_proba(X[800:900])


def round_trips():
    def safe(model, tmp_path):
        save(model, tmp_path / "model.skcl")
        return load(tmp_path / "model.skcl")

    def with_pickle(model, tmp_path):
        return pickle.loads(pickle.dumps(model))

    def with_joblib(model, tmp_path):
        joblib.dump(model, tmp_path / "model.joblib")
        return joblib.load(tmp_path / "model.joblib")

    return [safe, with_pickle, with_joblib]


@pytest.mark.parametrize("round_trip", round_trips(), ids=["safe", "pickle", "joblib"])
def test_loaded_model_predicts_and_keeps_learning_the_same(
    updated, digits, tmp_path, round_trip
):
    X, y = digits
    loaded = round_trip(updated, tmp_path)
    np.testing.assert_array_equal(loaded.predict_proba(X), updated.predict_proba(X))
    original = pickle.loads(pickle.dumps(updated))
    np.testing.assert_array_equal(
        continue_and_predict(loaded, X, y), continue_and_predict(original, X, y)
    )


STRATEGIES = [
    cls
    for cls in (getattr(strategies, name) for name in strategies.__all__)
    if isinstance(cls, type) and issubclass(cls, Strategy) and cls is not Strategy
]


@pytest.mark.parametrize("strategy", STRATEGIES, ids=lambda cls: cls.__name__)
def test_every_strategy_s_state_survives_the_safe_format(digits, tmp_path, strategy):
    X, y = digits
    clf = ContinualClassifier(
        hidden_layer_sizes=(16,), max_epochs=1, callbacks=[strategy()], random_state=0
    )
    clf.fit(X[:300], y[:300]).partial_fit(X[300:500], y[300:500])
    save(clf, tmp_path / "model.skcl")
    loaded = load(tmp_path / "model.skcl")
    np.testing.assert_array_equal(
        continue_and_predict(loaded, X, y), continue_and_predict(clf, X, y)
    )


def test_safe_format_restores_strategy_and_optimizer_state(updated, tmp_path):
    save(updated, tmp_path / "model.skcl")
    loaded = load(tmp_path / "model.skcl")
    saved_cbs, loaded_cbs = dict(updated.net_.callbacks_), dict(loaded.net_.callbacks_)
    for name, tensor in saved_cbs["ewc"].fisher_.items():
        torch.testing.assert_close(loaded_cbs["ewc"].fisher_[name], tensor)
        torch.testing.assert_close(
            loaded_cbs["ewc"].anchor_[name], saved_cbs["ewc"].anchor_[name]
        )
    buffer, loaded_buffer = saved_cbs["replay"].buffer_, loaded_cbs["replay"].buffer_
    np.testing.assert_array_equal(loaded_buffer.X, buffer.X)
    np.testing.assert_array_equal(loaded_buffer.y, buffer.y)
    assert loaded_buffer.n_seen == buffer.n_seen == 700
    # Adam's moments are keyed by the loaded module's own parameters
    net = loaded.net_
    params = list(net.module_.parameters())
    assert all(p in net.optimizer_.state for p in params)
    assert all(
        any(p is q for q in net.optimizer_.param_groups[0]["params"]) for p in params
    )
    # the hooks run the same strategy objects as callbacks_
    assert net.hooked_["penalty"][0] is loaded_cbs["ewc"]


def test_pickle_and_deepcopy_keep_hooks_on_the_same_strategy_objects(updated):
    for net in (pickle.loads(pickle.dumps(updated)).net_, copy.deepcopy(updated.net_)):
        assert net.hooked_["penalty"][0] is dict(net.callbacks_)["ewc"]


def test_pipelines_ensembles_and_feature_names_round_trip(digits, tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = digits
    frame = pd.DataFrame(X[:400]).add_prefix("px")
    pipe = make_incremental_pipeline(
        StandardScaler(), ContinualRegressor(max_epochs=1, random_state=0)
    )
    pipe.partial_fit(frame, y[:400].astype(float))
    ensemble = UpdateEnsemble(
        ContinualClassifier(hidden_layer_sizes=(8,), max_epochs=1, random_state=0),
        data="old_and_new",
        memory_size=100,
    )
    ensemble.fit(X[:200], y[:200]).partial_fit(X[200:400], y[200:400])
    for model, data in ((pipe, frame), (ensemble, X[:400])):
        save(model, tmp_path / "model.skcl")
        loaded = load(tmp_path / "model.skcl")
        np.testing.assert_array_equal(loaded.predict(data), model.predict(data))
    np.testing.assert_array_equal(loaded.memory_.X, ensemble.memory_.X)
    save(pipe, tmp_path / "pipe.skcl")
    np.testing.assert_array_equal(
        load(tmp_path / "pipe.skcl").feature_names_in_, frame.columns
    )


def test_unfitted_estimator_round_trips(tmp_path):
    clf = ContinualClassifier(optimizer=torch.optim.SGD, optimizer__momentum=0.9)
    save(clf, tmp_path / "model.skcl")
    assert load(tmp_path / "model.skcl").get_params() == clf.get_params()


def test_user_classes_must_be_trusted(digits, tmp_path):
    X, y = digits
    clf = ContinualClassifier(module=TinyNet, max_epochs=1, random_state=0)
    clf.fit(X[:200], y[:200])
    path = tmp_path / "model.skcl"
    save(clf, path)
    name = f"{__name__}.TinyNet"
    assert untrusted_types(path) == [name]
    with pytest.raises(UntrustedTypeError, match="not trusted.*TinyNet"):
        load(path)
    for trusted in ([TinyNet], [name]):
        loaded = load(path, trusted=trusted)
        np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))


def _rewrite(path, state=None, tensors=None):
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    if state is not None:
        files["state.json"] = json.dumps(state)
    if tensors is not None:
        files["tensors.pt"] = tensors
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)


def _state(path):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("state.json"))


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_a_tampered_file_runs_no_code(tmp_path):
    path = tmp_path / "model.skcl"
    save(StandardScaler().fit([[0.0], [1.0]]), path)
    state = _state(path)
    # a class the file may not name
    state["root"]["class"] = "subprocess.Popen"
    _rewrite(path, state=state)
    with pytest.raises(UntrustedTypeError, match="subprocess.Popen"):
        load(path)
    state["root"] = {"$": "function", "name": "os.system"}
    _rewrite(path, state=state)
    with pytest.raises(UntrustedTypeError, match="os.system"):
        load(path)
    # a pickle that would create a file when unpickled
    marker = tmp_path / "pwned"
    save(StandardScaler().fit([[0.0], [1.0]]), path)
    _rewrite(path, tensors=pickle.dumps({"t0": _Exploit(marker)}, protocol=2))
    with pytest.raises(pickle.UnpicklingError):
        load(path)
    assert not marker.exists()


def test_functions_that_cannot_be_imported_are_refused(tmp_path):
    transformer = FunctionTransformer(lambda X: X).fit([[0.0]])
    with pytest.raises(TypeError, match="cannot be imported by name"):
        save(transformer, tmp_path / "model.skcl")


def test_other_versions_warn(tmp_path):
    path = tmp_path / "model.skcl"
    save(StandardScaler().fit([[0.0], [1.0]]), path)
    state = _state(path)
    state["versions"]["torch"] = "1.13.1"
    _rewrite(path, state=state)
    with pytest.warns(InconsistentVersionWarning, match=r"torch 1\.13\.1 \(now "):
        load(path)


def test_not_a_saved_model(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("state.json", json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="not a sklearn_cl.persistence archive"):
        load(path)


def test_saved_file_holds_no_pickled_objects(updated, tmp_path):
    path = tmp_path / "model.skcl"
    save(updated, path)
    with zipfile.ZipFile(path) as archive:
        tensors = torch.load(io.BytesIO(archive.read("tensors.pt")), weights_only=True)
        arrays = np.load(io.BytesIO(archive.read("arrays.npz")), allow_pickle=False)
        assert all(torch.is_tensor(t) for t in tensors.values())
        assert all(arrays[key].dtype != object for key in arrays.files)
