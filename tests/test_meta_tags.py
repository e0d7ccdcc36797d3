"""The meta-estimators take the tags of the estimator they wrap, copied."""

import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression, SGDRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import Tags, get_tags

from sklearn_cl import (
    ContinualClassifier,
    ContinualRegressor,
    MonitoredUpdater,
    UpdateEnsemble,
)


class SharedTags(ClassifierMixin, BaseEstimator):
    """A non-deterministic classifier whose tags are one shared object."""

    shared: Tags | None = None

    def __sklearn_tags__(self):
        if SharedTags.shared is None:
            tags = super().__sklearn_tags__()
            tags.non_deterministic = True
            tags.input_tags.sparse = True
            SharedTags.shared = tags
        return SharedTags.shared


INNER = [
    ContinualClassifier(),
    ContinualRegressor(),
    LogisticRegression(),
    SGDRegressor(),
    make_pipeline(StandardScaler(), LogisticRegression()),
    SharedTags(),
]


@pytest.mark.parametrize("inner", INNER, ids=lambda est: type(est).__name__)
@pytest.mark.parametrize("meta", [UpdateEnsemble, MonitoredUpdater])
def test_meta_estimators_take_the_tags_of_their_estimator(meta, inner):
    expected = get_tags(inner)
    tags = get_tags(meta(inner))
    assert tags.estimator_type == expected.estimator_type
    assert tags.classifier_tags == expected.classifier_tags
    assert tags.regressor_tags == expected.regressor_tags
    assert tags.target_tags == expected.target_tags
    assert tags.input_tags == expected.input_tags
    assert tags.non_deterministic == expected.non_deterministic
    for part in ("classifier_tags", "regressor_tags", "target_tags", "input_tags"):
        inner_part = getattr(expected, part)
        assert inner_part is None or getattr(tags, part) is not inner_part


def test_remembering_ensemble_takes_dense_numeric_input_only():
    tags = get_tags(UpdateEnsemble(SharedTags(), data="old_and_new"))
    assert not tags.input_tags.sparse and not tags.input_tags.string
    assert get_tags(SharedTags()).input_tags.sparse  # the inner tags untouched
