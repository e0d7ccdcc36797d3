"""ContinualClassifier: a scikit-learn classifier that keeps learning."""

from __future__ import annotations

import numbers

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets

from ._build import call_seed, seeded
from ._input import check_classes
from ._param_validation import StrOptions
from .base import ContinualEstimator

__all__ = ["ContinualClassifier"]

_INT64_MAX = int(np.iinfo(np.int64).max)


class ContinualClassifier(ClassifierMixin, ContinualEstimator):
    """Neural network classifier with ``partial_fit`` updates and strategies.

    ``fit`` trains from scratch for ``max_epochs`` epochs at ``lr``.
    Every ``partial_fit`` call is one update: ``update_epochs`` epochs over
    the batch at the update learning rate ``update_lr * update_lr_decay **
    n_updates_``, with the strategies in ``callbacks`` applied (EWC penalty,
    replayed samples, ...). The module returns logits; the loss is
    cross-entropy unless ``criterion`` says otherwise.

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=None
        None builds an :class:`~sklearn_cl.modules.MLP` sized from the data.
        A class is instantiated with the ``module__*`` keyword arguments (and
        ``n_features``, ``n_outputs`` and ``input_shape`` (one sample's shape)
        when its ``__init__`` takes them and they are not given). An instance
        is copied: every ``fit`` starts from its weights, so a pre-trained
        network can be wrapped.
    hidden_layer_sizes : sequence of int, default=(100,)
        Hidden layers of the default MLP.
    activation : {"relu", "tanh", "logistic", "gelu", "identity"}, default="relu"
        Activation of the default MLP.
    dropout : float, default=0.0
        Dropout of the default MLP.
    criterion : torch loss class or instance, default=None
        None means ``torch.nn.CrossEntropyLoss`` (the module returns logits).
    optimizer : torch.optim.Optimizer class, default=torch.optim.Adam
        Its state carries over from update to update; ``optimizer__*``
        keyword arguments are passed to it.
    lr : float, default=1e-3
        Learning rate of ``fit``.
    max_epochs : int, default=20
        Epochs of ``fit`` (per task for the first task of ``fit(..., tasks=)``).
    batch_size : int or None, default=32
        Mini-batch size; None trains on each call's data as one batch.
    update_epochs : int, default=1
        Epochs over the new data in each ``partial_fit`` call.
    update_lr : float, default=None
        Learning rate of the first update; None means ``lr``.
    update_lr_decay : float, default=1.0
        Factor applied to the update learning rate after each update.
    allow_new_classes : bool, default=False
        If True, ``partial_fit`` may receive labels not in ``classes_``: the
        output layer grows (old weights kept) and the labels are appended to
        ``classes_``. If False such labels are an error.
    callbacks : list of callbacks or of (name, callback) pairs, default=None
        Update strategies (see :mod:`sklearn_cl.strategies`) and skorch
        callbacks. They are cloned on ``fit``; tune them with
        ``set_params(callbacks__NAME__PARAM=...)``. Unnamed ones are named by
        their lower-case class name.
    on_nonfinite : {"raise", "warn"}, default="raise"
        What a training call that yields a non-finite loss or weights does
        after undoing itself: raise ``NonFiniteUpdateError``, or warn and
        keep the last good model (recorded in ``rejected_updates_``), so an
        automated job keeps serving.
    acceptance_check : AcceptanceCheck, default=None
        Undo any update whose validation score drops by more than a
        tolerance; rejections are recorded in ``rejected_updates_``.
    device : str or torch.device, default="cpu"
        Where the module trains, e.g. ``"cuda"``. A device this machine
        lacks (``"cuda"`` without a GPU) is a ``ValueError`` at ``fit``.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling and dropout. Equal seeds and
        equal call sequences give bit-identical models on the CPU.
    verbose : int, default=0
        Print the training loss of each epoch when positive.
    **kwargs
        ``module__*``, ``optimizer__*`` and ``criterion__*`` arguments.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The fitted net; ``net_.module_`` is the torch module.
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted on the first training; labels added by later
        updates (``allow_new_classes=True``) are appended.
    n_updates_ : int
        Number of ``partial_fit`` updates kept since the last ``fit``.
    rejected_updates_ : list of dict
        The last 100 updates that were undone, with the reason.
    n_features_in_ : int
        Number of features seen during the first training.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when X was a DataFrame with string column names.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_cl import ContinualClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = ContinualClassifier(max_epochs=5, random_state=0).fit(X[:1000], y[:1000])
    >>> clf = clf.partial_fit(X[1000:1500], y[1000:1500])
    >>> clf.n_updates_, clf.predict(X[:3])
    (1, array([0, 1, 2]))
    """

    _parameter_constraints = {
        **ContinualEstimator._parameter_constraints,
        "allow_new_classes": ["boolean"],
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }
    _is_classifier = True
    _multi_output = False
    _default_criterion = torch.nn.CrossEntropyLoss

    def __init__(
        self,
        module=None,
        *,
        hidden_layer_sizes=(100,),
        activation="relu",
        dropout=0.0,
        criterion=None,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        max_epochs=20,
        batch_size=32,
        update_epochs=1,
        update_lr=None,
        update_lr_decay=1.0,
        allow_new_classes=False,
        class_weight=None,
        train_split=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        callbacks=None,
        on_nonfinite="raise",
        acceptance_check=None,
        device="cpu",
        random_state=None,
        verbose=0,
        **kwargs,
    ):
        super().__init__(
            module,
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            dropout=dropout,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            update_epochs=update_epochs,
            update_lr=update_lr,
            update_lr_decay=update_lr_decay,
            train_split=train_split,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            callbacks=callbacks,
            on_nonfinite=on_nonfinite,
            acceptance_check=acceptance_check,
            device=device,
            random_state=random_state,
            verbose=verbose,
            **kwargs,
        )
        self.allow_new_classes = allow_new_classes
        self.class_weight = class_weight

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One update on ``(X, y)``: ``update_epochs`` epochs with the strategies.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), default=None
            All labels the model will see. Required on the first call when
            the estimator is not fitted yet, as in scikit-learn.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample (the loss is the weighted mean), multiplied
            by ``class_weight``.

        Returns
        -------
        self
        """
        if classes is None and not hasattr(self, "net_"):
            raise ValueError(
                "classes must be passed on the first call to partial_fit: the "
                "output layer needs every label up front. Pass "
                "classes=np.unique(y_all), or call fit first."
            )
        return self._fit(
            X, y, sample_weight=sample_weight, classes=classes, incremental=True
        )

    def _check_update_weights(self) -> None:
        if isinstance(self.class_weight, str):  # "balanced", as SGDClassifier
            raise ValueError(
                "class_weight='balanced' is not supported for partial_fit: the "
                "class frequencies of one batch are not those of the data. Compute "
                "the weights once, with sklearn.utils.class_weight."
                "compute_class_weight('balanced', classes=classes, y=y) on a large "
                "enough sample of the targets, and pass them as a dict "
                "{label: weight} in class_weight."
            )

    def _combined_weight(self, weight, y_encoded, y):
        if self.class_weight is None:
            return weight
        if isinstance(self.class_weight, str):
            per_class = compute_class_weight("balanced", classes=self.classes_, y=y)
        else:
            # labels a later update brings may be listed already: not an error
            per_class = np.array(
                [self.class_weight.get(label, 1.0) for label in self.classes_.tolist()]
            )
            values = np.asarray(list(self.class_weight.values()))
            if values.dtype.kind not in "fiu" or not (
                np.isfinite(values).all() and (values >= 0).all()
            ):
                raise ValueError(
                    "class_weight must map labels to finite, non-negative numbers; "
                    f"got {self.class_weight!r}."
                )
        per_class = per_class.astype(np.float32)
        per_sample = per_class[y_encoded]
        return per_sample if weight is None else weight * per_sample

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        logits = torch.from_numpy(self._forward(X)).double()
        return torch.softmax(logits, dim=1).numpy()

    def predict(self, X) -> np.ndarray:
        """Predicted labels, taken from ``classes_``."""
        outputs, classes = self._forward_with_classes(X)
        return classes[outputs.argmax(axis=1)]

    def _output_hint(self, n_outputs: int) -> str:
        return (
            f"A classifier's module must return one logit per class ({n_outputs} "
            "here): set its output width to len(np.unique(y))."
        )

    def _encode_y(self, y, *, reset: bool, classes=None):
        if reset:
            check_classification_targets(y)
            labels = np.unique(y) if classes is None else check_classes(classes)
            missing = np.setdiff1d(np.unique(y), labels)
            if missing.size:
                raise ValueError(
                    f"`y` has labels not in `classes`: {missing}. Pass every label "
                    "the model will see in `classes`."
                )
            self._set_classes(labels)
            return self._indices(y), len(labels)
        if classes is not None and not np.array_equal(
            np.unique(classes), np.sort(self.classes_)
        ):
            raise ValueError(
                f"`classes={np.unique(classes)}` is not the same as on the first "
                f"call, `self.classes_={self.classes_}`. Refit to change classes."
            )
        known = self._known_indices(y)
        if known is not None:
            return known, len(self.classes_)
        _check_label_kind(self.classes_, y)
        new = np.setdiff1d(np.unique(y), self.classes_)
        if new.size:
            check_classification_targets(y)
            if not self.allow_new_classes:
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has "
                    f"{self.classes_}. `y` has new labels {new}. Set "
                    "allow_new_classes=True to let the output layer grow, or pass "
                    "all labels in `classes` on the first call."
                )
            self._grow_classes(new)
        return self._indices(y), len(self.classes_)

    def _set_classes(self, classes: np.ndarray) -> None:
        self.classes_ = classes
        self._sorter = np.argsort(classes, kind="stable")
        # integer labels in a small range: a lookup table encodes a batch in
        # one indexing operation (the common case of every partial_fit)
        self._lookup = None
        if classes.dtype.kind in "iu":
            # in Python integers: np.ptp overflows for labels 2**63 apart
            offset = int(classes.min())
            span = int(classes.max()) - offset
            if span < 65_536:
                table = np.full(span + 1, -1, dtype=np.int64)
                table[classes - offset] = np.arange(len(classes))
                self._lookup = (offset, table)
        # every label from the smallest to the largest is a class: a label
        # in that range needs no check of the lookup's result
        self._dense_lookup = self._lookup is not None and len(classes) == len(
            self._lookup[1]
        )

    def _known_indices(self, y):
        """Class indices of ``y`` when every label is known, else None."""
        if self._lookup is None or y.dtype.kind not in "iu":
            return None
        offset, table = self._lookup
        # labels minus the offset in 64 bits: unsigned labels as unsigned (as
        # int64, 2**64 - 1 would read as the class -1), signed ones as int64
        if y.dtype.kind == "u":
            if offset < 0:
                return None  # the slow path compares the values themselves
            shifted = y.astype(np.uint64, copy=False) - np.uint64(offset)
        elif offset > _INT64_MAX:
            return None  # classes beyond int64: no signed label is one
        else:
            y = y.astype(np.int64, copy=False)
            shifted = y - offset if offset else y
        # one pass for both bounds: a value below the offset, seen as
        # unsigned, is larger than any table
        if shifted.view(np.uint64).max() >= len(table):
            return None
        indices = table[shifted]
        if getattr(self, "_dense_lookup", False) or indices.min() >= 0:
            return indices
        return None

    def _indices(self, y) -> np.ndarray:
        sorted_classes = self.classes_[self._sorter]
        return self._sorter[np.searchsorted(sorted_classes, y)].astype(np.int64)

    def _grow_classes(self, new: np.ndarray) -> None:
        n_old = len(self.classes_)
        with seeded(call_seed(self) + 1, self.net_.device):
            self.net_.grow_output(n_old + len(new))
        self._set_classes(np.concatenate([self.classes_, new]))


def _label_kind(labels: np.ndarray) -> str:
    """ "bool", "number" or "string": labels of different kinds never mix."""
    kind = labels.dtype.kind
    if kind == "b":
        return "bool"
    if kind in "iuf":
        return "number"
    if kind in "US":
        return "string"
    kinds = {
        "bool"
        if isinstance(v, bool | np.bool_)
        else "number"
        if isinstance(v, numbers.Number)
        else "string"
        for v in labels.ravel()
    }
    return kinds.pop() if len(kinds) == 1 else "mixed"


def _check_label_kind(classes: np.ndarray, y: np.ndarray) -> None:
    """Refuse labels of another kind than ``classes_``: numpy would turn the
    classes into strings (``predict`` then returns ``'0'`` for ``0``) or read
    booleans as 0 and 1."""
    expected, got = _label_kind(classes), _label_kind(np.asarray(y))
    if got != expected:
        raise ValueError(
            f"`y` holds {got} labels, but `self.classes_` holds {expected} labels "
            f"{classes}. Labels of different kinds cannot be mixed: convert y to "
            "the kind of the classes seen so far, or refit."
        )
