"""ContinualClassifier: labels, fit/partial_fit contracts, errors, seeding."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from helpers import assert_same_state, model_state
from sklearn.base import clone

from sklearn_cl import ContinualClassifier


def small(**params):
    return ContinualClassifier(**{"max_epochs": 3, "random_state": 0, **params})


@pytest.fixture(scope="module")
def fitted(digits):
    X, y = digits
    return small().fit(X[:600], y[:600])


@pytest.mark.parametrize(
    "labels", [np.array(["a", "b", "c"]), np.array([10, 20, 30]), np.array([-1, 5, 7])]
)
def test_any_label_type_round_trips(labels, digits):
    X, y = digits
    mask = y < 3
    y_labels = labels[y[mask]]
    clf = small(max_epochs=10).fit(X[mask], y_labels)
    np.testing.assert_array_equal(clf.classes_, np.sort(labels))
    assert set(clf.predict(X[mask])) <= set(labels)
    assert clf.score(X[mask], y_labels) > 0.9
    proba = clf.predict_proba(X[mask])
    assert proba.shape == (mask.sum(), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # columns follow classes_: the arg-max column is the predicted label
    np.testing.assert_array_equal(clf.classes_[proba.argmax(1)], clf.predict(X[mask]))


def test_fit_trains_max_epochs_and_partial_fit_update_epochs(digits):
    X, y = digits
    clf = small(max_epochs=4, update_epochs=2).fit(X[:300], y[:300])
    assert len(clf.net_.history) == 4
    clf.partial_fit(X[300:400], y[300:400])
    assert len(clf.net_.history) == 2
    assert clf.n_updates_ == 1


def test_update_learning_rate_decays_per_update(digits):
    X, y = digits
    clf = small(lr=1e-2, update_lr=1e-3, update_lr_decay=0.5).fit(X[:200], y[:200])
    seen = []
    for _ in range(3):
        clf.partial_fit(X[200:300], y[200:300])
        seen.append(clf.net_.optimizer_.param_groups[0]["lr"])
    np.testing.assert_allclose(seen, [1e-3, 5e-4, 2.5e-4])


def test_reset_update_lr_decay_restarts_from_update_lr(digits):
    X, y = digits
    clf = small(update_lr=1e-3, update_lr_decay=0.5).fit(X[:200], y[:200])
    clf.partial_fit(X[:50], y[:50]).partial_fit(X[:50], y[:50])
    clf.reset_update_lr_decay().partial_fit(X[:50], y[:50])
    assert clf.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(1e-3)
    clf.partial_fit(X[:50], y[:50])
    assert clf.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(5e-4)


def test_update_lr_none_means_lr(digits):
    X, y = digits
    clf = small(lr=3e-3).fit(X[:200], y[:200]).partial_fit(X[:50], y[:50])
    assert clf.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(3e-3)


def test_fit_resets_updates_and_model(digits):
    X, y = digits
    clf = small().fit(X[:300], y[:300])
    before = clf.predict_proba(X[:20])
    clf.partial_fit(X[300:400], y[300:400]).fit(X[:300], y[:300])
    assert clf.n_updates_ == 0
    np.testing.assert_array_equal(clf.predict_proba(X[:20]), before)


def test_first_partial_fit_needs_classes(digits):
    X, y = digits
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        small().partial_fit(X[:50], y[:50])
    clf = small(update_epochs=3).partial_fit(X[:50], y[:50], classes=np.arange(10))
    assert clf.classes_.tolist() == list(range(10))
    assert len(clf.net_.history) == 3
    assert clf.n_updates_ == 1


def test_partial_fit_with_classes_not_covering_y(digits):
    X, y = digits
    with pytest.raises(ValueError, match="labels not in `classes`"):
        small().partial_fit(X[:50], y[:50], classes=[0, 1])


def test_partial_fit_rejects_changed_classes(fitted, digits):
    X, y = digits
    with pytest.raises(ValueError, match="not the same as on the first call"):
        clone(fitted).fit(X[:200], y[:200]).partial_fit(X[:10], y[:10], classes=[0, 1])


def test_fit_with_tasks_equals_fit_then_updates(digits):
    X, y = digits
    tasks = np.repeat([7, 3, 5], 200)  # order of first appearance: 7, 3, 5
    X, y = X[:600], y[:600]
    a = small(update_epochs=2).fit(X, y, tasks=tasks)
    b = small(update_epochs=2).fit(X[:200], y[:200])  # holds all ten digits
    b.partial_fit(X[200:400], y[200:400]).partial_fit(X[400:], y[400:])
    assert a.n_updates_ == 2
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))


def test_fit_tasks_must_match_samples(digits):
    X, y = digits
    with pytest.raises(ValueError, match="one task id per sample"):
        small().fit(X[:100], y[:100], tasks=np.zeros(99))


def test_same_seed_is_bit_identical_with_dropout(digits):
    X, y = digits

    def run():
        clf = small(dropout=0.3).fit(X[:300], y[:300])
        for start in range(300, 600, 50):
            clf.partial_fit(X[start : start + 50], y[start : start + 50])
        return clf.predict_proba(X)

    np.testing.assert_array_equal(run(), run())
    other = small(dropout=0.3, random_state=1).fit(X[:300], y[:300])
    assert not np.array_equal(other.predict_proba(X), run())


def test_global_torch_rng_untouched(digits):
    X, y = digits
    state = torch.get_rng_state()
    small().fit(X[:100], y[:100]).partial_fit(X[:50], y[:50])
    assert torch.equal(state, torch.get_rng_state())


def test_dataframe_and_list_input(digits):
    X, y = digits
    frame = pd.DataFrame(X[:200], columns=[f"px{i}" for i in range(64)])
    clf = small().fit(frame, y[:200])
    np.testing.assert_array_equal(clf.feature_names_in_, frame.columns)
    clf.partial_fit(frame.iloc[:50], y[:50])
    from_list = small().fit(X[:200].tolist(), y[:200].tolist())
    np.testing.assert_array_equal(
        from_list.predict_proba(X[:20]),
        small().fit(X[:200], y[:200]).predict_proba(X[:20]),
    )


BAD_X = {
    "nan": (lambda X: np.where(np.eye(len(X), X.shape[1]) > 0, np.nan, X), "NaN"),
    "inf": (lambda X: np.where(np.eye(len(X), X.shape[1]) > 0, np.inf, X), "infinity"),
    "n_features": (lambda X: X[:, :10], "10 features"),
    "sparse": (lambda X: sp.csr_matrix(X), "sparse"),
}


@pytest.mark.parametrize("case", BAD_X)
def test_bad_x_in_partial_fit_leaves_model_unchanged(case, digits):
    X, y = digits
    clf = small().fit(X[:200], y[:200])
    before = model_state(clf)
    make_bad, message = BAD_X[case]
    with pytest.raises(ValueError, match=message):
        clf.partial_fit(make_bad(X[200:250]), y[200:250])
    assert_same_state(before, model_state(clf))


def test_sparse_error_is_also_a_type_error(fitted, digits):
    X, _ = digits
    with pytest.raises(TypeError, match="toarray"):
        fitted.predict(sp.csr_matrix(X[:5]))


def test_unseen_labels_are_an_error_and_change_nothing(digits):
    X, y = digits
    mask = y < 5
    clf = small().fit(X[mask][:200], y[mask][:200])
    before = model_state(clf)
    with pytest.raises(
        ValueError, match=r"new labels \[5 6 7 8 9\].*allow_new_classes"
    ):
        clf.partial_fit(X[:100], y[:100])
    assert_same_state(before, model_state(clf))


def test_failed_refit_keeps_previous_model(fitted, digits):
    X, y = digits
    clf = clone(fitted).fit(X[:200], y[:200])
    before = model_state(clf)
    with pytest.raises(ValueError, match="NaN"):
        clf.fit(np.full((10, 5), np.nan), np.arange(10) % 2)
    assert_same_state(before, model_state(clf))


def test_unknown_keyword_is_an_error_at_fit(digits):
    X, y = digits
    clf = ContinualClassifier(modul__width=3)
    assert clf.get_params()["modul__width"] == 3
    with pytest.raises(ValueError, match="must start with one of"):
        clf.fit(X[:50], y[:50])


def test_out_of_range_hyperparameters(digits):
    X, y = digits
    for params in ({"lr": 0}, {"update_epochs": 0}, {"update_lr": -1.0}):
        with pytest.raises(ValueError, match=list(params)[0]):
            small(**params).fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="torch.optim.Optimizer class"):
        small(optimizer=len).fit(X[:50], y[:50])


class Tiny(torch.nn.Module):
    def __init__(self, n_features, n_outputs, width=8):
        super().__init__()
        self.width = width
        self.body = torch.nn.Sequential(
            torch.nn.Linear(n_features, width), torch.nn.ReLU()
        )
        self.head = torch.nn.Linear(width, n_outputs)

    def forward(self, X):
        return self.head(self.body(X))


def test_module_class_gets_sizes_and_routed_kwargs(digits):
    X, y = digits
    clf = small(module=Tiny, module__width=5).fit(X[:200], y[:200])
    assert clf.net_.module_.width == 5
    assert clf.net_.module_.head.out_features == 10
    assert clf.get_params()["module__width"] == 5
    assert clone(clf).get_params()["module__width"] == 5


def test_module_instance_is_copied_and_fit_restarts_from_it(digits):
    X, y = digits
    module = Tiny(64, 10)
    weights = module.head.weight.detach().clone()
    clf = small(module=module).fit(X[:200], y[:200])
    assert torch.equal(module.head.weight, weights)  # the user's module is untouched
    assert clf.net_.module_ is not module
    first = clf.predict_proba(X[:20])
    clf.partial_fit(X[:100], y[:100]).fit(X[:200], y[:200])
    np.testing.assert_array_equal(clf.predict_proba(X[:20]), first)


def test_module_with_wrong_output_width(digits):
    X, y = digits
    with pytest.raises(ValueError, match=r"outputs of shape \(4,\).*need \(10,\)"):
        small(module=Tiny, module__n_outputs=4).fit(X[:200], y[:200])


def test_three_d_input_needs_a_module_that_takes_it(digits):
    X, y = digits
    with pytest.raises(ValueError, match="default MLP takes 2-D input"):
        small().fit(X[:50].reshape(50, 8, 8), y[:50])


def test_history_stays_bounded_over_many_updates(digits):
    X, y = digits
    clf = small(update_epochs=2).fit(X[:100], y[:100])
    for i in range(200):
        clf.partial_fit(X[i : i + 8], y[i : i + 8])
    assert len(clf.net_.history) == 2
    assert clf.n_updates_ == 200


class ShapeAware(torch.nn.Module):
    def __init__(self, input_shape, n_outputs):
        super().__init__()
        self.input_shape = input_shape
        self.head = torch.nn.Linear(int(np.prod(input_shape)), n_outputs)

    def forward(self, X):
        return self.head(X.flatten(1))


def test_module_class_gets_the_input_shape(digits):
    X, y = digits
    clf = small(module=ShapeAware).fit(X[:100].reshape(100, 8, 8), y[:100])
    assert clf.net_.module_.input_shape == (8, 8)
    assert clf.predict(X[:3].reshape(3, 8, 8)).shape == (3,)
