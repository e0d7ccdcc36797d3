"""Learning quality of SI and MAS on permuted digits, beside EWC (issue 13).

Protocol: that of ``test_quality_permuted.py`` (5 tasks, 50/50 split, the
default MLP, 40 epochs at lr=1e-3, then 10 per update, batch 16); the score
is the average accuracy over the tasks after the last one.

Measured (seeds 0-2): fine-tuning 0.616, EWC(lambda_=30) 0.755,
SI(lambda_=50) 0.742, MAS(lambda_=0.003) 0.745, each at its best strength,
SI and MAS with their default squared importance (``power=2``); over seeds
0-4 (``benchmarks/results/strategies.json``): EWC 0.744, SI 0.732, MAS
0.729, fine-tuning 0.604, so both are within the issue's 0.02 of EWC. With
the papers' importance (``power=1``) they reached 0.711 (SI, lambda_=1) and
0.718 (MAS, lambda_=0.005); per-task or per-layer normalisation of the
importance, a running average instead of a sum, MAS on mini-batch
gradients, SI with the unregularised gradient or other dampings xi did no
better. On seeds 5-9, which chose nothing: EWC 0.726, SI 0.709 (0.670 with
power=1), MAS 0.694 (0.663), fine-tuning 0.573. Over the strength grid
1 ... 10000 neither diverges: the capped penalty holds the first task's
weights and the later tasks learn little.
"""

from functools import cache

import numpy as np
import pytest

from sklearn_cl import ContinualClassifier
from sklearn_cl.datasets import permuted_digits
from sklearn_cl.strategies import EWC, MAS, SI

pytestmark = pytest.mark.slow
SEEDS = [0, 1, 2]
SETTINGS = dict(max_epochs=40, update_epochs=10, batch_size=16)
STRATEGIES = {
    "naive": lambda s: [],
    "ewc": EWC,
    "si": SI,
    "mas": MAS,
    "si_paper": lambda lambda_: SI(lambda_=lambda_, power=1.0),
    "mas_paper": lambda lambda_: MAS(lambda_=lambda_, power=1.0),
}
BEST = {
    "naive": None,
    "ewc": 30.0,
    "si": 50.0,
    "mas": 0.003,
    "si_paper": 1.0,
    "mas_paper": 0.005,
}


@cache
def accuracy(name, seed, strength=None):
    strength = BEST[name] if strength is None else strength
    callbacks = STRATEGIES[name](lambda_=strength) if strength else []
    sequence = permuted_digits(5, random_state=seed)
    X, y, tasks = sequence.train_arrays()
    clf = ContinualClassifier(
        callbacks=[callbacks] if callbacks else [], random_state=seed, **SETTINGS
    )
    clf.fit(X, y, tasks=tasks)
    return np.mean([clf.score(task.X_test, task.y_test) for task in sequence])


def mean(name):
    return np.mean([accuracy(name, seed) for seed in SEEDS])


@pytest.mark.parametrize("name", ["si", "mas"])
def test_si_and_mas_protect_old_tasks_within_two_points_of_ewc(name):
    assert mean(name) > mean("naive") + 0.1  # measured: 0.13
    assert mean(name) > mean("ewc") - 0.02  # the target; measured 0.01


@pytest.mark.parametrize("name", ["si", "mas"])
def test_the_squared_importance_beats_the_papers(name):
    # measured: +0.021 (SI), +0.020 (MAS), each at its best strength
    assert mean(name) > mean(f"{name}_paper") + 0.01


@pytest.mark.parametrize("strength", [1.0, 100.0, 10000.0])
@pytest.mark.parametrize("name", ["si", "mas"])
def test_no_divergence_anywhere_on_the_strength_grid(name, strength):
    # a diverged run would raise NonFiniteUpdateError; chance is 0.1
    assert accuracy(name, 0, strength) > 0.3
