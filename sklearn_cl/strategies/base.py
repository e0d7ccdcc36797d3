"""The hooks an update strategy can use, on top of skorch's callback hooks."""

from __future__ import annotations

from sklearn.base import BaseEstimator
from skorch.callbacks import Callback

from .._param_validation import validate_parameter_constraints
from .._state import all_finite, plain, restore, snapshot

__all__ = ["Strategy"]

# the __init__ parameter names of each strategy class
_PARAM_NAMES: dict = {}


class Strategy(Callback):
    """Base class of update strategies.

    A strategy is a skorch callback with extra hooks, called by the
    estimators' training loop in every training call: ``fit`` (the first
    training, where ``context.is_update`` is False), each task of
    ``fit(X, y, tasks=t)`` and every ``partial_fit``. The guide
    ``docs/user_guide/custom_strategy.rst`` shows how to write one.

    **Hooks.** A strategy overrides the ones it needs:

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
    - skorch's events (``on_train_begin``, ``on_epoch_begin``,
      ``on_batch_begin``, ``on_grad_computed``, ``on_batch_end``,
      ``on_epoch_end``, ``on_train_end``) with skorch's arguments.

    Every hook of a call receives the keyword argument ``context``, an
    :class:`~sklearn_cl.strategies.UpdateContext` (the module, optimizer,
    learning rate, classifier or regressor, number of outputs, whether a
    previous model exists, the call's index and the epoch), and must end in
    ``**kwargs``, so that later versions can pass more. ``is_update`` is
    also passed to :meth:`extend_data`, :meth:`on_update_begin` and
    :meth:`on_update_end`, as in the first version of this contract; it
    always equals ``context.is_update``. A hook without ``**kwargs``
    (written for that first version) still works: it gets only the
    arguments it names. ``X`` and ``y`` are the validated training tensors
    of the call, on the net's device (``y`` holds class indices for
    classifiers, floats of shape ``(n_samples, n_outputs)`` for
    regressors).

    Two hooks run outside training calls and get no context:
    :meth:`on_output_grown` (before a call, when a classifier's output layer
    grows for new classes) and :meth:`restore_module` (when a saved model is
    loaded).

    **Order of events** in one training call, in each step the callbacks in
    the order of the estimator's ``callbacks`` list:

    1. the validation split of the call's new data (when there is one);
    2. ``extend_data``;
    3. ``on_update_begin``;
    4. ``on_train_begin``;
    5. for every epoch: ``on_epoch_begin``; for every training batch
       ``extend_batch``, ``on_batch_begin``, the forward pass, ``penalty``,
       the backward pass, ``on_grad_computed``, the optimizer step,
       ``on_batch_end``; then the validation batches (``on_batch_begin``
       and ``on_batch_end`` with ``training=False``); ``on_epoch_end``;
    6. ``on_train_end`` (``Freeze`` gives the frozen weights their
       gradients back here, so every ``on_update_end`` can compute
       gradients of all weights);
    7. ``on_update_end``;
    8. the transient state of every strategy is set to None, whether the
       call succeeded or failed.

    Without validation, printing or skorch callbacks other than strategies
    (the lean protocol) the training loop calls only the hooks a strategy
    overrides, so a hook it does not override costs nothing; with any of
    them (the full protocol) every callback gets every skorch event, in the
    order above. ``tests/strategies/test_hook_order.py`` checks this order
    in both.

    **State.** A strategy declares its learned state in the class attribute
    ``_learned_state``: the names of the attributes (ending in ``_``) that
    hold it, as tensors, numpy arrays, numbers, strings, None, dicts, lists
    and tuples of them, numpy ``Generator`` objects or buffers. :meth:`initialize`
    resets it; :meth:`state_dict` and :meth:`load_state_dict` read and set
    it. The rollback of a failed update, ``copy.deepcopy``, pickle and the
    skops files all go through these two methods, so a new strategy gets all
    of them by declaring its state. Attributes that live only during a
    training call (a penalty's anchor, a device copy of a memory) are listed
    in ``_transient_state``: they are not saved, and the net sets them to
    None when each call ends, after a rollback and after a load. Those of
    the learned attributes that hold one tensor per parameter name, of the
    parameter's shape (EWC's Fisher and anchors), may be listed in
    ``_per_parameter_state``: loading a file then refuses one whose tensors
    have other shapes, which broadcasting would otherwise accept.

    **Parameters** are the ``__init__`` arguments (such as EWC's
    ``lambda_``), never state. They are declared in
    ``_parameter_constraints``, as scikit-learn's estimators declare theirs,
    and checked by :meth:`initialize` (so at every ``fit`` and whenever a
    parameter changed before an update), raising scikit-learn's
    ``InvalidParameterError``, a ``ValueError``. Checks that involve
    several parameters follow in the subclass's ``initialize``.

    **Tags.** ``_estimator_types`` names the estimators a strategy works
    with (``"classifier"``, ``"regressor"``); :func:`sklearn_cl.utils.check_strategy`
    checks the strategy with each.
    """

    _learned_state: tuple[str, ...] = ()
    _transient_state: tuple[str, ...] = ()
    _per_parameter_state: tuple[str, ...] = ()
    _parameter_constraints: dict = {}
    _estimator_types: tuple[str, ...] = ("classifier", "regressor")

    def initialize(self):
        """Check the parameters and reset the learned state.

        Subclasses set their state after calling ``super().initialize()``.

        Returns
        -------
        self

        Raises
        ------
        InvalidParameterError
            A parameter breaks its ``_parameter_constraints`` (a subclass
            of ``ValueError`` and ``TypeError``).
        """
        validate_parameter_constraints(
            self._parameter_constraints,
            self.get_params(deep=False),
            caller_name=type(self).__name__,
        )
        return super().initialize()

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
        self._clear_transient_state()
        return self

    def _clear_transient_state(self) -> None:
        for name in self._transient_state:
            setattr(self, name, None)

    def _state_is_finite(self) -> bool:
        return all(
            all_finite(getattr(self, name, None)) for name in self._learned_state
        )

    # parameters added after a release, each with the value that keeps a
    # strategy saved before it (pickle, skops) behaving as it did
    _legacy_params: dict = {}

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
        # a strategy saved before a parameter existed behaves as it did then
        state = {**self._legacy_params, **state}
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

    def extend_data(
        self, net, X, y, *, context=None, is_update=True, sample_weight=None, **kwargs
    ):
        """Return the training set ``(X, y)`` of this call, possibly extended,
        or ``(X, y, sample_weight)`` to give the added samples their weights
        (``sample_weight`` is None when the call is unweighted; samples
        appended without weights weigh 1)."""
        return X, y

    def on_update_begin(
        self,
        net,
        X=None,
        y=None,
        *,
        context=None,
        is_update=True,
        sample_weight=None,
        **kwargs,
    ):
        """Called before training on ``X, y``, the call's training set, with
        its ``sample_weight`` (None when unweighted)."""

    def extend_batch(self, net, X, y, *, context=None, sample_weight=None, **kwargs):
        """Return the training batch ``(X, y)``, possibly extended or changed,
        or ``(X, y, sample_weight)`` (as :meth:`extend_data`)."""
        return X, y

    def penalty(self, net, X, y, y_pred, *, context=None, **kwargs):
        """Return a scalar tensor added to the batch loss, or None; receives
        the batch's ``sample_weight`` too (None when unweighted)."""

    def on_update_end(
        self, net, X=None, y=None, *, context=None, is_update=True, **kwargs
    ):
        """Called after training, with the call's new data ``X, y`` (and its
        ``sample_weight``)."""

    def restore_module(self, net, X, **kwargs):
        """Called when a saved model is loaded, after :meth:`load_state_dict`
        and before the saved weights go back into ``net.module_``: redo any
        change of the module's structure the strategy made (a graft), so
        that the weights fit. ``X`` is one zero sample of the input layout."""

    def on_output_grown(self, net, n_old, n_new, **kwargs):
        """Called when a classifier's output layer grows from n_old to n_new,
        before the training call that brought the new classes."""
