"""Bad input, tried systematically on every public estimator (issue 8).

Each case of the matrix below is run on every estimator kind and method it
applies to (inapplicable combinations are not generated). A bad input must
raise an exception of the right type whose message names the problem and,
where the case has a ``fix`` pattern, says how to fix it; the model must be
bit-identical afterwards (everything learned, recursively: weights, optimizer
state, strategy state such as EWC's Fisher and anchors and Replay's buffer,
``classes_``, update counters) and predict exactly as before. Valid edge
input (one sample) must work.

Messages accepted without an explicit fix (``fix=None``), because the
problem as stated tells the fix:

- ``inf_X``: "Input X contains infinity ..." (scikit-learn);
- ``nan_y``: "Input y contains NaN." (scikit-learn; drop unlabelled samples),
  and for a regressor's ``score`` ``r2_score``'s bare "Input contains NaN.";
- ``n_features``: "X has 20 features, but ... is expecting 64 features";
- ``df_columns``: "The feature names should match those that were passed
  during fit", with the unseen and missing names listed;
- ``zero_samples``: "Found array with 0 sample(s) ... a minimum of 1 is
  required";
- ``length_mismatch``: "Found input variables with inconsistent numbers of
  samples: [20, 19]";
- ``strings_X`` / ``objects_X``: "could not convert string to float: 'a'" and
  "float() argument must be a string or a real number, not 'dict'";
- ``string_targets``: the continual regressors' ``fit`` and ``partial_fit``
  say "needs numeric targets ... Use ContinualClassifier for class labels, or
  convert y to numbers"; ``score`` and the ensemble give numpy's "could not
  convert string to float: 'high'";
- ``X_3d`` on a fitted model: the continual estimators say "X has samples of
  shape (2, 32), but ... was fitted on samples of shape (64,). Pass data
  with the same layout as in fit, or refit"; the meta-estimators validate
  first with scikit-learn's "X has 2 features, but ... is expecting 64
  features", the pipeline with "Found array with dim 3, while dim <= 2 is
  required by StandardScaler";
- ``strategy_raises``: the strategy's own exception, unchanged.
"""

from __future__ import annotations

import copy
import pickle
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from helpers import assert_same_state, model_state
from sklearn.base import BaseEstimator
from sklearn.datasets import load_digits, make_regression
from sklearn.exceptions import NotFittedError, UndefinedMetricWarning
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_cl import (
    ContinualClassifier,
    ContinualRegressor,
    MonitoredUpdater,
    UpdateEnsemble,
    make_incremental_pipeline,
)
from sklearn_cl.strategies import EWC, Replay, Strategy

# ----------------------------------------------------------------------
# data
# ----------------------------------------------------------------------
_X_DIGITS, _Y_DIGITS = load_digits(return_X_y=True)
_X_DIGITS = (_X_DIGITS / 16.0).astype(np.float32)
_X_REG, _Y_REG = make_regression(n_samples=400, n_features=10, noise=5, random_state=0)
_X_REG = _X_REG.astype(np.float32)
_Y_REG = (_Y_REG - _Y_REG.mean()) / _Y_REG.std()
DATA = {"classifier": (_X_DIGITS[:400], _Y_DIGITS[:400]), "regressor": (_X_REG, _Y_REG)}
ALL_CLASSES = np.arange(10)


class StrategyFailure(RuntimeError):
    """What the failing strategy raises: a user error, passed on unchanged."""


class Tripwire(Strategy):
    """Raises on every training batch while ``Tripwire.armed`` is set.

    The switch is a class attribute, so arming it changes no estimator's
    state (nor its pickle).
    """

    armed = False

    def penalty(self, net, X, y, y_pred):
        if Tripwire.armed:
            raise StrategyFailure("tripwire strategy failed")


def _continual(task: str):
    cls = ContinualClassifier if task == "classifier" else ContinualRegressor
    callbacks = [EWC(), Replay(buffer_size=50), Tripwire()]
    return cls(
        hidden_layer_sizes=(16,), max_epochs=2, random_state=0, callbacks=callbacks
    )


@dataclass(frozen=True)
class Kind:
    """An estimator kind: how to build it and where its ContinualEstimator is."""

    build: object
    task: str
    prefix: str  # set_params prefix of the inner ContinualEstimator
    fits_new_model_per_update: bool = False  # UpdateEnsemble's update="add"

    @property
    def classifier(self) -> bool:
        return self.task == "classifier"


KINDS = {
    "classifier": Kind(lambda: _continual("classifier"), "classifier", ""),
    "regressor": Kind(lambda: _continual("regressor"), "regressor", ""),
    "ensemble_classifier": Kind(
        lambda: UpdateEnsemble(_continual("classifier")),
        "classifier",
        "estimator__",
        fits_new_model_per_update=True,
    ),
    "ensemble_regressor": Kind(
        lambda: UpdateEnsemble(_continual("regressor")),
        "regressor",
        "estimator__",
        fits_new_model_per_update=True,
    ),
    # policy="always": every partial_fit updates the model, so every update
    # check applies (with the default policy a batch may be monitored only)
    "monitored_classifier": Kind(
        lambda: MonitoredUpdater(_continual("classifier"), policy="always"),
        "classifier",
        "estimator__",
    ),
    "pipeline_classifier": Kind(
        lambda: make_incremental_pipeline(StandardScaler(), _continual("classifier")),
        "classifier",
        "continualclassifier__",
    ),
}

METHODS = (
    "fit",
    "partial_fit",  # on a fitted model
    "partial_fit_first",  # on an unfitted model
    "predict",
    "predict_proba",
    "score",
)
ON_FITTED = {"fit", "partial_fit", "predict", "predict_proba", "score"}


def _method_applies(kind: Kind, method: str) -> bool:
    return method != "predict_proba" or kind.classifier


# ----------------------------------------------------------------------
# fitted models, built once per module and copied per test
# ----------------------------------------------------------------------
_CACHE: dict = {}


def _fitted(kind_name: str, frame: bool = False):
    key = (kind_name, frame)
    if key not in _CACHE:
        kind = KINDS[kind_name]
        X, y = DATA[kind.task]
        if frame:
            X = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
        est = kind.build().fit(X[:200], y[:200])
        est.partial_fit(X[200:300], y[200:300])
        _CACHE[key] = pickle.dumps(est)
    return pickle.loads(_CACHE[key])


@pytest.fixture(scope="module", autouse=True)
def _clear_cache():
    yield
    _CACHE.clear()


# ----------------------------------------------------------------------
# "bit-identical afterwards"
# ----------------------------------------------------------------------
def _learned_vars(est: BaseEstimator) -> dict:
    params = est.get_params(deep=False)
    return {k: v for k, v in vars(est).items() if k not in params}


def snapshot(obj):
    """Everything ``obj`` learned, as nested dicts/lists of tensors, arrays
    and pickle bytes (``helpers.model_state`` for the neural estimators, which
    ignores the module's train/eval flag that prediction toggles)."""
    if isinstance(obj, (list, tuple)):
        return [snapshot(item) for item in obj]
    if isinstance(obj, dict):
        return {key: snapshot(value) for key, value in obj.items()}
    if torch.is_tensor(obj):
        return obj.detach().clone()
    if isinstance(obj, np.ndarray):
        return obj.copy()
    if hasattr(obj, "net_"):
        state = model_state(obj)
        # model_state pickles the strategies' state, but pickling a tensor is
        # not deterministic (EWC's Fisher and anchors differ byte-wise between
        # two pickles): compare their tensors exactly instead
        state["callbacks"] = snapshot([vars(cb) for _, cb in obj.net_.callbacks_])
        private = {k: v for k, v in vars(obj).items() if k.startswith("_")}
        return {"model": state, "private": pickle.dumps(private)}
    if isinstance(obj, Pipeline):
        return snapshot([step for _, step in obj.steps])
    if isinstance(obj, BaseEstimator) and _learned_vars(obj):
        return snapshot(_learned_vars(obj))
    return pickle.dumps(obj)


def _fixed_predictions(est, kind: Kind):
    X = DATA[kind.task][0][300:340]
    return est.predict_proba(X) if kind.classifier else est.predict(X)


# ----------------------------------------------------------------------
# the cases
# ----------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One kind of bad (or edge) input.

    ``make(kind, X, y)`` returns the call's ``(X, y, kwargs)``; ``setup(est,
    kind)`` may change parameters before the call. ``error=None`` means the
    input is valid and the call must work.
    """

    name: str
    methods: tuple
    make: object = None
    error: type | None = ValueError
    match: str = ""
    fix: str | None = None
    setup: object = None
    task: str | None = None  # only for this task
    kinds: tuple | None = None  # only for these kinds
    valid_for: tuple = ()  # kinds where this input is valid
    fitted_from_frame: bool = False
    fix_for: dict = field(default_factory=dict)  # per-kind fix patterns


def _same(kind, X, y):
    return X, y, {}


def _with_nan(kind, X, y):
    X = X.copy()
    X[3, 2] = np.nan
    return X, y, {}


def _with_inf(kind, X, y):
    X = X.copy()
    X[3, 2] = np.inf
    return X, y, {}


def _nan_y(kind, X, y):
    y = y.astype(float)
    y[3] = np.nan
    return X, y, {}


def _fewer_features(kind, X, y):
    return X[:, :5], y, {}


def _renamed_columns(kind, X, y):
    columns = [f"f{i}" for i in range(X.shape[1])]
    columns[0] = "renamed"
    return pd.DataFrame(X, columns=columns), y, {}


def _zero_samples(kind, X, y):
    return X[:0], y[:0], {}


def _one_sample(kind, X, y):
    return X[:1], y[:1], {}


def _shorter_y(kind, X, y):
    return X, y[:-1], {}


def _strings(kind, X, y):
    return np.full(X.shape, "a", dtype=object), y, {}


def _objects(kind, X, y):
    X = X.astype(object)
    X[:, 0] = [{} for _ in range(len(X))]
    return X, y, {}


def _sparse(kind, X, y):
    return sp.csr_matrix(X), y, {}


def _three_d(kind, X, y):
    return X.reshape(len(X), 2, -1), y, {}


def _unseen_labels(kind, X, y):
    return X, y + 10, {}


def _classes_missing_labels(kind, X, y):
    return X, y, {"classes": np.setdiff1d(ALL_CLASSES, y[:1])}


def _string_targets(kind, X, y):
    return X, np.where(y > 0, "high", "low"), {}


def _no_classes(kind, X, y):
    return X, y, {"classes": None}


def _set(name: str, value):
    def setup(est, kind):
        est.set_params(**{kind.prefix + name: value})

    return setup


def _mismatched_module(est, kind):
    n_features = DATA[kind.task][0].shape[1]
    est.set_params(**{kind.prefix + "module": torch.nn.Linear(n_features, 3)})


ALL = METHODS
TRAIN = ("fit", "partial_fit", "partial_fit_first")
WITH_Y = ("fit", "partial_fit", "partial_fit_first", "score")
ON_FITTED_DATA = ("partial_fit", "predict", "predict_proba", "score")
# hyperparameters and the module are read when a model is built: by fit, a
# first partial_fit, and every step of an UpdateEnsemble that adds a member
BUILD = ("fit", "partial_fit_first", "partial_fit")

CASES = [
    Case("nan_X", ALL, _with_nan, match="Input X contains NaN", fix="imputer"),
    Case("inf_X", ALL, _with_inf, match="Input X contains infinity"),
    Case("nan_y", WITH_Y, _nan_y, match="Input (y |y_true )?contains NaN"),
    Case("n_features", ON_FITTED_DATA, _fewer_features, match="5 features"),
    Case(
        "df_columns",
        ON_FITTED_DATA,
        _renamed_columns,
        match="feature names should match(.|\n)*renamed",
        fitted_from_frame=True,
    ),
    Case("zero_samples", ALL, _zero_samples, match="0 sample"),
    Case("one_sample", ALL, _one_sample, error=None),
    Case(
        "length_mismatch",
        WITH_Y,
        _shorter_y,
        match="inconsistent numbers of samples",
    ),
    Case("strings_X", ALL, _strings, match="could not convert string to float"),
    Case("objects_X", ALL, _objects, error=TypeError, match="float\\(\\) argument"),
    Case(
        "sparse_X",
        ALL,
        _sparse,
        match="sparse",
        fix="toarray",
        fix_for={"pipeline_classifier": "with_mean=False"},
    ),
    Case(
        "X_3d",
        ("fit", "partial_fit_first"),
        _three_d,
        match="shape \\(\\d+, 2, \\d+\\)|dim 3",
        fix="reshape.*module",
        fix_for={"pipeline_classifier": None},
    ),
    Case(
        "X_3d_fitted",
        ON_FITTED_DATA,
        _three_d,
        match="samples of shape \\(2, \\d+\\)|2 features|dim 3",
    ),
    Case(
        "unseen_labels",
        ("partial_fit",),
        _unseen_labels,
        match="classes not in `self.classes_`",
        fix="allow_new_classes=True",
        task="classifier",
        # an ensemble adds a member trained on the new labels: valid
        valid_for=("ensemble_classifier",),
    ),
    Case(
        "classes_missing_labels",
        ("partial_fit", "partial_fit_first"),
        _classes_missing_labels,
        match="not in `classes`|not the same as on the first call",
        fix="Pass every label|Refit",
        task="classifier",
    ),
    Case(
        "no_classes_first",
        ("partial_fit_first",),
        _no_classes,
        match="classes must be passed on the first call",
        fix="classes=np.unique",
        task="classifier",
        # an ensemble's members are fitted, so it needs no classes up front
        valid_for=("ensemble_classifier",),
    ),
    Case(
        "string_targets",
        WITH_Y,
        _string_targets,
        match="needs numeric targets|could not convert string to float",
        task="regressor",
    ),
    Case(
        "lr_zero",
        BUILD,
        _same,
        setup=_set("lr", 0),
        match="'lr' parameter",
        fix="range \\(0.0, inf\\)",
    ),
    Case(
        "lr_negative",
        BUILD,
        _same,
        setup=_set("lr", -1e-3),
        match="'lr' parameter",
        fix="range \\(0.0, inf\\)",
    ),
    Case(
        "buffer_size_negative",
        BUILD,
        _same,
        setup=_set("callbacks__replay__buffer_size", -5),
        match="'buffer_size' parameter of Replay.*Got -5",
        fix="int in the range \\[1, inf\\) or None",
    ),
    Case(
        "lambda_negative",
        BUILD,
        _same,
        setup=_set("callbacks__ewc__lambda_", -1.0),
        match="'lambda_' parameter of EWC.*Got -1",
        fix="range \\[0.0, inf\\)",
    ),
    Case(
        "update_epochs_zero",
        BUILD,
        _same,
        setup=_set("update_epochs", 0),
        match="'update_epochs' parameter",
        fix="range \\[1, inf\\)",
    ),
    Case(
        "module_output_shape",
        BUILD,
        _same,
        setup=_mismatched_module,
        match="outputs of shape \\(3,\\) per sample, but the targets need",
        fix="one logit per class|one value per target",
    ),
    Case(
        "strategy_raises",
        TRAIN,
        _same,
        error=StrategyFailure,
        match="tripwire strategy failed",
    ),
    Case(
        "not_fitted",
        ("predict", "predict_proba", "score"),
        _same,
        error=NotFittedError,
        match="is not fitted yet",
        fix="Call 'fit'",
    ),
]


def _applies(case: Case, kind_name: str, method: str) -> bool:
    kind = KINDS[kind_name]
    if method not in case.methods or not _method_applies(kind, method):
        return False
    if case.task is not None and case.task != kind.task:
        return False
    if case.kinds is not None and kind_name not in case.kinds:
        return False
    if method == "partial_fit" and case.setup is not None:
        # parameters are read again only where an update builds a new model
        return kind.fits_new_model_per_update
    return True


MATRIX = [
    pytest.param(case, kind_name, method, id=f"{case.name}-{kind_name}-{method}")
    for case in CASES
    for kind_name in KINDS
    for method in METHODS
    if _applies(case, kind_name, method)
]


def _estimator(case: Case, kind_name: str, method: str):
    if case.name == "not_fitted" or method == "partial_fit_first":
        return KINDS[kind_name].build()
    return _fitted(kind_name, frame=case.fitted_from_frame)


def _call(est, kind: Kind, method: str, X, y, kwargs):
    if method == "fit":
        return est.fit(X, y)
    if method in ("partial_fit", "partial_fit_first"):
        if kind.classifier:
            default = ALL_CLASSES if method == "partial_fit_first" else None
            classes = kwargs.get("classes", default)
            if classes is not None:
                return est.partial_fit(X, y, classes=classes)
        return est.partial_fit(X, y)
    if method == "score":
        return est.score(X, y)
    return getattr(est, method)(X)


def _fix_pattern(case: Case, kind_name: str):
    return case.fix_for.get(kind_name, case.fix)


@pytest.mark.parametrize(("case", "kind_name", "method"), MATRIX)
def test_bad_input(case, kind_name, method):
    kind = KINDS[kind_name]
    est = _estimator(case, kind_name, method)
    if case.setup is not None:
        case.setup(est, kind)
    X, y = DATA[kind.task]
    X, y, kwargs = case.make(kind, X[300:320], y[300:320])
    fitted = method in ON_FITTED and case.name != "not_fitted"
    before = snapshot(est)
    predictions = _fixed_predictions(est, kind) if fitted else None

    if case.error is None or kind_name in case.valid_for:
        _check_works(est, kind, method, X, y, kwargs)
        return

    Tripwire.armed = case.name == "strategy_raises"
    try:
        with pytest.raises(case.error, match=case.match) as info:
            _call(est, kind, method, X, y, kwargs)
    finally:
        Tripwire.armed = False
    fix = _fix_pattern(case, kind_name)
    if fix is not None:
        assert re.search(fix, str(info.value)), (
            f"the message does not say how to fix it ({fix!r}): {info.value}"
        )
    assert_same_state({"state": before}, {"state": snapshot(est)})
    if fitted:
        np.testing.assert_array_equal(_fixed_predictions(est, kind), predictions)
    else:
        with pytest.raises(NotFittedError):
            est.predict(X)


def _check_works(est, kind: Kind, method: str, X, y, kwargs):
    """Valid input: the call works and the model still predicts."""
    with warnings.catch_warnings():
        # R² of one sample is undefined: scikit-learn warns and returns NaN
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        result = _call(est, kind, method, X, y, kwargs)
    if method in ("predict", "predict_proba"):
        assert len(result) == len(X)
    elif method == "score":
        assert isinstance(float(result), float)
    else:
        assert result is est
        assert len(est.predict(DATA[kind.task][0][300:340])) == 40


def test_matrix_covers_every_case_and_kind():
    ids = {(case.name, kind_name) for case, kind_name, _ in (p.values for p in MATRIX)}
    assert {case.name for case in CASES} == {name for name, _ in ids}
    assert set(KINDS) == {kind_name for _, kind_name in ids}


# ----------------------------------------------------------------------
# MonitoredUpdater with its default policy: a batch that triggers no update
# is still checked
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "match"),
    [
        (_nan_y, "Input y contains NaN"),
        (_shorter_y, "inconsistent numbers of samples"),
    ],
    ids=["nan_y", "length_mismatch"],
)
def test_monitored_updater_checks_targets_without_update(make, match):
    X, y = DATA["classifier"]
    est = MonitoredUpdater(_continual("classifier")).fit(X[:200], y[:200])
    X_bad, y_bad, _ = make(KINDS["classifier"], X[300:320], y[300:320])
    before = snapshot(est)
    with pytest.raises(ValueError, match=match):
        est.partial_fit(X_bad, y_bad)
    assert_same_state({"state": before}, {"state": snapshot(est)})
    assert est.history_ == []


def test_snapshot_sees_a_changed_strategy_state():
    # the comparison can fail: one partial_fit changes the Replay buffer,
    # the EWC Fisher and the counters of every kind
    for kind_name, kind in KINDS.items():
        est = _fitted(kind_name)
        before = snapshot(est)
        X, y = DATA[kind.task]
        est.partial_fit(X[300:320], y[300:320])
        with pytest.raises(AssertionError):
            assert_same_state({"state": before}, {"state": snapshot(est)})
    est = copy.deepcopy(_fitted("classifier"))
    before = snapshot(est)
    replay = dict(est.net_.callbacks_)["replay"]
    replay.buffer_.X[0, 0] += 1.0
    with pytest.raises(AssertionError):
        assert_same_state({"state": before}, {"state": snapshot(est)})
