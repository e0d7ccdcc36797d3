"""Validation and early stopping in both conventions: skorch's ``train_split``
and scikit-learn MLP's ``early_stopping`` / ``validation_fraction`` /
``n_iter_no_change`` / ``tol``; the MLP's attributes; verbose output."""

import numpy as np
import pytest
from helpers import assert_same_state, model_state
from sklearn.model_selection import StratifiedKFold
from skorch.callbacks import EarlyStopping
from skorch.dataset import ValidSplit

from sklearn_cl import ContinualClassifier, ContinualRegressor


def classifier(**params):
    defaults = dict(hidden_layer_sizes=(32,), max_epochs=8, lr=1e-2, random_state=0)
    return ContinualClassifier(**{**defaults, **params})


@pytest.mark.parametrize("split", [0.2, ValidSplit(5)])
def test_train_split_records_valid_loss_each_epoch(split, digits):
    X, y = digits
    est = classifier(train_split=split).fit(X[:500], y[:500])
    history = est.net_.history
    assert len(history) == 8
    assert all(row["valid_loss"] > 0 for row in history)
    assert history[-1, "valid_batch_count"] == 4  # 100 samples in batches of 32
    assert (
        sum(
            b["valid_batch_size"]
            for b in history[-1, "batches"]
            if "valid_batch_size" in b
        )
        == 100
    )


def test_the_validation_samples_are_not_trained_on(digits):
    X, y = digits
    weights = np.r_[np.ones(400), np.zeros(100)]

    class LastFifth:
        """Validates on the last 100 samples, as weights of zero would drop them."""

        def __call__(self, dataset, y=None):
            import torch

            n = len(dataset)
            return (
                torch.utils.data.Subset(dataset, np.arange(n - 100)),
                torch.utils.data.Subset(dataset, np.arange(n - 100, n)),
            )

    a = classifier(train_split=LastFifth(), batch_size=None).fit(X[:500], y[:500])
    b = classifier(batch_size=None).fit(X[:500], y[:500], sample_weight=weights)
    np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-3)


def test_sklearn_early_stopping(digits):
    X, y = digits
    est = classifier(max_epochs=200, early_stopping=True, n_iter_no_change=3)
    est.fit(X[:600], y[:600])
    assert est.n_iter_ < 200
    scores = est.validation_scores_
    assert len(scores) == est.n_iter_ == len(est.loss_curve_)
    assert est.best_validation_score_ == max(scores)
    assert est.best_loss_ is None
    # the n_iter_no_change epochs after the best one did not beat it by tol
    best = int(np.argmax(scores))
    assert est.n_iter_ - 1 - best <= 3
    # the best weights are kept (load_best), as MLPClassifier keeps its best
    # coefficients: the model scores the best validation score again
    assert est.net_.history[best, "valid_score"] == est.best_validation_score_


def test_sklearn_early_stopping_stratifies_and_seeds_the_split(digits):
    X, y = digits
    a = classifier(early_stopping=True, validation_fraction=0.2).fit(X[:500], y[:500])
    b = classifier(early_stopping=True, validation_fraction=0.2).fit(X[:500], y[:500])
    assert a.validation_scores_ == b.validation_scores_


def test_early_stopping_in_updates_validates_on_the_update_s_data(digits):
    X, y = digits
    est = classifier(early_stopping=True, update_epochs=50, n_iter_no_change=2)
    est.fit(X[:500], y[:500])
    est.partial_fit(X[500:800], y[500:800])
    assert 3 <= est.n_iter_ < 50
    assert est.n_updates_ == 1
    valid = est.net_.history[-1, "batches"]
    assert sum(b.get("valid_batch_size", 0) for b in valid) == 30


def test_without_early_stopping_the_mlp_attributes_describe_the_loss(digits):
    X, y = digits
    est = classifier().fit(X[:300], y[:300])
    assert est.n_iter_ == 8 and len(est.loss_curve_) == 8
    assert est.best_loss_ == min(est.loss_curve_)
    assert est.validation_scores_ is None and est.best_validation_score_ is None


def test_history_stays_bounded(digits):
    X, y = digits
    est = classifier(train_split=0.5, callbacks=[EarlyStopping(patience=100)])
    est.fit(X[:100], y[:100])
    for start in range(100, 1100, 100):
        est.partial_fit(X[start : start + 100], y[start : start + 100])
    assert len(est.net_.history) == 1


def test_regressor_early_stopping_uses_r2(digits):
    X, _ = digits
    y = X[:, 20:30].sum(axis=1) * 7 + 40
    reg = ContinualRegressor(
        hidden_layer_sizes=(32,),
        max_epochs=100,
        early_stopping=True,
        tol=1e-2,
        random_state=0,
    ).fit(X[:800], y[:800])
    assert reg.n_iter_ < 100
    assert 0.5 < reg.best_validation_score_ <= 1


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(early_stopping=True, validation_fraction=0.01), "validation split"),
        (dict(train_split=0.02), "validation split"),
        (dict(train_split=1.5), "train_split"),
        (dict(train_split="half"), "train_split"),
        (dict(validation_fraction=0.0), "validation_fraction"),
        (dict(validation_fraction=1.0), "validation_fraction"),
        (dict(n_iter_no_change=0), "n_iter_no_change"),
        (dict(tol=-1.0), "tol"),
        (dict(early_stopping="yes"), "early_stopping"),
    ],
)
def test_bad_validation_parameters(params, message, digits):
    X, y = digits
    est = classifier().fit(X[:300], y[:300])
    before = model_state(est)
    est.set_params(**params)
    with pytest.raises(ValueError, match=message):
        est.partial_fit(X[300:400], y[300:400])
    assert_same_state(before, model_state(est))
    with pytest.raises(ValueError, match=message):
        est.fit(X[:300], y[:300])
    assert_same_state(before, model_state(est))


def test_a_split_too_small_for_the_classes_says_so(digits):
    X, y = digits
    with pytest.raises(
        ValueError, match="validation split.*40 samples.*fewer|validation split"
    ):
        classifier(train_split=0.1).fit(X[:40], y[:40])


def test_a_split_that_returns_other_data_is_refused(digits):
    X, y = digits

    def elsewhere(dataset, y=None):
        return dataset, object()

    with pytest.raises(ValueError, match="train_split must return the dataset"):
        classifier(train_split=elsewhere).fit(X[:100], y[:100])


def test_stratified_split_of_a_user_cv(digits):
    X, y = digits
    est = classifier(train_split=ValidSplit(StratifiedKFold(4), stratified=True))
    est.fit(X[:400], y[:400])
    assert est.net_.history[-1, "valid_batch_count"] == 4


def test_verbose_prints_skorch_s_table_with_the_call(digits, capsys):
    X, y = digits
    est = classifier(verbose=1, max_epochs=2, train_split=0.2)
    est.fit(X[:300], y[:300], tasks=y[:300] >= 5)
    out = capsys.readouterr().out
    header = out.splitlines()[0]
    for column in ("epoch", "call", "train_loss", "valid_loss", "lr", "dur"):
        assert column in header
    assert "task 1/2" in out and "task 2/2" in out
    est.partial_fit(X[300:400], y[300:400])
    assert "update 2" in capsys.readouterr().out
    classifier(max_epochs=2).fit(X[:300], y[:300])
    assert capsys.readouterr().out == ""


def test_an_update_validates_on_its_new_data_only(digits):
    """Rehearsal's stored samples are trained on, never held out."""
    from sklearn_cl.strategies import Rehearsal

    X, y = digits
    est = classifier(train_split=0.25, callbacks=[Rehearsal()]).fit(X[:400], y[:400])
    est.partial_fit(X[400:600], y[400:600])
    batches = est.net_.history[-1, "batches"]
    assert sum(b.get("valid_batch_size", 0) for b in batches) == 50
    # 150 new training samples and all 400 stored by fit: a call holds out
    # part of its own data, and the strategies still consolidate all of it
    assert sum(b.get("train_batch_size", 0) for b in batches) == 150 + 400
