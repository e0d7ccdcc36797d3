"""Fit on old data, update on new data, and see forgetting and its cure
====================================================================

Digits 0-4 are the old data; digits 5-9 arrive later. Plain fine-tuning on
the new digits forgets the old ones; the same update with a replay memory of
200 past samples keeps them. Run: ``python examples/quickstart.py``.
"""

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sklearn_cl import ContinualClassifier
from sklearn_cl.strategies import Replay

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X / 16, y, test_size=0.5, stratify=y, random_state=0
)
old, new = y_train < 5, y_train >= 5
old_test, new_test = y_test < 5, y_test >= 5

for name, callbacks in [("fine-tune", None), ("replay", [Replay(buffer_size=200)])]:
    clf = ContinualClassifier(
        update_epochs=10, allow_new_classes=True, callbacks=callbacks, random_state=0
    )
    clf.fit(X_train[old], y_train[old])  # the deployed model
    clf.partial_fit(X_train[new], y_train[new])  # one update; the output layer grows
    print(
        f"{name:10s} after the update: old digits "
        f"{clf.score(X_test[old_test], y_test[old_test]):.2f}, new digits "
        f"{clf.score(X_test[new_test], y_test[new_test]):.2f}"
    )
