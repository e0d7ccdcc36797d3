"""Input validation of the estimators: ``X``, ``y`` and ``sample_weight``.

Everything goes through scikit-learn's ``validate_data`` (feature counts and
names, dtypes, finiteness), except the common case of a ``partial_fit``
loop: a plain, finite numeric array of the fitted layout takes a fast path,
because ``validate_data`` costs more than a training step on a small batch.
The checks before ``validate_data`` say what it cannot: sparse input, values
beyond float32's range (the networks compute in float32), samples of another
rank, and text targets given to a regressor.

Finite inputs within float32's range can still overflow inside the
network; :func:`check_outputs` turns the NaN or infinite outputs that
follow into an error, rather than NaN probabilities or an arbitrary label.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = [
    "SparseInputError",
    "check_classes",
    "check_outputs",
    "check_sample_weight",
    "check_tasks",
    "nonzero",
    "to_tensor",
    "validate_X",
    "validate_X_y",
]

_FLOAT32_MAX = float(np.finfo(np.float32).max)


class SparseInputError(ValueError, TypeError):
    """Sparse input was given to an estimator that needs dense arrays.

    A ``ValueError`` as the estimators' other input errors, and a
    ``TypeError`` as scikit-learn raises for sparse input to dense-only
    estimators, so either ``except`` clause catches it.
    """


def validate_X_y(estimator, X, y, *, reset: bool):
    """``X`` as float32 and ``y``, checked; ``reset`` records the input layout
    (``n_features_in_``, ``input_shape_``), otherwise it is checked."""
    if not reset and _is_clean(estimator, X) and _is_clean_y(estimator, y, len(X)):
        return X.astype(np.float32, copy=False), y
    _reject_sparse(estimator, X)
    _check_float32_range(estimator, X)
    if not reset:
        _check_ndim(estimator, X)
    if not estimator._is_classifier:
        _check_numeric_targets(estimator, y)
    X, y = validate_data(
        estimator,
        X,
        y,
        reset=reset,
        dtype=np.float32,
        allow_nd=True,
        multi_output=estimator._multi_output,
        y_numeric=not estimator._is_classifier,
    )
    _check_input_shape(estimator, X, reset=reset)
    return X, y


def validate_X(estimator, X):
    """``X`` for a prediction of the fitted ``estimator``, as float32."""
    check_is_fitted(estimator)
    if _is_clean(estimator, X):
        return X.astype(np.float32, copy=False)
    _reject_sparse(estimator, X)
    _check_float32_range(estimator, X)
    _check_ndim(estimator, X)
    X = validate_data(estimator, X, reset=False, dtype=np.float32, allow_nd=True)
    _check_input_shape(estimator, X, reset=False)
    return X


def check_classes(classes) -> np.ndarray:
    """``partial_fit``'s ``classes``, sorted and unique; NaN and infinities
    are no class."""
    labels = np.unique(classes)
    if labels.dtype.kind == "f" and not np.isfinite(labels).all():
        raise ValueError(
            f"`classes` holds {labels[~np.isfinite(labels)]}: every class must be "
            "a finite number or a string. Drop them from `classes`."
        )
    return labels


def check_outputs(estimator, outputs: np.ndarray, X: np.ndarray) -> np.ndarray:
    """``outputs``, the network's outputs for the validated ``X``, if they
    are finite (a classifier's logit may be -inf: a class ruled out)."""
    finite = np.isfinite(outputs)
    if finite.all():
        return outputs
    if estimator._is_classifier:
        finite |= outputs == -np.inf
        if finite.all():
            return outputs
    rows = np.flatnonzero(~finite.reshape(len(finite), -1).all(axis=1))
    raise ValueError(
        f"The network's outputs are not finite for {len(rows)} of {len(X)} "
        f"samples (rows {rows[:5].tolist()}): their values, up to "
        f"{float(np.abs(X[rows]).max()):.3g}, overflow float32 inside the "
        f"network. Scale the inputs as in fit (e.g. with StandardScaler)."
    )


def check_sample_weight(sample_weight, n_samples: int) -> np.ndarray | None:
    """``sample_weight`` as a float32 array of ``n_samples`` non-negative,
    finite values; None stays None (all zero: see ``nonzero``)."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Real) and not isinstance(sample_weight, bool):
        sample_weight = np.full(n_samples, sample_weight)
    weights = np.asarray(sample_weight)
    if weights.dtype.kind not in "biuf" or weights.shape != (n_samples,):
        raise ValueError(
            f"sample_weight must be a 1-D array of {n_samples} numbers, one per "
            f"sample; got {weights.dtype} values of shape {weights.shape}."
        )
    weights = weights.astype(np.float64)
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError(
            "sample_weight must hold finite, non-negative values; got "
            f"{weights[~np.isfinite(weights) | (weights < 0)][:5]}. Replace them, "
            "or drop those samples."
        )
    if weights.sum() > _FLOAT32_MAX:
        # the loss divides by the weights' sum, computed in float32
        raise ValueError(
            f"sample_weight sums to {weights.sum():.3g}, beyond float32's range "
            f"({_FLOAT32_MAX:.3g}); divide them by a constant (only their "
            "ratios matter)."
        )
    return weights.astype(np.float32)


def nonzero(weight):
    """``weight`` (sample weights times class weights), unless all are zero."""
    if weight is not None and not weight.any():
        raise ValueError(
            "The weights of this call (sample_weight times class_weight) sum to "
            "zero: there is nothing to train on. Give some samples a positive "
            "weight."
        )
    return weight


def check_tasks(tasks, n_samples: int) -> np.ndarray | None:
    """``fit``'s task ids, one per sample."""
    if tasks is None:
        return None
    tasks = np.asarray(tasks)
    if tasks.shape != (n_samples,):
        raise ValueError(
            f"`tasks` must hold one task id per sample: expected shape "
            f"({n_samples},), got {tasks.shape}."
        )
    # NaN is no id (it equals no other NaN: its samples would train nowhere)
    if tasks.dtype.kind in "fc" and np.isnan(tasks).any():
        raise ValueError(
            f"`tasks` holds NaN for {int(np.isnan(tasks).sum())} samples: every "
            "sample needs a task id. Give them one, or drop those samples."
        )
    try:
        np.unique(tasks)
    except TypeError:
        raise ValueError(
            "`tasks` mixes ids that cannot be ordered (such as numbers and "
            f"strings): {sorted({type(t).__name__ for t in tasks.tolist()})}. Use "
            "ids of one kind."
        ) from None
    return tasks


def to_tensor(array, device="cpu") -> torch.Tensor:
    """``array`` as a tensor on ``device``, sharing its memory on the CPU."""
    array = np.ascontiguousarray(array)
    if not array.flags.writeable:  # pandas 3 copy-on-write views
        array = array.copy()
    tensor = torch.from_numpy(array)
    # a CPU tensor's .to("cpu") is a no-op that still costs a dispatch
    return tensor if device == "cpu" else tensor.to(device)


def _fits_float32(array: np.ndarray) -> bool:
    """Whether a numeric array is finite once cast to float32 (float64
    values beyond 3.4e38 become infinite); False for NaN."""
    if array.dtype.kind != "f":
        return True
    if array.dtype.itemsize <= 4:
        return bool(np.isfinite(array).all())
    return bool(np.abs(array).max(initial=0.0) <= _FLOAT32_MAX)


def _is_clean(estimator, X) -> bool:
    """Whether X is a plain finite numeric array of the fitted layout (the
    fast path; anything else takes the full validation, which also writes
    the error messages)."""
    return (
        type(X) is np.ndarray
        and not hasattr(estimator, "feature_names_in_")
        and X.dtype.kind in "fiu"
        and X.shape[1:] == estimator.input_shape_
        and len(X) > 0
        and _fits_float32(X)
    )


def _is_clean_y(estimator, y, n_samples: int) -> bool:
    if type(y) is not np.ndarray or len(y) != n_samples:
        return False
    if estimator._is_classifier:
        return y.ndim == 1 and (y.dtype.kind != "f" or bool(np.isfinite(y).all()))
    return y.ndim in (1, 2) and y.dtype.kind in "fiu" and _fits_float32(y)


def _reject_sparse(estimator, X) -> None:
    if sp.issparse(X):
        raise SparseInputError(
            f"{type(estimator).__name__} does not accept sparse X: a neural network "
            "takes dense input. Convert it with X.toarray() (or reduce it with "
            "TruncatedSVD first)."
        )


def _check_float32_range(estimator, X) -> None:
    if (
        isinstance(X, np.ndarray)
        and X.dtype.kind == "f"
        and np.isfinite(X).all()
        and not _fits_float32(X)
    ):
        raise ValueError(
            f"X holds values beyond float32's range (|x| > {_FLOAT32_MAX:.3g}); "
            f"{type(estimator).__name__} computes in float32, where they would "
            "become infinite. Scale the inputs (e.g. with StandardScaler)."
        )


def _check_numeric_targets(estimator, y) -> None:
    values = np.asarray(y)
    if values.dtype.kind == "f" and np.isfinite(values).all():
        if not _fits_float32(values):
            raise ValueError(
                f"y holds values beyond float32's range (|y| > {_FLOAT32_MAX:.3g}"
                f"); {type(estimator).__name__} computes in float32. Scale the "
                "targets (e.g. with TransformedTargetRegressor)."
            )
        return
    if values.dtype.kind not in "OSU":
        return
    try:
        values.astype(np.float64)
    except (TypeError, ValueError):
        example = values.ravel()[0]
        raise ValueError(
            f"{type(estimator).__name__} needs numeric targets; y holds values such "
            f"as {str(example)!r}. Use ContinualClassifier for class labels, or "
            "convert y to numbers."
        ) from None


def _check_ndim(estimator, X) -> None:
    """A sample layout of another rank: say so before scikit-learn's
    feature count, which would only compare ``X.shape[1]``."""
    ndim = getattr(X, "ndim", None)
    if ndim is not None and ndim >= 2 and ndim != len(estimator.input_shape_) + 1:
        _check_input_shape(estimator, X, reset=False)


def _check_input_shape(estimator, X, *, reset: bool) -> None:
    shape = tuple(X.shape[1:])
    if reset:
        if X.ndim > 2 and estimator.module is None:
            raise ValueError(
                f"X has shape {X.shape} but the default MLP takes 2-D input "
                "(n_samples, n_features). Flatten X with X.reshape(len(X), -1) "
                "or pass a module that takes this shape, e.g. "
                "module=sklearn_cl.modules.CNN1D."
            )
        estimator.input_shape_ = shape
    elif shape != estimator.input_shape_:
        raise ValueError(
            f"X has samples of shape {shape}, but {type(estimator).__name__} was "
            f"fitted on samples of shape {estimator.input_shape_}. Pass data with "
            "the same layout as in fit, or refit."
        )
