"""Property-based tests: any sequence of calls leaves a consistent model."""

import numpy as np
import pytest
from helpers import assert_same_state, model_state
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sklearn_cl import ContinualClassifier, ContinualRegressor

LABEL_SETS = st.sampled_from(
    [np.array([0, 1]), np.array([3, 7, 11]), np.array(["a", "b", "c", "d"])]
)
CALLS = st.lists(
    st.tuples(
        st.sampled_from(["fit", "partial_fit", "predict"]),
        st.integers(1, 12),  # samples in the call
        st.integers(0, 2**16),  # seed of the call's data
    ),
    min_size=1,
    max_size=6,
)
SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def batch(seed, n, n_features, labels, n_labels):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    return X, rng.choice(labels[:n_labels], size=n)


@SETTINGS
@given(
    labels=LABEL_SETS,
    n_features=st.integers(1, 5),
    allow_new=st.booleans(),
    calls=CALLS,
)
def test_classifier_call_sequences_stay_consistent(
    labels, n_features, allow_new, calls
):
    clf = ContinualClassifier(
        hidden_layer_sizes=(4,),
        max_epochs=1,
        batch_size=4,
        allow_new_classes=allow_new,
        random_state=0,
    )
    seen = set()
    n_updates = 0
    for step, (call, n, seed) in enumerate(calls):
        # later calls may bring labels the model has not seen
        X, y = batch(seed, n, n_features, labels, 2 + step % (len(labels) - 1))
        fitted = hasattr(clf, "net_")
        if call == "fit":
            clf.fit(X, y)
            seen, n_updates = set(y), 0
        elif call == "partial_fit" and not fitted:
            clf.partial_fit(X, y, classes=labels)
            seen, n_updates = set(labels), 1
        elif call == "partial_fit" and not allow_new and not set(y) <= seen:
            before = model_state(clf)
            with pytest.raises(ValueError, match="allow_new_classes=True"):
                clf.partial_fit(X, y)
            assert_same_state(before, model_state(clf))
        elif call == "partial_fit":
            clf.partial_fit(X, y)
            seen |= set(y)
            n_updates += 1
        elif not fitted:
            continue
        assert set(clf.classes_) == seen
        assert clf.n_updates_ == n_updates
        proba = clf.predict_proba(X)
        assert proba.shape == (n, len(clf.classes_))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
        assert set(clf.predict(X)) <= seen
        assert clf.net_.module_.layers[-1].out_features == len(clf.classes_)


@SETTINGS
@given(
    n_features=st.integers(1, 5),
    n_targets=st.sampled_from([None, 1, 3]),
    calls=CALLS,
)
def test_regressor_call_sequences_stay_consistent(n_features, n_targets, calls):
    reg = ContinualRegressor(hidden_layer_sizes=(4,), max_epochs=1, random_state=0)
    for call, n, seed in calls:
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(n, n_features))
        y = rng.normal(size=n if n_targets is None else (n, n_targets))
        if call == "fit":
            reg.fit(X, y)
        elif call == "partial_fit":
            reg.partial_fit(X, y)
        elif not hasattr(reg, "net_"):
            continue
        assert reg.predict(X).shape == y.shape
        assert np.isfinite(reg.predict(X)).all()
