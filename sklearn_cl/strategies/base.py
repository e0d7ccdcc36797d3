"""The hooks an update strategy can use, on top of skorch's callback hooks."""

from __future__ import annotations

from sklearn.base import BaseEstimator
from skorch.callbacks import Callback

__all__ = ["Strategy"]


class Strategy(Callback):
    """Base class of update strategies.

    A strategy is a skorch callback with extra hooks, called by the
    estimators' training loop for ``fit`` (the first training, where
    ``is_update=False``) and for every ``partial_fit`` (``is_update=True``):

    - :meth:`extend_data` once per call, to change the whole training set of
      the call (rehearsal adds stored past data);
    - :meth:`on_update_begin` before the first epoch, with that training set;
    - :meth:`extend_batch` on every training batch, to add or transform
      samples (replay, augmentation);
    - :meth:`penalty` on every training batch, a term added to the loss
      (EWC, L2-SP, distillation);
    - :meth:`on_update_end` after the last epoch, to consolidate (compute a
      Fisher, store samples); it receives the call's new data only, not what
      :meth:`extend_data` added;
    - :meth:`on_output_grown` when a classifier's output layer grows.

    ``X`` and ``y`` are the validated training tensors of the call, on the
    net's device (``y`` holds class indices for classifiers). Learned state
    lives in attributes ending in ``_`` and is reset by :meth:`initialize`;
    the estimators clone the strategies the user passes, so the user's objects
    are never mutated.

    A strategy that overrides none of a hook costs nothing on that hook: the
    training loop only calls the hooks a strategy overrides.
    """

    @classmethod
    def _get_param_names(cls):
        # skorch lists the instance attributes not ending in "_", which drops
        # parameters such as EWC's lambda_ and would take private attributes
        # for parameters; read the __init__ signature as scikit-learn does
        return BaseEstimator._get_param_names.__func__(cls)

    def extend_data(self, net, X, y, is_update=True, sample_weight=None, **kwargs):
        """Return the training set ``(X, y)`` of this call, possibly extended,
        or ``(X, y, sample_weight)`` to give the added samples their weights
        (``sample_weight`` is None when the call is unweighted; samples
        appended without weights weigh 1)."""
        return X, y

    def on_update_begin(self, net, X=None, y=None, is_update=True, **kwargs):
        """Called before training on ``X, y``."""

    def extend_batch(self, net, X, y, sample_weight=None, **kwargs):
        """Return the training batch ``(X, y)``, possibly extended or changed,
        or ``(X, y, sample_weight)`` (as :meth:`extend_data`)."""
        return X, y

    def penalty(self, net, X, y, y_pred, **kwargs):
        """Return a scalar tensor added to the batch loss, or None."""

    def on_update_end(self, net, X=None, y=None, is_update=True, **kwargs):
        """Called after training on ``X, y``."""

    def on_output_grown(self, net, n_old, n_new, **kwargs):
        """Called when a classifier's output layer grows from n_old to n_new."""
