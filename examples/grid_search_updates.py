"""Tune how a model is updated with GridSearchCV, and pick the one that forgets least
==================================================================================

Permuted digits, 3 tasks: the same ten digits under a different pixel
permutation each (a drifting input distribution). ``fit(X, y, tasks=t)``
trains every candidate from scratch on the first task of its training folds,
then updates it on the later tasks in order, so each candidate is scored after
the whole sequence of updates: the scorers below average the accuracy over the
tasks of the held-out fold and measure how much of each task was forgotten.

The grid covers the update learning rate and the strength of EWC. Metadata
routing passes ``tasks`` to ``fit`` and the held-out tasks to the scorers;
without routing, give the scorers ``task_of=callable(X, y)`` instead (see
``sklearn_cl.scoring``).

Run: ``python examples/grid_search_updates.py`` (about a minute).
"""

import numpy as np
import sklearn
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_cl import ContinualClassifier, Snapshots, make_task_scorer
from sklearn_cl.datasets import permuted_digits
from sklearn_cl.strategies import EWC

sklearn.set_config(enable_metadata_routing=True)

sequence = permuted_digits(3)
X, y, tasks = sequence.train_arrays()
X_test, y_test, tasks_test = sequence.test_arrays()

clf = ContinualClassifier(
    hidden_layer_sizes=(64,),
    lr=1e-2,
    max_epochs=10,
    update_epochs=10,
    # Snapshots keeps the model after each task, for the forgetting scorer
    callbacks=[("ewc", EWC(lambda_=1.0)), ("snapshots", Snapshots())],
    random_state=0,
).set_fit_request(tasks=True)

search = GridSearchCV(
    clf,
    {"update_lr": [1e-3, 1e-2], "callbacks__ewc__lambda_": [1.0, 1000.0]},
    scoring={
        "average": make_task_scorer("average"),
        "neg_forgetting": make_task_scorer("neg_forgetting"),
    },
    refit="average",
    # shuffled folds: every fold holds every task. The default for classifiers,
    # StratifiedKFold without shuffling, cuts each class into contiguous blocks,
    # which puts whole tasks in one fold when the data is sorted by task
    cv=KFold(3, shuffle=True, random_state=0),
    n_jobs=2,
).fit(X, y, tasks=tasks)

results = search.cv_results_
print("update_lr  ewc lambda_  average accuracy  forgetting")
for i, params in enumerate(results["params"]):
    print(
        f"{params['update_lr']:<9g}  {params['callbacks__ewc__lambda_']:<11g}  "
        f"{results['mean_test_average'][i]:<16.3f}  "
        f"{-results['mean_test_neg_forgetting'][i]:.3f}"
    )
print("best:", search.best_params_)

# the refitted best model, scored on the test data of every task
best = search.best_estimator_
scores = [
    best.score(X_test[tasks_test == t], y_test[tasks_test == t]) for t in range(3)
]
print("test accuracy per task:", np.round(scores, 3))
