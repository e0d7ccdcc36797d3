"""Test helpers shared by the test modules (importable as ``helpers``)."""

from __future__ import annotations

import copy
import pickle
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from sklearn_cl.persistence import save
from sklearn_cl.strategies import Strategy

# the reference data sets next to the repository (absent: those tests skip)
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def run_threads(targets) -> list[BaseException]:
    """Run each function in a thread of its own; return what they raised."""
    errors: list[BaseException] = []

    def guarded(target):
        def run():
            try:
                target()
            except BaseException as error:  # reported by the test
                errors.append(error)

        return run

    threads = [threading.Thread(target=guarded(t)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return errors


def read_while_updating(model, batches, read) -> tuple[list, list]:
    """Update ``model`` on each ``(X, y)`` of ``batches`` in one thread while
    two threads call ``read(model)`` until the updates are done; return what
    ``read`` gave after each update (the first: before any) and what the
    readers saw meanwhile."""
    committed = [read(model)]
    done = threading.Event()
    seen: list = []

    def writer():
        try:
            for X, y in batches:
                model.partial_fit(X, y)
                committed.append(read(model))
        finally:
            done.set()

    def reader():
        while not done.is_set():
            seen.append(read(model))

    assert run_threads([writer, reader, reader]) == []
    return committed, seen


def load_shared(loader):
    """``loader(SHARED_DATA)`` (``load_elec2``, ...), or skip the test."""
    try:
        return loader(SHARED_DATA)
    except FileNotFoundError as error:
        pytest.skip(str(error))


def model_state(estimator) -> dict:
    """A deep copy of everything a fitted estimator learned."""
    state = {k: copy.deepcopy(v) for k, v in vars(estimator).items() if k.endswith("_")}
    net = state.pop("net_", None)
    if net is not None:
        state["module"] = {
            k: v.detach().clone() for k, v in net.module_.state_dict().items()
        }
        state["optimizer"] = copy.deepcopy(net.optimizer_.state_dict())
        # the strategies' learned state, compared value by value (pickled
        # tensors do not give the same bytes twice); skorch's own callbacks
        # reset theirs when a call begins
        state["callbacks"] = [
            (
                name,
                {k: copy.deepcopy(v) for k, v in vars(cb).items() if k.endswith("_")},
            )
            for name, cb in net.callbacks_
            if isinstance(cb, Strategy)
        ]
    return state


def assert_same_state(a: dict, b: dict) -> None:
    """Assert two ``model_state`` snapshots are bit-identical."""
    assert a.keys() == b.keys()
    for key in a:
        _assert_equal(a[key], b[key], key)


def _assert_equal(a, b, where):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_equal(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_equal(x, y, f"{where}[{i}]")
    elif torch.is_tensor(a):
        assert torch.equal(a, b), where
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, np.random.Generator):
        assert a.bit_generator.state == b.bit_generator.state, where
    elif hasattr(a, "__dict__") and not callable(a):
        assert type(a) is type(b), where
        _assert_equal(vars(a), vars(b), f"{where}.{type(a).__name__}")
    else:
        assert a == b, where


def the_strategy(net):
    """The one strategy among the net's callbacks (skorch's own come first)."""
    (strategy,) = [cb for _, cb in net.callbacks_ if isinstance(cb, Strategy)]
    return strategy


def as_an_older_release_wrote(model, how, tmp_path, monkeypatch, owner, method, edit):
    """``model`` saved (``how``: "pickle" or "skops") while ``owner.method``
    returns what ``edit`` makes of its result (what an older release wrote),
    then loaded by this one."""
    from sklearn_cl.persistence import load, save

    written = getattr(owner, method)

    def older(self):
        return edit(written(self))

    with monkeypatch.context() as patch:
        patch.setattr(owner, method, older)
        if how == "pickle":
            data = pickle.dumps(model)
        else:
            save(model, tmp_path / "old.skops")
    return pickle.loads(data) if how == "pickle" else load(tmp_path / "old.skops")


class PickleInside(Strategy):
    """Pickles (or saves) ``PickleInside.target`` at the end of an update."""

    target = path = None

    def on_update_end(self, net, **kwargs):
        if PickleInside.path is None:
            pickle.dumps(PickleInside.target)
        else:
            save(PickleInside.target, PickleInside.path)


def per_sample_fisher_names(monkeypatch) -> list:
    """The names of the parameters ``diagonal_fisher`` leaves to torch.func's
    per-sample gradients (not its closed forms), filled as it runs."""
    from sklearn_cl.strategies import _fisher

    names = []
    vmapped = _fisher._add_per_sample_fisher
    monkeypatch.setattr(
        _fisher,
        "_add_per_sample_fisher",
        lambda *args: names.extend(args[-1]) or vmapped(*args),
    )
    return names
