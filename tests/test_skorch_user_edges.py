"""What a skorch or scikit-learn user tries first, and what failed or
silently misbehaved before its fix: learning-rate schedulers in updates, the
optimizer's parameter groups and parameters, the criterion's class weights,
callbacks that set up a network (Initializer, LoadInitState) or write it to
disk (Checkpoint), validation on data of one's own (predefined_split), and
the parameter names those libraries have and these estimators do not."""

import pickle

import numpy as np
import pytest
import torch
from helpers import assert_same_state, model_state
from sklearn.utils.class_weight import compute_class_weight
from skorch import NeuralNet
from skorch.callbacks import (
    Callback,
    Checkpoint,
    EarlyStopping,
    EpochScoring,
    Initializer,
    LoadInitState,
    LRScheduler,
    TrainEndCheckpoint,
)
from skorch.dataset import Dataset, ValidSplit
from skorch.helper import predefined_split

from sklearn_cl import ContinualClassifier, ContinualRegressor, UpdateRejectedWarning


def classifier(**params):
    defaults = dict(hidden_layer_sizes=(16,), max_epochs=3, lr=1e-2, random_state=0)
    return ContinualClassifier(**{**defaults, **params})


@pytest.mark.parametrize(
    "policy, kwargs, factors",
    [
        ("LambdaLR", dict(lr_lambda=lambda epoch: 0.5**epoch), [1, 0.5, 0.25]),
        (
            torch.optim.lr_scheduler.CosineAnnealingWarmRestarts,
            dict(T_0=2),
            [1, 0.5, 1],
        ),
        ("StepLR", dict(step_size=1, gamma=0.5), [1, 0.5, 0.25]),
    ],
    ids=["LambdaLR", "CosineAnnealingWarmRestarts", "StepLR"],
)
def test_a_scheduler_in_an_update_starts_from_the_update_rate(
    policy, kwargs, factors, digits
):
    """torch's schedulers keep the first rate they saw in ``initial_lr``:
    without resetting it, an update scheduled from ``fit``'s rate."""
    X, y = digits
    sched = LRScheduler(policy=policy, event_name="event_lr", **kwargs)
    est = classifier(callbacks=[sched], update_lr=1e-4, update_epochs=3)
    est.fit(X[:300], y[:300])
    assert est.net_.history[:, "lr"] == pytest.approx([1e-2 * f for f in factors])
    est.partial_fit(X[300:400], y[300:400])
    assert est.net_.history[:, "lr"] == pytest.approx([1e-4 * f for f in factors])
    est.partial_fit(X[400:500], y[400:500])
    assert est.net_.history[:, "lr"] == pytest.approx([1e-4 * f for f in factors])


FROZEN_FIRST_LAYER = [("layers.0.*", {"lr": 0.0, "weight_decay": 0.0})]


def test_parameter_groups_keep_their_own_rate_and_settings(digits):
    """skorch's ``optimizer__param_groups``: a layer at rate 0 stays frozen
    and its own weight decay holds, in fit and in every update."""
    X, y = digits
    est = classifier(
        optimizer__param_groups=FROZEN_FIRST_LAYER, optimizer__weight_decay=0.1
    )
    initial = classifier().fit(X[:10], y[:10])  # same seed: same initial weights
    est.fit(X[:300], y[:300])
    first, rest = est.net_.optimizer_.param_groups
    assert (first["lr"], first["weight_decay"]) == (0.0, 0.0)
    assert (rest["lr"], rest["weight_decay"]) == (1e-2, 0.1)
    start = est.net_.module_.layers[0].weight.detach().clone()
    est.set_params(update_lr=1e-3, optimizer__weight_decay=0.2)
    est = pickle.loads(pickle.dumps(est))  # the groups' rates are saved
    est.partial_fit(X[300:400], y[300:400])
    first, rest = est.net_.optimizer_.param_groups
    assert (first["lr"], first["weight_decay"]) == (0.0, 0.0)
    assert (rest["lr"], rest["weight_decay"]) == (1e-3, 0.2)
    assert torch.equal(est.net_.module_.layers[0].weight, start)
    assert not torch.equal(
        initial.net_.module_.layers[2].weight, est.net_.module_.layers[2].weight
    )


def test_a_group_s_rate_keeps_its_ratio_to_each_call_s_rate(digits):
    X, y = digits
    groups = [("layers.0.*", {"lr": 1e-3})]  # a tenth of lr
    est = classifier(optimizer__param_groups=groups, update_lr=1e-4)
    est.fit(X[:300], y[:300])
    assert [g["lr"] for g in est.net_.optimizer_.param_groups] == pytest.approx(
        [1e-3, 1e-2]
    )
    est.partial_fit(X[300:400], y[300:400])
    assert [g["lr"] for g in est.net_.optimizer_.param_groups] == pytest.approx(
        [1e-5, 1e-4]
    )


def test_parameter_groups_define_the_network(digits):
    X, y = digits
    est = classifier(optimizer__param_groups=FROZEN_FIRST_LAYER).fit(X[:300], y[:300])
    before = model_state(est)
    est.set_params(optimizer__param_groups=[("layers.2.*", {"lr": 0.0})])
    with pytest.raises(ValueError, match="optimizer__param_groups.*define the net"):
        est.partial_fit(X[300:400], y[300:400])
    assert_same_state(model_state(est), before)


def test_an_optimizer_parameter_the_optimizer_lacks_is_an_error(digits):
    """Set after fitting, it was silently ignored (Adam has no momentum)."""
    X, y = digits
    est = classifier().fit(X[:300], y[:300])
    before = model_state(est)
    est.set_params(optimizer__momentum=0.9)
    with pytest.raises(ValueError, match="Adam has no parameter 'momentum'"):
        est.partial_fit(X[300:400], y[300:400])
    assert_same_state(model_state(est), before)
    del est.optimizer__momentum
    est.partial_fit(X[300:400], y[300:400])
    sgd = classifier(optimizer=torch.optim.SGD).fit(X[:300], y[:300])
    sgd.set_params(optimizer__momentum=0.9).partial_fit(X[300:400], y[300:400])
    assert sgd.net_.optimizer_.param_groups[0]["momentum"] == 0.9


@pytest.mark.parametrize("when", ["fit", "update"])
def test_optimizer_lr_says_to_use_lr(when, digits):
    """skorch reads optimizer__lr before lr; here every call sets its own
    rate, so the value would be silently ignored."""
    X, y = digits
    if when == "fit":
        with pytest.raises(ValueError, match="optimizer__lr is not used.*update_lr"):
            classifier(optimizer__lr=0.5).fit(X[:300], y[:300])
        return
    est = classifier().fit(X[:300], y[:300])
    before = model_state(est)
    with pytest.raises(ValueError, match="optimizer__lr is not used"):
        est.set_params(optimizer__lr=0.5).partial_fit(X[300:400], y[300:400])
    assert_same_state(model_state(est), before)


def test_criterion_class_weights_with_sample_weights_keep_torch_s_mean(digits):
    """The weighted mean divides by the class weights as torch's mean does:
    all-one sample weights change nothing, and ``criterion__weight`` and
    ``class_weight`` train alike."""
    X, y = digits
    weight = torch.ones(10)
    weight[3] = 5.0
    common = dict(batch_size=None, optimizer=torch.optim.SGD, max_epochs=3)

    def curve(sample_weight=None, **params):
        est = classifier(**common, **params)
        return est.fit(X[:300], y[:300], sample_weight=sample_weight).loss_curve_

    torch_mean = curve(criterion__weight=weight)
    assert curve(np.ones(300), criterion__weight=weight) == pytest.approx(torch_mean)
    assert curve(class_weight={3: 5.0}) == pytest.approx(torch_mean)
    sample = np.where(y[:300] == 0, 2.0, 1.0)
    assert curve(sample, criterion__weight=weight) == pytest.approx(
        curve(sample, class_weight={3: 5.0})
    )


def test_criterion_class_weights_cannot_grow_with_the_classes(digits):
    X, y = digits
    old = y[:300] < 5
    est = classifier(criterion__weight=torch.ones(5), allow_new_classes=True)
    est.fit(X[:300][old], y[:300][old])
    before = model_state(est)
    with pytest.raises(ValueError, match=r"criterion__weight\) have 5 entries.*class_"):
        est.partial_fit(X[300:400], y[300:400])
    assert_same_state(model_state(est), before)
    est.partial_fit(X[300:400][y[300:400] < 5], y[300:400][y[300:400] < 5])


@pytest.mark.parametrize(
    "name, value, hint",
    [
        ("warm_start", True, "partial_fit continues"),
        ("iterator_train__shuffle", False, "shuffled"),
        ("iterator_valid__batch_size", 64, "batch_size"),
        ("dataset", object, "slices of tensors"),
        ("max_iter", 5, "max_epochs"),
        ("learning_rate_init", 0.1, "update_lr"),
        ("alpha", 1e-4, "optimizer__weight_decay"),
        ("solver", "sgd", "torch.optim"),
        ("shuffle", False, "always shuffled"),
    ],
)
def test_a_skorch_or_mlp_parameter_name_says_what_to_use(name, value, hint, digits):
    X, y = digits
    with pytest.raises(ValueError, match=f"Unknown parameters.*{name}: .*{hint}"):
        classifier(**{name: value}).fit(X[:50], y[:50])


@pytest.mark.parametrize("tasks", [False, True])
def test_an_initializer_initialises_the_first_training_only(tasks, digits):
    """skorch's ``Initializer`` acts at the first epoch of a training run;
    here every update is one, and it used to draw the weights again, so an
    update of 10 samples left a model of chance accuracy."""
    X, y = digits
    init = Initializer("*.weight", fn=torch.nn.init.xavier_uniform_)
    est = classifier(callbacks=[init], hidden_layer_sizes=(64,), max_epochs=20)
    first = est.fit(X[:1000], y[:1000]).score(X[1000:], y[1000:])
    if tasks:  # the later tasks of fit are updates too
        est.fit(X[:1010], y[:1010], tasks=np.r_[np.zeros(1000), np.ones(10)])
    else:
        est.partial_fit(X[1000:1010], y[1000:1010])
    assert first > 0.85
    assert est.score(X[1000:], y[1000:]) > first - 0.05


def test_predefined_split_validates_every_call_on_the_same_data(digits):
    """skorch's way to validate on held-out data of one's own; it used to be
    refused as a split that returns other data."""
    X, y = digits
    labels = np.array([f"digit {v}" for v in y])  # encoded as training labels are
    valid = predefined_split(Dataset(X[1500:1600], labels[1500:1600]))
    est = classifier(
        train_split=valid,
        callbacks=[EarlyStopping(patience=2)],
        max_epochs=50,
        update_epochs=50,
    )
    est.fit(X[:300], labels[:300])
    assert est.n_iter_ < 50  # stopped on the predefined data's loss
    for _ in range(2):
        history = est.net_.history
        sizes = [
            sum(b.get("valid_batch_size", 0) for b in row["batches"]) for row in history
        ]
        assert sizes == [100] * len(history)
        proba = est.predict_proba(X[1500:1600])
        index = np.searchsorted(est.classes_, labels[1500:1600])
        log_loss = -np.log(proba[np.arange(100), index]).mean()
        assert history[-1, "valid_loss"] == pytest.approx(log_loss, rel=1e-4)
        est.partial_fit(X[300:600], labels[300:600])


def test_predefined_split_for_a_regressor_is_in_training_units(digits):
    X, y = digits
    target = 50 + 20 * y.astype(float)
    valid = predefined_split(Dataset(X[1500:1600], target[1500:1600]))
    reg = ContinualRegressor(
        hidden_layer_sizes=(16,), max_epochs=3, random_state=0, train_split=valid
    ).fit(X[:300], target[:300])
    scaled = (target[1500:1600] - reg.target_scaler_.mean_) / reg.target_scaler_.scale_
    pred = (reg.predict(X[1500:1600]) - reg.target_scaler_.mean_[0]) / (
        reg.target_scaler_.scale_[0]
    )
    mse = np.mean((pred - scaled.ravel()) ** 2)
    assert reg.net_.history[-1, "valid_loss"] == pytest.approx(mse, rel=1e-3)


@pytest.mark.parametrize(
    "dataset, message",
    [
        (lambda X, y: Dataset(X[:50], y[:50] + 10), r"labels \[10 11 12"),
        (lambda X, y: Dataset(X[:50, :10], y[:50]), "10 features"),
        (lambda X, y: Dataset(X[:50], None), "inputs and targets"),
    ],
    ids=["unknown labels", "features", "no targets"],
)
def test_bad_predefined_data_is_a_clear_error(dataset, message, digits):
    X, y = digits
    est = classifier().fit(X[:300], y[:300])
    before = model_state(est)
    est.set_params(train_split=predefined_split(dataset(X, y)))
    with pytest.raises(ValueError, match=message):
        est.partial_fit(X[300:400], y[300:400])
    assert_same_state(model_state(est), before)


@pytest.mark.parametrize(
    "scoring",
    [None, EpochScoring("accuracy", on_train=True, name="train_acc")],
    ids=["train_loss", "EpochScoring"],
)
def test_checkpoint_load_best_keeps_the_best_of_the_update(scoring, digits, tmp_path):
    """A score's "best" was the best of every call so far: an update whose
    loss on its own data never beat fit's made Checkpoint(load_best=True)
    load fit's files, silently discarding the update (and its history)."""
    X, y = digits
    monitor = "train_loss_best" if scoring is None else "train_acc_best"
    cp = Checkpoint(monitor=monitor, dirname=str(tmp_path), load_best=True)
    callbacks = [cp] if scoring is None else [("train_acc", scoring), cp]
    est = classifier(callbacks=callbacks, max_epochs=30, update_epochs=3)
    old, new = y[:600] < 5, y[600:1200] < 5
    est.fit(X[:600][old], y[:600][old])
    fitted = {k: v.clone() for k, v in est.net_.module_.state_dict().items()}
    est.partial_fit(X[600:1200][new], y[600:1200][new])
    assert est.net_.history[:, "call"][0] == "update 1"
    assert est.net_.history[0, monitor]  # the update's first epoch is its best yet
    weights = est.net_.module_.state_dict()
    assert any(not torch.equal(fitted[k], weights[k]) for k in fitted)
    saved = torch.load(tmp_path / "params.pt", weights_only=True)
    for name, value in saved.items():  # the update's best, written and kept
        torch.testing.assert_close(weights[name], value)


@pytest.mark.parametrize(
    "convert",
    [np.asarray, list, lambda w: torch.tensor(w, dtype=torch.float64)],
    ids=["numpy", "list", "float64 tensor"],
)
def test_criterion_weight_from_compute_class_weight(convert, digits):
    """compute_class_weight returns float64 numpy: torch refused the array
    ("cannot assign to buffer") and a float64 tensor failed at the first
    batch ("expected scalar type Float but found Double")."""
    X, y = digits
    weight = compute_class_weight("balanced", classes=np.unique(y[:300]), y=y[:300])
    reference = torch.tensor(weight, dtype=torch.float32)
    expected = classifier(criterion__weight=reference).fit(X[:300], y[:300])
    est = classifier(criterion__weight=convert(weight)).fit(X[:300], y[:300])
    assert est.loss_curve_ == pytest.approx(expected.loss_curve_)
    est.partial_fit(X[300:400], y[300:400])


def test_a_criterion_weight_that_is_no_array_says_so(digits):
    X, y = digits
    with pytest.raises(ValueError, match="criterion__weight must be an array"):
        classifier(criterion__weight="balanced").fit(X[:300], y[:300])


def test_load_init_state_does_not_reload_files_into_a_reloaded_model(digits, tmp_path):
    """A reloaded model's callbacks start afresh: its LoadInitState loaded
    the checkpoint files on disk (another model's, here) at the next update."""
    X, y = digits
    checkpoint = Checkpoint(dirname=str(tmp_path), monitor=None)
    est = classifier(callbacks=[LoadInitState(checkpoint)], update_lr=1e-9)
    est.fit(X[:300], y[:300])
    classifier(callbacks=[checkpoint], random_state=1).fit(X[300:600], y[300:600])
    reloaded = pickle.loads(pickle.dumps(est))
    before = est.predict_proba(X[:50])
    reloaded.partial_fit(X[:10], y[:10])
    np.testing.assert_allclose(reloaded.predict_proba(X[:50]), before, atol=1e-6)


def test_an_undone_update_writes_no_broken_model_to_disk(digits, tmp_path):
    """The checkpoints of an update that turns non-finite (and is undone)
    held its NaN weights: a job deploying the latest file deployed those."""
    X, y = digits
    callbacks = [
        TrainEndCheckpoint(dirname=str(tmp_path)),
        Checkpoint(monitor=None, dirname=str(tmp_path), f_params="every.pt"),
    ]
    est = classifier(callbacks=callbacks, on_nonfinite="warn").fit(X[:300], y[:300])
    est.set_params(update_lr=1e30)
    with pytest.warns(UpdateRejectedWarning):
        est.partial_fit(X[300:400], y[300:400])
    assert est.n_updates_ == 0
    weights = est.net_.module_.state_dict()
    for name in ("train_end_params.pt", "every.pt"):
        saved = torch.load(tmp_path / name, weights_only=True)
        for key, value in saved.items():
            torch.testing.assert_close(value, weights[key])


def test_an_unseeded_valid_split_is_seeded_by_random_state(digits):
    """skorch's ValidSplit(0.2) draws its split from numpy's global random
    state: equal random_state gave different models."""
    X, y = digits
    split = ValidSplit(0.2, stratified=True)
    probas = []
    for _ in range(2):
        est = classifier(train_split=split).fit(X[:300], y[:300])
        est.partial_fit(X[300:400], y[300:400])
        probas.append(est.predict_proba(X[:50]))
    np.testing.assert_array_equal(*probas)
    assert split.random_state is None  # the user's object is left alone


def test_tuning_a_scheduler_argument_says_to_give_it_first(digits):
    """skorch's LRScheduler lists as parameters only the scheduler arguments
    it was built with."""
    with pytest.raises(ValueError, match=r"Invalid parameter 'gamma'.*LRScheduler\("):
        classifier(
            callbacks=[("sched", LRScheduler("StepLR", step_size=1))]
        ).set_params(callbacks__sched__gamma=0.5)
    est = classifier(callbacks=[("sched", LRScheduler("StepLR", step_size=1, gamma=1))])
    assert est.set_params(callbacks__sched__gamma=0.5).callbacks[0][1].gamma == 0.5
    with pytest.raises(ValueError, match="Invalid parameter 'patience'") as info:
        classifier(callbacks=[("cb", Checkpoint())]).set_params(
            callbacks__cb__patience=1
        )
    assert "LRScheduler" not in str(info.value)


@pytest.mark.parametrize(
    "name",
    [
        name
        for name, _ in NeuralNet(
            torch.nn.Linear(1, 1), criterion=torch.nn.MSELoss
        ).get_default_callbacks()
    ],
)
def test_a_skorch_default_callback_s_name_says_to_pass_one_s_own(name):
    with pytest.raises(ValueError, match="skorch's default callbacks.*your own"):
        classifier().set_params(**{f"callbacks__{name}__sink": print})


def test_a_file_from_before_groups_defined_the_network_still_updates(digits):
    X, y = digits
    est = classifier(optimizer__param_groups=FROZEN_FIRST_LAYER).fit(X[:300], y[:300])
    del est._built_with["optimizer__param_groups"]  # as such files have it
    reloaded = pickle.loads(pickle.dumps(est))
    reloaded.partial_fit(X[300:400], y[300:400])
    assert reloaded.n_updates_ == 1


def test_a_file_setting_optimizer_lr_loads_without_it(digits):
    """Files written when ``optimizer__lr`` was silently ignored load and
    update as they did then."""
    X, y = digits
    est = classifier().fit(X[:300], y[:300])
    vars(est)["optimizer__lr"] = 0.5
    with pytest.warns(UserWarning, match="optimizer__lr, which was never used"):
        reloaded = pickle.loads(pickle.dumps(est))
    assert "optimizer__lr" not in reloaded.get_params()
    reloaded.partial_fit(X[300:400], y[300:400])


class ClippedSGD(torch.optim.SGD):
    """An optimizer with an argument of its own, kept outside its groups."""

    def __init__(self, params, lr=1e-2, max_norm=1.0):
        super().__init__(params, lr=lr)
        self.max_norm = max_norm


def test_a_custom_optimizer_s_own_argument_is_accepted(digits):
    X, y = digits
    est = classifier(optimizer=ClippedSGD, optimizer__max_norm=0.5)
    est.fit(X[:300], y[:300]).partial_fit(X[300:400], y[300:400])
    assert est.net_.optimizer_.max_norm == 0.5


def test_grafted_layers_train_whatever_rate_an_old_group_had(digits):
    from sklearn_cl.strategies import Graft

    X, y = digits
    est = classifier(optimizer__param_groups=FROZEN_FIRST_LAYER, callbacks=[Graft()])
    est.fit(X[:300], y[:300]).partial_fit(X[300:400], y[300:400])
    grafted = [g for g in est.net_.optimizer_.param_groups]
    assert [g["lr"] for g in grafted] == [est.update_lr or est.lr]
    before = [p.detach().clone() for p in grafted[0]["params"]]
    est.partial_fit(X[400:500], y[400:500])
    assert any(not torch.equal(a, b) for a, b in zip(before, grafted[0]["params"]))


EVENTS = []  # outside the callbacks, whose state an undone call puts back


class Pairs(Callback):
    def on_train_begin(self, net, **kwargs):
        EVENTS.append("begin")

    def on_train_end(self, net, **kwargs):
        EVENTS.append("end")


def test_an_undone_update_still_ends_what_callbacks_began(digits):
    """A progress bar or a logger's run opened in ``on_train_begin`` is
    closed in ``on_train_end`` even when the call turns non-finite."""
    X, y = digits
    EVENTS.clear()
    est = classifier(callbacks=[Pairs()], on_nonfinite="warn").fit(X[:300], y[:300])
    est.set_params(update_lr=1e30)
    with pytest.warns(UpdateRejectedWarning):
        est.partial_fit(X[300:400], y[300:400])
    assert est.n_updates_ == 0
    assert EVENTS == ["begin", "end", "begin", "end"]


def test_criterion_class_weights_leave_out_an_ignored_class_as_torch_does(digits):
    X, y = digits
    weight = torch.linspace(0.5, 2.0, 10)
    common = dict(
        batch_size=None,
        optimizer=torch.optim.SGD,
        criterion__weight=weight,
        criterion__ignore_index=1,
    )
    torch_mean = classifier(**common).fit(X[:300], y[:300]).loss_curve_
    weighted = classifier(**common).fit(X[:300], y[:300], sample_weight=np.ones(300))
    assert weighted.loss_curve_ == pytest.approx(torch_mean)


def test_a_regressor_s_predefined_targets_must_be_finite(digits):
    X, y = digits
    target = y.astype(float)
    target[1510] = np.inf
    reg = ContinualRegressor(hidden_layer_sizes=(8,), max_epochs=2, random_state=0)
    reg.fit(X[:300], target[:300])
    before = model_state(reg)
    reg.set_params(
        train_split=predefined_split(Dataset(X[1500:1600], target[1500:1600]))
    )
    with pytest.raises(ValueError, match="predefined_split's y contains infinity"):
        reg.partial_fit(X[300:400], target[300:400])
    assert_same_state(model_state(reg), before)
