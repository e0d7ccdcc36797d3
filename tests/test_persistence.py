"""Files: skops round trips, what loading trusts and refuses, limits, bad files.

Pickle, joblib and deepcopy keep working; the skops files hold parameters
and arrays only, and loading imports nothing that has not been trusted.
"""

import copy
import io
import json
import pickle
import zipfile

import joblib
import numpy as np
import pytest
import skops.io
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
    ModelFileError,
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
        save(model, tmp_path / "model.skops")
        return load(tmp_path / "model.skops")

    def with_skops(model, tmp_path):
        skops.io.dump(model, tmp_path / "model.skops")
        names = skops.io.get_untrusted_types(file=tmp_path / "model.skops")
        return skops.io.load(tmp_path / "model.skops", trusted=names)

    def with_pickle(model, tmp_path):
        return pickle.loads(pickle.dumps(model))

    def with_joblib(model, tmp_path):
        joblib.dump(model, tmp_path / "model.joblib")
        return joblib.load(tmp_path / "model.joblib")

    def with_deepcopy(model, tmp_path):
        return copy.deepcopy(model)

    return [safe, with_skops, with_pickle, with_joblib, with_deepcopy]


@pytest.mark.parametrize(
    "round_trip", round_trips(), ids=["safe", "skops", "pickle", "joblib", "deepcopy"]
)
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
    save(clf, tmp_path / "model.skops")
    loaded = load(tmp_path / "model.skops")
    np.testing.assert_array_equal(
        continue_and_predict(loaded, X, y), continue_and_predict(clf, X, y)
    )


def test_safe_format_restores_strategy_and_optimizer_state(updated, tmp_path):
    save(updated, tmp_path / "model.skops")
    loaded = load(tmp_path / "model.skops")
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
        save(model, tmp_path / "model.skops")
        loaded = load(tmp_path / "model.skops")
        np.testing.assert_array_equal(loaded.predict(data), model.predict(data))
    np.testing.assert_array_equal(loaded.memory_.X, ensemble.memory_.X)
    save(pipe, tmp_path / "pipe.skops")
    np.testing.assert_array_equal(
        load(tmp_path / "pipe.skops").feature_names_in_, frame.columns
    )


def test_unfitted_estimator_round_trips(tmp_path):
    clf = ContinualClassifier(optimizer=torch.optim.SGD, optimizer__momentum=0.9)
    save(clf, tmp_path / "model.skops")
    assert load(tmp_path / "model.skops").get_params() == clf.get_params()


def test_user_classes_must_be_trusted(digits, tmp_path):
    X, y = digits
    clf = ContinualClassifier(module=TinyNet, max_epochs=1, random_state=0)
    clf.fit(X[:200], y[:200])
    path = tmp_path / "model.skops"
    save(clf, path)
    name = f"{__name__}.TinyNet"
    assert untrusted_types(path) == [name]
    with pytest.raises(UntrustedTypeError, match="not trusted.*TinyNet"):
        load(path)
    for trusted in ([TinyNet], [name]):
        loaded = load(path, trusted=trusted)
        np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))


def test_column_transformer_pipeline_round_trips_with_skops(tmp_path):
    pd = pytest.importorskip("pandas")
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=200),
            "kind": rng.choice(["x", "y", "z"], 200),
            "c": rng.normal(size=200),
        }
    )
    y = (frame.a > 0).astype(int).to_numpy()
    pipe = make_pipeline(
        ColumnTransformer(
            [("num", StandardScaler(), ["a", "c"]), ("cat", OneHotEncoder(), ["kind"])]
        ),
        FunctionTransformer(np.tanh),
        ContinualClassifier(max_epochs=2, callbacks=[EWC()], random_state=0),
    ).fit(frame, y)
    save(pipe, tmp_path / "pipe.skops")
    assert untrusted_types(tmp_path / "pipe.skops") == []
    loaded = load(tmp_path / "pipe.skops")
    np.testing.assert_array_equal(
        loaded.predict_proba(frame), pipe.predict_proba(frame)
    )


def test_skops_lists_only_our_types_and_the_user_module(updated, tmp_path):
    clf = copy.deepcopy(updated).set_params(module=TinyNet, module__n_features=64)
    path = tmp_path / "model.skops"
    skops.io.dump(clf, path)
    assert set(skops.io.get_untrusted_types(file=path)) == {
        "sklearn_cl.classifier.ContinualClassifier",
        "sklearn_cl.strategies.ewc.EWC",
        "sklearn_cl.strategies.replay.Replay",
        f"{__name__}.TinyNet",
    }
    with zipfile.ZipFile(path) as archive:
        # no torch.save bytes, no pickles: arrays and JSON only
        assert all(n.endswith((".json", ".npy")) for n in archive.namelist())
        for name in archive.namelist():
            if name.endswith(".npy"):
                with archive.open(name) as f:
                    np.load(f, allow_pickle=False)


def test_optimizer_classes_are_stored_by_name(tmp_path):
    clf = ContinualClassifier(optimizer=torch.optim.SGD, optimizer__momentum=0.9)
    save(clf, tmp_path / "model.skops")
    assert untrusted_types(tmp_path / "model.skops") == []
    assert load(tmp_path / "model.skops").optimizer is torch.optim.SGD


def test_checkpoint_callbacks_are_not_trusted(tmp_path):
    from skorch.callbacks import Checkpoint

    victim = tmp_path / "victim.sh"
    # its paths and event name are data in the file: never trusted by default
    clf = ContinualClassifier(
        callbacks=[Checkpoint(f_history=str(victim), event_name="$(touch pwned)")]
    )
    path = tmp_path / "model.skops"
    save(clf, path)
    assert "skorch.callbacks.training.Checkpoint" in untrusted_types(path)
    with pytest.raises(UntrustedTypeError, match="Checkpoint"):
        load(path)


def _rewrite(path, edit):
    """Rewrite the zip file at ``path`` after ``edit(files)`` changed its
    entries, a dict of names and bytes."""
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    edit(files)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)


def _edit_schema(path, edit):
    def edit_files(files):
        schema = json.loads(files["schema.json"])
        edit(schema)
        files["schema.json"] = json.dumps(schema)

    _rewrite(path, edit_files)


@pytest.mark.parametrize(
    "module", ["torch.utils.model_dump.__main__", "numpy.f2py.__main__", "os"]
)
def test_inspecting_a_file_imports_nothing(tmp_path, module, monkeypatch):
    path = tmp_path / "model.skops"
    save(StandardScaler().fit([[0.0], [1.0]]), path)

    def edit(schema):
        schema["__module__"], schema["__class__"] = module, "X"

    _edit_schema(path, edit)
    imported = []
    real_import = __import__

    def spy(name, *args, **kwargs):
        if name.endswith("__main__") or name == module:
            imported.append(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr("builtins.__import__", spy)
    assert untrusted_types(path) == [f"{module}.X"]
    with pytest.raises(UntrustedTypeError, match=f"{module}.X"):
        load(path)
    assert imported == []


def test_a_function_in_the_file_must_be_trusted(tmp_path):
    path = tmp_path / "model.skops"
    save(FunctionTransformer(np.tanh).fit([[0.0]]), path)

    def edit(schema):
        schema["content"]["content"]["func"].update(__module__="os", __class__="system")

    _edit_schema(path, edit)
    assert untrusted_types(path) == ["os.system"]
    with pytest.raises(UntrustedTypeError, match="os.system"):
        load(path)


def test_size_limits(tmp_path):
    path = tmp_path / "big.skops"
    model = StandardScaler().fit(np.zeros((2, 1)))
    model.padding_ = np.zeros(2_000_000)  # 16 MB of zeros, compresses well
    skops.io.dump(model, path, compression=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 200_000
    with pytest.raises(ModelFileError, match="decompresses to .* max_size"):
        load(path, max_size=1_000_000)
    with pytest.raises(ModelFileError, match="larger than max_size"):
        load(path, max_size=1_000)
    # an array no object refers to still counts
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("unreferenced.npy", bytes(20_000_000))
    with pytest.raises(ModelFileError, match="decompresses"):
        untrusted_types(path, max_size=30_000_000)
    assert load(path, max_size=50_000_000).padding_.shape == (2_000_000,)


def _saved(tmp_path, model=None):
    path = tmp_path / "model.skops"
    save(model if model is not None else StandardScaler().fit([[0.0], [1.0]]), path)
    return path


def test_truncated_and_bit_flipped_files(updated, tmp_path):
    path = _saved(tmp_path, updated)
    data = path.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 10):
        path.write_bytes(data[:cut])
        with pytest.raises(ModelFileError, match="not a readable model file"):
            load(path)
    rng = np.random.default_rng(0)
    for _ in range(20):
        flipped = bytearray(data)
        position = int(rng.integers(len(data)))
        flipped[position] ^= 1 << int(rng.integers(8))
        path.write_bytes(bytes(flipped))
        try:
            loaded = load(path)
        except (ModelFileError, UntrustedTypeError):
            continue
        assert loaded is not None  # a flip in an unread byte (padding) is harmless


def _with_mean(schema) -> dict:
    return schema["content"]["content"]["with_mean"]


def test_edited_files(tmp_path):
    path = _saved(tmp_path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("other.txt", b"")
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as archive:
        archive.writestr("other.txt", b"")
    with pytest.raises(ModelFileError, match="no schema.json"):
        load(tmp_path / "empty.zip")
    for edit in (
        lambda schema: schema.pop("__loader__"),
        lambda schema: schema.update(__loader__="NoSuchNode"),
        lambda schema: _with_mean(schema).update(content="{{"),
        lambda schema: _with_mean(schema).update(__loader__="CachedNode", __id__=7),
        lambda schema: schema.update(content="not a dict"),
    ):
        path = _saved(tmp_path)
        _edit_schema(path, edit)
        with pytest.raises(ModelFileError, match="not a readable model file"):
            load(path)


def test_deep_nesting_is_refused(tmp_path):
    path = _saved(tmp_path)

    def edit(schema):
        node = schema
        for _ in range(600):
            node["content"] = {"__class__": "dict", "__module__": "builtins"}
            node = node["content"]

    _edit_schema(path, edit)
    with pytest.raises(ModelFileError, match="levels deep"):
        load(path)


def test_other_versions_warn(tmp_path):
    path = _saved(tmp_path)

    def edit(files):
        versions = json.loads(files["sklearn_cl.json"])
        versions["torch"] = "1.13.1"
        files["sklearn_cl.json"] = json.dumps(versions)

    _rewrite(path, edit)
    with pytest.warns(InconsistentVersionWarning, match=r"torch 1\.13\.1 \(now "):
        load(path)


def test_lambdas_are_not_trusted(tmp_path):
    path = tmp_path / "model.skops"
    save(FunctionTransformer(lambda X: X).fit([[0.0]]), path)
    with pytest.raises(UntrustedTypeError, match="lambda"):
        load(path)


def _meta_estimators(X, y):
    from sklearn_cl.monitoring import MonitoredUpdater

    member = ContinualClassifier(
        hidden_layer_sizes=(8,), max_epochs=1, callbacks=[Replay()], random_state=0
    )
    ensemble = UpdateEnsemble(member, data="old_and_new", random_state=0)
    monitored = MonitoredUpdater(member, policy="always")
    pipe = make_incremental_pipeline(StandardScaler(), member)
    return {
        "UpdateEnsemble": ensemble.fit(X[:200], y[:200]).partial_fit(
            X[200:300], y[200:300]
        ),
        "MonitoredUpdater": monitored.partial_fit(X[:200], y[:200], classes=range(10)),
        "IncrementalPipeline": pipe.partial_fit(X[:200], y[:200], classes=range(10)),
    }


@pytest.mark.parametrize(
    "name", ["UpdateEnsemble", "MonitoredUpdater", "IncrementalPipeline"]
)
def test_meta_estimators_round_trip_through_skops(digits, tmp_path, name):
    X, y = digits
    model = _meta_estimators(X, y)[name]
    path = tmp_path / "model.skops"
    skops.io.dump(model, path)
    names = skops.io.get_untrusted_types(file=path)
    assert all(n.startswith("sklearn_cl.") for n in names), names
    loaded = skops.io.load(path, trusted=names)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    # and it keeps learning the same way
    for m in (loaded, model):
        m.partial_fit(X[300:400], y[300:400])
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize(
    "strategy, parameter, legacy",
    [(strategies.DER, "refresh", False), (strategies.SI, "power", 1.0)],
    ids=["DER.refresh", "SI.power"],
)
@pytest.mark.parametrize("how", ["pickle", "skops"])
def test_a_file_saved_before_a_parameter_existed_keeps_its_old_behaviour(
    digits, tmp_path, monkeypatch, strategy, parameter, legacy, how
):
    X, y = digits
    clf = ContinualClassifier(
        max_epochs=1, callbacks=[("s", strategy())], random_state=0
    ).fit(X[:300], y[:300])
    written = strategy.__getstate__

    def without_the_parameter(self):  # what the release before it wrote
        state = written(self)
        state.pop(parameter)
        return state

    monkeypatch.setattr(strategy, "__getstate__", without_the_parameter)
    if how == "pickle":
        data = pickle.dumps(clf)
    else:
        save(clf, tmp_path / "old.skops")
    monkeypatch.setattr(strategy, "__getstate__", written)
    loaded = pickle.loads(data) if how == "pickle" else load(tmp_path / "old.skops")
    loaded.partial_fit(X[300:500], y[300:500])
    assert getattr(dict(loaded.net_.callbacks_)["s"], parameter) == legacy
    assert loaded.get_params()["callbacks"][0][1].get_params()[parameter] == legacy


# ----------------------------------------------------------------------
# files edited by a stranger: each loads as an error, never as a model
# that predicts NaN, fails at its next update, or exhausts the memory
# ----------------------------------------------------------------------
def _arrays(node, path=""):
    """``(path, node)`` of every array stored as an ``.npy`` entry."""
    if isinstance(node, dict):
        if node.get("__loader__") == "NdArrayNode" and node.get("type") == "numpy":
            yield path, node
        for key, value in node.items():
            yield from _arrays(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _arrays(value, f"{path}[{i}]")


def _edit_array(path, suffix, edit):
    """Replace the first array whose schema path ends with ``suffix``."""

    def edit_files(files):
        schema = json.loads(files["schema.json"])
        entry = next(n["file"] for p, n in _arrays(schema) if p.endswith(suffix))
        buffer = io.BytesIO()
        np.save(buffer, edit(np.load(io.BytesIO(files[entry]))))
        files[entry] = buffer.getvalue()

    _rewrite(path, edit_files)


@pytest.mark.parametrize(
    "suffix, match",
    [
        ("layers.0.weight/content/$tensor", r"weights \['layers.0.weight'\] hold"),
        ("layers.2.bias/content/$tensor", r"weights \['layers.2.bias'\] hold"),
        ("fisher_/content/layers.0.weight/content/$tensor", "strategy 'ewc' holds"),
    ],
    ids=["weight", "bias", "fisher"],
)
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_state_in_a_file_is_refused(updated, tmp_path, suffix, match, value):
    # such a file used to load and predict NaN probabilities
    path = _saved(tmp_path, updated)
    _edit_array(path, suffix, lambda array: array + value)
    with pytest.raises(ModelFileError, match=f"{match} non-finite"):
        load(path)


def test_complex_weights_in_a_file_are_refused(updated, tmp_path):
    # they were cast to real numbers, with a warning at most
    path = _saved(tmp_path, updated)
    _edit_array(path, "layers.0.weight/content/$tensor", lambda array: array + 1j)
    with pytest.raises(ModelFileError, match="non-finite or complex values"):
        load(path)


@pytest.mark.parametrize(
    "edit", [lambda a: a[:3], lambda a: np.stack([a, a])], ids=["smaller", "3-D"]
)
def test_optimizer_state_of_another_shape_is_refused(updated, tmp_path, edit):
    # torch checks only the number of parameters: such a file used to load,
    # then fail at the next update with a broadcasting error
    path = _saved(tmp_path, updated)
    _edit_array(path, "state/content/0/content/exp_avg/content/$tensor", edit)
    with pytest.raises(ModelFileError, match="optimizer state 'exp_avg' has shape"):
        load(path)


def test_a_file_describing_a_huge_module_is_refused_before_building(
    updated, tmp_path, monkeypatch
):
    # a few kilobytes asking for a hidden layer of a billion units used to
    # build it (4 bytes per weight) before the stored weights were compared
    path = _saved(tmp_path, updated)

    def edit(schema):
        state = schema["content"]["content"]
        for params in (state, state["_built_with"]["content"]):
            params["hidden_layer_sizes"]["content"][0]["content"] = str(10**9)

    _edit_schema(path, edit)

    def refuse(*args):
        raise AssertionError("the net was built")

    monkeypatch.setattr("sklearn_cl.base.build_net", refuse)
    with pytest.raises(ModelFileError, match="describe a module of 75000000010 values"):
        load(path)


def test_a_version_of_thousands_of_digits_warns(tmp_path):
    path = _saved(tmp_path)
    versions = json.dumps({"sklearn_cl": "9" * 5000})
    _rewrite(path, lambda files: files.update({"sklearn_cl.json": versions}))
    with pytest.warns(InconsistentVersionWarning, match="sklearn_cl 9999"):
        load(path)


@pytest.mark.parametrize("device", ["hpu", "privateuseone", "meta"])
def test_a_device_named_in_a_file_loads_on_the_cpu(updated, digits, tmp_path, device):
    # such a file made torch import the device's backend (torch.hpu), or
    # built a model without data (meta); the device of a state tensor too
    X, y = digits
    path = _saved(tmp_path, updated)

    def edit(schema):
        state = schema["content"]["content"]
        for params in (state, state["_built_with"]["content"]):
            params["device"]["content"] = json.dumps(device)
        tensors = state["net_"]["content"]["strategies"]["content"][0]["content"][1]
        fisher = tensors["content"]["fisher_"]["content"]["layers.0.weight"]
        fisher["content"]["device"]["content"] = json.dumps(device)

    _edit_schema(path, edit)
    with pytest.warns(UserWarning, match=f"device='{device}', which is not available"):
        loaded = load(path)
    ewc = dict(loaded.net_.callbacks_)["ewc"]
    assert ewc.fisher_["layers.0.weight"].device.type == "cpu"
    np.testing.assert_array_equal(loaded.predict_proba(X), updated.predict_proba(X))
    loaded.partial_fit(X[:100], y[:100])


@pytest.mark.parametrize(
    "name",
    ["builtins.eval", "functools.partial", "torch.load", "operator.attrgetter"],
)
@pytest.mark.parametrize("inside", ["parameter", "object array"])
def test_functions_from_strangers_are_refused(tmp_path, name, inside):
    path = tmp_path / "model.skops"
    save(FunctionTransformer(np.tanh).fit([[0.0]]), path)
    module, function = name.rsplit(".", 1)

    def edit(schema):
        params = schema["content"]["content"]
        params["func"].update(__module__=module, __class__=function)
        if inside == "object array":  # skops stores those as JSON lists
            params["func"] = {
                "__class__": "ndarray",
                "__module__": "numpy",
                "__loader__": "NdArrayNode",
                "type": "json",
                "content": [params["func"]],
                "shape": {"__class__": "tuple", "__module__": "builtins",
                          "__loader__": "TupleNode", "content": [
                              {"__class__": "int", "__module__": "builtins",
                               "__loader__": "JsonNode", "content": "1",
                               "is_json": True}]},
            }  # fmt: skip

    _edit_schema(path, edit)
    assert untrusted_types(path) == [name]
    with pytest.raises(UntrustedTypeError, match=name):
        load(path)


def test_an_entry_that_inflates_beyond_its_declared_size_is_refused(tmp_path):
    # zipfile stops at the declared size: the sizes checked are those read
    path = tmp_path / "model.skops"
    model = StandardScaler().fit(np.zeros((2, 1)))
    model.padding_ = np.zeros(1_000_000)
    skops.io.dump(model, path, compression=zipfile.ZIP_DEFLATED)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        (entry,) = [i for i in archive.infolist() if i.file_size > 1_000_000]
    name = entry.filename.encode()
    central = data.find(b"PK\x01\x02")  # the central directory's records
    while data[central + 46 : central + 46 + len(name)] != name:
        central = data.find(b"PK\x01\x02", central + 1)
    for field in (entry.header_offset + 22, central + 24):  # uncompressed size
        data[field : field + 4] = (100).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="Bad CRC-32"):
        load(path, max_size=1_000_000)


def test_array_entries_are_read_from_the_archive_only(tmp_path):
    # a schema naming a path on disk (absolute or relative to the file) or
    # an entry named like one reads nothing outside the archive
    secret = tmp_path / "secret.npy"
    np.save(secret, np.arange(3.0))
    for name in (str(secret), "../secret.npy", "secret.npy"):
        path = tmp_path / "folder" / "model.skops"
        path.parent.mkdir(exist_ok=True)
        save(StandardScaler().fit([[0.0], [1.0]]), path)

        def edit(schema, name=name):
            schema["content"]["content"]["mean_"]["file"] = name

        _edit_schema(path, edit)
        with pytest.raises(ModelFileError, match="There is no item named"):
            load(path)
    buffer = io.BytesIO()
    np.save(buffer, np.array([7.0]))
    with zipfile.ZipFile(path, "a") as archive:  # an entry of that name
        archive.writestr("secret.npy", buffer.getvalue())
    assert load(path).mean_.tolist() == [7.0]


def test_an_entry_named_many_times_is_refused(tmp_path):
    # skops reads an entry for every node that names it: a file of a few
    # kilobytes naming a 1 MB array 40 times read 40 MB (any amount, with
    # more names) whatever max_size said
    path = tmp_path / "model.skops"
    model = StandardScaler().fit(np.zeros((2, 1)))
    model.padding_ = np.zeros(125_000)  # 1 MB
    save(model, path)

    def edit(schema):
        params = schema["content"]["content"]
        names = [dict(params["padding_"], __id__=i) for i in range(40)]
        params["padding_"] = {"__class__": "list", "__module__": "builtins",
                              "__loader__": "ListNode", "content": names}  # fmt: skip

    _edit_schema(path, edit)
    with pytest.raises(ModelFileError, match="reads 400\\d+ bytes of its entries"):
        load(path, max_size=10_000_000)
    assert len(load(path, max_size=50_000_000).padding_) == 40


_OPTIMIZERS = sorted(
    (
        cls
        for cls in vars(torch.optim).values()
        if isinstance(cls, type)
        and issubclass(cls, torch.optim.Optimizer)
        and cls is not torch.optim.Optimizer
        # LBFGS needs a closure, SparseAdam sparse gradients, Muon matrices
        # only (an MLP has biases): they do not train these models
        and cls.__name__ not in ("LBFGS", "SparseAdam", "Muon")
    ),
    key=lambda cls: cls.__name__,
)


@pytest.mark.parametrize("optimizer", _OPTIMIZERS, ids=lambda cls: cls.__name__)
def test_every_optimizer_s_state_passes_the_load_checks(digits, tmp_path, optimizer):
    # loading checks that the optimizer's state has its parameters' shapes
    X, y = digits
    clf = ContinualClassifier(
        hidden_layer_sizes=(8,), optimizer=optimizer, max_epochs=1, random_state=0
    )
    clf.fit(X[:100], y[:100]).partial_fit(X[100:200], y[100:200])
    save(clf, tmp_path / "model.skops")
    loaded = load(tmp_path / "model.skops")
    np.testing.assert_array_equal(
        continue_and_predict(loaded, X, y), continue_and_predict(clf, X, y)
    )


class LazyNet(torch.nn.Module):
    """A user module with a lazy layer: its size is known once it has run."""

    def __init__(self, n_outputs=10):
        super().__init__()
        self.layer = torch.nn.LazyLinear(n_outputs)

    def forward(self, X):
        return self.layer(X)


def test_a_module_with_lazy_layers_loads(digits, tmp_path):
    # the size check before building cannot count lazy layers: they load
    X, y = digits
    clf = ContinualClassifier(module=LazyNet, max_epochs=1, random_state=0)
    clf.fit(X[:100], y[:100])
    save(clf, tmp_path / "model.skops")
    for loaded in (
        load(tmp_path / "model.skops", trusted=[LazyNet]),
        pickle.loads(pickle.dumps(clf)),
    ):
        np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))


@pytest.mark.parametrize("state", ["fisher_", "anchor_"])
def test_per_parameter_strategy_state_of_another_shape_is_refused(
    updated, tmp_path, state
):
    # one value broadcast for all: the file loaded and EWC silently held
    # every weight near that value
    path = _saved(tmp_path, updated)
    _edit_array(
        path,
        f"{state}/content/layers.0.weight/content/$tensor",
        lambda array: array.reshape(-1)[:1],
    )
    message = "strategy 'ewc' has shape \\(1,\\) for parameter 'layers.0.weight'"
    with pytest.raises(ModelFileError, match=message):
        load(path)


def test_per_parameter_history_of_earlier_shapes_loads(digits, tmp_path):
    # Snapshots keeps weights from before the output grew: of other shapes
    from sklearn_cl.strategies.snapshots import Snapshots

    X, y = digits
    clf = ContinualClassifier(
        hidden_layer_sizes=(8,),
        max_epochs=1,
        callbacks=[("snapshots", Snapshots()), ("ewc", EWC())],
        allow_new_classes=True,
        random_state=0,
    )
    clf.fit(X[y < 5][:200], y[y < 5][:200]).partial_fit(X[:200], y[:200])
    save(clf, tmp_path / "model.skops")
    loaded = load(tmp_path / "model.skops")
    np.testing.assert_array_equal(
        continue_and_predict(loaded, X, y), continue_and_predict(clf, X, y)
    )


class NormTrack(Strategy):
    """A user's strategy keeping one number per parameter, not its shape."""

    _learned_state = ("norms_",)

    def on_train_end(self, net, **kwargs):
        self.norms_ = {
            n: p.detach().norm().reshape(1) for n, p in net.module_.named_parameters()
        }


class CountingModule(torch.nn.Module):
    """A user module with extra state that is not a tensor."""

    def __init__(self, n_features, n_outputs):
        super().__init__()
        self.layer = torch.nn.Linear(n_features, n_outputs)
        self.calls = 0

    def forward(self, X):
        return self.layer(X)

    def get_extra_state(self):
        return {"calls": 3}

    def set_extra_state(self, state):
        self.calls = state["calls"]


@pytest.mark.parametrize(
    "params",
    [dict(callbacks=[("norms", NormTrack())]), dict(module=CountingModule)],
    ids=["per-parameter numbers", "module extra state"],
)
def test_a_user_s_strategy_or_module_state_of_its_own_loads(params, digits):
    # the load checks took every dict keyed by parameter names for
    # parameter-shaped tensors, and every module state entry for a tensor
    X, y = digits
    clf = ContinualClassifier(max_epochs=1, random_state=0, **params).fit(X, y)
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(loaded.predict_proba(X), clf.predict_proba(X))
