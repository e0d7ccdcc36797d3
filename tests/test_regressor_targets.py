"""ContinualRegressor on targets far from zero: standardised in float64."""

import numpy as np

from sklearn_cl import ContinualRegressor


def test_targets_of_a_large_mean_keep_their_variation():
    # in float32 (spacing 64 near 1e9) these targets were all equal: the
    # scaler saw a constant, the network learned nothing (R² about 0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4))
    y = X @ [1.0, -2.0, 0.5, 0.0] + 1e9
    reg = ContinualRegressor(hidden_layer_sizes=(16,), max_epochs=30, random_state=0)
    reg.fit(X[:300], y[:300])
    np.testing.assert_allclose(reg.target_scaler_.scale_, y[:300].std(), rtol=1e-6)
    assert reg.score(X[300:], y[300:]) > 0.8
    reg.partial_fit(X[:100], y[:100])
    assert reg.score(X[300:], y[300:]) > 0.8
