"""UpdateEnsemble: keep the deployed model, add models fitted on new data."""

from __future__ import annotations

import copy
import numbers
import weakref
from inspect import signature

import numpy as np
import scipy.sparse as sp
import torch
from sklearn import get_config
from sklearn.base import (
    BaseEstimator,
    MetaEstimatorMixin,
    clone,
    is_classifier,
    is_regressor,
)
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils import check_random_state, get_tags
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    process_routing,
)
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_is_fitted,
    has_fit_parameter,
    validate_data,
)

from ._input import check_classes, check_outputs, to_tensor
from ._locking import reading, shallow_copy, updating
from ._meta import delegated_tags
from ._param_validation import HasMethods, Interval, StrOptions
from ._transaction import attributes_restored_on_error
from .base import ContinualEstimator
from .modules import MLP
from .strategies.buffers import make_buffer

__all__ = ["UpdateEnsemble"]

# rows per batched forward pass: the members' activations of one chunk stay
# in the CPU caches (with 10 members, 1,024 rows ran 3.7x faster than 16,384)
_STACKED_CHUNK = 1024
# per MLP module: the shapes of its linear layers; and per first module of a
# group, the group's stacked weights, with the modules and the version
# counters of the weights they were stacked from. A module is replaced (when
# the output layer grows), never restructured; training changes weights in
# place, which bumps their version counters and so invalidates the stack.
_SHAPES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_STACKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _soft_classifier(ensemble) -> bool:
    """``predict_proba`` is offered by soft-voting ensembles of classifiers
    whose members have it."""
    return (
        ensemble.voting == "soft"
        and is_classifier(ensemble.estimator)
        and hasattr(ensemble.estimator, "predict_proba")
    )


class UpdateEnsemble(MetaEstimatorMixin, BaseEstimator):
    """Ensemble of models fitted on successive batches; old models never change.

    The ensemble recipe for new data: leave the existing model as it is, fit a
    new model on the new data (``data="new"``) or on the new data plus
    remembered past data (``data="old_and_new"``), and average the models'
    predictions. It works with any scikit-learn classifier or regressor; the
    ensemble is a classifier or a regressor as its ``estimator`` is (one class
    for both, as :class:`~sklearn.pipeline.Pipeline`).

    Each call is one step:

    - ``fit(X, y)`` returns to the starting state (no member, or the ``init``
      model) and takes one step on ``(X, y)``; without ``init`` this fits the
      first member, a clone of ``estimator``.
    - ``partial_fit(X, y)`` takes one step from the current state (from the
      starting state when the ensemble is not fitted yet).
    - A step fits a new member, a clone of ``estimator``, with its ``fit``
      (``update="add"``), or updates the newest member with its
      ``partial_fit`` (``update="newest"``; for members such as a
      :class:`~sklearn_cl.ContinualClassifier` with update strategies). It
      trains on the batch (``data="new"``) or on the remembered samples plus
      the batch (``data="old_and_new"``). Members are never refitted; the
      newest one is updated on a copy, so a failing step leaves the ensemble
      exactly as it was. The ``init`` model is never updated: with
      ``update="newest"`` the first step after it adds a member and later
      steps update that one. A step with no member to update adds one.

    Predictions average the members: class probabilities for classifiers
    (``voting="soft"``), each member contributing zeros for the classes it
    never saw (columns aligned on ``classes_``, the union of all labels
    seen); or labels by weighted majority (``voting="hard"``; ties go to the
    first label in ``classes_``); values for regressors, multi-output ones
    included. Members that are sklearn_cl estimators with the default MLP of
    one shape predict in one batched forward pass (their weights stacked, a
    copy kept until a weight changes); other members predict one by one.

    ``predict``, ``predict_proba`` and ``score`` may run in any number of
    threads while one thread calls ``fit`` or ``partial_fit``: they see the
    ensemble as it was before the step, never a mix; concurrent steps run
    one after the other.

    Parameters
    ----------
    estimator : estimator object
        The model cloned for every new member: a classifier or a regressor
        with ``fit`` and ``predict`` (``predict_proba`` for soft voting;
        ``partial_fit`` for ``update="newest"``). Classifiers need
        ``classes_``.
    data : {"new", "old_and_new"}, default="new"
        Training data of each step: the batch alone, or the batch plus the
        remembered past samples. The memory is a reservoir buffer of
        :mod:`sklearn_cl.strategies.buffers` (a uniform sample of all data
        seen since ``fit``), holding ``X`` as float32; it needs numeric,
        dense ``X``.
    memory_size : int or None, default=10_000
        Most samples remembered with ``data="old_and_new"``; None remembers
        everything. Read when the memory is created (the first step after
        ``fit``).
    update : {"add", "newest"}, default="add"
        What a ``partial_fit`` step does: add a member, or update the newest
        member with its ``partial_fit``. ``partial_fit(..., update=...)``
        overrides it for one call, which combines both recipes (add a member
        each month, update it every day).
    max_members : int or None, default=None
        Most members kept: when a step adds one beyond this, the oldest
        members (the ``init`` model included) are dropped. None keeps all.
    weights : {"score", "decay"}, array-like of shape (n_members,) or None, \
            default=None
        Weights of the members in the average: None for equal weights;
        ``"score"`` for each member's score on the newest batch it had not
        been trained on (``scores_``, clipped at 0; a member not scored yet
        gets the best score of the others); ``"decay"`` for ``decay ** age``,
        age 0 being the newest member; an array for fixed weights, one per
        member, oldest first (its length must match ``len(estimators_)`` at
        prediction time). Weights are normalised to sum to 1 and may be
        changed with ``set_params`` after fitting.
    decay : float in (0, 1], default=0.5
        Factor per member of age for ``weights="decay"``.
    voting : {"soft", "hard"}, default="soft"
        For classifiers: average the probabilities, or take the weighted
        majority of the predicted labels. Ignored by regressors.
    init : fitted estimator or None, default=None
        A fitted model to start from (the deployed model). It is the first
        member and is never updated. Wrap it in
        :class:`sklearn.frozen.FrozenEstimator` so that ``clone`` (and so
        ``GridSearchCV`` or ``cross_validate``) keeps it fitted;
        :meth:`from_fitted` does this for you.
    random_state : int, RandomState instance or None, default=None
        None: members are exact clones of ``estimator`` (with its own
        ``random_state``), so the first member is ``clone(estimator).fit(X,
        y)``. An int: it seeds the memory's sampling and gives each new
        member its own seed (every ``random_state`` parameter of the clone is
        set), so members differ in initialisation too.

    Attributes
    ----------
    estimators_ : list of estimators
        The members, oldest first.
    scores_ : ndarray of shape (n_members,)
        Each member's score (its ``score`` method: accuracy or R²) on the
        newest batch of at least two samples that it had not been trained
        on, measured at the start of the step (test, then train); NaN for a
        member not scored yet.
    weights_ : ndarray of shape (n_members,)
        The normalised weights ``predict`` uses now.
    classes_ : ndarray of shape (n_classes,)
        Sorted union of all labels seen (classifiers only).
    memory_ : buffer or None
        The remembered samples with ``data="old_and_new"`` (``memory_.X``,
        ``memory_.y``); None otherwise.
    n_members_added_ : int
        Members added since the start, the evicted ones included.
    n_features_in_ : int
        Number of features seen during the first step (when ``X`` has them).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when ``X`` was a DataFrame with string column names.

    See Also
    --------
    sklearn.ensemble.VotingClassifier : averages models fitted on the same
        data, all at once.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_cl import UpdateEnsemble
    >>> X, y = make_classification(n_samples=900, random_state=0)
    >>> deployed = LogisticRegression().fit(X[:300], y[:300])
    >>> ensemble = UpdateEnsemble.from_fitted(deployed)
    >>> ensemble = ensemble.partial_fit(X[300:600], y[300:600])
    >>> len(ensemble.estimators_), ensemble.predict_proba(X[:1]).shape
    (2, (1, 2))
    >>> [round(m.score(X[600:], y[600:]), 3) for m in [*ensemble.estimators_, ensemble]]
    [0.837, 0.883, 0.853]
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict"])],
        "data": [StrOptions({"new", "old_and_new"})],
        "memory_size": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "update": [StrOptions({"add", "newest"})],
        "max_members": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "weights": [StrOptions({"score", "decay"}), "array-like", None],
        "decay": [Interval(numbers.Real, 0, 1, closed="right")],
        "voting": [StrOptions({"soft", "hard"})],
        "init": [HasMethods(["predict"]), None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator,
        *,
        data="new",
        memory_size=10_000,
        update="add",
        max_members=None,
        weights=None,
        decay=0.5,
        voting="soft",
        init=None,
        random_state=None,
    ):
        self.estimator = estimator
        self.data = data
        self.memory_size = memory_size
        self.update = update
        self.max_members = max_members
        self.weights = weights
        self.decay = decay
        self.voting = voting
        self.init = init
        self.random_state = random_state

    @classmethod
    def from_fitted(cls, model, estimator=None, **params) -> UpdateEnsemble:
        """An ensemble that starts from a fitted (deployed) model.

        The model becomes ``init`` (wrapped in
        :class:`~sklearn.frozen.FrozenEstimator`), the ensemble's only member;
        it predicts at once, and each ``partial_fit`` adds a member. The
        memory of ``data="old_and_new"`` starts empty: the model's training
        data is unknown. To include it, fit the ensemble on it instead.

        Parameters
        ----------
        model : fitted estimator or FrozenEstimator
            The model to start from; never changed.
        estimator : estimator object, default=None
            The model cloned for new members; None means an unfitted clone
            of ``model`` (same hyperparameters).
        **params
            Other parameters of :class:`UpdateEnsemble`.

        Returns
        -------
        UpdateEnsemble
            Fitted, with ``estimators_ == [init]``.
        """
        frozen = model if isinstance(model, FrozenEstimator) else FrozenEstimator(model)
        if estimator is None:
            estimator = clone(frozen.estimator)
        ensemble = cls(estimator, init=frozen, **params)
        ensemble._check_setup()
        ensemble._start()
        return ensemble

    # ------------------------------------------------------------------
    # training
    # ------------------------------------------------------------------
    def fit(self, X, y, **fit_params) -> UpdateEnsemble:
        """Start again and fit the first member on ``(X, y)``.

        With ``init``, start again from it and add one member fitted on
        ``(X, y)`` (so a grid search on new data tunes the update of the
        deployed model).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        **fit_params
            Metadata routed to the members' ``fit``: ``sample_weight``
            always, anything else when metadata routing is enabled.

        Returns
        -------
        self
        """
        with updating(self, snapshot=shallow_copy), attributes_restored_on_error(self):
            self._check_setup()
            routed = self._routed("fit", fit_params)
            self._start()
            self._step(X, y, classes=None, update="add", routed=routed)
        return self

    def partial_fit(
        self, X, y, classes=None, update=None, **partial_fit_params
    ) -> UpdateEnsemble:
        """One step: add a member fitted on the batch, or update the newest.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        classes : array-like of shape (n_classes,), default=None
            Labels to include in ``classes_`` even if no batch has shown
            them yet (classifiers only). Every label of ``y`` must be in it.
            Not passed to the members: with ``update="newest"``, a batch with
            labels the newest member was not trained on needs a member that
            learns new labels (``ContinualClassifier(allow_new_classes=True)``).
        update : {"add", "newest"}, default=None
            What this step does; None means the ``update`` parameter.
        **partial_fit_params
            Metadata routed to the members' ``fit`` (new member) or
            ``partial_fit`` (newest member updated): ``sample_weight``
            always, anything else when metadata routing is enabled. Not
            allowed once remembered samples join the batch
            (``data="old_and_new"``): they have no metadata.

        Returns
        -------
        self
        """
        with updating(self, snapshot=shallow_copy), attributes_restored_on_error(self):
            self._check_setup()
            if update not in (None, "add", "newest"):
                raise ValueError(
                    f"`update` must be 'add', 'newest' or None (the `update` "
                    f"parameter); got {update!r}."
                )
            routed = self._routed("partial_fit", partial_fit_params)
            if not hasattr(self, "estimators_"):
                self._start()
            self._step(X, y, classes=classes, update=update, routed=routed)
        return self

    def _check_setup(self) -> None:
        """Validate the parameters and how they fit together."""
        self._validate_params()
        classifier = is_classifier(self.estimator)
        if not classifier and not is_regressor(self.estimator):
            raise ValueError(
                f"`estimator` must be a classifier or a regressor; got "
                f"{self.estimator!r}, whose estimator type is "
                f"{get_tags(self.estimator).estimator_type!r}."
            )
        if isinstance(self.estimator, FrozenEstimator):
            # its clones are itself: every new member would be the same model
            raise ValueError(
                "`estimator` is cloned and fitted for every new member, but a "
                "FrozenEstimator is never fitted. Pass the fitted model as `init` "
                "(UpdateEnsemble.from_fitted(model) does this) and an unfitted "
                "model as `estimator`."
            )
        if self.init is not None and is_classifier(self.init) != classifier:
            kind = "classifier" if classifier else "regressor"
            raise ValueError(
                f"`init` must be a {kind} like `estimator` ({self.estimator!r}); "
                f"got {self.init!r}."
            )
        if classifier and self.voting == "soft":
            for name, model in (("estimator", self.estimator), ("init", self.init)):
                if model is not None and not hasattr(model, "predict_proba"):
                    raise ValueError(
                        f'voting="soft" averages probabilities, but `{name}` '
                        f"({model!r}) has no predict_proba. Use voting='hard', "
                        "or a classifier with predict_proba."
                    )

    def _routed(self, method: str, params: dict):
        """The metadata for the members' ``fit`` and ``partial_fit``.

        Without metadata routing, ``sample_weight`` alone goes to every
        member, as in scikit-learn's ``VotingClassifier`` and
        ``BaggingClassifier``."""
        if get_config()["enable_metadata_routing"]:
            return process_routing(self, method, **params)["estimator"]
        unexpected = sorted(set(params) - {"sample_weight"})
        if unexpected:
            raise ValueError(
                f"{type(self).__name__}.{method} got unexpected arguments "
                f"{unexpected}. Metadata other than sample_weight reaches the "
                "members only with metadata routing: call sklearn.set_config("
                "enable_metadata_routing=True) and request it on the estimator, "
                "e.g. estimator.set_fit_request(sample_weight=True)."
            )
        if params.get("sample_weight") is None:
            return {"fit": {}, "partial_fit": {}}
        if not has_fit_parameter(self.estimator, "sample_weight"):
            raise ValueError(
                f"sample_weight was given, but {type(self.estimator).__name__}.fit "
                "does not take it. Drop sample_weight, or use an estimator that "
                "supports sample weights."
            )
        weighted = {"sample_weight": params["sample_weight"]}
        return {"fit": weighted, "partial_fit": weighted}

    def _start(self) -> None:
        """Reset to the starting state: no member, or the ``init`` model."""
        for name in ("n_features_in_", "feature_names_in_", "classes_"):
            vars(self).pop(name, None)
        members = []
        if self.init is not None:
            check_is_fitted(
                self.init,
                msg=(
                    "`init` must be a fitted estimator; %(name)s is not fitted. "
                    "Fit it first, and wrap it in sklearn.frozen.FrozenEstimator "
                    "so that clone() keeps it fitted (UpdateEnsemble.from_fitted "
                    "does this)."
                ),
            )
            members = [self.init]
            for name in ("n_features_in_", "feature_names_in_"):
                if hasattr(self.init, name):
                    setattr(self, name, getattr(self.init, name))
            if is_classifier(self.init):
                self.classes_ = np.unique(self.init.classes_)
        self.estimators_ = members
        self.scores_ = np.full(len(members), np.nan)
        self.n_members_added_ = 0
        self.memory_ = None
        self._base_seed = (
            None
            if self.random_state is None
            else int(check_random_state(self.random_state).randint(2**31))
        )

    def _step(self, X, y, *, classes, update, routed) -> None:
        """One step on a batch. Attributes are assigned only once everything
        that can fail has run, so a failing step leaves the ensemble as it was."""
        classifier = is_classifier(self.estimator)
        if classes is not None and not classifier:
            raise ValueError(
                "`classes` is for classifiers; this ensemble of "
                f"{type(self.estimator).__name__} is a regressor. Drop `classes`."
            )
        self._check_features(X, reset=not hasattr(self, "n_features_in_"))
        labels = self._labels(y, classes) if classifier else None
        memory = self._memory() if self.data == "old_and_new" else None
        X_train, y_train = X, y
        if memory is not None and len(memory):
            if routed["fit"] or routed["partial_fit"]:
                raise ValueError(
                    "Metadata cannot be routed with data='old_and_new' once "
                    "samples are remembered: the remembered samples have no "
                    "metadata. Use data='new', or pass no metadata."
                )
            X_train, y_train = self._with_memory(memory, X, y)

        members, scores = list(self.estimators_), self.scores_
        if members and len(y) >= 2:
            # test, then train: each member is scored on data it has not seen
            scores = np.array([member.score(X, y) for member in members], float)
        n_added = self.n_members_added_
        if self._updates_newest(update):
            members[-1] = self._updated(members[-1], X_train, y_train, routed)
        else:
            members.append(self._new_member().fit(X_train, y_train, **routed["fit"]))
            scores = np.append(scores, np.nan)
            n_added += 1
        keep = len(members) if self.max_members is None else self.max_members
        if memory is not None:
            # last, as add checks its input before it changes anything
            memory.add(self._memory_rows(X), y)
            self.memory_ = memory
        self.estimators_, self.scores_ = members[-keep:], scores[-keep:]
        self.n_members_added_ = n_added
        if classifier:
            seen = getattr(self, "classes_", labels)
            self.classes_ = np.union1d(seen, labels)

    def _memory(self):
        """The memory this step adds to: a new buffer holding what
        ``memory_`` holds, never ``memory_`` itself, which copies, pickles
        and predictions taken before the step still read."""
        if self.memory_ is None:
            return make_buffer("reservoir", self.memory_size, self._base_seed)
        memory = type(self.memory_)(self.memory_.capacity, self.memory_.random_state)
        return memory.load_state_dict(self.memory_.state_dict())

    def _updates_newest(self, update) -> bool:
        """Whether this step updates the newest member rather than adding one;
        the ``init`` model is never updated."""
        update = self.update if update is None else update
        init_is_newest = self.init is not None and self.n_members_added_ == 0
        return update == "newest" and bool(self.estimators_) and not init_is_newest

    @staticmethod
    def _updated(member, X, y, routed):
        """A copy of ``member`` updated with its ``partial_fit``."""
        if not hasattr(member, "partial_fit"):
            raise ValueError(
                f"update='newest' updates the newest member with partial_fit, but "
                f"{type(member).__name__} has none. Use update='add', or an "
                "estimator with partial_fit."
            )
        _check_partial_fit_takes(member, routed["partial_fit"])
        try:
            return copy.deepcopy(member).partial_fit(X, y, **routed["partial_fit"])
        except ValueError as error:
            known = getattr(member, "classes_", None)
            if is_classifier(member) and known is not None:
                new = np.setdiff1d(np.unique(np.asarray(y)), known)
                if new.size:
                    # the member's own advice (pass `classes` on the first
                    # call) misleads here: the ensemble does not pass them on
                    error.add_note(
                        f"update='newest' updates the newest member, which knows "
                        f"only the labels {known} it was trained on, with a batch "
                        f"that has the new labels {new}; UpdateEnsemble's "
                        "`classes` is not passed to its members. Use update='add' "
                        "for this batch, or a member that can learn new labels "
                        "(ContinualClassifier(allow_new_classes=True))."
                    )
            raise

    def _check_features(self, X, *, reset: bool) -> None:
        """Set or check ``n_features_in_`` and ``feature_names_in_``; the rest
        of the validation is the members' own. 1-D ``X`` goes to the members
        unchecked: text for a pipeline, or a mistake they explain."""
        if (
            not reset
            and type(X) is np.ndarray
            and X.ndim == 2
            and X.shape[1] == getattr(self, "n_features_in_", None)
            and not hasattr(self, "feature_names_in_")
        ):
            return  # the common case, without validate_data's cost per call
        if (X.ndim if hasattr(X, "ndim") else np.asarray(X).ndim) != 1:
            validate_data(self, X, reset=reset, skip_check_array=True)

    def _labels(self, y, classes) -> np.ndarray:
        """The sorted labels of ``y`` and ``classes``."""
        check_classification_targets(y)
        labels = np.unique(np.asarray(y))
        if classes is None:
            return labels
        classes = check_classes(classes)
        missing = np.setdiff1d(labels, classes)
        if missing.size:
            raise ValueError(
                f"`y` has labels not in `classes`: {missing}. Pass every label "
                f"the model will see in `classes`; got classes={classes}."
            )
        return classes

    def _memory_rows(self, X) -> np.ndarray:
        """``X`` as the float32 rows the memory keeps."""
        if sp.issparse(X):
            raise TypeError(
                "data='old_and_new' keeps past samples in a dense float32 memory, "
                "so X cannot be sparse. Convert it with X.toarray(), or use "
                "data='new'."
            )
        try:
            return np.asarray(X, dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise type(error)(
                "data='old_and_new' keeps past samples in a float32 memory, so X "
                f"must be numeric ({error}). Encode X first, or use data='new'."
            ) from error

    def _with_memory(self, memory, X, y):
        """The remembered samples followed by the batch (in its own dtype)."""
        X_all = np.concatenate([memory.X, np.asarray(X)])
        y_all = np.concatenate([memory.y, np.asarray(y)])
        if hasattr(self, "feature_names_in_"):
            import pandas as pd

            X_all = pd.DataFrame(X_all, columns=self.feature_names_in_)
        return X_all, y_all

    def _new_member(self):
        member = clone(self.estimator)
        if self._base_seed is not None:
            rng = np.random.default_rng([self._base_seed, self.n_members_added_])
            seed = int(rng.integers(2**31 - 1))
            keys = [
                key
                for key in member.get_params(deep=True)
                if key == "random_state" or key.endswith("__random_state")
            ]
            member.set_params(**dict.fromkeys(keys, seed))
        return member

    # ------------------------------------------------------------------
    # prediction
    # ------------------------------------------------------------------
    @property
    def weights_(self) -> np.ndarray:
        """The normalised weights ``predict`` uses now, one per member."""
        check_is_fitted(self)
        return self._weights()

    def _weights(self) -> np.ndarray:
        n = len(self.estimators_)
        if self.weights is None:
            weights = np.ones(n)
        elif isinstance(self.weights, str) and self.weights == "decay":
            weights = self.decay ** np.arange(n - 1, -1, -1, dtype=float)
        elif isinstance(self.weights, str):
            weights = self._score_weights()
        else:
            weights = np.asarray(self.weights, dtype=float)
            if weights.shape != (n,) or (weights < 0).any() or weights.sum() <= 0:
                raise ValueError(
                    f"`weights` must hold one non-negative weight per member "
                    f"({n} members, oldest first), not all zero; got "
                    f"{self.weights!r}. Set weights with set_params(weights=...) "
                    "or use weights=None, 'score' or 'decay'."
                )
        return weights / weights.sum()

    def _score_weights(self) -> np.ndarray:
        scores = self.scores_
        if np.isnan(scores).all():
            return np.ones(len(scores))
        scores = np.clip(np.where(np.isnan(scores), np.nanmax(scores), scores), 0, None)
        return scores if scores.sum() > 0 else np.ones(len(scores))

    def _weighted_members(self, X):
        check_is_fitted(self)
        self._check_features(X, reset=False)
        return [(m, w) for m, w in zip(self.estimators_, self._weights()) if w > 0]

    @available_if(_soft_classifier)
    def predict_proba(self, X) -> np.ndarray:
        """Weighted average of the members' class probabilities.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``; a member contributes zeros
            for the classes it was not trained on.
        """
        with reading(self) as ensemble:  # safe while another thread steps
            return ensemble._predict_proba(X)

    def _predict_proba(self, X) -> np.ndarray:
        proba = None
        members, weights = zip(*self._weighted_members(X))
        outputs = _member_outputs(list(members), X, "predict_proba")
        for member, weight, member_proba in zip(members, weights, outputs):
            if proba is None:
                proba = np.zeros((len(member_proba), len(self.classes_)))
            if np.array_equal(member.classes_, self.classes_):
                proba += weight * member_proba
            else:
                columns = np.searchsorted(self.classes_, member.classes_)
                proba[:, columns] += weight * member_proba
        return proba

    def predict(self, X) -> np.ndarray:
        """Average of the members' predictions (see the class description)."""
        with reading(self) as ensemble:  # safe while another thread steps
            return ensemble._predict(X)

    def _predict(self, X) -> np.ndarray:
        if not is_classifier(self.estimator):
            members, weights = zip(*self._weighted_members(X))
            outputs = _member_outputs(list(members), X, "predict")
            return sum(
                weight * np.asarray(output, dtype=float)
                for weight, output in zip(weights, outputs)
            )
        if self.voting == "soft":
            proba = self._predict_proba(X)
            return self.classes_[proba.argmax(axis=1)]
        members, weights = zip(*self._weighted_members(X))
        outputs = _member_outputs(list(members), X, "predict")
        votes = [np.searchsorted(self.classes_, labels) for labels in outputs]
        n_samples, n_classes = len(votes[0]), len(self.classes_)
        # weighted vote counts per (sample, class) cell, in one bincount
        cells = (np.asarray(votes) + n_classes * np.arange(n_samples)).ravel()
        weights = np.repeat(weights, n_samples)
        counts = np.bincount(cells, weights=weights, minlength=n_samples * n_classes)
        return self.classes_[counts.reshape(n_samples, n_classes).argmax(axis=1)]

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy (classifiers) or R² (regressors) of :meth:`predict`."""
        metric = accuracy_score if is_classifier(self.estimator) else r2_score
        with reading(self) as ensemble:  # safe while another thread steps
            predictions = ensemble._predict(X)
        return float(metric(y, predictions, sample_weight=sample_weight))

    # ------------------------------------------------------------------
    # scikit-learn protocol
    # ------------------------------------------------------------------
    def __getstate__(self):
        # while another thread steps: the ensemble as the step found it
        with reading(self) as ensemble:
            return super(UpdateEnsemble, ensemble).__getstate__()

    def get_metadata_routing(self) -> MetadataRouter:
        """Route ``fit`` to the members' ``fit``, ``partial_fit`` to their
        ``fit`` (new member) and ``partial_fit`` (newest member updated)."""
        return (
            MetadataRouter(owner=self)
            .add_self_request(self)
            .add(
                estimator=self.estimator,
                method_mapping=MethodMapping()
                .add(caller="fit", callee="fit")
                .add(caller="partial_fit", callee="fit")
                .add(caller="partial_fit", callee="partial_fit"),
            )
        )

    def __sklearn_tags__(self):
        tags = delegated_tags(super().__sklearn_tags__(), self.estimator)
        if self.data == "old_and_new":  # the memory holds dense float32 rows
            tags.input_tags.sparse = False
            tags.input_tags.string = False
        return tags


def _check_partial_fit_takes(member, metadata: dict) -> None:
    """Raise if the newest member's ``partial_fit`` cannot take ``metadata``
    (sample weights passed without routing to a member that only takes them
    in ``fit``)."""
    accepted = signature(member.partial_fit).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in accepted.values())
    missing = sorted(set(metadata) - set(accepted))
    if missing and not takes_any:
        raise ValueError(
            f"{missing} were given, but {type(member).__name__}.partial_fit "
            "does not take them, and update='newest' calls it. Drop them, or "
            "use update='add' (a new member is fitted with them)."
        )


# ----------------------------------------------------------------------
# batched prediction of members that share one MLP shape
# ----------------------------------------------------------------------
def _member_outputs(members: list, X, method: str) -> list:
    """``getattr(member, method)(X)`` for each member, in order.

    Members that are fitted sklearn_cl estimators with the default MLP of
    one shape (same layer widths, device, input layout and targets) run in
    one batched forward pass: their weights are stacked and each layer is one
    matrix product for all of them (``torch.baddbmm``), the same arithmetic
    as ``torch.func.vmap`` over ``functional_call`` but without its
    per-call tracing, which alone cost more than predicting 100 rows with 10
    members. Other members predict one by one.
    """
    groups: dict = {}
    for index, member in enumerate(members):
        groups.setdefault(_batch_key(member), []).append(index)
    outputs = [None] * len(members)
    for key, indices in groups.items():
        if key is None or len(indices) == 1:
            for i in indices:
                outputs[i] = getattr(members[i], method)(X)
            continue
        group = [_unfrozen(members[i]) for i in indices]
        for i, output in zip(indices, _stacked_predictions(group, X, method)):
            outputs[i] = output
    return outputs


def _unfrozen(member):
    """The model inside a :class:`~sklearn.frozen.FrozenEstimator`."""
    return member.estimator if isinstance(member, FrozenEstimator) else member


def _batch_key(member):
    """What members must share to predict in one batched pass; None for a
    member that predicts on its own."""
    member = _unfrozen(member)
    if not isinstance(member, ContinualEstimator) or not hasattr(member, "net_"):
        return None
    module = member.net_.module_
    if type(module) is not MLP:
        return None
    shapes = _SHAPES.get(module)
    if shapes is None:
        shapes = _SHAPES[module] = tuple(
            tuple(layer.weight.shape)
            for layer in module.layers
            if isinstance(layer, torch.nn.Linear)
        )
    names = getattr(member, "feature_names_in_", None)
    return (
        type(member),
        shapes,
        str(member.net_.device),
        member.input_shape_,
        None if names is None else tuple(names),
        getattr(member, "_y_1d", None),
    )


def _stacked_predictions(members: list, X, method: str) -> list:
    """Each member's ``method(X)`` from one batched forward pass."""
    first = members[0]
    X = to_tensor(first._validate_X(X))  # the layout all of them share
    device = first.net_.device
    layers = _stacked_layers([m.net_.module_ for m in members])
    with torch.inference_mode():
        raw = torch.cat(
            [
                _stacked_mlp(layers, X[i : i + _STACKED_CHUNK].to(device))
                for i in range(0, len(X), _STACKED_CHUNK)
            ],
            dim=1,
        ).cpu()
        check_outputs(first, raw.transpose(0, 1).numpy(), X.cpu().numpy())
        if method == "predict_proba":
            # the softmax of the members' predict_proba, written out: torch's
            # kernel is slow over a last axis of a few classes
            logits = raw.double()
            proba = (logits - logits.amax(dim=-1, keepdim=True)).exp_()
            return list(proba.div_(proba.sum(dim=-1, keepdim=True)).numpy())
        if first._is_classifier:
            indices = raw.argmax(dim=-1).numpy()
            return [m.classes_[i] for m, i in zip(members, indices)]
        return [m._values(v) for m, v in zip(members, raw.numpy())]


def _stacked_layers(modules: list) -> list:
    """The layers of MLPs of one shape, linear ones as stacked ``(weight,
    bias)`` pairs; built again only when a weight has changed."""
    entry = _STACKS.get(modules[0])
    if entry is not None and len(entry["modules"]) == len(modules):
        same = all(a() is b for a, b in zip(entry["modules"], modules))
        if same and entry["versions"] == [t._version for t in entry["tensors"]]:
            return entry["layers"]
    per_module = [list(module.layers) for module in modules]
    tensors = [
        tensor
        for layers in per_module
        for layer in layers
        if isinstance(layer, torch.nn.Linear)
        for tensor in (layer.weight, layer.bias)
    ]
    with torch.no_grad():
        stacked = [
            (
                torch.stack([layers[i].weight for layers in per_module]),
                torch.stack([layers[i].bias for layers in per_module]),
            )
            if isinstance(layer, torch.nn.Linear)
            else layer
            for i, layer in enumerate(per_module[0])
            if not isinstance(layer, torch.nn.Dropout)  # evaluation mode
        ]
    _STACKS[modules[0]] = {
        # weak: a value that held its key would keep it alive for ever
        "modules": [weakref.ref(module) for module in modules],
        "tensors": tensors,
        "versions": [t._version for t in tensors],
        "layers": stacked,
    }
    return stacked


def _stacked_mlp(layers: list, X: torch.Tensor) -> torch.Tensor:
    """Outputs ``(n_members, n_samples, n_outputs)`` of MLPs whose linear
    layers are stacked ``(weight, bias)`` pairs; the other layers act on each
    value."""
    h = X
    for layer in layers:
        if not isinstance(layer, tuple):
            h = layer(h)
            continue
        weight, bias = layer
        if h.ndim == 2:  # the input, shared: one product for all members
            n_members, n_out, n_in = weight.shape
            h = torch.addmm(bias.reshape(-1), h, weight.reshape(-1, n_in).T)
            h = h.reshape(len(X), n_members, n_out).transpose(0, 1)
        else:
            h = torch.baddbmm(bias[:, None, :], h, weight.transpose(1, 2))
    return h
