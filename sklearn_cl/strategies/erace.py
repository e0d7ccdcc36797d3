"""ER-ACE: experience replay with an asymmetric cross-entropy."""

from __future__ import annotations

import torch

from .replay import Replay

__all__ = ["ERACE"]


class ERACE(Replay):
    r"""Experience replay with asymmetric cross-entropy (ER-ACE), for new classes.

    :class:`Replay` mixes stored samples into every batch, but the new
    samples' cross-entropy still pushes down the logits of every class they
    do not belong to, old classes included, so the old classes' outputs
    shrink at every step of an update that brings new classes. ER-ACE
    (Caccia et al. 2022, "New Insights on Reducing Abrupt Representation
    Change in Online Continual Learning", ICLR) computes the loss of the
    *incoming* samples over the classes present in the incoming batch only,
    and the loss of the *replayed* samples over all classes:

    .. math:: \mathcal{L} = \frac{1}{|B|}\Big(\sum_{(x, y) \in B_{in}}
        -\log \frac{e^{z_y}}{\sum_{c \in C_{in}} e^{z_c}}
        + \sum_{(x, y) \in B_{mem}} -\log \frac{e^{z_y}}
        {\sum_{c} e^{z_c}}\Big)

    with :math:`C_{in}` the labels of the incoming batch :math:`B_{in}` and
    :math:`B = B_{in} \cup B_{mem}` the extended batch, as :class:`Replay`
    builds it (so the two parts are averaged together, as in Avalanche's
    ``ER_ACE``; the paper sums the two means, which differs by a factor 2
    with equal batch sizes). It is written as the estimator's mean
    cross-entropy over :math:`B` plus the correction
    :math:`\frac{1}{|B|}\sum_{B_{in}} (\log\sum_{c \in C_{in}} e^{z_c} -
    \log\sum_c e^{z_c})`, exactly the difference of the two losses. ``fit``
    trains with the plain cross-entropy.

    The data of every training call joins the memory *before* the call
    trains on it, as in Avalanche's ``ER_ACE`` for several epochs per task
    (the paper's online setting adds it batch by batch): the incoming loss
    never compares the new classes with the old ones, so the replayed
    samples must include the new classes, or they would never be predicted
    (0.77 instead of 0.91 accuracy on split digits). The memory is
    class-balanced by default, as in Avalanche. What joins the memory is the
    call's training set as the strategies listed before ERACE in
    ``callbacks`` left it (so do not combine it with :class:`Rehearsal`).

    Use it instead of :class:`Replay` when updates bring new classes
    (class-incremental learning); with the same classes in every update it
    behaves like :class:`Replay` whenever every batch holds every class.
    Classifiers with the default cross-entropy criterion only.

    Cost: :class:`Replay`'s, plus two log-sum-exps over the batch's logits.

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
    buffer : {"class_balanced", "reservoir", "window"}, default="class_balanced"
        How the memory chooses what to keep (see :class:`Replay`).
    random_state : int, RandomState, numpy Generator or None, default=None
        Seeds what the memory keeps and what it replays. None derives the
        seed from the estimator's ``random_state``.

    Attributes
    ----------
    buffer_ : buffer or None
        The memory, built on the first training call.
    n_incoming_ : int or None
        Incoming samples at the head of the current batch.

    Examples
    --------
    >>> from sklearn_cl import ContinualClassifier
    >>> from sklearn_cl.datasets import split_digits
    >>> from sklearn_cl.strategies import ERACE, Replay
    >>> tasks = split_digits(5)
    >>> X, y, task_ids = tasks.train_arrays()
    >>> X_test, y_test, _ = tasks.test_arrays()
    >>> for strategy in (Replay(200), ERACE(200)):
    ...     clf = ContinualClassifier(max_epochs=20, update_epochs=20,
    ...                               callbacks=[strategy], random_state=0)
    ...     clf = clf.fit(X, y, tasks=task_ids)
    ...     print(f"{type(strategy).__name__:6} {clf.score(X_test, y_test):.2f}")
    Replay 0.88
    ERACE  0.92
    """

    _learned_state = ("rng_", "buffer_")
    _transient_state = (*Replay._transient_state, "n_incoming_")
    _estimator_types = ("classifier",)

    def __init__(
        self,
        buffer_size=200,
        replay_batch_size=None,
        replay_ratio=1.0,
        buffer="class_balanced",
        random_state=None,
    ):
        super().__init__(
            buffer_size=buffer_size,
            replay_batch_size=replay_batch_size,
            replay_ratio=replay_ratio,
            buffer=buffer,
            random_state=random_state,
        )

    def initialize(self):
        super().initialize()
        self.n_incoming_ = None
        return self

    def _replays(self, context) -> bool:
        # the memory already holds the call's data: replay in updates only
        return context.is_update

    def on_update_begin(self, net, X=None, y=None, *, context, **kwargs):
        if not context.is_classifier:
            raise ValueError(
                "ERACE needs class labels: it is a classification strategy, but "
                f"the estimator is a regressor (targets of shape "
                f"{tuple(y.shape)}). Use Replay, DER or DERPlusPlus with a "
                "regressor."
            )
        if not isinstance(net.criterion_, torch.nn.CrossEntropyLoss):
            raise ValueError(
                "ERACE corrects the cross-entropy of the incoming samples and "
                "needs the default criterion, torch.nn.CrossEntropyLoss; got "
                f"{type(net.criterion_).__name__}."
            )
        # the new data joins the memory before training, so that the new
        # classes are replayed against the old ones during the update
        self._store(X, y, kwargs.get("sample_weight"))
        super().on_update_begin(net, X=X, y=y, context=context, **kwargs)

    def extend_batch(self, net, X, y, *, context, **kwargs):
        self.n_incoming_ = len(X)
        return super().extend_batch(net, X, y, context=context, **kwargs)

    def penalty(self, net, X, y, y_pred, *, context, **kwargs):
        if not context.is_update:
            return None
        logits = y_pred[: self.n_incoming_]
        present = torch.unique(y[: self.n_incoming_])
        correction = logits[:, present].logsumexp(1) - logits.logsumexp(1)
        weight = kwargs.get("sample_weight")
        if weight is None:
            return correction.sum() / len(y_pred)
        # normalised as the weighted cross-entropy it corrects (0 when every
        # weight is 0); clamped rather than tested, which would wait for a GPU
        total = weight.sum().clamp(min=torch.finfo(weight.dtype).tiny)
        return (weight[: self.n_incoming_] * correction).sum() / total

    def on_update_end(self, net, X=None, y=None, **kwargs):
        """Nothing: the call's data joined the memory before training."""
