"""Learning quality of DER, DER++, ER-ACE and A-GEM (issue 13).

Protocol: the settings of the Avalanche 0.6 runs quoted in issue 13 (MLP
64-100-10, Adam 1e-3, 20 epochs per task, batch 32, memory 200, seeds 0-2),
one 10-way head; ``fit(X, y, tasks=t)`` trains on the first task, then
updates on each later one. Split and permuted digits use Avalanche's 75/25
train/test split (``test_size=0.25``); the score is the mean accuracy over
the tasks' test sets after the last task.

Avalanche's figures (split digits): naive 0.19, Replay 0.913, DER 0.927,
ER-ACE 0.926, A-GEM 0.53, joint 0.964; (permuted digits): Replay 0.880,
DER 0.940, joint 0.954. Measured here (``benchmarks/bench_strategies.py``,
``benchmarks/results/strategies.json``), seeds 0-2, Replay / DER / DER++:

- split digits, 75/25: 0.913 / 0.953 / 0.954 (ER-ACE 0.932, A-GEM 0.51);
- split digits, 50/50 (``split_digits``' own split): 0.885 / 0.919 / 0.926;
- split MNIST-1D, MLP: 0.368 / 0.410 / 0.452 (CNN1D in the benchmark);
- permuted digits: 0.881 / 0.941 / 0.938; the issue asks 0.94 of DER++.
  With ``alpha=1, beta=0.5``, chosen on permuted digits with seeds 3-5 from
  the grid alpha in {0.3, 0.5, 1}, beta in {0.5, 1} (level there with
  ``alpha=1, beta=1``; the first in grid order), DER++ reaches 0.943 on
  nine other seeds (0-2, 6-11), where its defaults give 0.939 (and
  ``alpha=1, beta=1`` 0.942);
- split digits, 50/50, growing head (``sklearn-cl compare``): 0.901 / 0.918
  / 0.935; as the command runs it (its seeding, 6 seeds) 0.912 / 0.921 /
  0.942.

DER refreshes the stored outputs after every call (``refresh=True``); with
the outputs kept from the call that stored each sample (the authors'
choice) DER does not beat Replay with these many-epoch updates: 0.886 on
split digits 50/50 and 0.362 on split MNIST-1D. DER matches a classifier's
logits centred (``center=True``); with the raw logits (the authors'
distance) DER only ties Replay when the output layer grows: 0.903 (6 seeds
as the command runs it: 0.898).
"""

from functools import cache

import numpy as np
import pytest

from sklearn_cl import ContinualClassifier
from sklearn_cl.datasets import permuted_digits, split_digits, split_mnist1d
from sklearn_cl.strategies import AGEM, DER, ERACE, DERPlusPlus, Replay

pytestmark = pytest.mark.slow
SEEDS = [0, 1, 2]
SETTINGS = dict(max_epochs=20, update_epochs=20, batch_size=32, lr=1e-3)
STRATEGIES = {
    "naive": lambda: [],
    "replay": lambda: [Replay(200)],
    "der": lambda: [DER(buffer_size=200)],
    "der++": lambda: [DERPlusPlus(buffer_size=200)],
    # chosen on permuted digits with seeds 3-5 (benchmarks/bench_strategies.py)
    "der++, permuted": lambda: [DERPlusPlus(alpha=1.0, beta=0.5, buffer_size=200)],
    "der, refresh=False": lambda: [DER(buffer_size=200, refresh=False)],
    "der, center=False": lambda: [DER(buffer_size=200, center=False)],
    "er-ace": lambda: [ERACE(200)],
    "a-gem": lambda: [AGEM(200)],
}
SEQUENCES = {
    "split": lambda seed: split_digits(5, test_size=0.25, random_state=seed),
    # split_digits' own 50/50 split, as ``sklearn-cl compare`` has it
    "split50": lambda seed: split_digits(5, random_state=seed),
    "permuted": lambda seed: permuted_digits(5, test_size=0.25, random_state=seed),
    "mnist1d": lambda seed: split_mnist1d(5, random_state=seed),
}


@cache
def accuracy(sequence, name, seed):
    if sequence == "mnist1d":  # its generator is an optional package
        pytest.importorskip("mnist1d")
    tasks = SEQUENCES[sequence](seed)
    X, y, task_ids = tasks.train_arrays()
    clf = ContinualClassifier(
        callbacks=STRATEGIES[name](), random_state=seed, **SETTINGS
    )
    clf.fit(X, y, tasks=task_ids)
    return np.mean([clf.score(task.X_test, task.y_test) for task in tasks])


def mean(sequence, name, seeds=SEEDS):
    return np.mean([accuracy(sequence, name, seed) for seed in seeds])


def test_der_and_er_ace_beat_avalanche_on_split_digits():
    assert mean("split", "der") > 0.927  # measured 0.953
    assert mean("split", "er-ace") > 0.926  # measured 0.933


def test_the_best_memory_strategy_reaches_094_on_split_digits():
    assert mean("split", "der++") >= 0.94  # measured 0.954; joint 0.964


@pytest.mark.parametrize(
    "sequence, margin",
    # measured DER - Replay: 0.040, 0.034, 0.042 (seeds 0-2)
    [("split", 0.02), ("split50", 0.015), ("mnist1d", 0.01)],
)
def test_the_published_ordering_holds(sequence, margin):
    # Buzzega et al.: DER++ >= DER > ER
    der_pp, der, replay = (mean(sequence, n) for n in ("der++", "der", "replay"))
    assert der_pp >= der > replay + margin


@pytest.mark.parametrize("sequence", ["split50", "mnist1d"])
def test_refreshing_the_stored_outputs_beats_keeping_them(sequence):
    # refresh=False, the authors' choice: the first task's large logits pull
    # new samples to the first classes; measured 0.886 and 0.362 against
    # 0.919 and 0.410 refreshed, Replay 0.885 and 0.368
    kept = mean(sequence, "der, refresh=False")
    assert kept < mean(sequence, "der") - 0.02


def test_der_plus_plus_on_permuted_digits_approaches_avalanche_s_der():
    # issue 13 asks >= 0.94; measured 0.938 (seeds 0-2); Replay 0.881
    assert mean("permuted", "der++") >= 0.935


def test_der_plus_plus_chosen_for_permuted_digits_reaches_094():
    # alpha and beta chosen on seeds 3-5; reported on nine others: measured
    # 0.943 against 0.939 with the defaults (higher on each of the nine)
    held_out = [0, 1, 2, 6, 7, 8, 9, 10, 11]
    chosen = mean("permuted", "der++, permuted", held_out)
    assert chosen >= 0.94
    assert chosen > mean("permuted", "der++", held_out) + 0.002


@cache
def growing_head_accuracy(name, seed):
    """``sklearn-cl compare``'s protocol: ``fit`` on the first task, then
    ``partial_fit`` on each later one, the output layer growing with the
    new classes."""
    tasks = split_digits(5, random_state=seed)
    clf = ContinualClassifier(
        callbacks=STRATEGIES[name](),
        random_state=seed,
        allow_new_classes=True,
        **SETTINGS,
    ).fit(tasks[0].X_train, tasks[0].y_train)
    for task in tasks[1:]:
        clf.partial_fit(task.X_train, task.y_train)
    X_test, y_test, _ = tasks.test_arrays()
    return clf.score(X_test, y_test)


def growing_head_mean(name):
    return np.mean([growing_head_accuracy(name, seed) for seed in SEEDS])


def test_the_published_ordering_holds_when_the_output_layer_grows():
    # measured DER++ 0.935, DER 0.918, Replay 0.901 (50/50 split, seeds 0-2;
    # seeds 3-5: 0.946, 0.931, 0.916)
    der_pp, der, replay = (growing_head_mean(n) for n in ("der++", "der", "replay"))
    assert der_pp >= der > replay + 0.01
    assert der_pp > replay + 0.02


def test_centred_outputs_beat_raw_ones_when_the_output_layer_grows():
    # raw logits (center=False, the authors' distance): measured 0.903
    # against 0.918 (seeds 3-5: 0.913 against 0.931)
    assert growing_head_mean("der, center=False") < growing_head_mean("der") - 0.01


def test_a_gem_forgets_less_than_fine_tuning():
    for seed in SEEDS:
        assert accuracy("split", "a-gem", seed) > accuracy("split", "naive", seed) + 0.2
