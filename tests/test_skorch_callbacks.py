"""Every skorch callback works in fit and partial_fit, as in skorch itself.

The matrix runs over ``skorch.callbacks.__all__``: a callback a later skorch
adds is tried with its defaults without anyone listing it here.
"""

import inspect
import pickle

import numpy as np
import pytest
import skorch.callbacks as skorch_callbacks
import torch
from skorch.callbacks import (
    BatchScoring,
    Callback,
    Checkpoint,
    EarlyStopping,
    EpochScoring,
    EpochTimer,
    Freezer,
    GradientNormClipping,
    Initializer,
    InputShapeSetter,
    LoadInitState,
    LRScheduler,
    ParamMapper,
    PassthroughScoring,
    PrintLog,
    ProgressBar,
    TrainEndCheckpoint,
    Unfreezer,
    WarmRestartLR,
)

from sklearn_cl import ContinualClassifier
from sklearn_cl.strategies import EWC, Graft, Replay

FIRST_LAYER = "layers.0.*"


def classifier(callbacks, **params):
    defaults = dict(hidden_layer_sizes=(16,), max_epochs=4, lr=1e-2, random_state=0)
    return ContinualClassifier(callbacks=callbacks, **{**defaults, **params})


def fit_then_update(digits, callbacks, **params):
    X, y = digits
    est = classifier(callbacks, **params).fit(X[:300], y[:300])
    fitted = {k: v.clone() for k, v in est.net_.module_.state_dict().items()}
    est.partial_fit(X[300:400], y[300:400])
    assert est.n_updates_ == 1
    assert est.predict(X[:5]).shape == (5,)
    return est, fitted


def live(est, name):
    return dict(est.net_.callbacks_)[name]


class Calls:
    """A picklable function that counts its calls (in the class: the
    estimators clone callbacks, and their arguments with them)."""

    n = 0

    def __init__(self):
        type(self).n = 0

    def __call__(self, param):
        type(self).n += 1
        return param


def check_batch_scoring(digits, tmp_path):
    est, _ = fit_then_update(
        digits, [("acc", BatchScoring("accuracy", on_train=True, name="acc"))]
    )
    row = est.net_.history[-1]
    assert 0 <= row["acc"] <= 1
    assert len(row["batches"]) == row["train_batch_count"] == 4
    assert all("acc" in batch for batch in row["batches"])


def check_callback(digits, tmp_path):
    fit_then_update(digits, [Callback()])


def check_checkpoint(digits, tmp_path):
    cp = Checkpoint(monitor="train_loss_best", dirname=str(tmp_path))
    est, _ = fit_then_update(digits, [cp])
    assert (tmp_path / "params.pt").exists()
    assert (tmp_path / "history.json").exists()
    saved = torch.load(tmp_path / "params.pt", weights_only=True)
    assert set(saved) == set(est.net_.module_.state_dict())


def check_early_stopping(digits, tmp_path):
    # a threshold no epoch can beat: stops after patience epochs
    stop = EarlyStopping(monitor="train_loss", patience=2, threshold=10.0)
    X, y = digits
    est = classifier([stop], max_epochs=20, update_epochs=20).fit(X[:300], y[:300])
    assert est.n_iter_ == 3 and len(est.loss_curve_) == 3
    assert est.score(X[:300], y[:300]) > 0.3  # trained, and kept: no rollback
    before = {k: v.clone() for k, v in est.net_.module_.state_dict().items()}
    est.partial_fit(X[300:400], y[300:400])
    assert est.n_iter_ == 3 and est.n_updates_ == 1
    after = est.net_.module_.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def check_early_stopping_on_valid_loss(digits, tmp_path):
    X, y = digits
    est = classifier(
        [EarlyStopping(patience=1, threshold=10.0)], max_epochs=20, train_split=0.2
    ).fit(X[:300], y[:300])
    assert est.n_iter_ == 2
    assert "valid_loss" in est.net_.history[-1]


def check_epoch_scoring(digits, tmp_path):
    callbacks = [
        ("train_acc", EpochScoring("accuracy", on_train=True, name="train_acc")),
        ("valid_acc", EpochScoring("accuracy", name="valid_acc")),
        ("valid_r", EpochScoring("accuracy", name="valid_r", use_caching=False)),
    ]
    est, _ = fit_then_update(digits, callbacks, train_split=0.25)
    X, y = digits
    row = est.net_.history[-1]
    assert 0 <= row["train_acc"] <= 1
    # cached and recomputed predictions give the same validation score
    assert row["valid_acc"] == pytest.approx(row["valid_r"])
    first = classifier(callbacks, train_split=0.25).fit(X[:300], y[:300])
    assert first.net_.history[-1, "valid_acc"] > 0.5


def check_epoch_timer(digits, tmp_path):
    est, _ = fit_then_update(digits, [("timer", EpochTimer())])
    assert est.net_.history[-1, "dur"] > 0


def check_freezer(digits, tmp_path):
    est, fitted = fit_then_update(digits, [Freezer(FIRST_LAYER)])
    weights = est.net_.module_.state_dict()
    assert torch.equal(weights["layers.0.weight"], fitted["layers.0.weight"])
    assert not torch.equal(weights["layers.2.weight"], fitted["layers.2.weight"])


def check_gradient_norm_clipping(digits, tmp_path):
    X, y = digits
    tiny = classifier([GradientNormClipping(gradient_clip_value=1e-9)], lr=1e-4)
    plain = classifier([], lr=1e-4)
    # SGD: a step is the clipped gradient itself
    tiny.set_params(optimizer=torch.optim.SGD).fit(X[:300], y[:300])
    plain.set_params(optimizer=torch.optim.SGD).fit(X[:300], y[:300])
    start = classifier([]).set_params(max_epochs=1, lr=1e-30)
    start.set_params(optimizer=torch.optim.SGD).fit(X[:300], y[:300])

    def moved(est):
        return sum(
            (a - b).abs().sum().item()
            for a, b in zip(
                est.net_.module_.parameters(), start.net_.module_.parameters()
            )
        )

    assert moved(tiny) < 1e-3 * moved(plain)


def check_initializer(digits, tmp_path):
    calls = Calls()
    fit_then_update(digits, [Initializer("*.weight", fn=calls)])
    # two weight tensors, at the first epoch of fit only: an update that
    # initialised them again would discard the model
    assert calls.n == 2


def check_input_shape_setter(digits, tmp_path):
    X, y = digits
    with pytest.raises(ValueError, match="InputShapeSetter.*input size"):
        classifier([InputShapeSetter()]).fit(X[:100], y[:100])


def check_load_init_state(digits, tmp_path):
    class WeightsAtStart(Callback):
        def on_train_begin(self, net, **kwargs):
            self.weights_ = None

        def on_epoch_begin(self, net, **kwargs):
            if self.weights_ is None:
                self.weights_ = {
                    k: v.clone() for k, v in net.module_.state_dict().items()
                }

    X, y = digits
    cp = Checkpoint(monitor="train_loss_best", dirname=str(tmp_path))
    source = classifier([cp]).fit(X[:300], y[:300])
    cp2 = Checkpoint(monitor="train_loss_best", dirname=str(tmp_path))
    target = classifier([LoadInitState(cp2), ("start", WeightsAtStart())])
    target.fit(X[:300], y[:300])
    # the first epoch started from the checkpoint's weights
    saved = torch.load(tmp_path / "params.pt", weights_only=True)
    assert set(saved) == set(source.net_.module_.state_dict())
    for name, value in saved.items():
        torch.testing.assert_close(live(target, "start").weights_[name], value)


def check_lr_scheduler(digits, tmp_path):
    sched = LRScheduler(policy="StepLR", step_size=1, gamma=0.5, event_name="event_lr")
    est, _ = fit_then_update(digits, [sched], lr=1e-2, update_lr=1e-3)
    # each call runs its own schedule from its own starting rate
    assert est.net_.history[:, "event_lr"] == [1e-3]
    X, y = digits
    est = classifier([sched], lr=1e-2).fit(X[:300], y[:300])
    assert est.net_.history[:, "event_lr"] == pytest.approx(
        [1e-2, 5e-3, 2.5e-3, 1.25e-3]
    )


def check_lr_scheduler_on_plateau(digits, tmp_path):
    sched = LRScheduler(policy="ReduceLROnPlateau", monitor="valid_loss", patience=0)
    fit_then_update(digits, [sched], train_split=0.2)


def check_lr_scheduler_batch_policy(digits, tmp_path):
    sched = LRScheduler(
        policy="CyclicLR", base_lr=1e-4, max_lr=1e-2, step_every="batch"
    )
    fit_then_update(digits, [sched], optimizer=torch.optim.SGD)


def check_param_mapper(digits, tmp_path):
    calls = Calls()
    fit_then_update(digits, [ParamMapper("layers.2.*", fn=calls, at=2)])
    assert calls.n == 2  # weight and bias, at epoch 2 of fit (the update has 1)


def check_passthrough_scoring(digits, tmp_path):
    scoring = ("valid_copy", PassthroughScoring(name="valid_loss"))
    est, _ = fit_then_update(digits, [scoring], train_split=0.2)
    assert est.net_.history[-1, "valid_loss"] > 0


def check_print_log(digits, tmp_path, capsys=None):
    lines = []
    fit_then_update(digits, [("log", PrintLog(sink=lines.append))], verbose=1)
    assert "train_loss" in lines[0]
    assert any("update 1" in line for line in lines)


def check_progress_bar(digits, tmp_path):
    X, y = digits
    est, _ = fit_then_update(digits, [ProgressBar()], batch_size=None)
    assert est.net_.history[-1, "train_batch_count"] == 1
    classifier([ProgressBar()], train_split=0.2).fit(X[:300], y[:300])


def check_train_end_checkpoint(digits, tmp_path):
    fit_then_update(digits, [TrainEndCheckpoint(dirname=str(tmp_path))])
    assert (tmp_path / "train_end_params.pt").exists()


def check_unfreezer(digits, tmp_path):
    # frozen at the first epoch, unfrozen at the second: the layer moves
    est, fitted = fit_then_update(
        digits, [Freezer(FIRST_LAYER), Unfreezer(FIRST_LAYER, at=2)], update_epochs=2
    )
    weights = est.net_.module_.state_dict()
    assert not torch.equal(weights["layers.0.weight"], fitted["layers.0.weight"])


def check_warm_restart_lr(digits, tmp_path):
    fit_then_update(digits, [LRScheduler(policy=WarmRestartLR)])


CASES = {
    "BatchScoring": [check_batch_scoring],
    "Callback": [check_callback],
    "Checkpoint": [check_checkpoint],
    "EarlyStopping": [check_early_stopping, check_early_stopping_on_valid_loss],
    "EpochScoring": [check_epoch_scoring],
    "EpochTimer": [check_epoch_timer],
    "Freezer": [check_freezer],
    "GradientNormClipping": [check_gradient_norm_clipping],
    "Initializer": [check_initializer],
    "InputShapeSetter": [check_input_shape_setter],
    "LRScheduler": [
        check_lr_scheduler,
        check_lr_scheduler_on_plateau,
        check_lr_scheduler_batch_policy,
    ],
    "LoadInitState": [check_load_init_state],
    "ParamMapper": [check_param_mapper],
    "PassthroughScoring": [check_passthrough_scoring],
    "PrintLog": [check_print_log],
    "ProgressBar": [check_progress_bar],
    "TrainEndCheckpoint": [check_train_end_checkpoint],
    "Unfreezer": [check_unfreezer],
    "WarmRestartLR": [check_warm_restart_lr],
}
# loggers need a client object of a package that is not installed here
LOGGERS = {
    "TensorBoard": "tensorboard",
    "MlflowLogger": "mlflow",
    "NeptuneLogger": "neptune",
    "SacredLogger": "sacred",
    "WandbLogger": "wandb",
}


def _cases():
    for name in skorch_callbacks.__all__:
        if name in LOGGERS:
            yield pytest.param(name, None, id=name)
        for check in CASES.get(name, [None]):
            if name not in LOGGERS:
                yield pytest.param(
                    name, check, id=f"{name}-{getattr(check, '__name__', 'defaults')}"
                )


@pytest.mark.parametrize("name, check", list(_cases()))
def test_skorch_callback(name, check, digits, tmp_path):
    if name in LOGGERS:
        pytest.importorskip(LOGGERS[name])
        pytest.skip(f"{name} needs a {LOGGERS[name]} run object")
    if check is None:  # added by a later skorch: try it with its defaults
        cls = getattr(skorch_callbacks, name)
        required = [
            p
            for p in inspect.signature(cls).parameters.values()
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        if required:
            pytest.fail(f"{name} needs arguments {required}: add a case to CASES")
        fit_then_update(digits, [cls()])
        return
    check(digits, tmp_path)


def test_cases_name_real_callbacks():
    assert set(CASES) | set(LOGGERS) <= set(skorch_callbacks.__all__)


def test_strategies_alone_keep_the_lean_protocol(digits):
    X, y = digits
    est = classifier([EWC(), Replay(buffer_size=50)]).fit(X[:300], y[:300])
    assert not est.net_.full_protocol()
    row = est.net_.history[-1]
    assert set(row) == {"epoch", "call", "train_loss", "dur", "batches"}
    assert row["batches"] == []
    est = classifier([EWC(), EpochTimer()]).fit(X[:300], y[:300])
    assert est.net_.full_protocol()
    assert est.net_.history[-1, "train_batch_count"] == 10


def test_an_interrupt_inside_a_batch_still_undoes_the_update(digits):
    """skorch's stop signal only counts at the end of an epoch."""

    class Interrupt(Callback):
        def __init__(self, armed=False):
            self.armed = armed

        def on_batch_end(self, net, **kwargs):
            if self.armed:
                raise KeyboardInterrupt

    X, y = digits
    est = classifier([("stop", Interrupt())]).fit(X[:300], y[:300])
    before = est.predict_proba(X[:50])
    live(est, "stop").armed = True
    with pytest.raises(KeyboardInterrupt):
        est.partial_fit(X[300:400], y[300:400])
    assert est.n_updates_ == 0
    np.testing.assert_array_equal(est.predict_proba(X[:50]), before)


def test_skorch_events_get_skorch_arguments(digits):
    class Spy(Callback):
        def initialize(self):
            self.seen_ = []
            return self

        def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kw):
            self.seen_.append(("epoch", len(dataset_train), len(dataset_valid)))

        def on_batch_end(
            self, net, batch=None, training=None, loss=None, y_pred=None, **kw
        ):
            self.seen_.append(("batch", training, len(batch[0]), tuple(y_pred.shape)))

    X, y = digits
    est = classifier([("spy", Spy())], max_epochs=1, batch_size=100, train_split=0.2)
    est.fit(X[:250], y[:250])
    seen = live(est, "spy").seen_
    assert seen[0] == ("epoch", 200, 50)
    assert seen[1:3] == [("batch", True, 100, (100, 10))] * 2
    assert seen[-1] == ("batch", False, 50, (50, 10))


@pytest.mark.parametrize(
    "make",
    [
        lambda tmp: EarlyStopping(),
        lambda tmp: Checkpoint(dirname=str(tmp)),
        lambda tmp: LRScheduler(policy="ReduceLROnPlateau", monitor="valid_loss"),
    ],
    ids=["EarlyStopping", "Checkpoint", "LRScheduler"],
)
def test_monitoring_validation_without_validation_data_says_so(make, digits, tmp_path):
    X, y = digits
    with pytest.raises(ValueError, match="monitors 'valid_loss.*no validation data"):
        classifier([make(tmp_path)]).fit(X[:100], y[:100])
    classifier([make(tmp_path)], train_split=0.2).fit(X[:200], y[:200])


def test_freezing_every_parameter_is_a_clear_error_that_changes_nothing(digits):
    # torch's own message was "element 0 of tensors does not require grad
    # and does not have a grad_fn"
    X, y = digits
    est = classifier([]).fit(X[:300], y[:300])
    before = {k: v.clone() for k, v in est.net_.module_.state_dict().items()}
    est.set_params(callbacks=[Freezer("*")])
    with pytest.raises(ValueError, match="every parameter of the module is frozen"):
        est.partial_fit(X[300:400], y[300:400])
    after = est.net_.module_.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert est.n_updates_ == 0
    assert all(p.requires_grad for p in est.net_.module_.parameters())
    est.set_params(callbacks=[]).partial_fit(X[300:400], y[300:400])
    assert est.n_updates_ == 1


class LogSoftmaxMLP(torch.nn.Module):
    def __init__(self, n_features, n_outputs):
        super().__init__()
        self.linear = torch.nn.Linear(n_features, n_outputs)

    def forward(self, X):
        return torch.log_softmax(self.linear(X), dim=1)


def test_nll_loss_needs_a_module_that_returns_log_probabilities(digits):
    # skorch's classifier default; on the built-in MLP's logits it trained
    # silently towards ever larger logits (0.195 accuracy on digits)
    X, y = digits
    with pytest.raises(ValueError, match="NLLLoss needs log-probabilities"):
        classifier([], criterion=torch.nn.NLLLoss).fit(X, y)
    est = classifier([], criterion=torch.nn.NLLLoss, module=LogSoftmaxMLP)
    assert est.fit(X, y).score(X, y) > 0.9
    np.testing.assert_allclose(est.predict_proba(X[:5]).sum(axis=1), 1, rtol=1e-5)


def test_an_optimizer_that_needs_a_closure_is_refused_with_the_reason(digits):
    # skorch passes a closure to every step; the lean loop does not, and
    # LBFGS failed at the first batch with "missing ... 'closure'"
    X, y = digits
    with pytest.raises(ValueError, match="LBFGS needs a closure"):
        classifier([], optimizer=torch.optim.LBFGS).fit(X, y)
    assert classifier([], optimizer=torch.optim.SGD).fit(X, y).n_updates_ == 0


def test_a_freezer_acts_in_the_calls_it_is_among_the_callbacks_of(digits):
    # as the Freeze strategy: the layer frozen in the first update trains in
    # the next once the Freezer is removed (it stayed frozen in the live
    # model, though not in a pickled or saved copy, which keep no flags)
    X, y = digits
    est = classifier([]).fit(X[:300], y[:300])
    est.set_params(callbacks=[Freezer(FIRST_LAYER)]).partial_fit(X[:100], y[:100])
    assert all(p.requires_grad for p in est.net_.module_.parameters())
    frozen = est.net_.module_.layers[0].weight.detach().clone()
    est.set_params(callbacks=[]).partial_fit(X[100:200], y[100:200])
    assert not torch.equal(est.net_.module_.layers[0].weight, frozen)


class LowPrecisionLogSoftmax(torch.nn.Module):
    """Log-probabilities computed in float32, returned in float16."""

    def __init__(self, n_features, n_outputs):
        super().__init__()
        self.linear = torch.nn.Linear(n_features, n_outputs)

    def forward(self, X):
        return torch.log_softmax(self.linear(X), dim=1).half()


class LogSoftmaxNLLLoss(torch.nn.NLLLoss):
    """An NLLLoss that takes logits: it applies log_softmax itself."""

    def forward(self, input, target):
        return super().forward(torch.log_softmax(input, dim=1), target)


@pytest.mark.parametrize(
    "params",
    [
        # float16 log-probabilities sum to 1 only to their precision
        dict(module=LowPrecisionLogSoftmax),
        # a subclass with its own forward says itself what it takes
        dict(criterion=LogSoftmaxNLLLoss),
    ],
    ids=["float16", "nll-subclass-taking-logits"],
)
def test_nll_loss_on_what_it_can_take_is_not_refused(digits, params):
    X, y = digits
    est = classifier([], **{"criterion": torch.nn.NLLLoss, **params}).fit(X, y)
    assert est.score(X, y) > 0.8


def test_a_refused_nll_loss_leaves_the_fitted_model_as_it_was(digits):
    X, y = digits
    est = classifier([]).fit(X[:300], y[:300])
    before = est.predict_proba(X)
    attributes = dict(vars(est))
    est.set_params(criterion=torch.nn.NLLLoss)
    with pytest.raises(ValueError, match="NLLLoss needs log-probabilities"):
        est.fit(X, y)
    assert est.net_ is attributes["net_"]
    assert {k for k in vars(est) if k != "criterion"} == {
        k for k in attributes if k != "criterion"
    }
    np.testing.assert_array_equal(est.predict_proba(X), before)


@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode])
def test_training_under_the_caller_s_no_grad_trains(digits, mode):
    # the loss had no gradient, and the error blamed frozen parameters
    X, y = digits
    est = classifier([EWC(lambda_=1.0)])
    with mode():
        est.fit(X[:300], y[:300])
        before = est.predict_proba(X[:50])
        est.partial_fit(X[300:600], y[300:600])
    assert est.n_updates_ == 1
    assert not np.allclose(est.predict_proba(X[:50]), before)
    assert all(p.requires_grad for p in est.net_.module_.parameters())


def test_a_freezer_in_the_call_that_grafts_acts_in_that_call_only(digits):
    # Graft replaces the module in the call's first hook: what a Freezer
    # froze in the new module stayed frozen in the live model (the flags
    # were restored only on a module that was not replaced), though not in
    # a pickled copy
    X, y = digits
    graft, branch = Graft(width=8), "*branch.0.*"
    est = classifier([graft]).fit(X[:300], y[:300])
    est.set_params(callbacks=[graft, Freezer(branch)])
    est.partial_fit(X[300:400], y[300:400])
    module = est.net_.module_
    flags = {name: p.requires_grad for name, p in module.named_parameters()}
    assert any("branch.0" in name and flag for name, flag in flags.items())
    copy = pickle.loads(pickle.dumps(est)).net_.module_
    assert {n: p.requires_grad for n, p in copy.named_parameters()} == flags
    layer = next(m for n, m in module.named_modules() if n.endswith("branch.0"))
    frozen = layer.weight.detach().clone()
    est.set_params(callbacks=[graft]).partial_fit(X[400:500], y[400:500])
    assert not torch.equal(layer.weight, frozen)


def test_a_module_with_lazy_layers_learns_and_rolls_back(digits):
    # its first forward pass (the build's output check, in inference mode)
    # made the lazy weights inference tensors: no step changed them, and
    # restoring their requires_grad flags failed at the end of every call
    X, y = digits
    lazy = torch.nn.Sequential(torch.nn.LazyLinear(10))
    clf = ContinualClassifier(module=lazy, max_epochs=10, lr=1e-2, random_state=0)
    assert clf.fit(X[:500], y[:500]).score(X[500:], y[500:]) > 0.8
    before = clf.predict_proba(X)
    with pytest.raises(ValueError, match="every parameter of the module is frozen"):
        clf.set_params(callbacks=[Freezer("*")]).partial_fit(X[:100], y[:100])
    np.testing.assert_array_equal(clf.predict_proba(X), before)
    clf.set_params(callbacks=None).partial_fit(X[500:600], y[500:600])
    assert not np.array_equal(clf.predict_proba(X), before)
