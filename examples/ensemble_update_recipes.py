"""Four ways to use new data with a deployed network, side by side
===============================================================

A binary problem (``make_classification``, 20 features) is split into old
data, new data and a held-out test set. An MLP is fitted on the old data:
the deployed model. The new data then arrives, and four recipes use it:

- update on new: one ``partial_fit`` of the deployed MLP on the new data;
- update on old + new: one ``partial_fit`` of the deployed MLP on old and new
  data together (an update, not a refit from scratch);
- ensemble, new model on new: the deployed MLP, unchanged, averaged with a
  new MLP fitted from scratch on the new data
  (``UpdateEnsemble.from_fitted(deployed).partial_fit(new)``);
- ensemble, new model on old + new: the same with the new MLP fitted on
  old and new data (``UpdateEnsemble(mlp, data="old_and_new")``, fitted on
  the old data, which fits the same MLP as the deployed one, then updated).

Each is scored on the test set over 10 seeds (mean and standard deviation),
next to its members alone, so the ensembles can be checked against them:
an ensemble is adopted when it beats, or is more stable than, the models it
averages.

Run: ``python examples/ensemble_update_recipes.py``.
"""

from __future__ import annotations

import copy

import numpy as np
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split

from sklearn_cl import ContinualClassifier, UpdateEnsemble

N_SEEDS = 10


def mlp(seed: int) -> ContinualClassifier:
    return ContinualClassifier(
        hidden_layer_sizes=(64,),
        max_epochs=20,
        batch_size=64,
        update_epochs=5,
        random_state=seed,
    )


def split(seed: int):
    """Old, new and test data of one seed (1,000 samples each)."""
    X, y = make_classification(
        n_samples=3000, n_features=20, n_informative=10, flip_y=0.05, random_state=seed
    )
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=1000, stratify=y, random_state=seed
    )
    half = len(X_train) // 2
    old = X_train[:half], y_train[:half]
    new = X_train[half:], y_train[half:]
    return old, new, (X_test, y_test)


def recipes(seed: int) -> dict:
    """Test accuracy of the deployed model, the four recipes and the new
    members alone, for one seed."""
    old, new, test = split(seed)
    both = np.concatenate([old[0], new[0]]), np.concatenate([old[1], new[1]])
    deployed = mlp(seed).fit(*old)

    on_new = copy.deepcopy(deployed).partial_fit(*new)
    on_both = copy.deepcopy(deployed).partial_fit(*both)
    ensemble_new = UpdateEnsemble.from_fitted(deployed).partial_fit(*new)
    ensemble_both = UpdateEnsemble(mlp(seed), data="old_and_new", memory_size=None)
    ensemble_both.fit(*old).partial_fit(*new)
    return {
        "deployed (old data only)": deployed.score(*test),
        "update on new": on_new.score(*test),
        "update on old + new": on_both.score(*test),
        "new model on new, alone": ensemble_new.estimators_[1].score(*test),
        "ensemble, new model on new": ensemble_new.score(*test),
        "new model on old + new, alone": ensemble_both.estimators_[1].score(*test),
        "ensemble, new model on old + new": ensemble_both.score(*test),
    }


def compare(seeds=range(N_SEEDS)) -> dict[str, np.ndarray]:
    """Scores of every recipe (one per seed)."""
    runs = [recipes(seed) for seed in seeds]
    return {name: np.array([run[name] for run in runs]) for name in runs[0]}


def main() -> None:
    scores = compare()
    width = max(map(len, scores))
    print(f"test accuracy over {N_SEEDS} seeds".rjust(width + 20))
    for name, values in scores.items():
        print(f"{name:<{width}}  {values.mean():.3f} +- {values.std():.3f}")


if __name__ == "__main__":
    main()
