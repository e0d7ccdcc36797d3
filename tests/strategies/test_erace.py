"""ER-ACE: the asymmetric loss, the memory filled before training, bad input."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import the_strategy

from sklearn_cl import ContinualClassifier, ContinualRegressor
from sklearn_cl.strategies import ERACE


def test_the_loss_of_incoming_samples_spans_their_classes_only():
    torch.manual_seed(0)
    erace = ERACE().initialize()
    logits = torch.randn(12, 6)
    y = torch.tensor([2, 3, 2, 3, 3, 2, 0, 1, 5, 0, 4, 1])  # 6 incoming, 6 replayed
    erace.n_incoming_ = 6
    context = SimpleNamespace(is_update=True)  # an update: the memory replays
    term = erace.penalty(None, None, y, logits, context=context)
    total = F.cross_entropy(logits, y) + term
    present = torch.tensor([2, 3])
    incoming = F.cross_entropy(
        logits[:6, present], torch.searchsorted(present, y[:6]), reduction="sum"
    )
    replayed = F.cross_entropy(logits[6:], y[6:], reduction="sum")
    torch.testing.assert_close(total, (incoming + replayed) / 12)


def test_the_new_classes_join_the_memory_and_are_predicted(digits):
    X, y = digits
    clf = ContinualClassifier(
        max_epochs=10, update_epochs=10, callbacks=[ERACE(100)], random_state=0
    )
    tasks = np.minimum(y // 4, 2)  # classes {0-3}, {4-7}, {8, 9}
    clf.fit(X[:1200], y[:1200], tasks=tasks[:1200])
    memory = the_strategy(clf.net_).buffer_
    assert set(np.unique(memory.y)) == set(range(10))  # class-balanced
    predicted = clf.predict(X[1200:])
    # without the new classes in the memory, 8 and 9 were never predicted
    assert {8, 9} <= set(predicted)
    assert clf.score(X[1200:], y[1200:]) > 0.75


def test_regressors_and_other_criteria_are_rejected(digits):
    X, y = digits
    reg = ContinualRegressor(max_epochs=1, callbacks=[ERACE()])
    with pytest.raises(ValueError, match="ERACE needs class labels"):
        reg.fit(X[:50], y[:50].astype(float))
    clf = ContinualClassifier(
        max_epochs=1, criterion=torch.nn.MultiMarginLoss, callbacks=[ERACE()]
    )
    with pytest.raises(ValueError, match="needs the default criterion"):
        clf.fit(X[:50], y[:50])


def test_an_incoming_sample_of_weight_zero_has_no_influence(digits):
    # the correction of the incoming samples' loss is weighted as the loss
    # it corrects; it counted weight-0 samples at full weight
    X, y = digits
    w = np.where(np.arange(300) % 3 == 0, 0.0, 1.0)
    other = X[300:600].copy()
    other[w == 0] = X[1000:1100]  # other inputs, same labels, switched off
    models = []
    for inputs in (X[300:600], other):
        clf = ContinualClassifier(
            hidden_layer_sizes=(16,),
            max_epochs=2,
            update_epochs=2,
            allow_new_classes=True,
            callbacks=[ERACE(100)],
            random_state=0,
        ).fit(X[:300][y[:300] < 5], y[:300][y[:300] < 5])
        models.append(clf.partial_fit(inputs, y[300:600], sample_weight=w))
    np.testing.assert_array_equal(*(m.predict_proba(X) for m in models))
