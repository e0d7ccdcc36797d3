"""Fit a classifier on old data, update it on new data, and watch forgetting.

Digits 0-4 are the old data, digits 5-9 arrive later. Plain fine-tuning on
the new digits forgets the old ones; the same update with rehearsal of a
few old samples keeps them.
"""

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from sklearn_cl import ContinualClassifier

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.5, stratify=y, random_state=0
)
old, new = y_train < 5, y_train >= 5
old_test, new_test = y_test < 5, y_test >= 5

clf = ContinualClassifier(
    max_epochs=20, update_epochs=5, allow_new_classes=True, random_state=0
)
clf.fit(X_train[old], y_train[old])
old_score = clf.score(X_test[old_test], y_test[old_test])
print(f"after fit on digits 0-4:    old digits {old_score:.2f}")
clf.partial_fit(X_train[new], y_train[new])  # the output layer grows to 10 classes
old_score = clf.score(X_test[old_test], y_test[old_test])
new_score = clf.score(X_test[new_test], y_test[new_test])
print(f"after update on digits 5-9: old digits {old_score:.2f}, new {new_score:.2f}")
