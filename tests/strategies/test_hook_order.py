"""The order of all hooks in a training call, skorch's events included, as
``sklearn_cl.strategies.base`` documents it, and the context they get."""

import numpy as np
import pytest
from skorch.callbacks import Callback

from sklearn_cl import ContinualClassifier, ContinualRegressor, NonFiniteUpdateError
from sklearn_cl._net import _SKORCH_EVENTS
from sklearn_cl.strategies import Strategy, UpdateContext


class Log(list):
    """A list the estimator's clone of its strategies shares, not copies."""

    def __deepcopy__(self, memo):
        return self


class RecordingStrategy(Strategy):
    """Records every hook with the context it got."""

    def __init__(self, log=None):
        self.log = log

    def _record(self, hook, context, training=True):
        self.log.append(("strategy", hook, training, context))

    def extend_data(self, net, X, y, *, context, **kwargs):
        self._record("extend_data", context)
        return X, y

    def on_update_begin(self, net, X=None, y=None, *, context, **kwargs):
        self._record("on_update_begin", context)

    def extend_batch(self, net, X, y, *, context, **kwargs):
        self._record("extend_batch", context)
        return X, y

    def penalty(self, net, X, y, y_pred, *, context, **kwargs):
        self._record("penalty", context)

    def on_update_end(self, net, X=None, y=None, *, context, **kwargs):
        self._record("on_update_end", context)


class RecordingCallback(Callback):
    """A plain skorch callback that records skorch's events."""

    def __init__(self, log=None, who="callback"):
        self.log = log
        self.who = who


def _recorder(event):
    def hook(self, net, *args, training=True, context=None, **kwargs):
        self.log.append((getattr(self, "who", "strategy"), event, training, context))

    return hook


for _event in _SKORCH_EVENTS:
    setattr(RecordingStrategy, _event, _recorder(_event))
    setattr(RecordingCallback, _event, _recorder(_event))


def expected(n_epochs, n_batches, *, full, n_valid_batches=0):
    """The documented order for one call; in the full protocol the plain
    callback, listed after the strategy, follows it in every skorch event."""

    def event(name, training=True):
        return [("strategy", name, training)] + (
            [("callback", name, training)] if full else []
        )

    order = [("strategy", "extend_data", True), ("strategy", "on_update_begin", True)]
    order += event("on_train_begin")
    for _ in range(n_epochs):
        order += event("on_epoch_begin")
        for _ in range(n_batches):
            order += [("strategy", "extend_batch", True)]
            order += event("on_batch_begin")
            order += [("strategy", "penalty", True)]
            order += event("on_grad_computed")
            order += event("on_batch_end")
        for _ in range(n_valid_batches):
            order += event("on_batch_begin", False) + event("on_batch_end", False)
        order += event("on_epoch_end")
    order += event("on_train_end")
    order += [("strategy", "on_update_end", True)]
    return order


def run(full, **params):
    X, y = np.random.default_rng(0).normal(size=(80, 4)), np.arange(80) % 2
    log = Log()
    callbacks = [("strategy", RecordingStrategy(log))]
    if full:
        callbacks.append(("callback", RecordingCallback(log)))
    clf = ContinualClassifier(
        hidden_layer_sizes=(4,),
        max_epochs=2,
        update_epochs=3,
        lr=0.01,
        update_lr=0.001,
        batch_size=20,
        callbacks=callbacks,
        random_state=0,
        **params,
    )
    clf.fit(X[:40], y[:40])
    first = list(log)
    log.clear()
    clf.partial_fit(X[40:], y[40:])
    return clf, first, list(log)


@pytest.mark.parametrize("full", [False, True], ids=["lean", "full"])
def test_the_hooks_run_in_the_documented_order(full):
    clf, first, update = run(full)
    assert clf.net_.full_protocol() is full
    assert [entry[:3] for entry in first] == expected(2, 2, full=full)
    assert [entry[:3] for entry in update] == expected(3, 2, full=full)


def test_validation_batches_come_after_the_training_batches_of_an_epoch():
    # 40 samples, 10 held out: 2 training batches of 20 (15 + 15), 1 of 10
    clf, first, _ = run(True, train_split=0.25)
    assert [entry[:3] for entry in first] == expected(
        2, 2, full=True, n_valid_batches=1
    )


@pytest.mark.parametrize("full", [False, True], ids=["lean", "full"])
def test_every_hook_of_a_call_gets_the_same_context(full):
    _, first, update = run(full)
    for log, is_update, lr, n_epochs, call_index in (
        (first, False, 0.01, 2, 0),
        (update, True, 0.001, 3, 1),
    ):
        contexts = {id(entry[3]) for entry in log}
        assert len(contexts) == 1
        context = log[0][3]
        assert isinstance(context, UpdateContext)
        assert context.is_update is is_update and context.lr == pytest.approx(lr)
        assert context.n_epochs == n_epochs and context.call_index == call_index
        assert context.is_classifier and context.n_outputs == 2
        assert context.module is log[0][3].net.module_


def test_epoch_and_call_index_as_the_hooks_see_them():
    seen = []

    class Epochs(Strategy):
        def on_epoch_begin(self, net, *, context, **kwargs):
            seen.append(("begin", context.call_index, context.epoch))

        def on_update_end(self, net, X=None, y=None, *, context, **kwargs):
            seen.append(("end", context.call_index, context.epoch))

    X = np.random.default_rng(0).normal(size=(60, 3))
    y = X[:, 0]
    reg = ContinualRegressor(max_epochs=2, update_epochs=1, callbacks=[Epochs()])
    reg.fit(X[:20], y[:20], tasks=np.repeat([0, 1], 10))
    reg.partial_fit(X[20:40], y[20:40])
    assert seen == [
        ("begin", 0, 0),
        ("begin", 0, 1),
        ("end", 0, 2),
        ("begin", 1, 0),  # the second task is an update: one epoch
        ("end", 1, 1),
        ("begin", 2, 0),
        ("end", 2, 1),
    ]


def test_call_index_counts_the_calls_of_a_model_started_by_partial_fit():
    seen = []

    class Calls(Strategy):
        def on_update_end(self, net, X=None, y=None, *, context, **kwargs):
            seen.append((context.call_index, context.is_update))

    X = np.random.default_rng(0).normal(size=(30, 3))
    reg = ContinualRegressor(update_epochs=1, callbacks=[Calls()], random_state=0)
    for start in (0, 10, 20):
        reg.partial_fit(X[start : start + 10], X[start : start + 10, 0])
    reg.set_params(update_lr=1e30)  # an update rolled back is not counted
    with pytest.raises(NonFiniteUpdateError), pytest.warns(UserWarning, match="lie"):
        reg.partial_fit(X[:10] * 1e10, X[:10, 0] * 1e10)
    reg.set_params(update_lr=None)
    reg.partial_fit(X[:10], X[:10, 0])
    # the rolled-back update was call 3, and so is the next one
    assert seen == [(0, False), (1, True), (2, True), (3, True), (3, True)]


def test_hooks_of_the_first_contract_get_only_what_they_name(digits):
    """A strategy written before contexts (no **kwargs) still works."""
    X, y = digits
    calls = []

    class Legacy(Strategy):
        def extend_data(self, net, X, y, is_update=True):
            calls.append(("extend_data", is_update))
            return X, y

        def penalty(self, net, X, y, y_pred):
            calls.append(("penalty", len(X)))

    clf = ContinualClassifier(
        max_epochs=1, batch_size=None, callbacks=[Legacy()], random_state=0
    )
    clf.fit(X[:30], y[:30]).partial_fit(X[30:50], y[30:50])
    assert calls == [
        ("extend_data", False),
        ("penalty", 30),
        ("extend_data", True),
        ("penalty", 20),
    ]
