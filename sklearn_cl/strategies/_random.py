"""Seeding shared by the strategies that draw random numbers."""

from __future__ import annotations

import numpy as np
import torch

from .buffers import _generator


def strategy_rng(random_state) -> np.random.Generator:
    """The numpy generator of a strategy.

    None follows the estimator: its training calls seed torch with a seed
    derived from the estimator's ``random_state`` and the number of calls,
    so ``torch.initial_seed()`` inside a call is reproducible and reading it
    leaves the estimator's random stream (shuffling, dropout) untouched.
    """
    return _generator(torch.initial_seed() if random_state is None else random_state)


def torch_generator(rng: np.random.Generator, device) -> torch.Generator:
    """A torch generator on ``device`` seeded from ``rng``, for one call."""
    generator = torch.Generator(device=device)
    generator.manual_seed(int(rng.integers(2**63)))
    return generator
