"""Experience replay: stored past samples mixed into every training batch."""

from __future__ import annotations

import numbers

import torch

from ._random import strategy_rng, torch_generator
from .base import Strategy
from .buffers import _KINDS, make_buffer

__all__ = ["Replay"]


def _check_int(name: str, value, *, allow_none: bool) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        expected = "a positive int or None" if allow_none else "a positive int"
        raise ValueError(f"`{name}` must be {expected}; got {value!r}.")


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
        self.rng_ = None
        self.buffer_ = None
        return super().initialize()

    def _rng(self):
        if self.rng_ is None:
            self.rng_ = strategy_rng(self.random_state)
        return self.rng_

    def _new_buffer(self):
        raise NotImplementedError

    def _stored(self) -> int:
        return 0 if self.buffer_ is None else len(self.buffer_)

    def on_update_end(
        self, net, X=None, y=None, is_update=True, sample_weight=None, **kwargs
    ):
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
        _check_int("buffer_size", self.buffer_size, allow_none=True)
        _check_int("replay_batch_size", self.replay_batch_size, allow_none=True)
        if (
            isinstance(self.replay_ratio, bool)
            or not isinstance(self.replay_ratio, numbers.Real)
            or not self.replay_ratio > 0
        ):
            raise ValueError(
                f"`replay_ratio` must be a positive number; got {self.replay_ratio!r}."
            )
        if self.buffer not in _KINDS:
            raise ValueError(
                f"`buffer` must be one of {sorted(_KINDS)}; got {self.buffer!r}."
            )
        self.cache_X_ = None
        self.cache_y_ = None
        self.cache_w_ = None
        self.generator_ = None
        return super().initialize()

    def _new_buffer(self):
        return make_buffer(self.buffer, self.buffer_size, random_state=self._rng())

    def on_update_begin(self, net, X=None, y=None, is_update=True, **kwargs):
        if self.buffer == "class_balanced" and y.ndim != 1:
            raise ValueError(
                "Replay(buffer='class_balanced') needs class labels, but the "
                f"targets have shape {tuple(y.shape)}. Use buffer='reservoir' "
                "with a regressor."
            )
        if not self._stored():
            return
        # one device copy per call: drawing a replay batch is then an index
        self.cache_X_ = torch.from_numpy(self.buffer_.X).to(X.device, X.dtype)
        self.cache_y_ = torch.from_numpy(self.buffer_.y).to(y.device, y.dtype)
        weights = self.buffer_.sample_weight
        self.cache_w_ = (
            None if weights is None else torch.from_numpy(weights).to(X.device)
        )
        self.generator_ = torch_generator(self._rng(), X.device)

    def extend_batch(self, net, X, y, sample_weight=None, **kwargs):
        if self.cache_X_ is None:
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

    def on_update_end(self, net, X=None, y=None, is_update=True, **kwargs):
        self.cache_X_ = self.cache_y_ = self.cache_w_ = self.generator_ = None
        super().on_update_end(net, X=X, y=y, is_update=is_update, **kwargs)
