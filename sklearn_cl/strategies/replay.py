"""Experience replay: stored past samples mixed into every training batch."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch

from .._param_validation import Interval, StrOptions
from ._random import strategy_rng, torch_generator
from .base import Strategy
from .buffers import _KINDS, make_buffer

__all__ = ["Replay"]

# what the memories' parameters may be
POSITIVE = Interval(Integral, 1, None, closed="left")
RANDOM_STATE = ["random_state", np.random.Generator]


class _Memory(Strategy):
    """A strategy that stores the new data of every call in a buffer.

    ``buffer_`` is built on the first call that stores data; it shares the
    generator ``rng_`` (one stream for what is kept and what is drawn, one
    object to copy in the estimator's snapshot), so equal seeds and call
    sequences give equal results. Subclasses say which buffer to build.
    """

    _learned_state = ("rng_", "buffer_")

    def load_state_dict(self, state: dict):
        super().load_state_dict(state)
        if self.buffer_ is not None and self.rng_ is not None:
            self.buffer_._rng = self.rng_  # one stream, as when built
        if self.buffer_ is not None and self.buffer_.capacity != self._capacity():
            # the memory's size is a parameter: set_params changed it
            self.buffer_ = self.buffer_.resized(self._capacity())
        return self

    def _capacity(self) -> int | None:
        """The number of samples the memory may hold (a parameter)."""
        return self.buffer_size

    def initialize(self):
        super().initialize()
        self.rng_ = None
        self.buffer_ = None
        return self

    def _rng(self):
        if self.rng_ is None:
            self.rng_ = strategy_rng(self.random_state)
        return self.rng_

    def _new_buffer(self):
        raise NotImplementedError

    def _stored(self) -> int:
        return 0 if self.buffer_ is None else len(self.buffer_)

    def on_update_end(self, net, X=None, y=None, *, sample_weight=None, **kwargs):
        self._store(X, y, sample_weight)

    def _store(self, X, y, sample_weight=None) -> None:
        """Offer the samples ``X, y`` to the memory."""
        if self.buffer_ is None:
            self.buffer_ = self._new_buffer()
        weight = None if sample_weight is None else sample_weight.cpu().numpy()
        self.buffer_.add(X.detach().cpu().numpy(), y.detach().cpu().numpy(), weight)


class Replay(_Memory):
    """Experience replay: mix stored past samples into every training batch.

    A bounded memory (the buffer) keeps samples of everything the estimator
    was trained on (``fit`` and every ``partial_fit``). During each training
    call, every batch of new data is extended with ``k`` samples drawn
    uniformly, with replacement, from the memory, and the loss is the mean
    over the extended batch, so old and new samples weigh the same
    (experience replay, ER, of Chaudhry et al. 2019, "On Tiny Episodic
    Memories in Continual Learning"). After the call, the call's new data is
    offered to the buffer.

    Use it when old data may be kept in a small memory (a few hundred samples
    often suffice): it is the most reliable defence against forgetting in
    class-incremental learning, where regularisers such as EWC fail.

    Cost: each training step runs on ``batch_size + k`` samples (about twice
    a plain step with the default ``replay_ratio=1.0``); drawing the replayed
    samples indexes a copy of the buffer kept on the net's device for the
    call, so it adds no host-to-device transfer per batch. Memory:
    ``buffer_size`` samples stored as float32 (``buffer_.nbytes``), plus one
    device copy during training calls.

    Parameters
    ----------
    buffer_size : int or None, default=200
        Most samples the memory keeps; None keeps everything.
    replay_batch_size : int or None, default=None
        Replayed samples added to every batch. None means
        ``round(replay_ratio * len(batch))`` (at least one).
    replay_ratio : float, default=1.0
        Replayed samples per new sample in a batch, when
        ``replay_batch_size`` is None.
    buffer : {"reservoir", "class_balanced", "window"}, default="reservoir"
        How the memory chooses what to keep: a uniform sample of all data
        seen (:class:`~sklearn_cl.strategies.buffers.ReservoirBuffer`), an
        equal share per class (classifiers only,
        :class:`~sklearn_cl.strategies.buffers.ClassBalancedBuffer`), or the
        most recent samples (:class:`~sklearn_cl.strategies.buffers.WindowBuffer`).
    random_state : int, RandomState, numpy Generator or None, default=None
        Seeds what the memory keeps and what it replays. None derives the
        seed from the estimator's ``random_state``.

    Attributes
    ----------
    buffer_ : buffer or None
        The memory, built on the first training call.

    Examples
    --------
    >>> from sklearn_cl import ContinualClassifier
    >>> from sklearn_cl.datasets import split_digits
    >>> from sklearn_cl.strategies import Replay
    >>> tasks = split_digits(5)
    >>> clf = ContinualClassifier(
    ...     max_epochs=10, update_epochs=10,
    ...     callbacks=[Replay(buffer_size=100)], random_state=0,
    ... )
    >>> clf = clf.partial_fit(tasks[0].X_train, tasks[0].y_train, classes=range(10))
    >>> clf = clf.partial_fit(tasks[1].X_train, tasks[1].y_train)
    >>> replay = dict(clf.net_.callbacks_)["replay"]
    >>> len(replay.buffer_), replay.buffer_.n_seen
    (100, 360)
    >>> float(clf.score(tasks[0].X_test, tasks[0].y_test)) > 0.9
    True
    """

    _transient_state = ("cache_X_", "cache_y_", "cache_w_", "generator_")
    _parameter_constraints = {
        "buffer_size": [POSITIVE, None],
        "replay_batch_size": [POSITIVE, None],
        "replay_ratio": [Interval(Real, 0, None, closed="neither")],
        "buffer": [StrOptions(set(_KINDS))],
        "random_state": RANDOM_STATE,
    }

    def __init__(
        self,
        buffer_size=200,
        replay_batch_size=None,
        replay_ratio=1.0,
        buffer="reservoir",
        random_state=None,
    ):
        self.buffer_size = buffer_size
        self.replay_batch_size = replay_batch_size
        self.replay_ratio = replay_ratio
        self.buffer = buffer
        self.random_state = random_state

    def initialize(self):
        super().initialize()
        self.cache_X_ = None
        self.cache_y_ = None
        self.cache_w_ = None
        self.generator_ = None
        return self

    def _new_buffer(self):
        return make_buffer(self.buffer, self.buffer_size, random_state=self._rng())

    def _replays(self, context) -> bool:
        """Whether this call replays: the memory holds samples (it changes
        only after the epochs, so this holds for the whole call)."""
        return self._stored() > 0

    def on_update_begin(self, net, X=None, y=None, *, context, **kwargs):
        if self.buffer == "class_balanced" and not context.is_classifier:
            raise ValueError(
                "Replay(buffer='class_balanced') needs class labels, but the "
                "estimator is a regressor. Use buffer='reservoir' with a "
                "regressor."
            )
        if not self._replays(context):
            return
        # one device copy per call: drawing a replay batch is then an index
        self.cache_X_ = torch.from_numpy(self.buffer_.X).to(X.device, X.dtype)
        self.cache_y_ = torch.from_numpy(self.buffer_.y).to(y.device, y.dtype)
        weights = self.buffer_.sample_weight
        self.cache_w_ = (
            None if weights is None else torch.from_numpy(weights).to(X.device)
        )
        self.generator_ = torch_generator(self._rng(), X.device)

    def extend_batch(self, net, X, y, *, context, sample_weight=None, **kwargs):
        if not self._replays(context):
            return X, y
        k = self.replay_batch_size or max(1, round(self.replay_ratio * len(X)))
        index = torch.randint(
            len(self.cache_X_), (k,), generator=self.generator_, device=X.device
        )
        X, y = (
            torch.cat([X, self.cache_X_[index]]),
            torch.cat([y, self.cache_y_[index]]),
        )
        if sample_weight is None and self.cache_w_ is None:
            return X, y
        # replayed samples keep the weight they were stored with
        new = sample_weight if sample_weight is not None else X.new_ones(len(X) - k)
        old = self.cache_w_[index] if self.cache_w_ is not None else X.new_ones(k)
        return X, y, torch.cat([new, old])
