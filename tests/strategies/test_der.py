"""DER and DER++: stored outputs, masking after growth, centred matching,
regression, old files, bad input."""

import pickle

import numpy as np
import pytest
import torch
from helpers import the_strategy

from sklearn_cl import ContinualClassifier, ContinualRegressor
from sklearn_cl.strategies import DER, DERPlusPlus


def classifier(callbacks, **params):
    defaults = dict(
        hidden_layer_sizes=(16,), max_epochs=3, update_epochs=2, random_state=0
    )
    return ContinualClassifier(callbacks=callbacks, **{**defaults, **params})


def der_of(clf):
    return the_strategy(clf.net_)


def test_the_memory_keeps_the_outputs_of_the_trained_network(digits):
    X, y = digits
    clf = classifier([DER(buffer_size=50)]).fit(X[:300], y[:300])
    der = der_of(clf)
    assert len(der.buffer_) == 50 and der.outputs_.shape == (50, 10)
    # rows in id order; the buffer's targets are the ids
    rows = np.searchsorted(der.ids_, der.buffer_.y)
    np.testing.assert_array_equal(der.ids_[rows], der.buffer_.y)
    expected = clf.net_.forward_raw(torch.from_numpy(der.buffer_.X)).numpy()
    np.testing.assert_allclose(der.outputs_[rows], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(der.targets_[rows], y[:300][der.buffer_.y])
    # after an update, the side arrays hold exactly the stored ids
    clf.partial_fit(X[300:600], y[300:600])
    assert sorted(der.ids_) == sorted(der.buffer_.y) and len(der.ids_) == 50


def test_alpha_zero_is_plain_fine_tuning(digits):
    X, y = digits
    plain = classifier([]).fit(X[:300], y[:300]).partial_fit(X[300:500], y[300:500])
    der = classifier([DER(alpha=0.0)]).fit(X[:300], y[:300])
    der.partial_fit(X[300:500], y[300:500])
    np.testing.assert_array_equal(plain.predict_proba(X), der.predict_proba(X))


def test_der_plus_plus_also_replays_the_labels(digits):
    X, y = digits
    old, new = y < 5, y >= 5
    scores = {}
    for name, strategy in [("der", DER(alpha=0.0)), ("der++", DERPlusPlus(0.0))]:
        clf = classifier([strategy], allow_new_classes=True, update_epochs=10)
        clf.fit(X[old][:400], y[old][:400]).partial_fit(X[new][:400], y[new][:400])
        scores[name] = clf.score(X[old][400:], y[old][400:])
    # alpha=0: DER is fine-tuning and forgets; the labels alone keep the old classes
    assert scores["der"] < 0.2 and scores["der++"] > 0.7


def test_refreshed_outputs_are_the_network_s_after_every_call(digits):
    X, y = digits
    clf = classifier([DERPlusPlus(buffer_size=40)], allow_new_classes=True)
    clf.fit(X[y < 5][:200], y[y < 5][:200])
    before = dict(zip(der_of(clf).ids_, der_of(clf).outputs_))
    clf.partial_fit(X[y >= 5][:200], y[y >= 5][:200])
    der = der_of(clf)
    rows = np.searchsorted(der.ids_, der.buffer_.y)
    expected = clf.net_.forward_raw(torch.from_numpy(der.buffer_.X)).numpy()
    # every kept sample, old ones included, at the grown layer's width
    assert der.outputs_.shape == (40, 10)
    np.testing.assert_allclose(der.outputs_[rows], expected, rtol=1e-5, atol=1e-5)
    kept = [i for i, id_ in enumerate(der.ids_) if id_ in before]
    assert kept and not np.allclose(
        der.outputs_[kept, :5], [before[der.ids_[i]] for i in kept]
    )


def test_outputs_stored_before_the_layer_grew_rank_new_classes_lowest(digits):
    X, y = digits
    clf = classifier(
        [DERPlusPlus(buffer_size=40, refresh=False)], allow_new_classes=True
    )
    clf.fit(X[y < 5][:200], y[y < 5][:200])
    before = dict(zip(der_of(clf).ids_, der_of(clf).outputs_))
    assert der_of(clf).outputs_.shape == (40, 5)
    clf.partial_fit(X[y >= 5][:200], y[y >= 5][:200])
    der = der_of(clf)
    assert der.outputs_.shape == (40, 10)
    kept = [i for i, id_ in enumerate(der.ids_) if id_ in before]
    assert kept and len(kept) < 40  # old and new samples share the memory
    for i in kept:
        old = before[der.ids_[i]]
        np.testing.assert_array_equal(der.outputs_[i, :5], old)
        np.testing.assert_array_equal(der.outputs_[i, 5:], np.full(5, old.min()))


def test_der_keeps_old_classes_when_the_output_layer_grows(digits):
    X, y = digits
    scores = {}
    for name, callbacks in [("plain", []), ("der", [DER(buffer_size=100)])]:
        clf = classifier(callbacks, allow_new_classes=True, max_epochs=20)
        clf.set_params(update_epochs=10)
        clf.fit(X[y < 5][:400], y[y < 5][:400])
        clf.partial_fit(X[y >= 5][:400], y[y >= 5][:400])
        scores[name] = clf.score(X[y < 5][400:], y[y < 5][400:])
    assert scores["plain"] < 0.1 and scores["der"] > 0.6


def _updated_after_shifting_the_stored_logits(digits, shift, **params):
    X, y = digits
    clf = classifier([DER(buffer_size=40, **params)]).fit(X[:200], y[:200])
    der_of(clf).outputs_ += shift  # a constant per row: the same probabilities
    return clf.partial_fit(X[200:400], y[200:400]).predict_proba(X[400:])


def test_centred_matching_ignores_what_softmax_ignores(digits):
    rows = np.linspace(-3.0, 5.0, 40, dtype=np.float32)[:, None]
    centred = [
        _updated_after_shifting_the_stored_logits(digits, shift)
        for shift in (0.0, rows)
    ]
    np.testing.assert_allclose(*centred, atol=1e-5)
    raw = [
        _updated_after_shifting_the_stored_logits(digits, shift, center=False)
        for shift in (0.0, rows)
    ]
    assert np.abs(raw[0] - raw[1]).max() > 0.01


def test_a_regressor_s_outputs_are_matched_as_they_are():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5)).astype(np.float32)
    y = X @ rng.normal(size=5)
    predictions = []
    for center in (True, False):
        reg = ContinualRegressor(
            hidden_layer_sizes=(16,),
            max_epochs=3,
            callbacks=[DER(buffer_size=30, center=center)],
            random_state=0,
        )
        reg.fit(X[:200], y[:200]).partial_fit(X[200:], -y[200:])
        predictions.append(reg.predict(X))
    # a regressor's single output minus its mean would be zero: nothing kept
    np.testing.assert_array_equal(*predictions)


def test_a_file_written_before_center_existed_matches_raw_outputs(digits, monkeypatch):
    X, y = digits
    clf = classifier([("s", DERPlusPlus(buffer_size=40))]).fit(X[:200], y[:200])
    written = DERPlusPlus.__getstate__

    def without_center(self):  # what the release before it wrote
        state = written(self)
        state.pop("center")
        return state

    monkeypatch.setattr(DERPlusPlus, "__getstate__", without_center)
    data = pickle.dumps(clf)
    monkeypatch.setattr(DERPlusPlus, "__getstate__", written)
    loaded = pickle.loads(data)
    assert dict(loaded.net_.callbacks_)["s"].center is False
    assert loaded.get_params()["callbacks"][0][1].get_params()["center"] is False
    raw = classifier([("s", DERPlusPlus(buffer_size=40, center=False))])
    raw.fit(X[:200], y[:200])
    for model in (loaded, raw):
        model.partial_fit(X[200:400], y[200:400])
    np.testing.assert_array_equal(loaded.predict_proba(X), raw.predict_proba(X))


def test_regressors_match_their_stored_predictions():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5)).astype(np.float32)
    y = X @ rng.normal(size=5)
    reg = ContinualRegressor(
        hidden_layer_sizes=(16,), max_epochs=3, callbacks=[DERPlusPlus(buffer_size=30)]
    )
    reg.fit(X[:200], y[:200]).partial_fit(X[200:], -y[200:])
    der = der_of(reg)
    assert der.outputs_.shape == (30, 1) and der.targets_.dtype == np.float32


@pytest.mark.parametrize(
    "params, match",
    [
        (
            dict(buffer="class_balanced"),
            r"'buffer' parameter of \w+ must be a str among",
        ),
        (dict(alpha=-1.0), r"'alpha' parameter of \w+ must be a float in the range"),
        (dict(refresh="yes"), r"'refresh' parameter of \w+ must be an instance of"),
        (dict(center=1), r"'center' parameter of \w+ must be an instance of"),
        (
            dict(buffer_size=0),
            r"'buffer_size' parameter of \w+ must be an int in the range \[1, inf\)",
        ),
    ],
)
def test_bad_parameters_are_rejected(digits, params, match):
    X, y = digits
    with pytest.raises(ValueError, match=match):
        classifier([DER(**params)]).fit(X[:50], y[:50])
    with pytest.raises(
        ValueError, match=r"'beta' parameter of \w+ must be a float in the range"
    ):
        classifier([DERPlusPlus(beta=-0.5)]).fit(X[:50], y[:50])
