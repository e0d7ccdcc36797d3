"""ContinualRegressor: a scikit-learn regressor that keeps learning."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.base import RegressorMixin
from sklearn.preprocessing import StandardScaler

from ._param_validation import StrOptions
from .base import ContinualEstimator

__all__ = ["ContinualRegressor"]

# An update warns when its targets, standardised with the statistics of the
# first training, have a root-mean-square above this (in standard
# deviations of the first training's targets). Measured on real streams
# (benchmarks/target_shift.py): the Elec2 demand series, fitted on its first
# day, week, month or year and updated every half-hour, day or week over the
# 2.5 years that follow, never exceeds 4.7 (a single half-hour); diabetes,
# fitted on 20-100 shuffled patients and updated one or ten at a time, never
# exceeds 4.0 (20 shuffles). A change of units by a factor of 10 gives 20 or
# more on both.
TARGET_SHIFT_LIMIT = 10.0


class ContinualRegressor(RegressorMixin, ContinualEstimator):
    """Neural network regressor with ``partial_fit`` updates and strategies.

    ``fit`` trains from scratch for ``max_epochs`` epochs at ``lr``.
    Every ``partial_fit`` call is one update: ``update_epochs`` epochs over
    the batch at the update learning rate ``update_lr * update_lr_decay **
    n_updates_``, with the strategies in ``callbacks`` applied. ``y`` may be
    1-D or 2-D (several targets); predictions have the same number of
    dimensions. By default the network learns standardised targets
    (``target_scaling="standard"``), with the statistics of the first
    training kept for every update, and predicts in the original units.

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
        None means ``torch.nn.MSELoss``.
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
    target_scaling : {"standard"} or None, default="standard"
        ``"standard"``: the network learns ``(y - mean) / std``, with the mean
        and standard deviation of the targets of the first training (``fit``,
        or the first ``partial_fit``), fixed for all updates so that the
        network's outputs keep their meaning; predictions are transformed
        back. An update whose targets lie far outside that scale (a root
        mean square of more than 10 such standard deviations from the
        mean, as after a change of units; real drift stays below 5) trains
        all the same, with a warning that names the shift (a target that
        was constant at the first training, as a stream's first sample,
        has no scale to compare with). None: the network learns ``y`` as
        it is. Changing it needs a new ``fit``.
    train_split, early_stopping, validation_fraction, n_iter_no_change, tol
        Validation and early stopping, as in :class:`ContinualClassifier`
        (the validation score is R²).
    callbacks : list of callbacks or of (name, callback) pairs, default=None
        Update strategies (see :mod:`sklearn_cl.strategies`) and skorch
        callbacks. They are cloned on ``fit``; tune them with
        ``set_params(callbacks__NAME__PARAM=...)``. Unnamed ones are named by
        their lower-case class name.
    on_nonfinite : {"raise", "warn"}, default="raise"
        What a training call that yields a non-finite loss or weights does
        after undoing itself: raise ``NonFiniteUpdateError``, or warn and
        keep the last good model (recorded in ``rejected_updates_``).
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
    n_outputs_ : int
        Number of targets.
    target_scaler_ : StandardScaler or None
        The target standardisation (``target_scaling="standard"``).
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
    >>> import numpy as np
    >>> from sklearn_cl import ContinualRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 3))
    >>> y = X @ [1.0, -2.0, 0.5]
    >>> reg = ContinualRegressor(max_epochs=30, random_state=0).fit(X, y)
    >>> reg = reg.partial_fit(X[:100], y[:100])
    >>> round(reg.score(X, y), 2) > 0.95
    True
    """

    _parameter_constraints = {
        **ContinualEstimator._parameter_constraints,
        "target_scaling": [StrOptions({"standard"}), None],
    }
    _network_param_names = (*ContinualEstimator._network_param_names, "target_scaling")
    _is_classifier = False
    _multi_output = True
    _default_criterion = torch.nn.MSELoss

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
        target_scaling="standard",
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
        self.target_scaling = target_scaling

    def partial_fit(self, X, y, sample_weight=None):
        """One update on ``(X, y)``: ``update_epochs`` epochs with the strategies.

        On an unfitted estimator it first builds the network from this batch.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample: the loss is the weighted mean.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X) -> np.ndarray:
        """Predicted values, of shape (n_samples,) when fitted on 1-D ``y``."""
        return self._values(self._forward(X))

    def _values(self, outputs: np.ndarray) -> np.ndarray:
        """Predictions from the module's outputs: in the targets' units and
        shape."""
        out = outputs.astype(np.float64)
        if self.target_scaler_ is not None:
            out = out * self.target_scaler_.scale_ + self.target_scaler_.mean_
        return out.ravel() if self._y_1d else out

    def _encode_y(self, y, *, reset: bool, classes=None):
        # numeric: checked by validate_data. Standardised in float64: in
        # float32, targets of mean 1e9 and standard deviation 1 are all equal
        y = np.asarray(y, dtype=np.float64)
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        one_dimensional = y.ndim == 1
        y = y.reshape(len(y), n_outputs)
        if reset:
            self._y_1d = one_dimensional
            self.n_outputs_ = n_outputs
            self.target_scaler_ = (
                StandardScaler().fit(y) if self.target_scaling == "standard" else None
            )
        elif n_outputs != self.n_outputs_:
            raise ValueError(
                f"y has {n_outputs} targets, but {type(self).__name__} was fitted "
                f"with {self.n_outputs_}. Pass the same targets as in fit, or refit."
            )
        scaler = self.target_scaler_
        if scaler is not None:
            y = (y - scaler.mean_) / scaler.scale_
        return y.astype(np.float32), n_outputs

    def _check_update_targets(self, y_encoded, weight) -> None:
        """Warn when an update's targets lie far outside the scale of the
        first training (see ``TARGET_SHIFT_LIMIT``); the update goes on.

        The statistics stay those of the first training, as scikit-learn's
        ``TransformedTargetRegressor`` keeps its transformer: rescaling
        (as ``StandardScaler.partial_fit`` or river's running
        ``TargetStandardScaler`` would) changes every prediction of the
        model at once, old inputs included, which an update must not do.
        """
        scaler = self.target_scaler_
        if scaler is None:
            return
        z = y_encoded.astype(np.float64)
        mean = np.average(z, axis=0, weights=weight)
        rms = np.sqrt(np.average(np.square(z), axis=0, weights=weight))
        # an output constant at the first training (a stream's first sample)
        # has no scale to compare with: StandardScaler keeps 1 as its scale
        rms = rms * (scaler.var_ > 0)
        worst = int(np.argmax(rms))
        if rms[worst] <= TARGET_SHIFT_LIMIT:
            return
        spread = np.sqrt(max(rms[worst] ** 2 - mean[worst] ** 2, 0.0))
        which = "The targets" if self.n_outputs_ == 1 else f"Target {worst}"
        warnings.warn(
            f"{which} of this update lie {rms[worst]:.3g} standard deviations "
            "(root mean square) from the scale the network was trained for: "
            f"mean {scaler.mean_[worst] + mean[worst] * scaler.scale_[worst]:.4g} "
            f"and spread {spread * scaler.scale_[worst]:.4g} here, against mean "
            f"{scaler.mean_[worst]:.4g} and standard deviation "
            f"{scaler.scale_[worst]:.4g} at the first training (drift on real "
            "data stays below 5). The network keeps "
            "learning (y - mean) / standard deviation with those statistics, "
            "far outside its range. If the units changed, convert y back to "
            "those of the first training; if the targets moved for good, "
            "refit with `fit` on recent data.",
            UserWarning,
            stacklevel=7,  # the caller of partial_fit
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _output_hint(self, n_outputs: int) -> str:
        return (
            f"A regressor's module must return one value per target ({n_outputs} here)."
        )
