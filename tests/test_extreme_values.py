"""Extreme values: a clear error, or a correct finite result.

Values within float32's range can still overflow inside a network; sample
weights can be finite one by one and overflow once summed. Each used to
give NaN silently (probabilities, an arbitrary label) or an error that
blamed the learning rate. On error the model is unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import assert_same_state, model_state

from sklearn_cl import ContinualClassifier, UpdateEnsemble

HUGE = np.float32(3e38)  # finite in float32; times any weight it overflows


@pytest.fixture(scope="module")
def fitted(digits):
    X, y = digits
    return ContinualClassifier(max_epochs=1, random_state=0).fit(X[:300], y[:300])


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score"])
def test_outputs_that_overflow_are_an_error(fitted, digits, method):
    X, y = digits
    X_bad = X[:4].astype(np.float32)
    X_bad[2] = HUGE
    before = model_state(fitted)
    args = (X_bad, y[:4]) if method == "score" else (X_bad,)
    message = r"not finite for 1 of 4 samples \(rows \[2\]\)"
    with pytest.raises(ValueError, match=message):
        getattr(fitted, method)(*args)
    assert_same_state(before, model_state(fitted))
    # ordinary rows are unaffected, and large but harmless values still work
    assert np.isfinite(fitted.predict_proba(X[:4] * 1e30)).all()


def test_an_ensemble_s_batched_members_check_their_outputs(digits):
    X, y = digits
    member = ContinualClassifier(max_epochs=1, random_state=0)
    ensemble = UpdateEnsemble(member).fit(X[:200], y[:200])
    ensemble.partial_fit(X[200:400], y[200:400])  # two members: one batched pass
    with pytest.raises(ValueError, match="not finite for 2 of 2 samples"):
        ensemble.predict_proba(np.full((2, 64), HUGE))


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_sample_weights_that_overflow_once_summed_are_an_error(fitted, digits, method):
    # each weight is finite in float32, their sum is not: the update used to
    # fail as "non-finite loss" and advise a smaller learning rate
    X, y = digits
    before = model_state(fitted)
    with pytest.raises(ValueError, match="sample_weight sums to 9.6e\\+39.*divide"):
        getattr(fitted, method)(X[:32], y[:32], sample_weight=np.full(32, HUGE))
    assert_same_state(before, model_state(fitted))
    # huge weights whose sum fits train as their ratios say
    weights = np.full(32, 1e30)
    model = ContinualClassifier(max_epochs=1, random_state=0)
    heavy = model.fit(X[:32], y[:32], sample_weight=weights).predict_proba(X[:50])
    unit = model.fit(X[:32], y[:32]).predict_proba(X[:50])
    np.testing.assert_allclose(heavy, unit, atol=1e-5)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("kind", ["classifier", "ensemble"])
def test_non_finite_classes_are_an_error(digits, bad, kind):
    # a NaN class used to be accepted: the model could predict NaN
    X, y = digits
    clf = ContinualClassifier(max_epochs=1, random_state=0)
    model = clf if kind == "classifier" else UpdateEnsemble(clf)
    with pytest.raises(ValueError, match=r"`classes` holds \[(nan|inf)\].*finite"):
        model.partial_fit(X[:30], (y[:30] > 4).astype(float), classes=[0.0, 1.0, bad])
    assert not hasattr(model, "classes_")


def test_a_logit_of_minus_infinity_rules_a_class_out(digits):
    # a module may mask a class with -inf; +inf or NaN is an overflow
    X, y = digits
    clf = ContinualClassifier(max_epochs=1, random_state=0).fit(X[:300], y[:300])
    bias = clf.net_.module_.layers[-1].bias
    with torch.no_grad():
        bias[0] = -np.inf
    proba = clf.predict_proba(X[:20])
    assert (proba[:, 0] == 0).all() and np.allclose(proba.sum(axis=1), 1)
    assert 0 not in clf.predict(X[:20])
    with torch.no_grad():
        bias[0] = np.inf
    with pytest.raises(ValueError, match="not finite for 20 of 20 samples"):
        clf.predict_proba(X[:20])


@pytest.mark.parametrize(
    "labels",
    [[-(2**62), 2**62 + 5], [np.iinfo(np.int64).min, np.iinfo(np.int64).max]],
    ids=["2**63 apart", "int64 limits"],
)
def test_integer_labels_far_apart(digits, labels):
    # numpy's ptp overflowed for labels more than 2**63 apart: fit failed
    # with an IndexError or "negative dimensions are not allowed"
    X, y = digits
    labels = np.array(labels, dtype=np.int64)
    y_01 = (y > 4).astype(int)
    models = []
    for targets in (y_01, labels[y_01]):  # the same model, labels aside
        clf = ContinualClassifier(max_epochs=2, random_state=0)
        clf.fit(X[:300], targets[:300]).partial_fit(X[300:400], targets[300:400])
        models.append(clf)
    np.testing.assert_array_equal(models[1].classes_, labels)
    np.testing.assert_array_equal(
        models[1].predict(X[400:600]), labels[models[0].predict(X[400:600])]
    )


def test_unsigned_labels_beyond_int64(digits):
    # partial_fit with uint64 labels from 2**63 up failed with an
    # OverflowError, and a uint64 label of 2**64 - 1 passed for the class -1
    X, y = digits
    y_u64 = (y % 3).astype(np.uint64) + np.uint64(2**63)
    clf = ContinualClassifier(max_epochs=1, random_state=0).fit(X[:300], y_u64[:300])
    clf.partial_fit(X[300:400], y_u64[300:400])
    assert clf.n_updates_ == 1
    signed = ContinualClassifier(max_epochs=1, random_state=0)
    signed.fit(X[:300], (y[:300] % 3).astype(np.int64) - 1)  # classes -1, 0, 1
    before = model_state(signed)
    huge = np.full(20, np.iinfo(np.uint64).max, dtype=np.uint64)
    with pytest.raises(ValueError, match="new labels \\[18446744073709551615\\]"):
        signed.partial_fit(X[:20], huge)
    assert_same_state(before, model_state(signed))


@pytest.mark.parametrize(
    "tasks, match",
    [
        (np.r_[np.zeros(100), np.full(100, np.nan)], "`tasks` holds NaN for 100"),
        (np.array([0] * 100 + ["a"] * 100, dtype=object), "cannot be ordered"),
    ],
    ids=["nan", "int and str"],
)
def test_task_ids_that_are_no_ids(fitted, digits, tasks, match):
    # NaN ids failed deep in torch ("stack expects a non-empty TensorList"),
    # mixed ids in numpy's sort
    X, y = digits
    before = model_state(fitted)
    with pytest.raises(ValueError, match=match):
        fitted.fit(X[:200], y[:200], tasks=tasks)
    assert_same_state(before, model_state(fitted))
