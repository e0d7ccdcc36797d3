"""Keep a preprocessing pipeline learning on a stream: IncrementalPipeline
=======================================================================

Fifty years of daily weather in Bellevue, Nebraska (will it rain?), read one
year at a time: each year is first predicted, then learned (test-then-train).
scikit-learn's Pipeline has no ``partial_fit``; ``IncrementalPipeline`` updates
every step that can be updated (here the ``StandardScaler``'s running mean and
variance) and then the network. Compared:

- the network on raw features (pressure near 1000, rain near 0: badly scaled);
- a scaler fitted on the first year and frozen (``FrozenEstimator``);
- a scaler that keeps updating with the stream.

Then the same pipeline with ``set_output(transform="pandas")`` on a DataFrame:
column names flow to the network, which checks them on every later call.

Needs ``weather.csv`` (see ``sklearn_cl.datasets.load_weather``).
Run: ``python examples/incremental_pipeline.py``.
"""

import numpy as np
from sklearn.frozen import FrozenEstimator
from sklearn.preprocessing import StandardScaler

from sklearn_cl import ContinualClassifier, make_incremental_pipeline
from sklearn_cl.datasets import load_weather
from sklearn_cl.evaluation import prequential_score

YEAR = 365


def network():
    return ContinualClassifier(
        hidden_layer_sizes=(32,),
        lr=1e-2,
        update_epochs=2,
        batch_size=64,
        random_state=0,
    )


X, y = load_weather()
first_year = StandardScaler().fit(X[:YEAR])
models = {
    "raw features": network(),
    "scaler frozen after year 1": make_incremental_pipeline(
        FrozenEstimator(first_year), network()
    ),
    "scaler updated every year": make_incremental_pipeline(StandardScaler(), network()),
}
print("test-then-train accuracy, one year at a time, years 2-50")
for name, model in models.items():
    result = prequential_score(model, X, y, batch_size=YEAR, classes=[0, 1])
    print(f"  {name:<28} {result.score:.3f}")

# DataFrames in, DataFrames between the steps
frame = load_weather(as_frame=True)
X_frame, y_series = frame.drop(columns="target"), frame["target"]
pipe = make_incremental_pipeline(StandardScaler(), network())
pipe.set_output(transform="pandas")
for start in range(0, 10 * YEAR, YEAR):
    pipe.partial_fit(
        X_frame[start : start + YEAR], y_series[start : start + YEAR], classes=[0, 1]
    )
print("network's feature names:", list(pipe[-1].feature_names_in_))
print("scaler has seen", pipe[0].n_samples_seen_, "days;", end=" ")
print("network updated", pipe[-1].n_updates_, "times")
try:
    pipe.partial_fit(X_frame[X_frame.columns[::-1]][:YEAR], y_series[:YEAR])
except ValueError as error:
    print("columns in another order are refused:", str(error).splitlines()[0])
print(
    "accuracy on the next ten years:",
    np.round(
        pipe.score(X_frame[10 * YEAR : 20 * YEAR], y_series[10 * YEAR : 20 * YEAR]), 3
    ),
)
