"""Snapshots: the network's weights after every training call, for scoring."""

from __future__ import annotations

import copy

import torch

from .base import Strategy

__all__ = ["Snapshots"]


class Snapshots(Strategy):
    """Keep the network's weights after every training call.

    It changes nothing in training. With it, ``fit(X, y, tasks=t)`` leaves
    the weights the network had after each task in ``weights_``, so a scorer
    can fill the accuracy matrix of the held-out fold and measure forgetting
    (``make_task_scorer("neg_forgetting")``); :meth:`modules` turns them
    back into networks. The weights are plain tensors, so a model with
    snapshots can be copied, pickled and saved in the safe format like any
    other. Memory: one copy of the weights per training call (``fit`` task
    or ``partial_fit``), so use it for searches over short task sequences,
    not for long streams.

    Attributes
    ----------
    weights_ : list of dict of str to torch.Tensor
        CPU copies of the network's ``state_dict()``, one per training call,
        oldest first; the last one is the final network's.

    Examples
    --------
    >>> from sklearn_cl import ContinualClassifier
    >>> from sklearn_cl.datasets import split_digits
    >>> from sklearn_cl.scoring import Snapshots
    >>> X, y, tasks = split_digits(3).train_arrays()
    >>> clf = ContinualClassifier(
    ...     hidden_layer_sizes=(16,), max_epochs=1,
    ...     callbacks=[("snapshots", Snapshots())], random_state=0,
    ... ).fit(X, y, tasks=tasks)
    >>> snapshots = dict(clf.net_.callbacks_)["snapshots"]
    >>> len(snapshots.weights_), len(snapshots.modules(clf.net_.module_))
    (3, 3)
    """

    _learned_state = ("weights_",)

    def state_dict(self) -> dict:
        # the snapshots are fresh copies never changed once taken: a copy of
        # the list is enough (the rollback of every update would otherwise
        # copy every snapshot, a cost growing with the number of calls)
        return {"weights_": list(self.weights_)} if hasattr(self, "weights_") else {}

    def initialize(self):
        super().initialize()
        self.weights_ = []
        return self

    def on_update_end(self, net, X=None, y=None, *, context, **kwargs):
        self.weights_.append(
            {
                k: v.detach().cpu().clone()
                for k, v in context.module.state_dict().items()
            }
        )

    def modules(self, template: torch.nn.Module) -> list[torch.nn.Module]:
        """The networks of the snapshots, oldest first.

        Parameters
        ----------
        template : torch.nn.Module
            A network of the same architecture (the estimator's
            ``net_.module_``); it is copied, never changed. A snapshot taken
            before a classifier's output layer grew keeps its narrower
            layer.

        Returns
        -------
        modules : list of torch.nn.Module
            CPU networks in evaluation mode.

        Raises
        ------
        ValueError
            If a snapshot holds weights ``template`` has no place for (a
            network of another architecture, or weights from a file that
            were not written by this strategy).
        """
        networks = []
        for index, weights in enumerate(self.weights_):
            module = copy.deepcopy(template).cpu().eval()
            tensors = dict(module.named_parameters())
            tensors.update(module.named_buffers())
            foreign = sorted(
                name
                for name, value in weights.items()
                if name not in tensors or not isinstance(value, torch.Tensor)
            )
            if foreign:
                raise ValueError(
                    f"Snapshot {index} holds weights that {type(template).__name__} "
                    f"has no tensor for: {foreign[:5]}. Pass the estimator's own "
                    "network (net_.module_) as the template."
                )
            for name, value in weights.items():
                tensors[name].data = value.clone()  # shapes may differ: no copy_
            networks.append(module)
        return networks
