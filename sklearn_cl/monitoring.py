"""MonitoredUpdater: score every new batch, update when a policy says so.

Threads (see ``_locking``): batches run one after the other under the
updater's lock. The estimators and composites of ``sklearn_cl`` keep
their own readers on the model before or after an update, and ``fit`` and
a first ``partial_fit`` replace the model rather than change it, so a
prediction reads such a model directly. Any other model (``SGDClassifier``,
...), which ``partial_fit`` changes in place, is read with
``reading(updater, live=True)``: a prediction under way holds the next
batch back until it ends, and one that begins during a batch reads the
copy of the model the batch's ``snapshot`` (``_readers_copy``) made, once a
prediction has had to wait for a batch (it waits for that one). A pickle,
copy or save holds the model and its records from one moment:
``__getstate__`` copies, under the lock, what a later batch changes in
place (the model, ``history_``, ``updates_``); the detector and the
waiting batches are replaced by each batch, never changed.
"""

from __future__ import annotations

import copy
import numbers
from contextlib import contextmanager

import numpy as np
from sklearn import get_config
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_classifier
from sklearn.frozen import FrozenEstimator
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    process_routing,
)
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
)

from ._locking import (
    consistent,
    contended,
    locked_deepcopy,
    reading,
    shallow_copy,
    updating,
)
from ._meta import delegated_tags
from ._param_validation import HasMethods, Interval, StrOptions
from .base import ContinualEstimator
from .drift import PageHinkley
from .ensemble import UpdateEnsemble
from .pipeline import IncrementalPipeline

__all__ = ["MonitoredUpdater"]


def _zero_one_errors(y_true, y_pred) -> np.ndarray:
    return (np.asarray(y_true) != np.asarray(y_pred)).astype(float)


def _absolute_errors(y_true, y_pred) -> np.ndarray:
    diff = np.abs(np.asarray(y_true, dtype=float) - np.asarray(y_pred, dtype=float))
    return diff.reshape(len(diff), -1).mean(axis=1)


def _fresh_detector(detector):
    """A detector with the parameters of ``detector`` and no state."""
    if detector is None:
        return PageHinkley()
    if hasattr(detector, "get_params"):
        return clone(detector)
    if callable(getattr(detector, "clone", None)):  # river's detectors
        return detector.clone()
    return copy.deepcopy(detector)


def _signals(detector, errors) -> bool:
    """Feed ``errors`` to ``detector`` in order; whether it signalled a
    drift on any of them."""
    if isinstance(detector, PageHinkley):
        return detector._signals(errors)  # its lock held once for all
    drift = False
    for value in errors:
        detector.update(float(value))
        drift = drift or bool(detector.drift_detected)
    return drift


def _copy(batch):
    return batch.copy() if hasattr(batch, "copy") else np.array(batch)


def _check_same_kind(waiting, X) -> None:
    """Batches joined for a periodic update must be all DataFrames (their
    column names kept) or all arrays."""
    if hasattr(waiting, "iloc") != hasattr(X, "iloc"):
        kinds = [
            "a DataFrame" if hasattr(b, "iloc") else type(b).__name__
            for b in (waiting, X)
        ]
        raise ValueError(
            f"This batch is {kinds[1]}, but the batches waiting for the periodic "
            f"update are {kinds[0]}; they are joined into one training set. Pass "
            "every batch the same way (all DataFrames or all arrays)."
        )


def _concat(parts: list):
    if len(parts) == 1:
        return parts[0]
    if hasattr(parts[0], "iloc"):
        import pandas as pd

        return pd.concat(parts)
    return np.concatenate([np.asarray(part) for part in parts])


def _estimator_has(attr: str):
    """``available_if`` check: the fitted (or else the given) estimator has it."""

    def check(self) -> bool:
        inner = self.estimator_ if hasattr(self, "estimator_") else self.estimator
        return hasattr(inner, attr)

    return check


def _guards_its_readers(model) -> bool:
    """Whether a prediction of ``model`` made while another thread updates
    it sees the model before or after the update (``_locking``)."""
    guarded = (ContinualEstimator, UpdateEnsemble, IncrementalPipeline)
    return isinstance(model, (*guarded, MonitoredUpdater))


def _readers_copy(updater):
    """What predictions read while a batch of ``updater`` runs in another
    thread: the updater as the batch found it, with a copy of a model the
    batch may change under its readers, made once a prediction has had to
    wait for a batch; None before (predictions then wait for the batch)."""
    model = getattr(updater, "estimator_", None)
    unchanged = model is None or isinstance(model, FrozenEstimator)
    if unchanged or _guards_its_readers(model):
        return shallow_copy(updater)
    if not contended(updater):
        return None
    view = shallow_copy(updater)
    view.estimator_ = copy.deepcopy(model)
    return view


class MonitoredUpdater(MetaEstimatorMixin, BaseEstimator):
    """Update a model on a stream only when monitoring says it is worth it.

    Each :meth:`partial_fit` receives one new labelled batch and first tests
    the current model on it (test, then train): the per-sample errors are
    recorded and fed, in order, to a drift detector. Then the ``policy``
    decides whether to update the model with its ``partial_fit``:

    - ``"always"``: on every batch;
    - ``"periodic"``: on every ``period``-th batch, on the batches gathered
      since the last update;
    - ``"drift"``: when the detector signals a drift, on the current batch
      only (the batches before it belong to the old concept) and with
      ``drift_params`` set on the estimator for that update (a stronger
      update: more epochs, a larger learning rate, or ``{"update": "add"}``
      for a new :class:`~sklearn_cl.UpdateEnsemble` member). With ``period``
      set, it also updates every ``period`` batches as ``"periodic"`` does;
    - ``"never"``: monitoring only.

    The detector runs under every policy, so ``history_`` shows when drift
    was detected even where it triggers nothing. ``fit`` trains a clone of
    ``estimator`` from scratch and starts monitoring afresh; a first
    ``partial_fit`` on an unfitted updater trains on its batch without
    testing.

    Threads: concurrent batches run one after the other. A prediction
    (``predict``, ``predict_proba``, ``decision_function``, ``score``) made
    while another thread updates the updater sees the model before or after
    the update, whatever model it wraps: the estimators and composites of
    ``sklearn_cl`` keep that promise themselves; for any other model
    (``SGDClassifier``, ...) the first prediction that meets an update waits
    for it, and from then on each update begins with a copy of the model,
    which predictions read meanwhile. A pickle, copy or save holds the model
    and its records (``history_``, ``updates_``, the detector) from one
    moment: one started during an update waits for it, and an update begun
    while it is written cannot reach it.

    Parameters
    ----------
    estimator : estimator object
        A classifier or regressor with ``fit``, ``partial_fit`` and
        ``predict`` (a :class:`~sklearn_cl.ContinualClassifier`, an
        :class:`~sklearn_cl.UpdateEnsemble`, ``SGDClassifier``, ...). It is
        cloned, never changed. A fitted model wrapped in
        :class:`~sklearn.frozen.FrozenEstimator` is monitored as it is
        (``policy="never"``, which it requires); the first ``partial_fit``
        tests it.
    policy : {"drift", "always", "periodic", "never"}, default="drift"
        When to update, as described above.
    period : int or None, default=None
        Batches between routine updates with ``"periodic"`` (required) and
        ``"drift"`` (optional). Ignored by the other policies.
    detector : object or None, default=None
        Drift detector with ``update(x)`` and a boolean ``drift_detected``
        (:class:`~sklearn_cl.drift.PageHinkley`, or river's
        ``river.drift.ADWIN``, ...). None means ``PageHinkley()``. It is
        cloned (with ``sklearn.base.clone``, river's ``clone()`` or a deep
        copy), never changed.
    drift_params : dict or None, default=None
        Parameters of ``estimator`` set for the drift-triggered updates only,
        e.g. ``{"update_epochs": 10}``; None updates as on other batches.
    error : callable or None, default=None
        ``error(y_true, y_pred)`` returning one error per sample, higher is
        worse, finite; the values the detector watches. None: 0/1 loss for
        classifiers, absolute error (averaged over outputs) for regressors.

    Attributes
    ----------
    estimator_ : estimator
        The monitored, updated model.
    detector_ : object
        The detector's current state.
    history_ : list of dict
        One record per batch: ``batch`` (index since ``fit``), ``n_samples``,
        ``error`` (mean error of the model before it saw the batch; NaN when
        not tested), ``drift`` (whether the detector fired on the batch) and
        ``update`` (None, ``"always"``, ``"periodic"``, ``"drift"``, or
        ``"initial"`` for the first training by ``partial_fit``).
    updates_ : list of dict
        One record per update: ``batch``, ``reason`` (as ``update`` above)
        and ``n_samples`` trained on.
    classes_ : ndarray of shape (n_classes,)
        The classifier's labels.
    n_features_in_ : int
        The model's number of features.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        The model's column names, when it was trained on a DataFrame with
        string column names.

    Examples
    --------
    A stream whose labels flip halfway; updating only on drift recovers.

    >>> import numpy as np
    >>> from sklearn.linear_model import SGDClassifier
    >>> from sklearn_cl import MonitoredUpdater
    >>> from sklearn_cl.drift import PageHinkley
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(3000, 2))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> y[1500:] = 1 - y[1500:]
    >>> model = MonitoredUpdater(
    ...     SGDClassifier(random_state=0), detector=PageHinkley(threshold=10),
    ...     drift_params={"max_iter": 50},
    ... )
    >>> model = model.fit(X[:500], y[:500])
    >>> for start in range(500, 3000, 100):
    ...     model = model.partial_fit(X[start:start + 100], y[start:start + 100])
    >>> [(u["batch"], u["reason"]) for u in model.updates_]
    [(10, 'drift')]
    >>> float(model.score(X[2000:], y[2000:])) > 0.9
    True
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "partial_fit", "predict"])],
        "policy": [StrOptions({"drift", "always", "periodic", "never"})],
        "period": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "detector": [HasMethods(["update"]), None],
        "drift_params": [dict, None],
        "error": [callable, None],
    }

    def __init__(
        self,
        estimator,
        *,
        policy="drift",
        period=None,
        detector=None,
        drift_params=None,
        error=None,
    ):
        self.estimator = estimator
        self.policy = policy
        self.period = period
        self.detector = detector
        self.drift_params = drift_params
        self.error = error

    # ------------------------------------------------------------------
    # training
    # ------------------------------------------------------------------
    def _check_params(self) -> None:
        self._validate_params()
        if self.policy == "periodic" and self.period is None:
            raise ValueError(
                "policy='periodic' needs `period`, the number of batches between "
                "updates; got period=None. Pass e.g. period=10."
            )
        if isinstance(self.estimator, FrozenEstimator) and self.policy != "never":
            # it forwards partial_fit to the model it wraps, which would change
            raise ValueError(
                f"A FrozenEstimator is never updated, but policy={self.policy!r} "
                "updates the model. Use policy='never' to monitor the frozen "
                "model, or pass the model itself to have it updated."
            )
        if self.detector is not None and not hasattr(self.detector, "drift_detected"):
            raise TypeError(
                "`detector` must have update(x) and a boolean attribute "
                f"`drift_detected`, as river's detectors; {self.detector!r} has no "
                "`drift_detected`."
            )
        unknown = sorted(
            set(self.drift_params or {}) - set(self.estimator.get_params())
        )
        if unknown:
            raise ValueError(
                f"`drift_params` names {unknown}, which are not parameters of "
                f"{type(self.estimator).__name__}. Use names from "
                "estimator.get_params()."
            )

    def _start(self, estimator) -> None:
        self.estimator_ = estimator
        self.detector_ = _fresh_detector(self.detector)
        self.history_ = []
        self.updates_ = []
        self._pending = []

    def fit(self, X, y, **fit_params):
        """Train a clone of ``estimator`` from scratch; restart monitoring.

        Parameters
        ----------
        X, y : array-like
            Training data.
        **fit_params : dict
            Passed to the estimator's ``fit`` (``tasks=`` for instance); with
            metadata routing on, those it requests (``set_fit_request``).

        Returns
        -------
        self
        """
        # concurrent batches run one after the other; readers meanwhile use
        # the model before, which fit leaves alone (it trains a clone)
        with updating(self, snapshot=shallow_copy):
            self._check_params()
            if get_config()["enable_metadata_routing"]:
                fit_params = process_routing(self, "fit", **fit_params).estimator.fit
            estimator = clone(self.estimator).fit(X, y, **fit_params)
            self._start(estimator)
        return self

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Test the model on a new batch, then update it if the policy says so.

        Parameters
        ----------
        X, y : array-like
            The new labelled batch.
        classes : array-like, default=None
            Passed to the estimator's ``partial_fit`` (classifiers need it on
            the first call when the updater is not fitted).
        sample_weight : array-like of shape (n_samples,), default=None
            Passed to the estimator's ``partial_fit`` with the batch (kept
            with it while it waits for a periodic update). Testing is
            unweighted.

        Returns
        -------
        self
        """
        # concurrent batches run one after the other
        with updating(self, snapshot=_readers_copy):
            return self._take_batch(X, y, classes, sample_weight)

    def _take_batch(self, X, y, classes, sample_weight):
        if not hasattr(self, "estimator_") and isinstance(
            self.estimator, FrozenEstimator
        ):
            # fitted already: its first batch is tested as any other
            self._check_params()
            self._start(self.estimator)
            try:
                return self._take_batch(X, y, classes, sample_weight)
            except BaseException:
                for name in (
                    "estimator_",
                    "detector_",
                    "history_",
                    "updates_",
                    "_pending",
                ):
                    delattr(self, name)
                raise
        if not hasattr(self, "estimator_"):
            self._check_params()
            estimator = clone(self.estimator)
            _partial_fit(estimator, X, y, classes, None, sample_weight)
            self._start(estimator)
            self.history_.append(_record(0, len(y), np.nan, False, "initial"))
            return self
        self._check_targets(X, y)
        errors = self._errors(y, self.estimator_.predict(X))
        # work on copies: a failing update leaves the updater as it was
        detector = copy.deepcopy(self.detector_)
        drift = _signals(detector, errors)
        # batches wait for a periodic update only where one is scheduled
        gathering = self.period is not None and self.policy in ("periodic", "drift")
        if gathering and self._pending:
            _check_same_kind(self._pending[0][0], X)
        weights = None if sample_weight is None else _copy(sample_weight)
        pending = (
            [*self._pending, (_copy(X), _copy(y), weights)]
            if gathering
            else [(X, y, sample_weight)]
        )
        batch = len(self.history_)
        reason = self._reason(drift, len(pending))
        if reason is not None:
            if reason == "drift":
                data, params = (X, y, sample_weight), self.drift_params
            else:
                data = (*(_concat([p[i] for p in pending]) for i in (0, 1)),)
                data += (_pending_weights(pending),)
                params = None
            _partial_fit(self.estimator_, *data[:2], classes, params, data[2])
            self.updates_.append(
                {"batch": batch, "reason": reason, "n_samples": len(data[1])}
            )
            pending = []
        self.detector_ = detector
        self._pending = pending if gathering else []
        self.history_.append(
            _record(batch, len(errors), float(np.mean(errors)), drift, reason)
        )
        return self

    def __getstate__(self):
        # not half of another thread's batch; what a later batch changes in
        # place copied, since pickle and skops write the state after this
        # returns, when another batch may have begun
        with consistent(self):
            state = dict(super().__getstate__())
            for name in ("history_", "updates_"):
                if name in state:
                    state[name] = list(state[name])
            model = state.get("estimator_")
            if model is not None and not isinstance(model, FrozenEstimator):
                state["estimator_"] = copy.deepcopy(model)
        return state

    def __deepcopy__(self, memo):
        return locked_deepcopy(self, memo)

    def get_metadata_routing(self) -> MetadataRouter:
        """Route ``fit``'s metadata to the estimator's ``fit``; ``partial_fit``
        and ``score`` consume their own (``classes``, ``sample_weight``).

        Returns
        -------
        routing : MetadataRouter
        """
        return (
            MetadataRouter(owner=self)
            .add_self_request(self)
            .add(
                estimator=self.estimator,
                method_mapping=MethodMapping().add(caller="fit", callee="fit"),
            )
        )

    def _check_targets(self, X, y) -> None:
        """Reject targets that testing would misread, even on a batch that
        triggers no update: a length other than X's, or missing labels."""
        check_consistent_length(X, y)
        if is_classifier(self.estimator_):
            check_classification_targets(y)
        else:
            check_array(y, ensure_2d=False, dtype="numeric", input_name="y")

    def _reason(self, drift: bool, n_pending: int) -> str | None:
        if self.policy == "always":
            return "always"
        if self.policy == "drift" and drift:
            return "drift"
        if self.policy in ("periodic", "drift") and self.period is not None:
            if n_pending >= self.period:
                return "periodic"
        return None

    def _errors(self, y, y_pred) -> np.ndarray:
        if self.error is not None:
            error = self.error
        elif is_classifier(self.estimator_):
            error = _zero_one_errors
        else:
            error = _absolute_errors
        errors = np.asarray(error(y, y_pred), dtype=float)
        if errors.shape != (len(y_pred),):
            raise ValueError(
                f"`error` must return one value per sample, shape ({len(y_pred)},); "
                f"it returned shape {errors.shape}."
            )
        bad = ~np.isfinite(errors)
        if bad.any():
            # one NaN or inf makes the detector's running statistics NaN for
            # good: it would never signal a drift again
            raise ValueError(
                f"The model's errors on this batch hold {int(bad.sum())} NaN or "
                "infinite values (the model predicts NaN or inf, or `error` "
                "returns them), which would disable the drift detector for good. "
                "The updater is unchanged: refit a diverged model with fit, or "
                "make `error` return finite values."
            )
        return errors

    # ------------------------------------------------------------------
    # delegation
    # ------------------------------------------------------------------
    @contextmanager
    def _reading(self):
        """Yield the model a prediction reads (see the module docstring):
        one that guards its own readers directly, any other under
        ``reading``."""
        model = getattr(self, "estimator_", None)
        if _guards_its_readers(model):
            yield model
            return
        with reading(self, live=True) as updater:
            if not hasattr(updater, "estimator_"):
                check_is_fitted(updater)  # raises NotFittedError
            yield updater.estimator_

    def predict(self, X):
        """Predictions of the current model."""
        with self._reading() as model:  # safe during another thread's batch
            return model.predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities of the current model."""
        with self._reading() as model:  # safe during another thread's batch
            return model.predict_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """Decision function of the current model."""
        with self._reading() as model:  # safe during another thread's batch
            return model.decision_function(X)

    @available_if(_estimator_has("score"))
    def score(self, X, y, sample_weight=None) -> float:
        """Score of the current model (its own ``score`` method)."""
        kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
        with self._reading() as model:  # safe during another thread's batch
            return model.score(X, y, **kwargs)

    @property
    def classes_(self) -> np.ndarray:
        check_is_fitted(self)
        return self.estimator_.classes_

    @property
    def n_features_in_(self) -> int:
        check_is_fitted(self)
        return self.estimator_.n_features_in_

    @property
    def feature_names_in_(self) -> np.ndarray:
        check_is_fitted(self)
        return self.estimator_.feature_names_in_

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "estimator_")

    def __sklearn_tags__(self):
        return delegated_tags(super().__sklearn_tags__(), self.estimator)


def _record(batch: int, n_samples: int, error: float, drift: bool, update) -> dict:
    return {
        "batch": batch,
        "n_samples": n_samples,
        "error": error,
        "drift": drift,
        "update": update,
    }


def _pending_weights(pending):
    """The weights of the waiting batches, joined (1 for unweighted ones);
    None when no batch has weights."""
    if all(w is None for _, _, w in pending):
        return None
    return np.concatenate(
        [np.ones(len(y)) if w is None else np.asarray(w, float) for _, y, w in pending]
    )


def _partial_fit(estimator, X, y, classes, params, sample_weight=None) -> None:
    """``estimator.partial_fit(X, y)`` with ``params`` set for this call only."""
    kwargs = {} if classes is None else {"classes": classes}
    if sample_weight is not None:
        kwargs["sample_weight"] = sample_weight
    if not params:
        estimator.partial_fit(X, y, **kwargs)
        return
    current = estimator.get_params()
    saved = {name: current[name] for name in params}
    estimator.set_params(**params)
    try:
        estimator.partial_fit(X, y, **kwargs)
    finally:
        estimator.set_params(**saved)
