"""Utilities for users who write their own strategies.

``Interval`` and ``StrOptions`` are scikit-learn's, with which a strategy
declares its ``_parameter_constraints`` as scikit-learn's estimators do;
they live in a private scikit-learn module, so they are offered here.
"""

from __future__ import annotations

from ._param_validation import Interval as Interval
from ._param_validation import StrOptions as StrOptions

__all__ = ["check_strategy"]


def check_strategy(strategy) -> None:
    """Check that a strategy keeps the strategy contract.

    In the spirit of scikit-learn's ``check_estimator``: it trains small
    models (an MLP on 240 samples of scikit-learn's digits) with the
    strategy, for each estimator its ``_estimator_types`` names
    (``"classifier"``, ``"regressor"``; both by default), and checks that

    - every hook it overrides ends in ``**kwargs`` (it receives
      ``context=...`` and, in later versions, maybe more);
    - ``__init__`` stores its parameters and nothing else; ``clone``,
      ``get_params`` and ``set_params`` round-trip them, also by name
      through the estimator (``callbacks__strategy__NAME``);
    - ``fit`` and two ``partial_fit`` calls run, leave the instance passed
      by the user unchanged, predict finite values, and leave learned state
      only in attributes declared in ``_learned_state`` or
      ``_transient_state``, the transient ones None after each call;
    - ``load_state_dict(state_dict())`` gives the same state, and
      ``initialize()`` resets it;
    - ``copy.deepcopy``, pickle and a skops file give a model that
      predicts, holds and goes on learning exactly as the original;
    - an update that fails after the strategy's hooks ran (with a plain
      skorch callback beside it, so in skorch's full protocol) leaves its
      state and the model's predictions as they were.

    With one CPU thread it trains for about a second.

    Parameters
    ----------
    strategy : Strategy
        An unfitted instance, with the parameters to check.

    Raises
    ------
    AssertionError
        Naming the check that failed and why.

    Examples
    --------
    >>> from sklearn_cl.strategies import L2SP
    >>> from sklearn_cl.utils import check_strategy
    >>> check_strategy(L2SP(alpha=0.1))
    """
    # imported here: the checks train the estimators, which import this
    # package's strategies
    from ._strategy_checks import run_checks

    run_checks(strategy)
