"""Update recipes on a drifting real stream: Elec2, month by month
===============================================================

Elec2 (Harries 1999) is 31 months of the New South Wales electricity market,
one row per half hour; the target says whether the price went up. Prices
drift with seasons and market rules, so a model fitted once decays. Months
are blocks of 30 days (1,440 rows). The first month trains every model; each
later month is first predicted (scored), then learned (prequential,
test-then-train, with :func:`sklearn_cl.evaluation.prequential_score`).

Recipes, all on the same small MLP unless named otherwise:

- deployed: fitted on the first month, never updated;
- fine-tune: one ``partial_fit`` of the MLP per month (5 epochs);
- retrain on the last month: a new MLP each month, the old one dropped
  (``UpdateEnsemble(mlp, max_members=1)``);
- ensembles of monthly members (``UpdateEnsemble``): the last 3 months with
  equal weights, all months with weights halving with age, the last 10
  weighted by their score on the newest month;
- deployed + fine-tuned: the deployed model frozen, averaged with a copy
  that is fine-tuned every month (``init`` and ``update="newest"``);
- the same ensemble recipe on scikit-learn's HistGradientBoostingClassifier.

The score is the prequential accuracy over all scored months; the spread is
the standard deviation of the monthly accuracies.

Run: ``python examples/ensemble_elec2.py`` (needs ``elec.csv``: see
:func:`sklearn_cl.datasets.load_elec2` for where it is looked for).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator

from sklearn_cl import ContinualClassifier, UpdateEnsemble
from sklearn_cl.datasets import load_elec2
from sklearn_cl.evaluation import prequential_score

MONTH = 48 * 30  # rows in 30 days


def mlp(seed: int = 0) -> ContinualClassifier:
    return ContinualClassifier(
        hidden_layer_sizes=(64,),
        lr=1e-2,
        max_epochs=20,
        batch_size=64,
        update_lr=3e-3,
        update_epochs=5,
        random_state=seed,
    )


def recipes(X, y, seed: int = 0) -> dict:
    """The models compared, by name. ``X, y`` are used only to fit the
    deployed model (on the first month) that two recipes start from."""
    deployed = mlp(seed).fit(X[:MONTH], y[:MONTH])
    hgb = HistGradientBoostingClassifier(random_state=seed)
    return {
        "deployed, never updated": FrozenEstimator(deployed),
        "fine-tune monthly": mlp(seed),
        "retrain on the last month": UpdateEnsemble(mlp(seed), max_members=1),
        "ensemble, last 3 months": UpdateEnsemble(mlp(seed), max_members=3),
        "ensemble, all months, decay 0.5": UpdateEnsemble(mlp(seed), weights="decay"),
        "ensemble, last 10, by score": UpdateEnsemble(
            mlp(seed), max_members=10, weights="score"
        ),
        "deployed + fine-tuned copy": UpdateEnsemble(
            mlp(seed), init=FrozenEstimator(deployed), update="newest"
        ),
        "HGB, retrain on the last month": UpdateEnsemble(hgb, max_members=1),
        "HGB, ensemble, last 3 months": UpdateEnsemble(clone(hgb), max_members=3),
    }


def monthly(model, X, y) -> tuple[float, np.ndarray]:
    """Prequential accuracy of ``model`` and its accuracy on each later month."""
    if isinstance(model, FrozenEstimator):  # never updated: score the months
        correct = (model.predict(X[MONTH:]) == y[MONTH:]).astype(float)
    else:
        correct = prequential_score(
            model, X, y, batch_size=MONTH, initial_size=MONTH
        ).per_sample
    months = [correct[i : i + MONTH].mean() for i in range(0, len(correct), MONTH)]
    return float(correct.mean()), np.array(months)


def main() -> None:
    X, y = load_elec2()
    print(f"Elec2: {len(X)} rows, {len(X) // MONTH} months of 30 days\n")
    rows = [(name, *monthly(model, X, y)) for name, model in recipes(X, y).items()]
    width = max(len(name) for name, *_ in rows)
    print(f"{'recipe':<{width}}  accuracy  monthly spread")
    for name, score, months in rows:
        print(f"{name:<{width}}  {score:8.3f}  {months.std():14.3f}")


if __name__ == "__main__":
    main()
