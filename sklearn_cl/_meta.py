"""What the meta-estimators (``UpdateEnsemble``, ``MonitoredUpdater``) share.

Both are a classifier or a regressor as the estimator they wrap is, and take
the data it takes: their tags are the inner estimator's, copied, so that a
change to the meta-estimator's tags never reaches the inner estimator's
(whose ``__sklearn_tags__`` may return a shared object).
"""

from __future__ import annotations

import copy

from sklearn.utils import get_tags

__all__ = ["delegated_tags"]


def delegated_tags(tags, estimator):
    """``tags`` (the meta-estimator's own) with ``estimator``'s type, target,
    input and determinism tags, copied; unchanged when ``estimator`` is not
    an estimator (``fit`` says so)."""
    try:
        inner = get_tags(estimator)
    except (AttributeError, TypeError, ValueError):
        return tags
    tags.estimator_type = inner.estimator_type
    tags.classifier_tags = copy.deepcopy(inner.classifier_tags)
    tags.regressor_tags = copy.deepcopy(inner.regressor_tags)
    tags.target_tags = copy.deepcopy(inner.target_tags)
    tags.input_tags = copy.deepcopy(inner.input_tags)
    tags.non_deterministic = inner.non_deterministic
    return tags
