"""Bounded memories of past samples: reservoir, class-balanced, recent window.

Pure numpy, seeded by ``random_state``, so they serve any estimator (the
:class:`~sklearn_cl.strategies.Replay` strategy, ``UpdateEnsemble``). ``X``
is stored as float32 in arrays that grow geometrically up to ``capacity``
and are then written in place: adding a batch costs O(batch), never
O(stored), and memory never exceeds ``capacity`` samples.
"""

from __future__ import annotations

import numpy as np

from .._state import plain, restore, snapshot, stateful

__all__ = ["ReservoirBuffer", "ClassBalancedBuffer", "WindowBuffer", "make_buffer"]


def _generator(random_state) -> np.random.Generator:
    """A numpy Generator from None, an int, a Generator or a RandomState."""
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**32))
    return np.random.default_rng(random_state)


def _storage_dtype(dtype: np.dtype) -> np.dtype:
    """Class indices as int64, regression targets as float32; other labels
    (strings, objects) as object so later, longer labels are never cut."""
    if dtype.kind in "iu":
        return np.dtype(np.int64)
    if dtype.kind == "f":
        return np.dtype(np.float32)
    if dtype.kind == "b":
        return dtype
    return np.dtype(object)


class _Buffer:
    """Storage shared by the buffers; subclasses decide where samples go."""

    def __init__(self, capacity: int | None = None, random_state=None):
        if capacity is not None and (
            isinstance(capacity, bool) or not isinstance(capacity, int | np.integer)
        ):
            raise TypeError(
                f"`capacity` must be a positive int or None; got {capacity!r}."
            )
        if capacity is not None and capacity < 1:
            raise ValueError(
                f"`capacity` must be a positive int or None (no bound); got {capacity}."
            )
        self.capacity = None if capacity is None else int(capacity)
        self.random_state = random_state
        self.n_seen = 0
        self._rng = _generator(random_state)
        self._X: np.ndarray | None = None
        self._y: np.ndarray | None = None
        # sample weights, allocated when the first weighted samples arrive
        self._w: np.ndarray | None = None
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(capacity={self.capacity}, "
            f"stored={self._size}, seen={self.n_seen})"
        )

    def state_dict(self) -> dict:
        """What the buffer holds, as a copy later additions do not change.

        An unbounded buffer only ever appends, so its stored samples are
        returned as views, without copying: this is what makes the rollback
        of an update O(1) however much is stored. A bounded one overwrites
        slots once full, so its (at most ``capacity``) samples are copied.
        """
        X = y = w = None
        if self._X is not None:
            X, y = self._X[: self._size], self._y[: self._size]
            w = None if self._w is None else self._w[: self._size]
            if self.capacity is not None:
                X, y = X.copy(), y.copy()
                w = None if w is None else w.copy()
        return {
            "capacity": self.capacity,
            "n_seen": self.n_seen,
            "X": X,
            "y": y,
            "w": w,
            "rng": snapshot(self._rng),
            **self._extra_state(),
        }

    def _extra_state(self) -> dict:
        return {}

    def load_state_dict(self, state: dict):
        """Set what the buffer holds from :meth:`state_dict`; return self."""
        self.capacity = state["capacity"]
        self.n_seen = int(state["n_seen"])
        X, y, w = state["X"], state["y"], state.get("w")
        if X is not None and not (X.flags.writeable and y.flags.writeable):
            X, y = X.copy(), y.copy()
        if w is not None and not w.flags.writeable:
            w = w.copy()
        self._X, self._y, self._w = X, y, w
        self._size = 0 if X is None else len(X)
        self._rng = restore(state["rng"])
        return self

    def resized(self, capacity: int | None):
        """A buffer of ``capacity`` holding what this one would have kept.

        The stored samples are offered, in order, to a new buffer of the same
        kind that shares this one's generator, and the counts of samples seen
        carry over: a smaller reservoir keeps a uniform sample of what it
        held (itself a uniform sample of everything seen), a smaller window
        the most recent samples, a smaller class-balanced memory an equal
        share per class. A larger one keeps everything and fills up with the
        next samples.
        """
        new = type(self)(capacity)
        new._rng = self._rng
        new.add(self.X, self.y, self.sample_weight)
        new._carry_counts(self)
        return new

    def _carry_counts(self, old) -> None:
        """Copy the counts of samples seen from ``old``."""
        self.n_seen = old.n_seen

    @classmethod
    def _from_state(cls, state: dict):
        buffer = cls(state["capacity"])
        return buffer.load_state_dict(state)

    def __getstate__(self):
        # a generator given as random_state lives on in the saved "rng"
        seed = self.random_state if isinstance(self.random_state, int) else None
        return {"random_state": seed, "state": plain(self.state_dict())}

    def __setstate__(self, state):
        self.random_state = state["random_state"]
        self.load_state_dict(restore(state["state"]))

    @property
    def X(self) -> np.ndarray:
        """Stored samples, float32, of shape ``(len(self), *sample_shape)``."""
        if self._X is None:
            return np.empty((0, 0), dtype=np.float32)
        return self._X[: self._size]

    @property
    def y(self) -> np.ndarray:
        """Targets of the stored samples, aligned with :attr:`X`."""
        if self._y is None:
            return np.empty(0, dtype=np.int64)
        return self._y[: self._size]

    @property
    def sample_weight(self) -> np.ndarray | None:
        """Weights of the stored samples, aligned with :attr:`X`; None when
        no weighted sample was ever added (every weight is then 1)."""
        return None if self._w is None else self._w[: self._size]

    @property
    def nbytes(self) -> int:
        """Bytes held by the storage arrays (allocated, at most ``capacity``)."""
        if self._X is None:
            return 0
        weights = 0 if self._w is None else self._w.nbytes
        return int(self._X.nbytes + self._y.nbytes + weights)

    def add(self, X, y, sample_weight=None):
        """Offer the samples ``X, y`` to the buffer, in order; return self.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Samples; stored as float32. Any number of trailing dimensions.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets: integers are stored as int64, floats as float32, other
            labels as objects.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights stored with the samples (None: 1 each).
        """
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y)
        if X.ndim == 0 or len(X) != len(y):
            raise ValueError(
                "`X` and `y` must hold the same number of samples; got X of "
                f"shape {X.shape} and y of shape {y.shape}."
            )
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float32)
            if sample_weight.shape != (len(X),):
                raise ValueError(
                    f"`sample_weight` must hold one weight per sample ({len(X)}); "
                    f"got shape {sample_weight.shape}."
                )
        if len(X) == 0:
            return self
        self._check_layout(X, y)
        new_size = self._size + len(X)
        if self.capacity is not None:
            new_size = min(new_size, self.capacity)
        self._reserve(new_size, X, y)
        if sample_weight is not None and self._w is None:
            self._w = np.ones(len(self._X), dtype=np.float32)
        dest, src = self._place(y, new_size)
        self._X[dest] = X[src]
        self._y[dest] = y[src]
        if self._w is not None:
            self._w[dest] = 1.0 if sample_weight is None else sample_weight[src]
        self._size = new_size
        self.n_seen += len(X)
        return self

    def sample(self, n: int, rng=None, return_weight: bool = False) -> tuple:
        """``min(n, len(self))`` distinct stored samples drawn uniformly.

        Parameters
        ----------
        n : int
            How many samples to draw.
        rng : numpy Generator, int or None, default=None
            Source of randomness; None uses the buffer's own generator.
        return_weight : bool, default=False
            Also return the drawn samples' weights.

        Returns
        -------
        X, y : ndarray
            Copies of the drawn samples.
        sample_weight : ndarray or None
            Their weights, only with ``return_weight=True`` (None when the
            buffer holds no weights).
        """
        if self._X is None:
            return (self.X, self.y, None) if return_weight else (self.X, self.y)
        rng = self._rng if rng is None else _generator(rng)
        n = min(int(n), self._size)
        index = rng.choice(self._size, size=n, replace=False)
        if not return_weight:
            return self._X[index], self._y[index]
        weights = None if self._w is None else self._w[index]
        return self._X[index], self._y[index], weights

    def _check_layout(self, X, y) -> None:
        if self._X is None:
            return
        if X.shape[1:] != self._X.shape[1:] or y.shape[1:] != self._y.shape[1:]:
            raise ValueError(
                f"Samples of shape {X.shape[1:]} with targets of shape {y.shape[1:]} "
                f"cannot join a buffer holding samples of shape {self._X.shape[1:]} "
                f"with targets of shape {self._y.shape[1:]}."
            )
        if not np.can_cast(y.dtype, self._y.dtype, casting="same_kind"):
            raise ValueError(
                f"Targets of dtype {y.dtype} cannot join a buffer holding targets "
                f"of dtype {self._y.dtype}."
            )

    def _reserve(self, size: int, X, y) -> None:
        """Grow the storage geometrically (capped at ``capacity``) to hold
        ``size`` samples."""
        allocated = 0 if self._X is None else len(self._X)
        if size <= allocated:
            return
        new = max(size, 2 * allocated)
        if self.capacity is not None:
            new = min(new, self.capacity)
        X_store = np.empty((new, *X.shape[1:]), dtype=np.float32)
        y_store = np.empty((new, *y.shape[1:]), dtype=_storage_dtype(y.dtype))
        if self._X is not None:
            X_store[: self._size] = self.X
            y_store[: self._size] = self.y
        if self._w is not None:
            w_store = np.ones(new, dtype=np.float32)
            w_store[: self._size] = self._w[: self._size]
            self._w = w_store
        self._X, self._y = X_store, y_store

    def _place(self, y, new_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Slots written and incoming indices stored there, for one batch."""
        raise NotImplementedError


def _keep_last(dest: np.ndarray, src: np.ndarray):
    """Drop all but the last write to each slot: sequential semantics for a
    vectorised write (numpy does not order writes to repeated indices)."""
    _, last = np.unique(dest[::-1], return_index=True)
    keep = len(dest) - 1 - last
    return dest[keep], src[keep]


@stateful
class ReservoirBuffer(_Buffer):
    """A uniform random sample of everything seen (Vitter's algorithm R).

    After ``n`` samples have been offered, each of them is in the buffer with
    probability ``capacity / n``, whatever the order of arrival. Use it when
    old data should be represented evenly over the whole history.

    Parameters
    ----------
    capacity : int or None, default=None
        Most samples kept; None keeps everything.
    random_state : int, numpy Generator, RandomState or None, default=None
        Seeds which samples are kept and :meth:`sample`.

    Examples
    --------
    >>> import numpy as np
    >>> buffer = ReservoirBuffer(capacity=100, random_state=0)
    >>> for start in range(0, 1000, 250):
    ...     _ = buffer.add(np.random.rand(250, 4), np.arange(start, start + 250))
    >>> len(buffer), buffer.n_seen, buffer.X.dtype
    (100, 1000, dtype('float32'))
    >>> X, y = buffer.sample(8)
    >>> X.shape
    (8, 4)
    """

    def _place(self, y, new_size):
        n = len(y)
        seen = self.n_seen + np.arange(n)
        if self.capacity is None:
            return seen, np.arange(n)
        filling = seen < self.capacity
        # item t (0-based) replaces slot j ~ U{0..t} when j < capacity
        rest = seen[~filling]
        j = self._rng.integers(0, rest + 1) if len(rest) else rest
        replaced = j < self.capacity
        dest = np.concatenate([seen[filling], j[replaced]])
        src = np.concatenate(
            [np.flatnonzero(filling), np.flatnonzero(~filling)[replaced]]
        )
        return _keep_last(dest, src)


@stateful
class WindowBuffer(_Buffer):
    """The most recent ``capacity`` samples (a sliding window).

    Use it under drift, when only recent data reflects the current concept.
    :attr:`X` and :attr:`y` are in arrival order, oldest first.

    Parameters
    ----------
    capacity : int or None, default=None
        Length of the window; None keeps everything.
    random_state : int, numpy Generator, RandomState or None, default=None
        Seeds :meth:`sample` (the window itself is deterministic).

    Examples
    --------
    >>> import numpy as np
    >>> buffer = WindowBuffer(capacity=3)
    >>> _ = buffer.add(np.zeros((5, 2)), np.arange(5))
    >>> buffer.y
    array([2, 3, 4])
    >>> _ = buffer.add(np.zeros((1, 2)), [5])
    >>> buffer.y
    array([3, 4, 5])
    """

    def __init__(self, capacity: int | None = None, random_state=None):
        super().__init__(capacity, random_state)
        self._written = 0  # samples written into the ring, for its order

    @property
    def X(self) -> np.ndarray:
        return self._chronological(super().X)

    @property
    def y(self) -> np.ndarray:
        return self._chronological(super().y)

    @property
    def sample_weight(self) -> np.ndarray | None:
        weights = super().sample_weight
        return None if weights is None else self._chronological(weights)

    def _extra_state(self) -> dict:
        return {"written": self._written}

    def load_state_dict(self, state: dict):
        super().load_state_dict(state)
        self._written = int(state.get("written", self.n_seen))
        return self

    def _chronological(self, stored: np.ndarray) -> np.ndarray:
        if self.capacity is None or self._written <= self.capacity:
            return stored
        return np.roll(stored, -(self._written % self.capacity), axis=0)

    def _place(self, y, new_size):
        n = len(y)
        keep = n if self.capacity is None else min(n, self.capacity)
        src = np.arange(n - keep, n)
        dest = self._written + src
        if self.capacity is not None:
            dest = dest % self.capacity
        self._written += n
        return dest, src


@stateful
class ClassBalancedBuffer(_Buffer):
    """An equal share of the memory for every class seen so far.

    While the buffer has room every sample is stored. Once it is full, a
    sample of a class that holds fewer slots than the largest class replaces a
    random sample of the largest class (ties: the class seen first); a sample
    of a largest class replaces a random sample of its own class with
    probability ``stored_c / seen_c`` (reservoir sampling within the class).
    This is class-balanced reservoir sampling (Chrysakis & Moens, ICML 2020):
    rare and recent classes keep their share, which matters for
    class-incremental learning where a plain reservoir under-represents the
    newest classes. Classifiers only: ``y`` holds one label per sample.

    Parameters
    ----------
    capacity : int or None, default=None
        Most samples kept; None keeps everything.
    random_state : int, numpy Generator, RandomState or None, default=None
        Seeds which samples are kept and :meth:`sample`.

    Examples
    --------
    >>> import numpy as np
    >>> buffer = ClassBalancedBuffer(capacity=60, random_state=0)
    >>> _ = buffer.add(np.zeros((500, 2)), np.repeat([0, 1], 250))
    >>> _ = buffer.add(np.zeros((40, 2)), np.full(40, 2))
    >>> np.bincount(buffer.y).tolist()
    [20, 20, 20]
    """

    def __init__(self, capacity: int | None = None, random_state=None):
        super().__init__(capacity, random_state)
        self._members: dict = {}  # label -> slots holding it
        self._seen_per_class: dict = {}

    def _carry_counts(self, old) -> None:
        super()._carry_counts(old)
        self._seen_per_class = dict(old._seen_per_class)

    def _extra_state(self) -> dict:
        # label -> slots: copied, as they change on every addition
        return {
            "members": [[label, list(slots)] for label, slots in self._members.items()],
            "seen_per_class": [[k, v] for k, v in self._seen_per_class.items()],
        }

    def load_state_dict(self, state: dict):
        super().load_state_dict(state)
        self._members = {label: list(slots) for label, slots in state["members"]}
        self._seen_per_class = {k: int(v) for k, v in state["seen_per_class"]}
        return self

    def _check_layout(self, X, y) -> None:
        if y.ndim != 1:
            raise ValueError(
                "ClassBalancedBuffer needs one class label per sample (y of shape "
                f"(n_samples,)); got y of shape {y.shape}. Use a ReservoirBuffer "
                "for regression targets."
            )
        super()._check_layout(X, y)

    def _place(self, y, new_size):
        placed: dict[int, int] = {}
        uniforms = self._rng.random((len(y), 2))
        size = self._size
        for i, label in enumerate(y.tolist()):
            seen = self._seen_per_class.get(label, 0) + 1
            self._seen_per_class[label] = seen
            members = self._members.setdefault(label, [])
            if self.capacity is None or size < self.capacity:
                slot = size
                size += 1
                members.append(slot)
            else:
                largest = max(self._members, key=lambda c: len(self._members[c]))
                n_largest = len(self._members[largest])
                if len(members) < n_largest:
                    slot = self._evict(largest, uniforms[i, 0])
                    members.append(slot)
                elif uniforms[i, 1] * seen < len(members):
                    slot = members[int(uniforms[i, 0] * len(members))]
                else:
                    continue
            placed[slot] = i
        return np.fromiter(placed, dtype=np.intp), np.fromiter(
            placed.values(), dtype=np.intp
        )

    def _evict(self, label, u: float) -> int:
        """Remove a random slot from ``label``'s slots (swap with the last)."""
        members = self._members[label]
        k = int(u * len(members))
        slot = members[k]
        members[k] = members[-1]
        members.pop()
        return slot


_KINDS = {
    "reservoir": ReservoirBuffer,
    "class_balanced": ClassBalancedBuffer,
    "window": WindowBuffer,
}


def make_buffer(kind: str, capacity: int | None = None, random_state=None) -> _Buffer:
    """Build a buffer by name: ``"reservoir"``, ``"class_balanced"`` or ``"window"``.

    Examples
    --------
    >>> make_buffer("window", 10)
    WindowBuffer(capacity=10, stored=0, seen=0)
    """
    if kind not in _KINDS:
        raise ValueError(
            f"Unknown buffer kind {kind!r}; expected one of {sorted(_KINDS)}."
        )
    return _KINDS[kind](capacity, random_state)
