"""The hooks an update strategy can use, on top of skorch's callback hooks."""

from __future__ import annotations

from sklearn.base import BaseEstimator
from skorch.callbacks import Callback

from .._state import all_finite, plain, restore, snapshot

__all__ = ["Strategy"]

# the __init__ parameter names of each strategy class
_PARAM_NAMES: dict = {}


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
    net's device (``y`` holds class indices for classifiers). The estimators
    clone the strategies the user passes, so the user's objects are never
    mutated.

    **State.** A strategy declares its learned state in the class attribute
    ``_learned_state``: the names of the attributes (ending in ``_``) that
    hold it, as tensors, numpy arrays, numbers, strings, None, dicts, lists
    and tuples of them, numpy ``Generator`` objects or buffers. :meth:`initialize`
    resets it; :meth:`state_dict` and :meth:`load_state_dict` read and set
    it. The rollback of a failed update, ``copy.deepcopy``, pickle and the
    skops files all go through these two methods, so a new strategy gets all
    of them by declaring its state. Parameters (the ``__init__`` arguments,
    such as EWC's ``lambda_``) are never state. Attributes that live only
    during a training call (a penalty's cached tensors, say) are listed in
    ``_transient_state``: they are not saved, and are set to None after a
    rollback or a load.

    A strategy that overrides none of a hook costs nothing on that hook: the
    training loop only calls the hooks a strategy overrides.
    """

    _learned_state: tuple[str, ...] = ()
    _transient_state: tuple[str, ...] = ()

    def state_dict(self) -> dict:
        """The learned state, as a copy that later training does not change.

        Returns
        -------
        state : dict
            ``{name: value}`` for each attribute of ``_learned_state`` that
            is set (none before :meth:`initialize`).

        Examples
        --------
        >>> from sklearn_cl.strategies import Replay
        >>> replay = Replay(buffer_size=10, random_state=0).initialize()
        >>> sorted(replay.state_dict())
        ['buffer_', 'rng_']
        """
        return {
            name: snapshot(getattr(self, name))
            for name in self._learned_state
            if hasattr(self, name)
        }

    def load_state_dict(self, state: dict):
        """Set the learned state from :meth:`state_dict` (either form).

        Parameters
        ----------
        state : dict

        Returns
        -------
        self
        """
        unknown = sorted(set(state) - set(self._learned_state))
        if unknown:
            raise ValueError(
                f"{type(self).__name__} has no learned state {unknown}; its "
                f"state is {list(self._learned_state)}."
            )
        for name, value in state.items():
            setattr(self, name, restore(value))
        for name in self._transient_state:
            setattr(self, name, None)
        return self

    def _state_is_finite(self) -> bool:
        return all(
            all_finite(getattr(self, name, None)) for name in self._learned_state
        )

    def __getstate__(self):
        # parameters as they are, learned state in its plain form (numbers,
        # strings, arrays): pickle, copy.deepcopy and skops store this
        hidden = {*self._learned_state, *self._transient_state}
        state = {k: v for k, v in vars(self).items() if k not in hidden}
        if any(hasattr(self, name) for name in hidden):  # initialized
            learned = {
                name: getattr(self, name)
                for name in self._learned_state
                if hasattr(self, name)
            }
            state["_learned"] = plain(learned)
        return state

    def __setstate__(self, state):
        state = dict(state)
        learned = state.pop("_learned", None)
        vars(self).update(state)
        if learned is not None:
            self.load_state_dict(learned)

    @classmethod
    def _get_param_names(cls):
        # skorch lists the instance attributes not ending in "_", which drops
        # parameters such as EWC's lambda_ and would take private attributes
        # for parameters; read the __init__ signature as scikit-learn does,
        # once per class (every update compares the strategies' parameters)
        names = _PARAM_NAMES.get(cls)
        if names is None:
            names = _PARAM_NAMES[cls] = BaseEstimator._get_param_names.__func__(cls)
        return names

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

    def restore_module(self, net, X, **kwargs):
        """Called when a saved model is loaded, after :meth:`load_state_dict`
        and before the saved weights go back into ``net.module_``: redo any
        change of the module's structure the strategy made (a graft), so
        that the weights fit. ``X`` is one zero sample of the input layout."""

    def on_output_grown(self, net, n_old, n_new, **kwargs):
        """Called when a classifier's output layer grows from n_old to n_new."""
