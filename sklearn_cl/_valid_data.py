"""Validation on data of the user's own: skorch's ``predefined_split``.

``train_split=skorch.helper.predefined_split(Dataset(X_valid, y_valid))``
validates every epoch of every call on the same held-out data (what
``EarlyStopping`` or ``ReduceLROnPlateau`` on ``valid_loss`` then watch),
instead of a fraction of each call's own data. The data are checked and
encoded as training data are (inputs of the fitted layout as float32, labels
as class indices, targets standardised with the training statistics), once
per call, and reach the net as tensors on its device: ``ValidData``, which
the net uses as its validation part.

skorch's ``predefined_split`` is a ``functools.partial`` whose keyword
``valid_ds`` holds the data set; that keyword is how it is recognised
(skorch's ``_make_split`` is private).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from sklearn.utils import check_array

from ._input import to_tensor, validate_X

__all__ = ["ValidData", "predefined_valid"]


class ValidData:
    """Validation tensors of a training call, in place of a ``train_split``.

    Parameters
    ----------
    X, y : torch.Tensor
        Inputs and encoded targets, on the net's device.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor):
        self.X = X
        self.y = y


def predefined_valid(estimator, split) -> ValidData | None:
    """The data of ``split`` when it is skorch's ``predefined_split(...)``,
    checked and encoded for the fitted ``estimator``; None otherwise."""
    if not (isinstance(split, functools.partial) and "valid_ds" in split.keywords):
        return None
    dataset = split.keywords["valid_ds"]
    X, y = getattr(dataset, "X", None), getattr(dataset, "y", None)
    if X is None or y is None:
        raise ValueError(
            "predefined_split needs a data set with inputs and targets, "
            "skorch.dataset.Dataset(X_valid, y_valid); got "
            f"{type(dataset).__name__}."
        )
    X = validate_X(estimator, X)
    y = np.asarray(y)  # as long as X: skorch's Dataset checks
    if not estimator._is_classifier:  # a NaN would make valid_loss NaN
        y = check_array(
            y, ensure_2d=False, dtype="numeric", input_name="predefined_split's y"
        )
    if estimator._is_classifier:
        unknown = np.setdiff1d(np.unique(y), estimator.classes_)
        if unknown.size:
            raise ValueError(
                f"The predefined_split data set has labels {unknown} that the "
                f"model does not know (classes_ is {estimator.classes_}). "
                "Validate on labels the model is trained on."
            )
    y, _ = estimator._encode_y(y, reset=False)
    device = estimator.net_.device
    return ValidData(to_tensor(X, device), to_tensor(y, device))
