"""A file's optimizer state must have the shapes the optimizer's own steps give
it: a moment that broadcasts used to load and make every later step wrong."""

import numpy as np
import pytest
import torch

from sklearn_cl import ContinualClassifier
from sklearn_cl._netstate import (
    _ELEMENTWISE_STATE,
    _FACTORED_STATE,
    _SCALAR_STATE,
    net_state,
)
from sklearn_cl.persistence import ModelFileError, load, save


def fitted(digits, optimizer=torch.optim.Adam, **params):
    X, y = digits
    clf = ContinualClassifier(
        hidden_layer_sizes=(16,),
        optimizer=optimizer,
        max_epochs=1,
        random_state=0,
        **params,
    )
    return clf.fit(X[:100], y[:100]).partial_fit(X[100:200], y[100:200])


def loaded_after_editing(clf, edit, how, tmp_path, monkeypatch):
    """``clf`` written (pickle or skops) with its optimizer state edited by
    ``edit(state)`` (torch's ``{"state": {i: {key: array}}, ...}``), loaded."""

    def edited(net):
        state = net_state(net)
        edit(state["optimizer"])
        return state

    with monkeypatch.context() as patch:
        patch.setattr("sklearn_cl.base.net_state", edited)
        if how == "skops":
            save(clf, tmp_path / "edited.skops")
        else:
            state = clf.__getstate__()  # what pickle writes
    if how == "skops":
        return load(tmp_path / "edited.skops")
    new = object.__new__(type(clf))
    new.__setstate__(state)  # what pickle.loads does
    return new


def set_entry(index, key, make):
    """An edit: entry ``key`` of parameter ``index`` becomes ``make(array)``."""

    def edit(optimizer_state):
        entry = optimizer_state["state"][index][key]
        entry["$tensor"] = np.ascontiguousarray(make(entry["$tensor"]))

    return edit


# parameter 0 is the first layer's weight, (16, 64); 1 its bias, (16,)
HOSTILE = {
    "Adam moment (1, 1)": (
        {},
        set_entry(0, "exp_avg", lambda a: a[:1, :1]),
        r"'exp_avg' has shape \(1, 1\) for parameter 'layers.0.weight' of shape "
        r"\(16, 64\); it must be the parameter's shape, \(16, 64\)",
    ),
    "Adam second moment (16, 1)": (
        {},
        set_entry(0, "exp_avg_sq", lambda a: a[:, :1]),
        r"'exp_avg_sq' has shape \(16, 1\)",
    ),
    "AMSGrad maximum (1,)": (
        {"optimizer__amsgrad": True},
        set_entry(1, "max_exp_avg_sq", lambda a: a[:1]),
        r"'max_exp_avg_sq' has shape \(1,\) for parameter 'layers.0.bias'",
    ),
    "step of a parameter's shape": (
        {},
        set_entry(1, "step", lambda a: np.full(16, a)),
        r"'step' has shape \(16,\) .* it must be a scalar",
    ),
    "SGD momentum (1, 64)": (
        {"optimizer": torch.optim.SGD, "optimizer__momentum": 0.9},
        set_entry(0, "momentum_buffer", lambda a: a[:1]),
        r"'momentum_buffer' has shape \(1, 64\)",
    ),
    "RMSprop average (1, 1)": (
        {"optimizer": torch.optim.RMSprop},
        set_entry(0, "square_avg", lambda a: a[:1, :1]),
        r"'square_avg' has shape \(1, 1\)",
    ),
    "Adafactor rows factored on the wrong axis": (
        {"optimizer": torch.optim.Adafactor},
        set_entry(0, "row_var", lambda a: np.ones((1, 64), a.dtype)),
        r"'row_var' has shape \(1, 64\) .* it must be \(16, 1\)",
    ),
    "Adafactor columns of full shape": (
        {"optimizer": torch.optim.Adafactor},
        set_entry(0, "col_var", lambda a: np.ones((16, 64), a.dtype)),
        r"'col_var' has shape \(16, 64\) .* it must be \(1, 64\)",
    ),
}


@pytest.mark.parametrize("how", ["pickle", "skops"])
@pytest.mark.parametrize("case", HOSTILE)
def test_optimizer_state_of_a_broadcasting_shape_is_refused(
    digits, tmp_path, monkeypatch, case, how
):
    params, edit, match = HOSTILE[case]
    clf = fitted(digits, **params)
    with pytest.raises(ValueError, match=match) as error:
        loaded_after_editing(clf, edit, how, tmp_path, monkeypatch)
    assert "Load an unedited copy of the file, or fit the model again" in str(
        error.value
    )
    if how == "skops":
        assert error.type is ModelFileError


def test_nothing_of_a_refused_state_is_loaded(digits, tmp_path, monkeypatch):
    clf = fitted(digits)

    def never(*args, **kwargs):
        raise AssertionError("the optimizer loaded a state that is refused")

    monkeypatch.setattr(torch.optim.Optimizer, "load_state_dict", never)
    edit = set_entry(0, "exp_avg", lambda a: a[:1, :1])
    with pytest.raises(ValueError, match="'exp_avg' has shape"):
        loaded_after_editing(clf, edit, "pickle", tmp_path, monkeypatch)


@pytest.mark.parametrize(
    "params",
    [
        {"optimizer": torch.optim.Adafactor},
        {"optimizer__amsgrad": True},
        {"optimizer": torch.optim.RMSprop, "optimizer__centered": True},
        {"optimizer": torch.optim.RMSprop, "optimizer__momentum": 0.9},
        {"optimizer": torch.optim.ASGD},
        {"optimizer": torch.optim.NAdam},
    ],
    ids=[
        "Adafactor",
        "AMSGrad",
        "RMSprop-centered",
        "RMSprop-momentum",
        "ASGD",
        "NAdam",
    ],
)
def test_every_entry_of_torch_s_optimizers_has_a_known_role(digits, tmp_path, params):
    # what the check knows, for every state entry these optimizers keep
    # (a new torch with a new entry fails here, not in users' files)
    clf = fitted(digits, **params)
    known = _SCALAR_STATE | _ELEMENTWISE_STATE | set(_FACTORED_STATE)
    entries = {key for s in clf.net_.optimizer_.state.values() for key in s}
    assert entries and entries <= known
    save(clf, tmp_path / "model.skops")
    X, _ = digits
    np.testing.assert_array_equal(
        load(tmp_path / "model.skops").predict_proba(X), clf.predict_proba(X)
    )


class RowScaled(torch.optim.SGD):
    """A third-party optimizer with a factored state entry of its own."""

    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None and p.dim() == 2:
                    scale = self.state[p].setdefault("row_scale", p.new_ones(len(p), 1))
                    p.grad.mul_(scale)
        return super().step(closure)


def test_another_optimizer_s_factored_entries_still_load(digits, tmp_path, monkeypatch):
    clf = fitted(digits, optimizer=RowScaled)
    state = clf.net_.optimizer_.state[clf.net_.module_.layers[0].weight]
    assert state["row_scale"].shape == (16, 1)
    X, _ = digits
    same = loaded_after_editing(
        clf, lambda state: None, "pickle", tmp_path, monkeypatch
    )
    np.testing.assert_array_equal(same.predict_proba(X), clf.predict_proba(X))
    # but not with an entry of a shape no factoring gives
    edit = set_entry(0, "row_scale", lambda a: np.ones((3, 1), a.dtype))
    with pytest.raises(ValueError, match="'row_scale' has shape .* some axes"):
        loaded_after_editing(clf, edit, "pickle", tmp_path, monkeypatch)
