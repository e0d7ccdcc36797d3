"""A scikit-learn Pipeline with ``partial_fit``, for models that keep learning."""

from __future__ import annotations

import copy
import functools
from contextlib import contextmanager

from sklearn import get_config
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils import Bunch
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    process_routing,
)
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._locking import (
    consistent,
    contended,
    locked_deepcopy,
    reading,
    shallow_copy,
    updating,
)

__all__ = ["IncrementalPipeline", "make_incremental_pipeline"]


def _is_step(step) -> bool:
    return step is not None and not (isinstance(step, str) and step == "passthrough")


def _updates(step) -> bool:
    """Whether ``partial_fit`` of the pipeline updates this transformer.

    A ``FrozenEstimator`` forwards attribute access to the estimator it
    wraps, ``partial_fit`` included, so it is excluded by type.
    """
    return hasattr(step, "partial_fit") and not isinstance(step, FrozenEstimator)


def _final_step_has_partial_fit(pipeline) -> bool:
    """``partial_fit`` is offered when the final step can be updated (not a
    ``FrozenEstimator``, whose forwarded ``partial_fit`` would change the
    model it keeps fixed)."""
    return _updates(pipeline.steps[-1][1])


def _changed_by_updates(step) -> bool:
    """Whether ``fit`` or ``partial_fit`` of the pipeline may change ``step``
    (a ``FrozenEstimator`` never changes)."""
    return _is_step(step) and not isinstance(step, FrozenEstimator)


def _copied_steps(steps) -> list:
    """``steps`` with a deep copy of each step an update may change (one
    memo: what steps share, their copies share)."""
    memo: dict = {}
    return [
        (name, copy.deepcopy(step, memo) if _changed_by_updates(step) else step)
        for name, step in steps
    ]


def _readers_copy(pipeline):
    """What predictions read while an update of ``pipeline`` runs in another
    thread (see ``_locking``): the pipeline with a copy of each step the
    update may change, made once a prediction has had to wait for an update;
    None before (predictions then wait for the update)."""
    if not contended(pipeline):
        return None
    view = shallow_copy(pipeline)
    view.steps = _copied_steps(pipeline.steps)
    return view


def _reader(name: str):
    """``Pipeline``'s method ``name``, run on the pipeline as a whole before
    or after any update another thread makes meanwhile (see ``_locking``)."""

    def read(self, *args, **kwargs):
        with reading(self, live=True) as pipeline:
            return getattr(super(IncrementalPipeline, pipeline), name)(*args, **kwargs)

    doc = (
        f"``Pipeline.{name}``, on the whole pipeline as it is before or after "
        "any update another thread runs meanwhile; the parameters are "
        f"those of scikit-learn's ``Pipeline.{name}``."
    )
    return _pipeline_method(read, name, doc)


def _fitter(name: str):
    """``Pipeline``'s method ``name`` (``fit_transform``, ``fit_predict``),
    as one update: under the lock, undone if it raises, unprefixed
    parameters for the final step."""

    def fit_and(self, X, y=None, **params):
        with self._fitting():
            return getattr(super(IncrementalPipeline, self), name)(
                X, y, **self._prefixed(params)
            )

    doc = (
        f"``Pipeline.{name}`` as one update: all-or-nothing, and after any "
        "update another thread runs; the parameters are those of "
        f"scikit-learn's ``Pipeline.{name}``, unprefixed ones going to the "
        "final step."
    )
    return _pipeline_method(fit_and, name, doc)


def _pipeline_method(function, name: str, doc: str):
    """``function`` as ``IncrementalPipeline.name``: ``Pipeline.name``'s
    signature, a docstring of its own (scikit-learn's refers to pages of
    its own documentation), offered where ``Pipeline`` offers it."""
    functools.update_wrapper(function, getattr(Pipeline, name))
    function.__qualname__ = f"IncrementalPipeline.{name}"
    function.__module__ = __name__
    function.__doc__ = doc
    offered = available_if(lambda pipe: hasattr(super(IncrementalPipeline, pipe), name))
    return offered(function)


@contextmanager
def _states_restored_on_error(steps):
    """Put back the attributes of ``steps`` if the block raises."""
    saved = [(step, copy.deepcopy(vars(step))) for step in steps]
    try:
        yield
    except BaseException:
        for step, state in saved:
            vars(step).clear()
            vars(step).update(state)
        raise


class IncrementalPipeline(Pipeline):
    """A :class:`~sklearn.pipeline.Pipeline` that can also ``partial_fit``.

    ``partial_fit(X, y)`` updates the pipeline with one batch: every
    transformer that has ``partial_fit`` (``StandardScaler``,
    ``MinMaxScaler``, ``MaxAbsScaler``, ``IncrementalPCA``, ...) is updated
    with the batch and then transforms it; every other transformer must
    already be fitted (for example wrapped in
    :class:`~sklearn.frozen.FrozenEstimator`, which is never updated) and is
    only applied; the final step's ``partial_fit`` gets the transformed
    batch (a pipeline whose final step is a ``FrozenEstimator`` has no
    ``partial_fit``). If any step raises, the transformers are put back as they were.

    Threads: concurrent calls of ``fit`` and ``partial_fit`` run one after
    the other. A prediction (``predict``, ``predict_proba``, ``score``,
    ``transform``, ...) made while another thread updates the pipeline runs
    on the whole pipeline as it was before the update, never on some steps
    updated and others not: the first one waits for the update; from then
    on, each update begins with a copy of the steps it may change, which
    predictions read meanwhile. A copy (pickle, ``copy.deepcopy``, skops)
    waits for a running update and holds the steps as they were then.

    ``fit`` fits every step as a ``Pipeline`` does. With ``fit(X, y,
    tasks=t)`` the transformers are fitted once on all of ``X`` and the
    final step trains on the tasks in order.

    Fit parameters: with metadata routing off, a parameter named ``step__p``
    goes to step ``step`` and a parameter without a step prefix (``tasks``,
    ``classes``) goes to the final step, so ``fit(X, y, tasks=t)`` works as on
    the final estimator, for instance inside ``GridSearchCV``. With routing
    on, parameters follow the steps' requests (``set_fit_request``,
    ``set_partial_fit_request``); ``classes`` always goes to the final step.

    Everything else (``set_output``, ``get_params``, slicing, ``predict``)
    is :class:`~sklearn.pipeline.Pipeline`'s.

    Parameters
    ----------
    steps : list of (str, estimator) tuples
        As for :class:`~sklearn.pipeline.Pipeline`.
    transform_input : list of str, default=None
        As for :class:`~sklearn.pipeline.Pipeline` (``fit`` only).
    memory : str or object with the joblib.Memory interface, default=None
        Caches fitted transformers in ``fit``; ``partial_fit`` never caches.
    verbose : bool, default=False
        As for :class:`~sklearn.pipeline.Pipeline`.

    See Also
    --------
    make_incremental_pipeline : Build one with step names generated.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_cl import ContinualClassifier, IncrementalPipeline
    >>> X, y = load_digits(return_X_y=True)
    >>> pipe = IncrementalPipeline([
    ...     ("scale", StandardScaler()),
    ...     ("clf", ContinualClassifier(random_state=0)),
    ... ])
    >>> for start in range(0, 1500, 500):
    ...     pipe = pipe.partial_fit(X[start:start + 500], y[start:start + 500],
    ...                             classes=range(10))
    >>> int(pipe.named_steps["scale"].n_samples_seen_), pipe[-1].n_updates_
    (1500, 3)
    """

    def fit(self, X, y=None, **params):
        """Fit every step, as ``Pipeline.fit``; unprefixed parameters go to
        the final step when metadata routing is off.

        Parameters
        ----------
        X : iterable
            Training data.
        y : iterable, default=None
            Training targets.
        **params : dict
            ``step__p`` for step ``step``; ``p`` (such as ``tasks``) for the
            final step. With metadata routing on, routed by the requests.

        Returns
        -------
        self : IncrementalPipeline
        """
        with self._fitting():
            return super().fit(X, y, **self._prefixed(params))

    fit_transform = _fitter("fit_transform")
    fit_predict = _fitter("fit_predict")
    predict = _reader("predict")
    predict_proba = _reader("predict_proba")
    predict_log_proba = _reader("predict_log_proba")
    decision_function = _reader("decision_function")
    score_samples = _reader("score_samples")
    score = _reader("score")
    transform = _reader("transform")
    inverse_transform = _reader("inverse_transform")

    @contextmanager
    def _fitting(self):
        """Run a ``fit`` as one update: one at a time, undone if it raises."""
        with updating(self, snapshot=_readers_copy):
            steps = list(self.steps)
            with _states_restored_on_error([t for _, t in steps if _is_step(t)]):
                try:
                    yield
                except BaseException:
                    self.steps = steps  # with memory, Pipeline replaces steps
                    raise

    @available_if(_final_step_has_partial_fit)
    def partial_fit(self, X, y=None, classes=None, **params) -> IncrementalPipeline:
        """Update the transformers that can be updated, then the final step.

        Parameters
        ----------
        X : iterable
            A batch of data.
        y : iterable, default=None
            Its targets.
        classes : array-like, default=None
            All labels, passed to the final step's ``partial_fit`` when given
            (needed on the first call for a classifier).
        **params : dict
            ``step__p`` for step ``step``; ``p`` for the final step. With
            metadata routing on, routed by the ``partial_fit`` and
            ``transform`` requests of the steps.

        Returns
        -------
        self : IncrementalPipeline
        """
        # concurrent batches run one after the other
        with updating(self, snapshot=_readers_copy):
            return self._update(X, y, classes, params)

    def _update(self, X, y, classes, params) -> IncrementalPipeline:
        routed = self._partial_fit_params(params)
        transformers = [(n, t) for n, t in self.steps[:-1] if _is_step(t)]
        updated = [t for _, t in transformers if _updates(t)]
        with _states_restored_on_error(updated):
            Xt = X
            for name, transformer in transformers:
                if _updates(transformer):
                    transformer.partial_fit(Xt, y, **routed[name].partial_fit)
                else:
                    _check_applicable(name, transformer)
                Xt = transformer.transform(Xt, **routed[name].transform)
            final_name, final = self.steps[-1]
            final_params = dict(routed[final_name].partial_fit)
            if classes is not None:
                final_params["classes"] = classes
            final.partial_fit(Xt, y, **final_params)
        return self

    def __getstate__(self):
        # not half of another thread's update; the steps copied, since
        # pickle and skops store them after this returns, when another
        # update may have begun
        with consistent(self):
            state = super().__getstate__()
            state["steps"] = _copied_steps(state["steps"])
        return state

    def __deepcopy__(self, memo):
        return locked_deepcopy(self, memo)

    def get_metadata_routing(self) -> MetadataRouter:
        """``Pipeline``'s routing, plus ``partial_fit``: each transformer's
        ``partial_fit`` (when it is updated) and ``transform``, and the final
        step's ``partial_fit``.

        Returns
        -------
        routing : MetadataRouter
        """
        router = MetadataRouter(owner=self)
        steps = dict(self.steps)
        final_name = self.steps[-1][0]
        for name, pair in super().get_metadata_routing():
            mapping = MethodMapping()
            for route in pair.mapping:
                mapping.add(caller=route.caller, callee=route.callee)
            if name == final_name or _updates(steps[name]):
                mapping.add(caller="partial_fit", callee="partial_fit")
            if name != final_name:
                mapping.add(caller="partial_fit", callee="transform")
            router.add(method_mapping=mapping, **{name: steps[name]})
        return router

    def _prefixed(self, params: dict) -> dict:
        """Without metadata routing, give unprefixed parameters to the final
        step."""
        if get_config()["enable_metadata_routing"]:
            return params
        final_name = self.steps[-1][0]
        return {k if "__" in k else f"{final_name}__{k}": v for k, v in params.items()}

    def _partial_fit_params(self, params: dict) -> Bunch:
        if get_config()["enable_metadata_routing"]:
            return process_routing(self, "partial_fit", **params)
        routed = Bunch(
            **{name: Bunch(partial_fit={}, transform={}) for name, _ in self.steps}
        )
        for key, value in self._prefixed(params).items():
            name, _, param = key.partition("__")
            if name not in routed:
                raise ValueError(
                    f"partial_fit got the parameter {key!r}, but the pipeline has "
                    f"no step named {name!r}; its steps are {list(routed)}. Name "
                    "parameters step__parameter, or leave the prefix out for the "
                    "final step."
                )
            routed[name].partial_fit[param] = value
        return routed


def _check_applicable(name: str, transformer) -> None:
    """A transformer without ``partial_fit`` must be fitted beforehand."""
    try:
        check_is_fitted(transformer)
    except NotFittedError:
        raise NotFittedError(
            f"Step {name!r} ({type(transformer).__name__}) has no partial_fit and "
            "is not fitted, so partial_fit cannot apply it. Fit it on "
            "representative data first (and wrap it in "
            "sklearn.frozen.FrozenEstimator to keep it fixed), or call fit on the "
            "pipeline before partial_fit."
        ) from None


def make_incremental_pipeline(
    *steps, memory=None, transform_input=None, verbose: bool = False
) -> IncrementalPipeline:
    """Build an :class:`IncrementalPipeline`, naming steps as ``make_pipeline``.

    Parameters
    ----------
    *steps : estimators
        Transformers, then a final estimator.
    memory, transform_input, verbose
        As for :class:`IncrementalPipeline`.

    Returns
    -------
    pipeline : IncrementalPipeline

    Examples
    --------
    >>> from sklearn.decomposition import IncrementalPCA
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_cl import ContinualClassifier, make_incremental_pipeline
    >>> pipe = make_incremental_pipeline(
    ...     StandardScaler(), IncrementalPCA(16), ContinualClassifier()
    ... )
    >>> [name for name, _ in pipe.steps]
    ['standardscaler', 'incrementalpca', 'continualclassifier']
    """
    plain = make_pipeline(
        *steps, memory=memory, transform_input=transform_input, verbose=verbose
    )
    return IncrementalPipeline(
        plain.steps, memory=memory, transform_input=transform_input, verbose=verbose
    )
