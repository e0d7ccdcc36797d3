"""Save a model that keeps learning, and load it without trusting the file
=======================================================================

A classifier with EWC and experience replay is trained on the first digits
task and updated on the second. Its state is more than the network: Adam's
moments, EWC's Fisher and anchors, the replay buffer and the random
generators all decide how the next update goes. Both formats keep all of it:

- pickle / joblib: any object, but loading a pickle runs whatever code the
  file names. Only for files you wrote yourself or fully trust.
- skops (``skops.io`` or its thin convenience ``sklearn_cl.persistence``):
  JSON and numpy arrays read without pickle; every type in the file must be
  trusted before anything is imported. Use it for files from anyone else.

Run: ``python examples/safe_persistence.py``.
"""

import pickle
import tempfile
from pathlib import Path

import numpy as np
import skops.io
import torch

from sklearn_cl import ContinualClassifier
from sklearn_cl.datasets import split_digits
from sklearn_cl.persistence import UntrustedTypeError, load, save, untrusted_types
from sklearn_cl.strategies import EWC, Replay


class SmallNet(torch.nn.Module):
    """A module of our own: the files name it, and it must be trusted."""

    def __init__(self, n_features=64, n_outputs=10):
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Linear(n_features, 64),
            torch.nn.ReLU(),
            torch.nn.Linear(64, n_outputs),
        )

    def forward(self, X):
        return self.body(X)


tasks = split_digits(3)
clf = ContinualClassifier(
    update_epochs=5,
    allow_new_classes=True,  # each task brings new digits: the output layer grows
    callbacks=[("ewc", EWC(lambda_=10.0)), ("replay", Replay(buffer_size=200))],
    random_state=0,
)
clf.fit(tasks[0].X_train, tasks[0].y_train)
clf.partial_fit(tasks[1].X_train, tasks[1].y_train)

folder = Path(tempfile.mkdtemp())
save(clf, folder / "model.skops")
print(f"saved {(folder / 'model.skops').stat().st_size / 1024:.0f} KiB")
loaded = load(folder / "model.skops")
trusted_copy = pickle.loads(pickle.dumps(clf))

# the next update goes exactly the same way for all three
for model in (clf, loaded, trusted_copy):
    model.partial_fit(tasks[2].X_train, tasks[2].y_train)
X_test, y_test, _ = tasks.test_arrays()
probabilities = [m.predict_proba(X_test) for m in (clf, loaded, trusted_copy)]
print(
    "identical after the next update:",
    all(np.array_equal(probabilities[0], p) for p in probabilities[1:]),
)
print(f"accuracy on all three tasks: {loaded.score(X_test, y_test):.3f}")

# a class of our own must be trusted explicitly
custom = ContinualClassifier(module=SmallNet, max_epochs=5, random_state=0)
custom.fit(tasks[0].X_train, tasks[0].y_train)
save(custom, folder / "custom.skops")
print("classes not trusted by default:", untrusted_types(folder / "custom.skops"))
try:
    load(folder / "custom.skops")
except UntrustedTypeError as error:
    print("load refuses:", str(error)[:70], "...")
custom_loaded = load(folder / "custom.skops", trusted=[SmallNet])
print("loaded with trusted=[SmallNet]:", type(custom_loaded.net_.module_).__name__)

# skops itself: the same file, the same trust step
names = skops.io.get_untrusted_types(file=folder / "custom.skops")
print("skops lists:", names)
skops_loaded = skops.io.load(folder / "custom.skops", trusted=names)
print(
    "skops.io.load predicts the same:",
    np.array_equal(skops_loaded.predict(X_test), custom.predict(X_test)),
)
